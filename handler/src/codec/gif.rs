//! GIF: frames counted without decoding, decoded composited to full RGBA frames, and
//! re-encoded as an animation.

use super::bad;
use crate::error::Result;
use crate::picture::Picture;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::{AnimationDecoder, Delay, DynamicImage, Frame};
use std::io::Cursor;

/// The logical screen, the frame count and the largest frame's pixels, read from the
/// descriptors alone. A frame may overhang the screen (decoders clip it), but it is
/// buffered whole before it is placed, so its own size is what decoding it costs: a
/// 65 535 × 65 535 frame on a 10 × 10 screen must be refused from here, not decoded.
pub fn dimensions(data: &[u8]) -> Result<(u32, u32, u32, u64)> {
    let mut opts = gif::DecodeOptions::new();
    opts.skip_frame_decoding(true);
    let mut d = opts.read_info(Cursor::new(data)).map_err(|e| bad("GIF", e))?;
    let (w, h) = (d.width() as u32, d.height() as u32);
    let mut frames = 0;
    let mut largest = 0;
    while let Some(f) = d.next_frame_info().map_err(|e| bad("GIF", e))? {
        largest = largest.max(f.width as u64 * f.height as u64);
        frames += 1;
    }
    Ok((w, h, frames.max(1), largest))
}

pub fn decode(data: &[u8], all_frames: bool) -> Result<Picture> {
    let d = GifDecoder::new(Cursor::new(data)).map_err(|e| bad("GIF", e))?;
    let take = if all_frames { usize::MAX } else { 1 };
    let mut frames = Vec::new();
    let mut delays_ms = Vec::new();
    for f in d.into_frames().take(take) {
        let f = f.map_err(|e| bad("GIF", e))?;
        let (num, den) = f.delay().numer_denom_ms();
        delays_ms.push(num / den.max(1));
        frames.push(DynamicImage::ImageRgba8(f.into_buffer()));
    }
    if frames.is_empty() {
        return Err(bad("GIF", "no frames"));
    }
    Ok(Picture { frames, delays_ms, loop_count: 0, logical_size: None, prescaled_rounding: false })
}

pub fn encode(pic: &Picture) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut out, 10);
        enc.set_repeat(match pic.loop_count {
            0 => Repeat::Infinite,
            n => Repeat::Finite(n),
        })
        .map_err(|e| bad("GIF encoder", e))?;
        let frames = pic.frames.iter().enumerate().map(|(i, f)| {
            let ms = pic.delays_ms.get(i).copied().unwrap_or(100);
            Frame::from_parts(f.to_rgba8(), 0, 0, Delay::from_numer_denom_ms(ms, 1))
        });
        enc.encode_frames(frames).map_err(|e| bad("GIF encoder", e))?;
    }
    Ok(out)
}
