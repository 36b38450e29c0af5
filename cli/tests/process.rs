//! `imgh process` run as a user would: on local files, and over an S3 prefix in moto_server
//! (resuming, forcing, a corrupt object among good ones).

mod common;

use common::{imgh, moto_url, run_expect, s3, scratch, unique};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../samples/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn processes_a_local_file() {
    let dir = scratch("process-local");
    std::fs::write(dir.join("photo.jpg"), sample("mountain.jpg")).unwrap();
    run_expect(imgh(&dir, None).args(["process", "photo.jpg", "image/resize,w_200/format,webp", "thumb.webp"]), 0);
    let out = std::fs::read(dir.join("thumb.webp")).unwrap();
    assert_eq!(image::guess_format(&out).unwrap(), image::ImageFormat::WebP);
    let img = image::load_from_memory(&out).unwrap();
    assert_eq!((img.width(), img.height()), (200, 133));

    // A watermark image is read from the current directory; a missing one is an error.
    run_expect(
        imgh(&dir, None).args([
            "process",
            "photo.jpg",
            "image/resize,w_300/watermark,image_cGhvdG8uanBn",
            "marked.jpg",
        ]),
        0,
    );
    assert_eq!(image::load_from_memory(&std::fs::read(dir.join("marked.jpg")).unwrap()).unwrap().width(), 300);
    let missing =
        run_expect(imgh(&dir, None).args(["process", "photo.jpg", "image/watermark,image_bm9wZS5wbmc", "m.jpg"]), 1);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("watermark image"));

    // Never onto the source; a bad process says what is wrong; a corrupt source is an error.
    let same = run_expect(imgh(&dir, None).args(["process", "photo.jpg", "image/resize,w_10", "photo.jpg"]), 1);
    assert!(String::from_utf8_lossy(&same.stderr).contains("is the source"));
    let bad = run_expect(imgh(&dir, None).args(["process", "photo.jpg", "image/resize,w_abc", "x.jpg"]), 1);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("w must be an integer"));
    std::fs::write(dir.join("bad.jpg"), b"not an image").unwrap();
    let corrupt = run_expect(imgh(&dir, None).args(["process", "bad.jpg", "image/resize,w_10", "x.jpg"]), 1);
    assert!(String::from_utf8_lossy(&corrupt.stderr).contains("400 InvalidImage"));
    assert!(!dir.join("x.jpg").exists(), "nothing is written for a failure");
}

#[test]
fn processes_an_s3_prefix_and_resumes() {
    let Some(moto) = moto_url() else { return };
    let dir = scratch("process-s3");
    let bucket = format!("imgh-process-{}", unique());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = s3(&moto);
    let put = |key: &str, body: Vec<u8>| {
        rt.block_on(c.put_object().bucket(&bucket).key(key).body(body.into()).send()).unwrap();
    };
    rt.block_on(c.create_bucket().bucket(&bucket).send()).unwrap();
    put("in/a.jpg", sample("mountain.jpg"));
    put("in/sub/b.png", sample("dragonfly-alpha.png"));
    put("in/c.webp", sample("mountain.webp"));
    put("in/folder/", Vec::new());
    put("in/bad.jpg", b"not an image".to_vec());
    put("other/d.jpg", sample("mountain.jpg"));
    let batch = |extra: &[&str]| {
        let mut cmd = imgh(&dir, Some(&moto));
        cmd.args(["process", "--prefix", &format!("s3://{bucket}/in/"), "--to", &format!("s3://{bucket}/out/")]);
        cmd.args(extra).arg("image/resize,w_100/format,webp");
        cmd
    };
    let stderr = |o: std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // The corrupt object fails the run (exit 1) and is named; the others are written.
    let first = stderr(run_expect(&mut batch(&[]), 1));
    assert!(first.contains("Processed 3") && first.contains("failed 1"), "{first}");
    assert!(first.contains(&format!("s3://{bucket}/in/bad.jpg")), "{first}");
    for key in ["out/a.jpg", "out/sub/b.png", "out/c.webp"] {
        let got = rt.block_on(c.get_object().bucket(&bucket).key(key).send()).expect(key);
        assert_eq!(got.content_type(), Some("image/webp"), "{key}");
        let body = rt.block_on(got.body.collect()).unwrap().to_vec();
        assert_eq!(image::load_from_memory(&body).unwrap().width(), 100, "{key}");
    }
    let listed = rt.block_on(c.list_objects_v2().bucket(&bucket).prefix("out/").send()).unwrap();
    assert_eq!(listed.contents().len(), 3, "nothing for the folder marker or the failure");

    // Run again: what exists is skipped; with the bad object gone the run succeeds.
    rt.block_on(c.delete_object().bucket(&bucket).key("in/bad.jpg").send()).unwrap();
    let again = stderr(run_expect(&mut batch(&[]), 0));
    assert!(again.contains("Processed 0") && again.contains("skipped 3"), "{again}");
    let forced = stderr(run_expect(&mut batch(&["--force", "--concurrency", "1"]), 0));
    assert!(forced.contains("Processed 3") && forced.contains("skipped 0"), "{forced}");

    // One object to a local file; --to equal to --prefix is refused.
    run_expect(
        imgh(&dir, Some(&moto)).args(["process", &format!("s3://{bucket}/other/d.jpg"), "image/resize,w_50", "d.jpg"]),
        0,
    );
    assert_eq!(image::load_from_memory(&std::fs::read(dir.join("d.jpg")).unwrap()).unwrap().width(), 50);
    let same = run_expect(
        imgh(&dir, Some(&moto)).args([
            "process",
            "--prefix",
            &format!("s3://{bucket}/in/"),
            "--to",
            &format!("s3://{bucket}/in/"),
            "image/resize,w_10",
        ]),
        1,
    );
    assert!(stderr(same).contains("replace their sources"));
}

#[test]
fn snapshots_a_video_file_and_an_s3_object() {
    if std::process::Command::new("ffmpeg").arg("-version").output().is_err() {
        assert!(std::env::var_os("IMGH_TEST_REQUIRE_ALL").is_none(), "ffmpeg is missing: run tests/run.sh");
        return;
    }
    let dir = scratch("process-video");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2"])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "clip.mp4"])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(made.success());
    run_expect(imgh(&dir, None).args(["process", "clip.mp4", "video/snapshot,t_1000,f_png,w_160", "snap.png"]), 0);
    let snap = image::load_from_memory(&std::fs::read(dir.join("snap.png")).unwrap()).unwrap();
    assert_eq!((snap.width(), snap.height()), (160, 120));

    let Some(moto) = moto_url() else { return };
    let bucket = format!("imgh-process-video-{}", unique());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = s3(&moto);
    rt.block_on(c.create_bucket().bucket(&bucket).send()).unwrap();
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    rt.block_on(c.put_object().bucket(&bucket).key("v/clip.mp4").body(clip.into()).send()).unwrap();
    let (src, dst) = (format!("s3://{bucket}/v/clip.mp4"), format!("s3://{bucket}/v/clip.jpg"));
    run_expect(imgh(&dir, Some(&moto)).args(["process", &src, "video/snapshot,t_500", &dst]), 0);
    let got = rt.block_on(c.get_object().bucket(&bucket).key("v/clip.jpg").send()).unwrap();
    assert_eq!(got.content_type(), Some("image/jpeg"));
    let body = rt.block_on(got.body.collect()).unwrap().to_vec();
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 320);
    // An image is not a video: a clear error, nothing written.
    std::fs::write(dir.join("photo.jpg"), sample("mountain.jpg")).unwrap();
    let not_video = run_expect(imgh(&dir, None).args(["process", "photo.jpg", "video/snapshot,t_0", "p.jpg"]), 1);
    assert!(String::from_utf8_lossy(&not_video.stderr).contains("InvalidVideo"));
    assert!(!dir.join("p.jpg").exists());
}
