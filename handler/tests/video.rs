//! Video snapshots against ffmpeg: clips made by Debian's ffmpeg (x264, High profile with
//! B-frames; a rotated copy; AV1 from libaom), each snapshot checked against ffmpeg's own decode of the same
//! time, frame-accurately; ranged reads on a 2 GB file whose index is at its end; the
//! binary over a folder (with a style) and over moto S3.

mod support;

use aws_sdk_s3::primitives::ByteStream;
use imgh_handler::guard::Limits;
use imgh_handler::store::{DirStore, RangeFuture, Store, StoreFuture};
use imgh_handler::video::{self, Snapshot};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use support::*;

/// Frames of the clips: 25 per second.
const FRAME_MS: u64 = 40;

/// A scratch folder with the clips, or `None` (skipped) without ffmpeg unless every test must run.
fn clips() -> Option<PathBuf> {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        assert!(std::env::var_os("IMGH_TEST_REQUIRE_ALL").is_none(), "ffmpeg is missing: run tests/run.sh");
        eprintln!("skipped: ffmpeg is not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("imgh-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ffmpeg = |args: &[&str]| {
        let out =
            Command::new("ffmpeg").args(["-loglevel", "error", "-y"]).args(args).current_dir(&dir).output().unwrap();
        assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // 4 s of a moving test pattern (so neighbouring frames differ), encoded with `codec`.
    let pattern = |codec: &[&str], out: &str| {
        let input = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4", "-pix_fmt", "yuv420p"];
        ffmpeg(&[&input[..], codec, &[out]].concat());
    };
    if !dir.join("rot.mp4").exists() {
        // B-frames and CABAC (x264's High defaults).
        pattern(&["-c:v", "libx264", "-profile:v", "high"], "clip.mp4");
        // The same stream, shown turned a quarter clockwise.
        ffmpeg(&["-i", "clip.mp4", "-c", "copy", "-metadata:s:v:0", "rotate=90", "rot.mp4"]);
        // AV1 (libaom: hidden alt-ref frames shown later, AV1's B-frames), a keyframe every 2 s.
        pattern(&["-c:v", "libaom-av1", "-cpu-used", "8", "-g", "50"], "av1.mp4");
    }
    Some(dir)
}

/// ffmpeg's frame shown at `t_ms` (its accurate seek), as RGB, with its size.
fn ffmpeg_frame(clip: &Path, t_ms: u64) -> (u32, u32, Vec<u8>) {
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-ss", &format!("{}.{:03}", t_ms / 1000, t_ms % 1000), "-i"])
        .arg(clip)
        .args(["-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"])
        .output()
        .unwrap();
    assert!(out.status.success() && !out.stdout.is_empty(), "ffmpeg found no frame at {t_ms} ms");
    let img = image::load_from_memory(&out.stdout).unwrap().to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum::<u64>() as f64 / a.len() as f64
}

/// A snapshot through the library: the bytes read and the decoded output.
async fn snap(store: &dyn Store, key: &str, process: &str) -> (u64, image::DynamicImage, &'static str) {
    let s = Snapshot::parse(process).unwrap().expect("a video process");
    let limits = Limits::default();
    let fetched = video::fetch(store, key, &s, &limits).await.unwrap_or_else(|e| panic!("{process}: {e}"));
    let out = video::render(&fetched, &s, &limits).unwrap_or_else(|e| panic!("{process}: {e}"));
    (fetched.bytes_read, image::load_from_memory(&out.body).unwrap(), out.content_type)
}

#[tokio::test]
async fn snapshots_are_ffmpeg_s_frame_at_that_time() {
    let Some(dir) = clips() else { return };
    let store = DirStore::new(&dir).unwrap();
    // On a frame, between two, on a keyframe, in B-frame (alt-ref) runs, and the last frame.
    for clip in ["clip.mp4", "av1.mp4"] {
        for t in [0, 1000, 1250, 2000, 2960, 3960] {
            let (_, img, content_type) = snap(&store, clip, &format!("video/snapshot,t_{t},f_png")).await;
            assert_eq!(content_type, "image/png");
            let ours = img.to_rgb8();
            let (w, h, theirs) = ffmpeg_frame(&dir.join(clip), t);
            assert_eq!((ours.width(), ours.height()), (w, h));
            let same = mean_diff(ours.as_raw(), &theirs);
            // The frame itself: YUV→RGB conversions differ by a level or two; a neighbour
            // differs by far more.
            assert!(same < 2.5, "{clip} t={t}: mean difference {same} from ffmpeg's frame");
            for other in [t.checked_sub(FRAME_MS), Some(t + FRAME_MS).filter(|n| *n <= 3960)].into_iter().flatten() {
                let (_, _, neighbour) = ffmpeg_frame(&dir.join(clip), other);
                let d = mean_diff(ours.as_raw(), &neighbour);
                assert!(
                    d > same * 2.0 + 1.0,
                    "{clip} t={t}: as close to the frame at {other} ms ({d}) as to its own ({same})"
                );
            }
        }
        // m_fast: the keyframe at or before t (one at 2 s in the AV1 clip, only one at 0 in
        // x264's 4 s clip).
        let (_, key, _) = snap(&store, clip, "video/snapshot,t_3500,f_png,m_fast").await;
        let keyframe = if clip == "av1.mp4" { 2000 } else { 0 };
        assert!(mean_diff(key.to_rgb8().as_raw(), &ffmpeg_frame(&dir.join(clip), keyframe).2) < 2.5, "{clip}");
    }
    // Past the end: the last frame.
    let (_, last, _) = snap(&store, "clip.mp4", "video/snapshot,t_60000,f_png").await;
    assert!(mean_diff(last.to_rgb8().as_raw(), &ffmpeg_frame(&dir.join("clip.mp4"), 3960).2) < 2.5);
    // The size (0 keeps the aspect), and JPEG by default.
    let (_, img, content_type) = snap(&store, "clip.mp4", "video/snapshot,t_1000,w_160,h_0").await;
    assert_eq!((content_type, img.width(), img.height()), ("image/jpeg", 160, 120));
    let (_, img, _) = snap(&store, "clip.mp4", "video/snapshot,t_1000,w_100,h_100").await;
    assert_eq!((img.width(), img.height()), (100, 100));
}

#[tokio::test]
async fn ar_auto_turns_the_frame_as_the_track_says() {
    let Some(dir) = clips() else { return };
    let store = DirStore::new(&dir).unwrap();
    let (_, img, _) = snap(&store, "rot.mp4", "video/snapshot,t_1000,f_png,ar_auto").await;
    let (w, h, theirs) = ffmpeg_frame(&dir.join("rot.mp4"), 1000);
    assert_eq!((img.width(), img.height()), (w, h), "turned as ffmpeg turns it");
    assert_eq!((w, h), (240, 320));
    assert!(mean_diff(img.to_rgb8().as_raw(), &theirs) < 2.5, "the same way round as ffmpeg");
    let (_, img, _) = snap(&store, "rot.mp4", "video/snapshot,t_1000,f_png").await;
    assert_eq!((img.width(), img.height()), (320, 240), "as stored without ar_auto");
}

/// Counts the bytes a store hands out.
struct Counting<S>(S, AtomicU64);

impl<S: Store> Store for Counting<S> {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            let obj = self.0.get(key, max_bytes).await?;
            self.1.fetch_add(obj.bytes.len() as u64, Ordering::Relaxed);
            Ok(obj)
        })
    }

    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> RangeFuture<'a> {
        Box::pin(async move {
            let part = self.0.get_range(key, start, end).await?;
            self.1.fetch_add(part.bytes.len() as u64, Ordering::Relaxed);
            Ok(part)
        })
    }
}

/// `clip` with `bytes` written `at` bytes after the last `kind` in it: a box's type field in
/// `moov`, at the end of these clips (the first `avc1` is a brand in `ftyp`).
fn patched(clip: &[u8], kind: &[u8; 4], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = clip.to_vec();
    let pos = out.windows(4).rposition(|w| w == kind).unwrap_or_else(|| panic!("no {kind:?} box"));
    out[pos + at..pos + at + bytes.len()].copy_from_slice(bytes);
    out
}

#[tokio::test]
async fn hostile_indexes_and_parameter_sets_are_refused_before_decoding() {
    let Some(dir) = clips() else { return };
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    // A chunk run of 4 billion samples: refused from the run, before a table is built.
    let many = patched(&clip, b"stsc", 16, &u32::MAX.to_be_bytes());
    // The sample entry says 160x120; the stream's SPS says 320x240 (the decoder would size
    // its frames from the SPS, past the memory checked for the track).
    let larger = patched(&patched(&clip, b"avc1", 28, &160u16.to_be_bytes()), b"avc1", 30, &120u16.to_be_bytes());
    let hostile = std::env::temp_dir().join(format!("imgh-video-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&hostile).unwrap();
    std::fs::write(hostile.join("many.mp4"), many).unwrap();
    std::fs::write(hostile.join("larger.mp4"), larger).unwrap();
    // The first sample's first NAL unit made a subset SPS (type 15, SVC/MVC).
    std::fs::write(hostile.join("svc.mp4"), patched(&clip, b"mdat", 8, &[15])).unwrap();
    let store = DirStore::new(&hostile).unwrap();
    let s = Snapshot::parse("video/snapshot,t_1000").unwrap().unwrap();
    let limits = Limits::default();
    let err = video::fetch(&store, "many.mp4", &s, &limits).await.err().expect("refused");
    assert!((err.status, err.message.contains("samples")) == (400, true), "{err}");
    let fetched = video::fetch(&store, "larger.mp4", &s, &limits).await.unwrap();
    let err = video::render(&fetched, &s, &limits).expect_err("refused");
    assert_eq!((err.status, err.code), (400, "InvalidVideo"), "{err}");
    assert!(err.message.contains("320×240, larger than the track's 160×120"), "{err}");
    let s = Snapshot::parse("video/snapshot,t_0").unwrap().unwrap();
    let fetched = video::fetch(&store, "svc.mp4", &s, &limits).await.unwrap();
    let err = video::render(&fetched, &s, &limits).expect_err("refused");
    assert_eq!((err.status, err.code), (400, "UnsupportedVideo"), "{err}");
}

#[tokio::test]
async fn a_2_gb_video_costs_a_few_reads() {
    let Some(dir) = clips() else { return };
    // ffmpeg writes ftyp, free, mdat, then moov: a 2 GiB `free` box (sparse on disk) goes
    // between the samples and the index, which stays at the end, after the gap.
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
    let moov_at = clip.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let gap: u64 = 2 << 30;
    let path = dir.join("big.mp4");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&clip[..moov_at]).unwrap();
        f.write_all(&1u32.to_be_bytes()).unwrap();
        f.write_all(b"free").unwrap();
        f.write_all(&gap.to_be_bytes()).unwrap();
        f.seek(SeekFrom::Current(gap as i64 - 16)).unwrap();
        f.write_all(&clip[moov_at..]).unwrap();
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > gap);
    let store = Counting(DirStore::new(&dir).unwrap(), AtomicU64::new(0));
    let (read, img, _) = snap(&store, "big.mp4", "video/snapshot,t_1000,f_png").await;
    assert_eq!(read, store.1.load(Ordering::Relaxed), "every byte read is counted");
    assert!(read < clip.len() as u64, "{read} bytes read of {size}");
    println!("snapshot of a {size}-byte video: {read} bytes read");
    assert!(mean_diff(img.to_rgb8().as_raw(), &ffmpeg_frame(&dir.join("clip.mp4"), 1000).2) < 2.5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_binary_serves_snapshots_from_a_folder_and_from_s3() {
    let Some(dir) = clips() else { return };
    std::fs::copy(samples_dir() + "/mountain.jpg", dir.join("photo.jpg")).unwrap();
    let styles = dir.join("styles.toml");
    std::fs::write(&styles, "poster = \"video/snapshot,t_1000,w_160,f_jpg\"\n").unwrap();
    let server = start_server(&[("IMGH_DIR", dir.to_str().unwrap()), ("IMGH_STYLES_FILE", styles.to_str().unwrap())]);
    let got = get(&format!("{}/clip.mp4?x-oss-process=video/snapshot,t_1000,f_png,w_80", server.base));
    assert_eq!((got.status, got.header("content-type")), (200, Some("image/png")), "{}", got.text());
    assert_eq!(got.image().width(), 80);
    // A style may hold a video process.
    let got = get(&format!("{}/clip.mp4?x-oss-process=style/poster", server.base));
    assert_eq!((got.status, got.image().width()), (200, 160));
    // Not a video, a bad parameter: clear 400s.
    let got = get(&format!("{}/photo.jpg?x-oss-process=video/snapshot,t_0", server.base));
    assert_eq!(got.status, 400);
    assert!(got.text().contains("InvalidVideo"), "{}", got.text());
    let got = get(&format!("{}/clip.mp4?x-oss-process=video/snapshot,f_gif", server.base));
    assert_eq!(got.status, 400);
    assert!(got.text().contains("f must be jpg or png"));
    drop(server);

    // S3: the same through ranged GetObject calls.
    let Some(moto) = moto_url() else { return };
    let bucket = format!("imgh-video-{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let s3 = moto_s3(&moto_config(&moto).await);
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let body = ByteStream::from(std::fs::read(dir.join("clip.mp4")).unwrap());
        s3.put_object().bucket(&bucket).key("v/clip.mp4").body(body).send().await.unwrap();
    });
    let server = start_server(&[("AWS_ENDPOINT_URL", &moto), ("IMGH_BUCKETS", &bucket)]);
    let got = get(&format!("{}/v/clip.mp4?x-oss-process=video/snapshot,t_2000,w_160", server.base));
    assert_eq!((got.status, got.header("content-type")), (200, Some("image/jpeg")), "{}", got.text());
    assert_eq!((got.image().width(), got.image().height()), (160, 120));
    assert_eq!(get(&format!("{}/v/none.mp4?x-oss-process=video/snapshot,t_0", server.base)).status, 404);
    drop(server);

    // The processing API takes a video process too: the poster lands in the bucket.
    let server = start_server(&[
        ("AWS_ENDPOINT_URL", &moto),
        ("IMGH_BUCKETS", &bucket),
        ("IMGH_API_SECRET", "k"),
        ("IMGH_API_TARGET_BUCKETS", &bucket),
    ]);
    let job = format!(
        r#"{{"params":"video/snapshot,t_1000,w_64,f_png","sourceBucket":"{bucket}","sourceObject":"v/clip.mp4","targetBucket":"{bucket}","targetObject":"v/poster.png"}}"#
    );
    let got =
        send("POST", &format!("{}/images", server.base), &[("x-client-authorization", "k")], Some(job.as_bytes()));
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.text().contains(r#""contentType":"image/png""#), "{}", got.text());
}
