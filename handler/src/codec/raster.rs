//! PNG, BMP and TIFF through the `image` crate (pure Rust; PNG with fast compression).

use super::{bad, Format};
use crate::error::Result;
use crate::picture::Picture;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageFormat, ImageReader, RgbImage};
use std::io::Cursor;

fn image_format(f: Format) -> ImageFormat {
    match f {
        Format::Png => ImageFormat::Png,
        Format::Bmp => ImageFormat::Bmp,
        _ => ImageFormat::Tiff,
    }
}

pub fn dimensions(data: &[u8], f: Format) -> Result<(u32, u32, u32)> {
    let (w, h) =
        ImageReader::with_format(Cursor::new(data), image_format(f)).into_dimensions().map_err(|e| bad(f.name(), e))?;
    Ok((w, h, 1))
}

/// The bytes the decoded bitmap takes, from the header (16-bit and float samples count).
pub fn decoded_bytes(data: &[u8], f: Format) -> Result<u64> {
    use image::ImageDecoder;
    let decoder = ImageReader::with_format(Cursor::new(data), image_format(f)).into_decoder();
    Ok(decoder.map_err(|e| bad(f.name(), e))?.total_bytes())
}

pub fn decode(data: &[u8], f: Format) -> Result<Picture> {
    if f == Format::Png {
        palette_whole(data)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(data), image_format(f));
    // Pixel limits were checked from the header; this only stops runaway metadata.
    reader.limits(image::Limits::no_limits());
    let img = reader.decode().map_err(|e| bad(f.name(), e))?;
    Ok(Picture::still(img))
}

/// A PNG palette must be whole RGB entries, 256 at most (PNG 11.2.3: a length not divisible
/// by 3 is an error); png 0.18 reads past the end of such a one and panics (found by the
/// `decode_png` fuzz target). The palette comes before the first `IDAT`.
fn palette_whole(data: &[u8]) -> Result<()> {
    let mut at = 8;
    while let Some(head) = data.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        match &head[4..8] {
            b"PLTE" if len % 3 != 0 || len > 768 => {
                return Err(bad("PNG", format!("a palette of {len} bytes (whole RGB entries, 256 at most)")))
            }
            b"IDAT" | b"PLTE" => break,
            _ => at = at.saturating_add(len).saturating_add(12),
        }
    }
    Ok(())
}

pub fn encode(img: &DynamicImage, f: Format) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    match f {
        Format::Png => {
            let enc = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
            img.write_with_encoder(enc).map_err(|e| bad("PNG encoder", e))?;
        }
        Format::Bmp => {
            let flat = DynamicImage::ImageRgb8(flatten_on_white(img));
            flat.write_to(&mut out, ImageFormat::Bmp).map_err(|e| bad("BMP encoder", e))?;
        }
        _ => img.write_to(&mut out, ImageFormat::Tiff).map_err(|e| bad("TIFF encoder", e))?,
    }
    Ok(out.into_inner())
}

/// RGB with any transparency composited onto white (for formats without alpha).
pub fn flatten_on_white(img: &DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = p.0[3] as u32;
        for i in 0..3 {
            o.0[i] = ((p.0[i] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}
