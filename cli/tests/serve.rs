//! `imgh serve` started as a process and queried over HTTP, as a user would.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;
use common::{get, http, KillOnDrop};

/// A running `imgh serve`, killed on drop.
struct Server {
    _child: KillOnDrop,
    base: String,
}

fn start(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgh"))
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start imgh serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("readable stdout");
    let base = first.rsplit(' ').next().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { _child: KillOnDrop(child), base }
}

#[test]
fn serves_the_bundled_samples() {
    let s = start(&[]);
    let got = get(&format!("{}/mountain.jpg?x-oss-process=image/resize,w_200/quality,q_50", s.base));
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type").unwrap_or_default(), "image/jpeg");
    assert_eq!(got.header("content-length"), Some(got.body.len().to_string().as_str()));
    assert!(got.header("etag").is_some() && got.header("cache-control").is_some());
    let img = image::load_from_memory(&got.body).unwrap();
    assert_eq!((img.width(), img.height()), (200, 133));

    // Alibaba CDN's parameter name, and WebP output.
    let got = get(&format!("{}/dragonfly.jpg?image_process=image/resize,m_fill,w_64,h_64/format,webp", s.base));
    assert_eq!((got.status, got.header("content-type").unwrap_or_default()), (200, "image/webp"));
    let img = image::load_from_memory(&got.body).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));

    // No process: the original bytes.
    let got = get(&format!("{}/sunset.jpg", s.base));
    assert_eq!(got.status, 200);
    assert_eq!(got.body, std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/sunset.jpg")).unwrap());
}

#[test]
fn errors_over_http() {
    let s = start(&[]);
    let got = get(&format!("{}/mountain.jpg?x-oss-process=image/resize,w_abc", s.base));
    assert_eq!(got.status, 400);
    assert_eq!(got.header("content-type").unwrap_or_default(), "application/xml");
    let body = String::from_utf8(got.body).unwrap();
    assert!(body.contains("<Code>InvalidArgument</Code>") && body.contains("w must be an integer"), "{body}");

    let got = get(&format!("{}/nope.jpg?x-oss-process=image/resize,w_10", s.base));
    assert_eq!(got.status, 404);
    assert!(String::from_utf8(got.body).unwrap().contains("<Code>NoSuchKey</Code>"));

    let got = http("POST", &format!("{}/mountain.jpg", s.base), &[]);
    assert_eq!(got.status, 405);
}

#[test]
fn head_and_conditional_requests() {
    let s = start(&[]);
    let url = format!("{}/mountain.jpg?x-oss-process=image/resize,w_100", s.base);
    let full = get(&url);
    let head = http("HEAD", &url, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some(full.body.len().to_string().as_str()));
    let etag = full.header("etag").unwrap().to_string();
    let again = http("GET", &url, &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
}

#[test]
fn serves_a_folder_with_styles() {
    let dir = std::env::temp_dir().join(format!("imgh-serve-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("photos/2024 trip")).unwrap();
    let jpg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/friends.jpg")).unwrap();
    std::fs::write(dir.join("photos/2024 trip/café (1).jpg"), &jpg).unwrap();
    let styles = dir.join("styles.toml");
    std::fs::write(&styles, "thumb = \"image/resize,m_fill,w_50,h_50/format,png\"\n").unwrap();
    let s = start(&["--dir", dir.join("photos").to_str().unwrap(), "--styles", styles.to_str().unwrap()]);
    let key = "2024%20trip/caf%C3%A9%20(1).jpg";
    for url in [
        format!("{}/{key}?x-oss-process=style/thumb", s.base),
        format!("{}/{key}@!thumb", s.base),
        format!("{}/{key}!thumb", s.base),
    ] {
        let got = get(&url);
        assert_eq!((got.status, got.header("content-type").unwrap_or_default()), (200, "image/png"), "{url}");
        let img = image::load_from_memory(&got.body).unwrap();
        assert_eq!((img.width(), img.height()), (50, 50));
    }
    let got = get(&format!("{}/{key}@!nostyle", s.base));
    assert_eq!(got.status, 400);
    // The folder cannot be escaped.
    let got = get(&format!("{}/..%2Fstyles.toml", s.base));
    assert_eq!(got.status, 404);
    std::fs::remove_dir_all(&dir).unwrap();
}
