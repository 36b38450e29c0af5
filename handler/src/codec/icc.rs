//! Embedded ICC colour profiles. Outputs carry no metadata, so they are read as sRGB: a
//! source in another space (Display P3 from phones, Adobe RGB from cameras) has its pixels
//! converted to sRGB at decode, as the seed's sharp does (libvips `icc_transform` to sRGB
//! from the embedded profile, perceptual intent). The conversion is qcms, Firefox's colour
//! management; a profile it cannot read leaves the pixels as they are, as sharp does.

use super::{jpeg, Format};
use crate::picture::Picture;
use image::{DynamicImage, ImageDecoder};
use qcms::{DataType, Intent, Profile, Transform};
use std::io::Cursor;
use std::sync::OnceLock;

/// The profile embedded in a JPEG (APP2), PNG (iCCP), WebP (ICCP) or TIFF, if any.
pub fn embedded(data: &[u8], format: Format) -> Option<Vec<u8>> {
    match format {
        Format::Jpeg => jpeg_profile(data),
        Format::Webp => riff_chunk(data, b"ICCP").map(<[u8]>::to_vec),
        Format::Png => {
            // The iCCP chunk is deflated: inflated within a bound, not as far as it claims.
            let mut limits = image::Limits::default();
            limits.max_alloc = Some(16 << 20);
            image::codecs::png::PngDecoder::with_limits(Cursor::new(data), limits).ok()?.icc_profile().ok()?
        }
        Format::Tiff => image::codecs::tiff::TiffDecoder::new(Cursor::new(data)).ok()?.icc_profile().ok()?,
        Format::Gif | Format::Bmp | Format::Avif => None,
    }
}

/// Converts 8-bit RGB(A) frames from `profile` to sRGB; other profiles (grey, CMYK), other
/// pixel types and sRGB itself are left alone.
pub fn to_srgb(pic: &mut Picture, profile: &[u8]) {
    static SRGB: OnceLock<Box<Profile>> = OnceLock::new();
    // The header's data colour space (ICC.1, 7.2.6): qcms would treat a grey profile's
    // transform as taking one byte a pixel.
    if profile.get(16..20) != Some(b"RGB ") {
        return;
    }
    let Some(input) = Profile::new_from_slice(profile, false) else { return };
    if input.is_sRGB() {
        return;
    }
    let srgb = SRGB.get_or_init(|| {
        let mut p = Profile::new_sRGB();
        p.precache_output_transform();
        p
    });
    let transform = |ty| Transform::new(&input, srgb, ty, Intent::Perceptual);
    let (rgb, rgba) = (OnceLock::new(), OnceLock::new());
    for frame in &mut pic.frames {
        let (t, px) = match frame {
            DynamicImage::ImageRgb8(img) => (rgb.get_or_init(|| transform(DataType::RGB8)), &mut **img),
            DynamicImage::ImageRgba8(img) => (rgba.get_or_init(|| transform(DataType::RGBA8)), &mut **img),
            _ => continue,
        };
        if let Some(t) = t {
            t.apply(px);
        }
    }
}

/// A JPEG's profile: the APP2 `ICC_PROFILE` segments' payloads in their sequence order.
fn jpeg_profile(data: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<(u8, &[u8])> = jpeg::segments(data)
        .filter(|(marker, _)| *marker == 0xE2)
        .filter_map(|(_, seg)| seg.strip_prefix(b"ICC_PROFILE\0"))
        .filter_map(|seg| Some((*seg.first()?, seg.get(2..)?)))
        .collect();
    if parts.is_empty() {
        return None;
    }
    parts.sort_by_key(|(seq, _)| *seq);
    Some(parts.into_iter().flat_map(|(_, p)| p.iter().copied()).collect())
}

/// The payload of the first RIFF chunk of `kind` in a WebP file.
fn riff_chunk<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 12;
    while let Some(head) = data.get(at..at + 8) {
        let len = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
        let payload = data.get(at + 8..(at + 8).checked_add(len)?)?;
        if &head[..4] == kind {
            return Some(payload);
        }
        at += 8 + len + (len & 1);
    }
    None
}
