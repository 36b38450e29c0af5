//! Shared helpers for the engine tests: real sample photos in, outputs decoded by an
//! independent decoder (the `image` crate's pure-Rust codecs) out.

#![allow(dead_code)]

use image::{DynamicImage, GenericImageView, ImageFormat};
use imgh_handler::engine::{self, Processed};
use imgh_handler::guard::Limits;
use imgh_handler::{process, ProcessError};

pub fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/../samples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn run_with(source: &[u8], process_text: &str, limits: &Limits) -> Result<Processed, ProcessError> {
    let plan = process::parse(process_text)?;
    engine::process(source, &plan, limits, &|_| None)
}

pub fn run(source: &[u8], process_text: &str) -> Processed {
    run_with(source, process_text, &Limits::default()).unwrap_or_else(|e| panic!("{process_text}: {e}"))
}

pub fn run_err(source: &[u8], process_text: &str) -> ProcessError {
    match run_with(source, process_text, &Limits::default()) {
        Ok(p) => panic!("{process_text}: expected an error, got {} bytes of {}", p.body.len(), p.content_type),
        Err(e) => e,
    }
}

/// Decodes an output with the independent decoder, checking its Content-Type matches.
pub fn decode(out: &Processed) -> DynamicImage {
    let format = match out.content_type {
        "image/jpeg" => ImageFormat::Jpeg,
        "image/png" => ImageFormat::Png,
        "image/webp" => ImageFormat::WebP,
        "image/gif" => ImageFormat::Gif,
        "image/bmp" => ImageFormat::Bmp,
        "image/tiff" => ImageFormat::Tiff,
        other => panic!("no decoder for {other}"),
    };
    assert_eq!(image::guess_format(&out.body).ok(), Some(format), "body does not match {}", out.content_type);
    image::load_from_memory_with_format(&out.body, format).expect("output decodes")
}

pub fn dims(img: &DynamicImage) -> (u32, u32) {
    img.dimensions()
}

pub fn rgba(img: &DynamicImage, x: u32, y: u32) -> [u8; 4] {
    img.get_pixel(x, y).0
}

/// Channel values equal within `tol` (lossy codecs move values a little).
pub fn close(a: [u8; 4], b: [u8; 4], tol: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tol)
}

pub fn mean_luma(img: &DynamicImage) -> f64 {
    let l = img.to_luma8();
    l.pixels().map(|p| p.0[0] as f64).sum::<f64>() / (l.width() * l.height()) as f64
}

pub fn luma_stddev(img: &DynamicImage) -> f64 {
    let l = img.to_luma8();
    let m = mean_luma(img);
    let var = l.pixels().map(|p| (p.0[0] as f64 - m).powi(2)).sum::<f64>() / (l.width() * l.height()) as f64;
    var.sqrt()
}

/// Inserts an EXIF APP1 segment with `orientation` right after a JPEG's SOI marker.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // TIFF header (little endian), IFD0 with one entry: Orientation (0x0112), SHORT, 1 value.
    let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0];
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Encodes `img` losslessly-enough as a JPEG at high quality with the independent encoder.
pub fn to_jpeg(img: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.to_rgb8().write_to(&mut out, ImageFormat::Jpeg).expect("encode JPEG");
    out.into_inner()
}

pub fn to_png(img: &DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("encode PNG");
    out.into_inner()
}
