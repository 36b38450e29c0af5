//! Image formats: sniffing, cheap header probes, decoding at a planned size, encoding.
//!
//! Decoders take a size hint so JPEG (DCT scaling) and WebP (scaled decode) never build
//! a full-size bitmap for a small output. Orientation from EXIF is applied here, once.

pub(crate) mod avif;
mod gif;
mod icc;
mod jpeg;
mod raster;
mod webp;

use crate::error::{ProcessError, Result};
use crate::picture::Picture;
use image::metadata::Orientation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
    Bmp,
    Tiff,
}

impl Format {
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Format::Jpeg,
            "png" => Format::Png,
            "webp" => Format::Webp,
            "gif" => Format::Gif,
            "avif" => Format::Avif,
            "bmp" => Format::Bmp,
            "tiff" | "tif" => Format::Tiff,
            _ => return None,
        })
    }

    /// The name OSS's `info` reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Avif => "avif",
            Format::Bmp => "bmp",
            Format::Tiff => "tiff",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Avif => "image/avif",
            Format::Bmp => "image/bmp",
            Format::Tiff => "image/tiff",
        }
    }

    /// Whether the format stores transparency (else alpha is flattened onto white).
    pub fn has_alpha(self) -> bool {
        !matches!(self, Format::Jpeg | Format::Bmp)
    }

    /// Whether the encoder keeps every frame of an animation.
    pub fn animates(self) -> bool {
        matches!(self, Format::Gif | Format::Webp)
    }

    /// Recognises a format from its magic bytes.
    pub fn sniff(data: &[u8]) -> Option<Format> {
        Some(match data {
            [0xFF, 0xD8, 0xFF, ..] => Format::Jpeg,
            [0x89, b'P', b'N', b'G', ..] => Format::Png,
            [b'G', b'I', b'F', b'8', ..] => Format::Gif,
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Format::Webp,
            [b'B', b'M', ..] => Format::Bmp,
            [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Format::Tiff,
            [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', rest @ ..]
                if matches!(rest.first(), Some(b'f' | b's')) =>
            {
                Format::Avif
            }
            _ => return None,
        })
    }
}

/// What the first bytes of an image say, read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: Format,
    /// Stored width and height, before EXIF orientation.
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// Pixels of the largest frame as stored: a GIF frame may overhang its screen.
    pub frame_pixels: u64,
    /// EXIF orientation 1..=8 (1 = as stored).
    pub orientation: u8,
}

impl Header {
    /// Width and height as displayed, i.e. after EXIF orientation.
    pub fn oriented_size(&self, auto_orient: bool) -> (u32, u32) {
        if auto_orient && self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

pub fn probe(data: &[u8]) -> Result<Header> {
    let format = Format::sniff(data)
        .ok_or_else(|| ProcessError::bad_image("the source is not a JPEG, PNG, WebP, GIF, AVIF, BMP or TIFF image"))?;
    let (width, height, frames, frame_pixels) = match format {
        Format::Gif => gif::dimensions(data)?,
        _ => {
            let (w, h, frames) = match format {
                Format::Jpeg => jpeg::dimensions(data)?,
                Format::Webp => webp::dimensions(data)?,
                Format::Avif => avif::dimensions(data)?,
                _ => raster::dimensions(data, format)?,
            };
            (w, h, frames, w as u64 * h as u64)
        }
    };
    if width == 0 || height == 0 {
        return Err(ProcessError::bad_image("the source has a zero width or height"));
    }
    Ok(Header { format, width, height, frames, frame_pixels, orientation: exif_orientation(data) })
}

/// How to decode: the smallest size (as displayed) the steps need, and whether to keep
/// all frames of an animation.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions {
    pub min_size: Option<(u32, u32)>,
    pub all_frames: bool,
    pub auto_orient: bool,
}

impl DecodeOptions {
    /// The size hint in stored orientation, the one decoders work in.
    fn stored_hint(&self, header: &Header) -> Option<(u32, u32)> {
        let swap = self.auto_orient && header.orientation >= 5;
        self.min_size.map(|(w, h)| if swap { (h, w) } else { (w, h) })
    }
}

/// What [`decode`] will allocate, from the header alone: the bitmap at the planned scale for
/// every frame kept, plus a progressive JPEG's coefficient buffer; twice the bitmap when
/// EXIF orientation turns it by a quarter (the turned copy is made beside it).
pub fn decoded_bytes(data: &[u8], header: &Header, opts: DecodeOptions) -> Result<u64> {
    let hint = opts.stored_hint(header);
    let frames = if opts.all_frames { header.frames.max(1) as u64 } else { 1 };
    let rgba = |w: u32, h: u32| w as u64 * h as u64 * 4 * frames;
    let bytes = match header.format {
        Format::Jpeg => jpeg::decoded_bytes(data, header, hint),
        // libwebp's animation decoder builds every frame at full size and its canvases; the
        // frames kept are copied out.
        Format::Webp if header.frames > 1 => {
            let one = header.width as u64 * header.height as u64 * 4;
            one * (header.frames as u64 + 2) + rgba(header.width, header.height)
        }
        Format::Webp => {
            let (_, w, h) = webp::scaled_size(header, hint);
            rgba(w, h)
        }
        // The frames kept, plus the decoder's screen canvas and the frame it is placing.
        Format::Gif => {
            let largest = header.frame_pixels.max(header.width as u64 * header.height as u64);
            rgba(header.width, header.height) + 2 * 4 * largest
        }
        // dav1d's planes (its reference frame, the alpha item's) beside the RGB(A) made from
        // them: 12 bytes a pixel measured on 8-bit 4:4:4, rounded up.
        Format::Avif => header.width as u64 * header.height as u64 * 14,
        Format::Png | Format::Bmp | Format::Tiff => raster::decoded_bytes(data, header.format)?,
    };
    Ok(if opts.auto_orient && header.orientation >= 5 { 2 * bytes } else { bytes })
}

/// Whether a first resize rounds as the seed does for this source: sharp decodes a JPEG it
/// need not turn at a reduced scale before resizing (`resize::proportional`).
pub fn prescaled_rounding(header: &Header, auto_orient: bool) -> bool {
    header.format == Format::Jpeg && !(auto_orient && header.orientation > 1)
}

pub fn decode(data: &[u8], header: &Header, opts: DecodeOptions) -> Result<Picture> {
    let orient = opts.auto_orient && header.orientation > 1;
    let hint = opts.stored_hint(header);
    let mut pic = match header.format {
        Format::Jpeg => jpeg::decode(data, header, hint)?,
        Format::Webp => webp::decode(data, header, hint, opts.all_frames)?,
        Format::Gif => gif::decode(data, opts.all_frames)?,
        Format::Avif => avif::decode(data)?,
        Format::Png | Format::Bmp | Format::Tiff => raster::decode(data, header.format)?,
    };
    if let Some(profile) = icc::embedded(data, header.format) {
        icc::to_srgb(&mut pic, &profile);
    }
    if orient {
        if let Some(o) = Orientation::from_exif(header.orientation) {
            for f in &mut pic.frames {
                f.apply_orientation(o);
            }
            if let Some((w, h)) = pic.logical_size {
                pic.logical_size = Some(if header.orientation >= 5 { (h, w) } else { (w, h) });
            }
        }
    }
    pic.prescaled_rounding = prescaled_rounding(header, opts.auto_orient);
    Ok(pic)
}

/// How to encode the result.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    pub format: Format,
    /// 1..=100.
    pub quality: u8,
    /// Progressive JPEG (`interlace,1`).
    pub progressive: bool,
}

/// What encoding a `w`×`h` picture of `frames` allocates besides the picture: converted
/// copies, the encoder's own planes and its output. Per pixel, measured with a counting
/// allocator on RGB and RGBA inputs (`handler/tests/memory.rs`), rounded up.
pub fn encoder_bytes(format: Format, w: u32, h: u32, frames: usize) -> u64 {
    let per_pixel = match format {
        // RGBA is flattened onto white, then narrowed to RGB.
        Format::Jpeg => 7,
        Format::Webp => 4,
        // Each frame is widened to RGBA and quantised.
        Format::Gif => 5,
        // rav1e's source, reference and reconstruction planes.
        Format::Avif => 34,
        // Lossless output can be as large as the pixels, in a buffer that grows by doubling.
        Format::Png | Format::Bmp | Format::Tiff => 8,
    };
    let frames = if format.animates() { frames.max(1) as u64 } else { 1 };
    w as u64 * h as u64 * per_pixel * frames
}

pub fn encode(pic: &Picture, opts: EncodeOptions) -> Result<Vec<u8>> {
    match opts.format {
        Format::Jpeg => jpeg::encode(pic.first(), opts.quality, opts.progressive),
        Format::Webp => webp::encode(pic, opts.quality),
        Format::Gif => gif::encode(pic),
        Format::Avif => avif::encode(pic.first(), opts.quality),
        Format::Png | Format::Bmp | Format::Tiff => raster::encode(pic.first(), opts.format),
    }
}

/// The JPEG quality the source was saved with, estimated from its luminance table.
pub fn estimated_jpeg_quality(data: &[u8]) -> Option<u8> {
    jpeg::estimate_quality(data)
}

/// EXIF orientation from any container kamadak-exif reads (JPEG, PNG, WebP, TIFF, HEIF).
fn exif_orientation(data: &[u8]) -> u8 {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(data)) else {
        return 1;
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|v| (1..=8).contains(v))
        .map_or(1, |v| v as u8)
}

/// Runs a C codec call whose errors unwind (mozjpeg), turning an unwind into a 400.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("corrupt data");
        Err(ProcessError::bad_image(format!("{what}: {detail}")))
    })
}

fn bad(what: &str, e: impl std::fmt::Display) -> ProcessError {
    ProcessError::bad_image(format!("{what}: {e}"))
}
