//! The memory budget holds for every step: each request below runs under a counting
//! allocator, and the most it ever held at once stays within `max_image_bytes` (plus the
//! source, the encoded result and a little slack) whether it succeeds or is refused.

mod common;

use common::{sample, to_png};
use image::DynamicImage;
use imgh_handler::engine;
use imgh_handler::guard::Limits;
use imgh_handler::process;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting the bytes live now and the most live since [`reset`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            // Count the new block before the old one is given back: the worst case.
            let live = LIVE.fetch_add(new_size, Relaxed) + new_size;
            PEAK.fetch_max(live, Relaxed);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MB: u64 = 1024 * 1024;
/// What a request holds besides bitmaps: the parsed plan, codec tables, small buffers.
const SLACK: u64 = 4 * MB;

/// Runs `process` on `source` and returns the status (200 or the error's) and the most
/// bytes held at once beyond what was live before.
fn peak_of(source: &[u8], process: &str, limits: &Limits, assets: engine::Assets) -> (u16, u64) {
    let plan = process::parse(process).map_err(|e| format!("{process}: {e}")).unwrap();
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let status = match engine::process(source, &plan, limits, assets) {
        Ok(out) => {
            assert!(!out.body.is_empty());
            200
        }
        Err(e) => {
            assert!(e.status < 500, "{process}: {} {}", e.status, e.message);
            e.status
        }
    };
    (status, (PEAK.load(Relaxed) - before) as u64)
}

fn budget(mb: u64) -> Limits {
    Limits { max_image_bytes: mb * MB, ..Limits::default() }
}

/// Each case within `limits`: peak ≤ budget + source + slack. Returns the statuses.
fn check(cases: &[(&[u8], String)], limits: &Limits, assets: engine::Assets) -> Vec<u16> {
    let mut failures = Vec::new();
    let mut statuses = Vec::new();
    for (source, process) in cases {
        let (status, peak) = peak_of(source, process, limits, assets);
        let allowed = limits.max_image_bytes + source.len() as u64 + SLACK;
        eprintln!("{status} peak {:>6.1} MB  {process}", peak as f64 / MB as f64);
        if peak > allowed {
            failures.push(format!("{process}: held {} MB, allowed {} MB", peak / MB, allowed / MB));
        }
        statuses.push(status);
    }
    assert!(failures.is_empty(), "over the budget:\n{}", failures.join("\n"));
    statuses
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn every_step_stays_within_the_budget() {
    let tiny = to_png(&DynamicImage::ImageRgb8(image::RgbImage::new(2, 2)));
    let tiny_alpha = to_png(&DynamicImage::ImageRgba8(image::RgbaImage::new(2, 2)));
    let photo = sample("mountain.jpg");
    let alpha = sample("dragonfly-alpha.png");
    let gif = sample("sunset-anim.gif");
    // Canvases at the single-bitmap limit of 64 MB (4096 x 4096 x 4), where each step's
    // scratch buffers used to come on top.
    let big = "image/resize,w_4096,h_4096,limit_0";
    let mut cases: Vec<(&[u8], String)> = Vec::new();
    for src in [&tiny[..], &tiny_alpha[..]] {
        for step in [
            "m_pad",
            "m_fixed",
            "m_fill",
            "m_lfit/blur,r_50,s_50",
            "m_fixed/sharpen,100",
            "m_fixed/rotate,90",
            "m_fixed/rotate,45",
            "m_fixed/circle,r_4000",
            "m_fixed/rounded-corners,r_2000",
            "m_fixed/bright,50/contrast,-50",
            "m_fixed/grey",
            "m_fixed/crop,w_4000,h_4000",
            "m_fixed/format,jpg",
            "m_fixed/format,webp",
            "m_fixed/format,png",
            "m_fixed/format,avif",
            "m_fixed/format,gif",
        ] {
            cases.push((src, format!("{big},{step}")));
        }
    }
    // Text watermarks: the longest text OSS allows, turned and tiled; at size 1000 the
    // line is far wider than the photo (it is clipped).
    let text = b64(&"W".repeat(64));
    for size in [200, 1000] {
        for extra in ["", ",rotate_45", ",fill_1", ",shadow_50,rotate_30"] {
            cases.push((&photo, format!("image/watermark,text_{text},size_{size}{extra}")));
        }
    }
    let dot = b64(".");
    cases.push((&tiny, format!("{big},m_fixed/watermark,text_{dot},size_1,fill_1")));
    // Real photographs, full size, through every kind of step.
    for process in [
        "image/rotate,33/blur,r_10,s_10/sharpen,200/format,avif",
        "image/resize,p_400,limit_0/format,webp",
        "image/circle,r_300/rounded-corners,r_50/format,png",
    ] {
        cases.push((&photo, process.into()));
        cases.push((&alpha, process.into()));
    }
    cases.push((&gif, "image/resize,w_2000,limit_0/rotate,45".into()));
    cases.push((&gif, "image/resize,w_1500,limit_0/format,webp".into()));
    // A tight budget refuses most before they allocate, a loose one lets most run; within
    // each, nothing holds more than the budget.
    for (mb, least_served) in [(64, 5), (640, 47)] {
        let statuses = check(&cases, &budget(mb), &|_| None);
        let served = statuses.iter().filter(|&&s| s == 200).count();
        assert!(served >= least_served, "{mb} MB: {served} of {} served", statuses.len());
    }
}

#[test]
fn watermark_images_count_with_the_picture_they_mark() {
    let photo = sample("mountain.jpg");
    let mark = to_png(&DynamicImage::ImageRgba8(image::RgbaImage::new(3000, 3000)));
    let assets = |k: &str| (k == "mark.png").then_some(mark.as_slice());
    let key = b64("mark.png");
    let with_process = b64("mark.png?x-oss-process=image/rotate,45");
    let cases: Vec<(&[u8], String)> = vec![
        (&photo, format!("image/resize,w_3000,limit_0/watermark,image_{key}")),
        (&photo, format!("image/resize,w_3000,limit_0/watermark,image_{with_process}")),
        // A mixed mark holds the text, the image and the canvas they are set side by side on.
        (&photo, format!("image/resize,w_3000,limit_0/watermark,image_{key},text_{},size_1000", b64("Wide text"))),
    ];
    for mb in [40, 64, 100] {
        check(&cases, &budget(mb), &assets);
    }
}

/// A GIF frame larger than its screen is counted at its own size: this one is refused from
/// its descriptor, before a byte of it is decoded.
#[test]
fn gif_frames_outside_the_screen_are_refused_before_decoding() {
    let mut gif = b"GIF89a".to_vec();
    gif.extend([10, 0, 10, 0, 0, 0, 0]); // a 10x10 screen, no global palette
    gif.extend([0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]); // a 65535x65535 frame
    gif.extend([0, 0, 0, 255, 255, 255]); // its two-colour palette
    gif.extend([2, 2, 0x4C, 0x01, 0, 0x3B]); // a scrap of LZW data, the trailer
    let (status, peak) = peak_of(&gif, "image/resize,w_5", &budget(1024), &|_| None);
    assert_eq!(status, 400);
    assert!(peak < MB, "held {peak} bytes");
    let header = imgh_handler::codec::probe(&gif).unwrap();
    assert_eq!((header.width, header.height, header.frame_pixels), (10, 10, 65535 * 65535));
    let e = Limits::default().check_header(&header).unwrap_err();
    assert_eq!(e.code, "ImageTooLarge");
    assert!(e.message.contains("a frame of 4294836225 pixels"), "{}", e.message);
}

/// Decoding counts too: each format's decoder, at full size and at a shrink-on-load scale.
#[test]
fn every_decoder_stays_within_the_budget() {
    let photo = sample("mountain.jpg");
    let sources: Vec<Vec<u8>> = ["jpg", "webp", "avif", "png", "tiff", "bmp", "gif"]
        .iter()
        .map(|f| common::run(&photo, &format!("image/resize,w_2400,limit_0/format,{f}")).body)
        .chain([common::run(&photo, "image/resize,w_2400,limit_0/interlace,1").body, sample("sunset-anim.gif")])
        .collect();
    let mut cases: Vec<(&[u8], String)> = Vec::new();
    for src in &sources {
        for process in ["image/resize,w_300", "image/rotate,90", "image/format,png"] {
            cases.push((src, process.to_string()));
        }
    }
    for (mb, least_served) in [(8, 1), (24, 5), (40, 10), (160, cases.len())] {
        let statuses = check(&cases, &budget(mb), &|_| None);
        let served = statuses.iter().filter(|&&s| s == 200).count();
        assert!(served >= least_served, "{mb} MB: {served} of {} served", statuses.len());
    }
}

/// A source may be taller than an output may be: steps that do not grow it still run.
#[test]
fn shrinking_steps_take_sources_taller_than_any_output() {
    let tall = to_png(&DynamicImage::ImageRgb8(image::RgbImage::new(300, 20_000)));
    let out = common::run(&tall, "image/crop,w_200,y_1000/blur,r_2,s_2/resize,h_1000");
    assert_eq!(common::dims(&common::decode(&out)), (11, 1000));
    // Growing past the output limit is still refused.
    let e = common::run_err(&tall, "image/rotate,90");
    assert_eq!(e.code, "ImageTooLarge");
    assert!(e.message.contains("each side must be at most 16384"), "{}", e.message);
}
