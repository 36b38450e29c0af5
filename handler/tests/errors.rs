//! Every error path: status, OSS-style code, and a message naming what was wrong.

mod common;

use common::*;
use image::{DynamicImage, GrayImage, RgbImage};
use imgh_handler::guard::Limits;

#[test]
fn bad_process_strings_are_400_invalid_argument() {
    let src = sample("mountain.jpg");
    let cases = [
        ("image/resize,w_abc", "w must be an integer"),
        ("image/resize,w_0", "w must be an integer in 1..=16384"),
        ("image/resize,h_16385", "h must be an integer in 1..=16384"),
        ("image/resize,p_1001", "p must be an integer in 1..=1000"),
        ("image/resize,m_zoom,w_10", "m must be lfit, mfit, fill, pad or fixed"),
        ("image/resize,limit_2,w_10", "limit must be an integer in 0..=1"),
        ("image/resize,color_GG0000,w_10", "color must be a colour"),
        ("image/resize", "needs one of w, h, l, s or p"),
        ("image/resize,w_10,q_5", "unknown parameter \"q\""),
        ("image/zoom,w_10", "unknown action \"zoom\""),
        ("image/crop,g_middle", "g must be one of"),
        ("image/indexcrop,x_10,y_10,i_0", "exactly one of x or y"),
        ("image/indexcrop,i_0", "exactly one of x or y"),
        ("image/indexcrop,x_10", "needs i"),
        ("image/crop", "needs at least one of w, h, x, y or g"),
        ("image/threshold,0", "threshold must be an integer in 1..="),
        ("image/grey,2", "grey must be an integer in 0..=1"),
        ("image/circle", "needs r"),
        ("image/rotate,361", "rotate must be an integer in 0..=360"),
        ("image/rotate", "exactly one value"),
        ("image/blur,r_3", "needs s"),
        ("image/bright,101", "bright must be an integer in -100..=100"),
        ("image/contrast,x", "contrast must be an integer"),
        ("image/sharpen,10", "sharpen must be an integer in 50..=399"),
        ("image/quality,q_0", "q must be an integer in 1..=100"),
        ("image/quality", "needs q (relative) or Q (absolute)"),
        ("image/format,heic", "must be one of jpg"),
        ("image/interlace,2", "interlace must be an integer in 0..=1"),
        ("image/watermark,text_@@@", "text must be URL-safe base64"),
        ("image/watermark,t_50", "needs text, image or both"),
        // base64url("logo.png?x-oss-process=image/resize,P_200")
        (
            "image/watermark,image_bG9nby5wbmc_eC1vc3MtcHJvY2Vzcz1pbWFnZS9yZXNpemUsUF8yMDA",
            "P must be an integer in 1..=100",
        ),
        ("image/watermark,text_aGk,order_2", "order must be an integer in 0..=1"),
        ("image/watermark,text_aGk,interval_1001", "interval must be an integer in 0..=1000"),
        ("image/cgif", "needs s"),
        ("image/cgif,s_2", "the source must be a GIF, not jpg"),
        ("images/resize,w_10", "must start with \"image/\""),
    ];
    for (process, fragment) in cases {
        let e = run_err(&src, process);
        assert_eq!((e.status, e.code), (400, "InvalidArgument"), "{process}");
        assert!(e.message.contains(fragment), "{process}: {:?} lacks {fragment:?}", e.message);
        assert!(e.to_xml().contains("<Code>InvalidArgument</Code>"));
    }
}

#[test]
fn corrupt_and_foreign_bytes_are_400_never_a_crash() {
    let jpeg = sample("mountain.jpg");
    let png = sample("dragonfly-alpha.png");
    let gif = sample("sunset-anim.gif");
    let webp = sample("mountain.webp");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"hello, not an image".to_vec()),
        ("empty", Vec::new()),
        ("jpeg head", jpeg[..600].to_vec()),
        ("jpeg half", jpeg[..jpeg.len() / 2].to_vec()),
        ("jpeg garbage body", [&jpeg[..2000], &vec![0x55; 5000][..]].concat()),
        ("png half", png[..png.len() / 2].to_vec()),
        ("png header only", png[..40].to_vec()),
        ("gif half", gif[..gif.len() / 2].to_vec()),
        ("webp half", webp[..webp.len() / 2].to_vec()),
        ("webp header only", webp[..30].to_vec()),
    ];
    for (name, bytes) in cases {
        for process in ["image/resize,w_100", "image/format,png", "image/rotate,90"] {
            match run_with(&bytes, process, &Limits::default()) {
                // A truncated JPEG may still decode (libjpeg pads missing data): fine, not a crash.
                Ok(out) => assert!(name.starts_with("jpeg") && out.content_type.starts_with("image/"), "{name}"),
                Err(e) => {
                    assert_eq!(e.status, 400, "{name} {process}: {e}");
                    assert!(matches!(e.code, "InvalidImage"), "{name}: {}", e.code);
                }
            }
        }
    }
}

#[test]
fn limits_are_checked_from_the_header() {
    // A real 30001x2 PNG: too wide, refused before decoding.
    let wide = to_png(&DynamicImage::ImageLuma8(GrayImage::new(30_001, 2)));
    let e = run_err(&wide, "image/resize,w_100");
    assert_eq!((e.status, e.code), (400, "ImageTooLarge"));
    assert!(e.message.contains("30001x2") && e.message.contains("30000"), "{}", e.message);

    let img = to_jpeg(&DynamicImage::ImageRgb8(RgbImage::new(200, 100)));
    let small = |f: fn(&mut Limits)| {
        let mut l = Limits::default();
        f(&mut l);
        run_with(&img, "image/resize,w_50", &l).unwrap_err()
    };
    assert!(small(|l| l.max_pixels = 10_000).message.contains("20000 pixels"));
    assert!(small(|l| l.max_source_bytes = 100).message.contains("bytes"));
    assert_eq!(small(|l| l.max_side = 150).code, "ImageTooLarge");

    // Animated: width × height × frames counts.
    let gif = sample("sunset-anim.gif"); // 360x280x6 = 604800
    let l = Limits { max_pixels: 500_000, ..Limits::default() };
    assert!(run_with(&gif, "image/resize,w_100", &l).unwrap_err().message.contains("frames"));
    let l = Limits { max_frames: 5, ..Limits::default() };
    assert!(run_with(&gif, "image/resize,w_100", &l).unwrap_err().message.contains("6 frames"));

    // Output sides: planned before decoding.
    let l = Limits { max_output_side: 1000, ..Limits::default() };
    let e = run_with(&img, "image/resize,p_1000", &l).unwrap_err();
    assert!(e.message.contains("2000x1000"), "{}", e.message);
}

#[test]
fn bitmaps_over_the_memory_limit_are_refused_before_they_are_allocated() {
    let mb = 1024 * 1024;
    let limits = |max_mb: u64| Limits { max_image_bytes: max_mb * mb, ..Limits::default() };
    let too_large = |source: &[u8], process: &str, l: &Limits| {
        let e = run_with(source, process, l).unwrap_err();
        assert_eq!((e.status, e.code), (400, "ImageTooLarge"), "{process}: {}", e.message);
        e.message
    };

    // A 2x2 source asking for huge canvases: refused at the step that would build them.
    let tiny = to_png(&DynamicImage::ImageRgba8(image::RgbaImage::new(2, 2)));
    let m = too_large(&tiny, "image/resize,w_16384,h_16384,m_fixed,limit_0", &limits(64));
    assert!(m.contains("resize: output would be 16384x16384 (1024 MB)") && m.contains("64 MB"), "{m}");
    let grown = "image/resize,w_4000,h_4000,m_fixed,limit_0/rotate,45";
    assert!(too_large(&tiny, grown, &limits(64)).contains("rotate: output would be 5657x5657"));
    // The canvas alone fits 128 MB; with the source, the turned copy and its RGBA
    // scratch held at once it does not.
    let m = too_large(&tiny, grown, &limits(128));
    assert!(m.contains("rotate would hold 367 MB of images at once; the limit is 128 MB per request"), "{m}");
    assert_eq!(dims(&decode(&run_with(&tiny, grown, &limits(400)).unwrap())), (5657, 5657));

    // The decoded size counts the samples' depth: 16-bit RGBA is 8 bytes a pixel (and
    // resampling makes an 8-bit copy besides).
    let deep = to_png(&DynamicImage::ImageRgba16(image::ImageBuffer::new(1000, 1000)));
    assert!(too_large(&deep, "image/resize,w_100", &limits(7)).contains("needs about 8 MB"));
    assert!(too_large(&deep, "image/resize,w_100", &limits(8)).contains("resize would hold 12 MB"));
    run_with(&deep, "image/resize,w_100", &limits(12)).unwrap();
    // The same budget holds for a watermark image, counted with the picture it marks.
    let marked = imgh_handler::process::parse("image/watermark,image_ZGVlcC5wbmc").unwrap();
    let assets = |k: &str| (k == "deep.png").then_some(deep.as_slice());
    let e = imgh_handler::engine::process(&tiny, &marked, &limits(7), &assets).unwrap_err();
    assert_eq!(e.code, "ImageTooLarge", "{}", e.message);
    assert!(e.message.contains("needs about 8 MB"), "{}", e.message);
    imgh_handler::engine::process(&tiny, &marked, &limits(8), &assets).unwrap();

    // JPEG is counted at its shrink-on-load scale (1/8 for 100 px wide), not at full size.
    let jpeg = sample("mountain.jpg"); // 1200x799
    run_with(&jpeg, "image/resize,w_100", &limits(1)).unwrap();
    assert!(too_large(&jpeg, "image/rotate,90", &limits(1)).contains("needs about 3 MB"));
    // A progressive JPEG also holds every coefficient of the full-size image while decoding.
    let progressive = run(&jpeg, "image/interlace,1").body;
    assert!(too_large(&progressive, "image/resize,w_100", &limits(1)).contains("needs about 3 MB"));
    run_with(&progressive, "image/resize,w_100", &limits(4)).unwrap();
}

#[test]
fn truncated_and_corrupt_avif_is_400_invalid_image() {
    let avif = run(&sample("mountain.jpg"), "image/resize,w_64/format,avif").body;
    let mdat = avif.windows(4).position(|w| w == b"mdat").expect("an mdat box") + 4;
    let mut bad_obus = avif.clone();
    bad_obus[mdat..].fill(0xFF);
    let mut huge = avif.clone();
    // ispe says 64x43, the AV1 sequence header still says more: refused, not allocated.
    let ispe = avif.windows(4).position(|w| w == b"ispe").unwrap();
    huge[ispe + 8..ispe + 16].copy_from_slice(&[0, 0, 0, 8, 0, 0, 0, 8]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("brand only", avif[..32].to_vec()),
        ("header only", avif[..mdat].to_vec()),
        ("half", avif[..avif.len() / 2].to_vec()),
        ("last byte cut", avif[..avif.len() - 1].to_vec()),
        ("mdat filled with 0xFF", bad_obus),
        ("ispe smaller than the frame", huge),
    ];
    for (name, bytes) in cases {
        for process in ["image/resize,w_32", "image/format,png", "image/rotate,90"] {
            let e = run_err(&bytes, process);
            assert_eq!((e.status, e.code), (400, "InvalidImage"), "{name} {process}: {e}");
            assert!(e.message.contains("AVIF"), "{name}: {}", e.message);
        }
    }
    // Bytes flipped anywhere: a 400 or a picture, never a panic or a hang.
    for at in (0..avif.len()).step_by(7) {
        let mut flipped = avif.clone();
        flipped[at] ^= 0x5A;
        if let Err(e) = run_with(&flipped, "image/format,png", &Limits::default()) {
            assert_eq!(e.status, 400, "byte {at}: {e}");
        }
    }
}

/// Error bodies stay well-formed XML whatever the request echoes into them: NUL, other
/// control characters and U+FFFF become U+FFFD.
#[test]
fn error_bodies_never_carry_what_xml_forbids() {
    let src = sample("mountain.jpg");
    let hostile = ["\u{0}", "\u{1b}[31m", "\u{FFFF}", "\u{FFFE}", "\u{7}\u{8}"];
    for h in hostile {
        for process in [
            format!("image/resize,w_{h}"),
            format!("image/zo{h}om,w_10"),
            format!("image/resize,w_10,{h}_1"),
            format!("image/format,{h}"),
            format!("{h}image/resize,w_10"),
        ] {
            let e = run_err(&src, &process);
            let xml = e.to_xml();
            let bad: Vec<char> = xml
                .chars()
                .filter(|&c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..))
                .collect();
            assert!(bad.is_empty(), "{process:?}: {xml:?} carries {bad:?}");
        }
    }
    let e = imgh_handler::ProcessError::no_such_key("dir/\u{0}name\u{FFFF}.jpg");
    assert!(e.to_xml().contains("dir/\u{FFFD}name\u{FFFD}.jpg"));
}

/// Inputs the fuzz targets found (`fuzz/run.sh`), each answered at once with a 400 that
/// names the check which now stops it.
#[test]
fn fuzz_findings_are_400_at_once() {
    let cases = [
        // An animation frame libwebp cannot decode: the `webp` crate asked for it again
        // forever, holding a worker for good.
        ("webp-frame-never-decodes.webp", "image/resize,w_50/rotate,45", "cannot decode a frame"),
        // An `mdat` declaring 1.5 GB in a file of a few kilobytes: avif-parse reserved it all.
        ("avif-mdat-past-the-end.avif", "image/resize,w_16", "a box runs past the end"),
        // An `iloc` inside `meta` declaring 2 GB.
        ("avif-iloc-past-its-meta.avif", "image/resize,w_16", "a box runs past the end"),
        // An `iinf` of a few hundred bytes declaring millions of entries: avif-parse reserved
        // room for them all.
        ("avif-iinf-count-past-its-size.avif", "image/resize,w_16", "entries, its"),
        // A palette of 49 bytes (16 entries and a byte): png 0.18 read an entry past its
        // end and panicked, a 500.
        ("png-palette-of-49-bytes.png", "image/resize,w_16", "a palette of"),
    ];
    for (name, process, why) in cases {
        let bytes = std::fs::read(format!("{}/tests/fixtures/fuzz/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let start = std::time::Instant::now();
        let e = run_with(&bytes, process, &Limits::default()).expect_err(name);
        assert_eq!((e.status, e.code), (400, "InvalidImage"), "{name}: {e}");
        assert!(e.message.contains(why), "{name}: {e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{name}: {:?}", start.elapsed());
    }
}

/// An AV1 sequence header may carry the reserved colour matrix code 3 (`decode_avif` found
/// one): rav1d's `Picture::matrix_coefficients` panics on it, which the codec guard turned
/// into a 400 and a panic in the log. The code is now read from the header by dav1d's own
/// parser and taken as unspecified (BT.601), so the image decodes.
#[test]
fn avif_with_a_reserved_colour_matrix_decodes() {
    let name = "avif-reserved-matrix-code.avif";
    let bytes = std::fs::read(format!("{}/tests/fixtures/fuzz/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let out = run_with(&bytes, "image/format,png", &Limits::default()).expect(name);
    let img = decode(&out);
    assert!(img.width() > 0 && img.height() > 0);
}
