//! AVIF: encoded with rav1e (`ravif`) at a fast preset. Decoding AVIF sources needs an
//! AV1 decoder that links statically; until one is in, AVIF sources are answered with a
//! clear 400 (dimensions are still read for `info`).

use super::bad;
use crate::error::{ProcessError, Result};
use crate::process::Picture;
use image::DynamicImage;
use ravif::{Encoder, Img, RGB8, RGBA8};

/// Width and height from the first `ispe` (image spatial extents) property.
pub fn dimensions(data: &[u8]) -> Result<(u32, u32, u32)> {
    let at = data.windows(4).position(|w| w == b"ispe").ok_or_else(|| bad("AVIF", "no ispe box"))?;
    let be = |i: usize| data.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    // 'ispe' is followed by 4 bytes of version/flags, then width and height.
    match (be(at + 8), be(at + 12)) {
        (Some(w), Some(h)) => Ok((w, h, 1)),
        _ => Err(bad("AVIF", "truncated ispe box")),
    }
}

pub fn decode(_data: &[u8]) -> Result<Picture> {
    Err(ProcessError::new(
        400,
        "UnsupportedImage",
        "AVIF sources cannot be processed yet (AVIF output is supported); use info or fetch the original",
    ))
}

pub fn encode(img: &DynamicImage, quality: u8) -> Result<Vec<u8>> {
    let enc = Encoder::new().with_quality(quality as f32).with_speed(9).with_num_threads(Some(1));
    let (w, h) = (img.width() as usize, img.height() as usize);
    let out = if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        let px: Vec<RGBA8> = rgba.pixels().map(|p| RGBA8::new(p.0[0], p.0[1], p.0[2], p.0[3])).collect();
        enc.encode_rgba(Img::new(&px[..], w, h))
    } else {
        let rgb = img.to_rgb8();
        let px: Vec<RGB8> = rgb.pixels().map(|p| RGB8::new(p.0[0], p.0[1], p.0[2])).collect();
        enc.encode_rgb(Img::new(&px[..], w, h))
    };
    out.map(|e| e.avif_file).map_err(|e| bad("AVIF encoder", e))
}
