//! AVIF: decoded with rav1d (the Rust port of dav1d) after avif-parse has found the colour
//! and alpha items, then converted from YUV to RGB(A) by the `yuv` crate; encoded with
//! rav1e (`ravif`) at a fast preset. All of it is Rust or vendored asm, so it links
//! statically.

use super::{bad, guarded};
use crate::error::{ProcessError, Result};
use crate::picture::Picture;
use image::{DynamicImage, RgbImage, RgbaImage};
use ravif::{Encoder, Img, MatrixCoefficients::BT601, PixelRange::Full};
use re_rav1d::include::dav1d::headers::Dav1dSequenceHeader;
use re_rav1d::src::lib::dav1d_parse_sequence_header;
use re_rav1d::{self as dav1d, pixel, PixelLayout, PlanarImageComponent as Component};
use rgb::FromSlice;
use std::io::Read;
use std::ptr::NonNull;
use yuv::{YuvError, YuvGrayImage, YuvPlanarImage, YuvRange, YuvStandardMatrix};

mod clean_alpha;

/// Width and height from the first `ispe` (image spatial extents) property in the `meta`
/// box. Animations report one frame: only the first is decoded.
pub fn dimensions(data: &[u8]) -> Result<(u32, u32, u32)> {
    let meta = meta_box(data).ok_or_else(|| bad("AVIF", "no complete meta box"))?;
    let at = find(meta, b"ispe").ok_or_else(|| bad("AVIF", "no ispe box"))?;
    // 'ispe' is followed by 4 bytes of version/flags, then width and height.
    match (be32(meta, at + 8), be32(meta, at + 12)) {
        (Some(w), Some(h)) => Ok((w, h, 1)),
        _ => Err(bad("AVIF", "truncated ispe box")),
    }
}

pub fn decode(data: &[u8]) -> Result<Picture> {
    let (w, h, _) = dimensions(data)?;
    // avif-parse refuses the `avis` (image sequence) brand, but such files made by libavif
    // also carry the first frame as the primary item: read them as if they were `avif`.
    let mut reader: Box<dyn Read + '_> = if data.get(8..12) == Some(b"avis") {
        Box::new((&data[..8]).chain(&b"avif"[..]).chain(&data[12..]))
    } else {
        Box::new(data)
    };
    boxes_within(data, 0)?;
    let colour = nclx(data);
    // The decoder must not build a frame larger than the checked `ispe` size.
    let max_pixels = (u64::from(w) * u64::from(h)).clamp(1, u64::from(u32::MAX)) as u32;
    // Guarded as a whole: avif-parse has debug assertions on malformed boxes.
    guarded("AVIF", move || {
        let avif = avif_parse::read_avif(&mut reader).map_err(|e| bad("AVIF", e))?;
        let premultiplied = avif.premultiplied_alpha;
        let colour = colour.or_else(|| sequence_colour(avif.primary_item.as_ref())).unwrap_or(UNSPECIFIED);
        let color = decode_av1(avif.primary_item, max_pixels)?;
        let alpha = match avif.alpha_item {
            Some(item) => Some(decode_av1(item, max_pixels)?),
            None => None,
        };
        let (w, h) = (color.width(), color.height());
        let mut px = to_rgb(&color, colour, alpha.is_some())?;
        let img = match alpha {
            Some(a) => {
                put_alpha(&mut px, &a, w, h)?;
                if premultiplied {
                    unpremultiply(&mut px);
                }
                RgbaImage::from_raw(w, h, px).map(DynamicImage::ImageRgba8)
            }
            None => RgbImage::from_raw(w, h, px).map(DynamicImage::ImageRgb8),
        };
        Ok(Picture::still(img.ok_or_else(|| bad("AVIF", "short buffer"))?))
    })
}

/// Decodes one AV1 item.
fn decode_av1(obus: impl AsRef<[u8]> + Send + Sync + 'static, max_pixels: u32) -> Result<dav1d::Picture> {
    let mut dec = av1_decoder(max_pixels).map_err(|e| bad("AVIF (AV1)", e))?;
    let mut first = None;
    let take = |pic| {
        first = Some(pic);
        true
    };
    av1_send(&mut dec, obus, take).map_err(|e| bad("AVIF (AV1)", e))?;
    first.ok_or_else(|| bad("AVIF", "the AV1 data holds no complete frame"))
}

/// An AV1 decoder on this thread (no worker threads, no frame delay) that builds no frame
/// of over `max_pixels`.
pub(crate) fn av1_decoder(max_pixels: u32) -> std::result::Result<dav1d::Decoder, dav1d::Error> {
    let mut settings = dav1d::Settings::new();
    settings.set_n_threads(1);
    settings.set_max_frame_delay(1);
    settings.set_frame_size_limit(max_pixels);
    dav1d::Decoder::with_settings(&settings)
}

/// Sends one temporal unit and hands each frame it shows to `take` (with one thread and no
/// frame delay, each comes out as soon as its data is in), until `take` says it is done:
/// no more than one frame is held at a time, whatever the unit holds.
pub(crate) fn av1_send(
    dec: &mut dav1d::Decoder,
    unit: impl AsRef<[u8]> + Send + Sync + 'static,
    mut take: impl FnMut(dav1d::Picture) -> bool,
) -> std::result::Result<(), dav1d::Error> {
    let pending = |r: std::result::Result<(), dav1d::Error>| match r {
        Ok(()) => Ok(false),
        Err(e) if e.is_again() => Ok(true),
        Err(e) => Err(e),
    };
    // rav1d refuses an empty unit with a line on stderr: there is nothing to send.
    if unit.as_ref().is_empty() {
        return Ok(());
    }
    let mut waiting = pending(dec.send_data(unit, None, None, None))?;
    // A temporal unit shows one frame: a few rounds at most. The bound is only there so
    // that no input can keep this loop going; past it the unit is left unread.
    for _ in 0..64 {
        match dec.get_picture() {
            Ok(pic) => {
                if take(pic) {
                    return Ok(());
                }
            }
            Err(e) if e.is_again() && waiting => waiting = pending(dec.send_pending_data())?,
            Err(e) if e.is_again() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Matrix coefficients "unspecified" (read as BT.601), limited range: what a stream that
/// names neither means.
pub(crate) const UNSPECIFIED: (u16, bool) = (2, false);

/// The colour matrix (H.273 code) and full-range flag of the AV1 sequence header among
/// `obus`, read by dav1d's own parser: `Picture::matrix_coefficients` panics on the reserved
/// code 3, which a stream may carry.
pub(crate) fn sequence_colour(obus: &[u8]) -> Option<(u16, bool)> {
    if obus.is_empty() {
        return None;
    }
    let mut header = std::mem::MaybeUninit::<Dav1dSequenceHeader>::uninit();
    // SAFETY: `header` is valid to write and `obus` is a live slice of `obus.len()` bytes,
    // which dav1d only reads; it writes `header` whole when it returns 0.
    let header = unsafe {
        let out = NonNull::new(header.as_mut_ptr());
        let data = NonNull::new(obus.as_ptr().cast_mut());
        if dav1d_parse_sequence_header(out, data, obus.len()).0 != 0 {
            return None;
        }
        header.assume_init()
    };
    Some((u16::try_from(header.mtrx).ok()?, header.color_range != 0))
}

/// 8-bit RGB (or RGBA with opaque alpha) from any layout and bit depth, with the colour
/// matrix and range `(mc, full)` of the `colr` box or the AV1 sequence header.
pub(crate) fn to_rgb(pic: &dav1d::Picture, (mc, full): (u16, bool), alpha: bool) -> Result<Vec<u8>> {
    let (w, h) = (pic.width(), pic.height());
    let range = if full { YuvRange::Full } else { YuvRange::Limited };
    let channels = if alpha { 4 } else { 3 };
    let stride = w * channels;
    let mut out = vec![0u8; stride as usize * h as usize];
    let failed = |e: YuvError| bad("AV1 colour conversion", e);
    let layout = pic.pixel_layout();
    let y = Samples::of(pic, Component::Y);
    if layout == PixelLayout::I400 {
        let gray = YuvGrayImage { y_plane: y.data(), y_stride: y.stride, width: w, height: h };
        let convert = if alpha { yuv::yuv400_to_rgba } else { yuv::yuv400_to_rgb };
        convert(&gray, &mut out, stride, range, YuvStandardMatrix::Bt601).map_err(failed)?;
        return Ok(out);
    }
    let (u, v) = (Samples::of(pic, Component::U), Samples::of(pic, Component::V));
    let planes = YuvPlanarImage {
        y_plane: y.data(),
        y_stride: y.stride,
        u_plane: u.data(),
        u_stride: u.stride,
        v_plane: v.data(),
        v_stride: v.stride,
        width: w,
        height: h,
    };
    let Some(matrix) = matrix(mc)? else {
        // Identity: the planes are G, B and R (AV1 allows it with 4:4:4 only).
        if layout != PixelLayout::I444 {
            return Err(bad("AV1", "an RGB (identity matrix) image must be 4:4:4"));
        }
        let convert = if alpha { yuv::gbr_to_rgba } else { yuv::gbr_to_rgb };
        convert(&planes, &mut out, stride, range).map_err(failed)?;
        return Ok(out);
    };
    type Convert =
        fn(&YuvPlanarImage<u8>, &mut [u8], u32, YuvRange, YuvStandardMatrix) -> std::result::Result<(), YuvError>;
    let convert: Convert = match (layout, alpha) {
        (PixelLayout::I420, false) => yuv::yuv420_to_rgb,
        (PixelLayout::I420, true) => yuv::yuv420_to_rgba,
        (PixelLayout::I422, false) => yuv::yuv422_to_rgb,
        (PixelLayout::I422, true) => yuv::yuv422_to_rgba,
        (_, false) => yuv::yuv444_to_rgb,
        (_, true) => yuv::yuv444_to_rgba,
    };
    convert(&planes, &mut out, stride, range, matrix).map_err(failed)?;
    Ok(out)
}

/// The YUV matrix for an ITU-T H.273 MatrixCoefficients code; `None` for identity (GBR).
fn matrix(code: u16) -> Result<Option<YuvStandardMatrix>> {
    Ok(Some(match code {
        0 => return Ok(None),
        1 => YuvStandardMatrix::Bt709,
        4 => YuvStandardMatrix::Fcc,
        // BT.470BG / BT.601, and what unspecified means in practice.
        2 | 3 | 5 | 6 => YuvStandardMatrix::Bt601,
        7 => YuvStandardMatrix::Smpte240,
        // Constant-luminance BT.2020 is rare; its non-constant matrix is close.
        9 | 10 => YuvStandardMatrix::Bt2020,
        other => {
            return Err(ProcessError::new(
                400,
                "UnsupportedImage",
                format!("AV1 with colour matrix {other} (H.273) cannot be processed"),
            ))
        }
    }))
}

/// One decoded plane as 8-bit samples: the decoder's own at 8 bits, scaled from 10 or 12.
struct Samples {
    plane: Option<dav1d::Plane>,
    scaled: Vec<u8>,
    /// Samples per row.
    stride: u32,
}

impl Samples {
    fn of(pic: &dav1d::Picture, c: Component) -> Samples {
        let plane = pic.plane(c);
        let bits = pic.bit_depth() as u32;
        if bits <= 8 {
            return Samples { plane: Some(plane), scaled: Vec::new(), stride: pic.stride(c) };
        }
        // High bit depth planes hold native-endian u16s; round to the nearest 8-bit value.
        let shift = bits - 8;
        let scale = |b: &[u8]| {
            let v = u32::from(u16::from_ne_bytes([b[0], b[1]]));
            ((v + (1 << (shift - 1))) >> shift).min(255) as u8
        };
        Samples { plane: None, scaled: plane.chunks_exact(2).map(scale).collect(), stride: pic.stride(c) / 2 }
    }

    fn data(&self) -> &[u8] {
        self.plane.as_deref().unwrap_or(&self.scaled)
    }
}

/// Fills the alpha channel of RGBA `px` from the luma of the alpha auxiliary image.
fn put_alpha(px: &mut [u8], alpha: &dav1d::Picture, w: u32, h: u32) -> Result<()> {
    if (alpha.width(), alpha.height()) != (w, h) {
        return Err(bad("AVIF", "the alpha image has another size than the colour image"));
    }
    let a = Samples::of(alpha, Component::Y);
    let full = alpha.color_range() == pixel::YUVRange::Full;
    let (w, stride) = (w as usize, a.stride as usize);
    for (y, row) in px.chunks_exact_mut(w * 4).enumerate() {
        let src = a.data().get(y * stride..y * stride + w).ok_or_else(|| bad("AVIF", "short alpha plane"))?;
        for (p, &v) in row.chunks_exact_mut(4).zip(src) {
            p[3] = if full { v } else { ((u32::from(v.saturating_sub(16)) * 255 + 109) / 219).min(255) as u8 };
        }
    }
    Ok(())
}

/// Undoes premultiplied alpha (the `prem` item reference).
fn unpremultiply(px: &mut [u8]) {
    for p in px.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a != 0 && a != 255 {
            for c in &mut p[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

/// Matrix coefficients and full-range flag from a `colr` box of type `nclx`, if any.
fn nclx(data: &[u8]) -> Option<(u16, bool)> {
    let meta = meta_box(data)?;
    let at = find(meta, b"colrnclx")?;
    // colour_primaries (2), transfer_characteristics (2), matrix_coefficients (2), then
    // full_range_flag in the top bit.
    let mc = meta.get(at + 12..at + 14)?;
    let full = meta.get(at + 14)? & 0x80 != 0;
    Some((u16::from_be_bytes([mc[0], mc[1]]), full))
}

/// The payload of the top-level `meta` box, where the item properties live (pixels are in
/// `mdat`, where a byte scan could match anything).
fn meta_box(mut data: &[u8]) -> Option<&[u8]> {
    while let Some((kind, body, rest)) = next_box(data).ok()? {
        if &kind == b"meta" {
            return Some(body);
        }
        data = rest;
    }
    None
}

/// A box's kind and payload, and what follows it.
type BoxSplit<'a> = ([u8; 4], &'a [u8], &'a [u8]);

/// Splits off the box at the start of `data`: its kind, its payload and what follows it.
/// `Ok(None)` when fewer than 8 bytes are left; `Err` when its size is malformed or runs
/// past the end of `data`.
fn next_box(data: &[u8]) -> std::result::Result<Option<BoxSplit<'_>>, ()> {
    if data.len() < 8 {
        return Ok(None);
    }
    let kind = data[4..8].try_into().unwrap();
    let (head, size) = match u32::from_be_bytes(data[..4].try_into().unwrap()) {
        0 => (8, data.len() as u64),
        1 => (16, data.get(8..16).map_or(u64::MAX, |b| u64::from_be_bytes(b.try_into().unwrap()))),
        n => (8, u64::from(n)),
    };
    if size < head as u64 || size > data.len() as u64 {
        return Err(());
    }
    let (whole, rest) = data.split_at(size as usize);
    Ok(Some((kind, &whole[head..], rest)))
}

fn find(data: &[u8], needle: &[u8]) -> Option<usize> {
    data.windows(needle.len()).position(|w| w == needle)
}

/// avif-parse also reserves room for the entries an `iinf` or `iloc` declares before reading
/// them: 768 bytes declaring 67 million took 537 MB (found by `decode_avif`). A count the
/// box cannot hold is refused: each `infe` is a box of 8 bytes or more, each `iloc` item
/// takes at least 6 (ID, data reference and extent count).
fn entries_fit(kind: &[u8; 4], body: &[u8]) -> Result<()> {
    // The version from which the count is 32 bits, where the count starts (after version
    // and flags, and for `iloc` its field sizes), the fewest bytes an entry takes.
    let (wide_from, at, min) = if kind == b"iinf" { (1, 4, 8) } else { (2, 6, 6) };
    let wide = body.first().is_some_and(|&v| v >= wide_from);
    let (count, len) = if wide { (be32(body, at), 4) } else { (be16(body, at), 2) };
    let Some(count) = count else {
        return Ok(()); // truncated: avif-parse says so
    };
    let room = body.len().saturating_sub(at + len) / min;
    if count as usize > room {
        let kind = String::from_utf8_lossy(kind);
        return Err(bad(
            "AVIF",
            format!("{kind} declares {count} entries, its {} bytes hold at most {room}", body.len()),
        ));
    }
    Ok(())
}

fn be16(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at.checked_add(2)?).map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at.checked_add(4)?).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// 10-bit AVIF, as ravif's `encode_rgb` and `encode_rgba` make it from 8-bit pixels, but
/// through its one 10-bit entry point: those two also link rav1e's whole 8-bit encoder
/// (for ravif's `BitDepth::Eight`), which the handler never runs. Colours under
/// transparency are cleaned up first as `encode_rgba` does, and an alpha channel is written
/// only when some pixel is not opaque.
pub fn encode(img: &DynamicImage, quality: u8) -> Result<Vec<u8>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let enc = encoder(quality);
    let out = if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        let px = rgba.as_raw().as_rgba();
        let cleaned = clean_alpha::blurred_dirty_alpha(Img::new(px, w, h));
        let px = cleaned.as_ref().map_or(px, |c| c.buf().as_slice());
        let colour = ycbcr(px.iter().map(|p| [p.r, p.g, p.b]));
        let alpha = px.iter().any(|p| p.a != 255).then(|| px.iter().map(|p| ten_bits(p.a)));
        enc.encode_raw_planes_10_bit(w, h, colour, alpha, Full, BT601)
    } else {
        let rgb = img.to_rgb8();
        enc.encode_raw_planes_10_bit(w, h, ycbcr(rgb.pixels().map(|p| p.0)), None::<[_; 0]>, Full, BT601)
    };
    out.map(|e| e.avif_file).map_err(|e| bad("AVIF encoder", e))
}

/// rav1e at a fast preset, on the request's own thread.
fn encoder(quality: u8) -> Encoder<'static> {
    Encoder::new().with_quality(quality as f32).with_speed(9).with_num_threads(Some(1))
}

/// 8-bit sRGB to full-range 10-bit BT.601 Y′CbCr, by ravif's own formula (rounded the same
/// way, so the planes are the ones `encode_rgb` would make).
fn ycbcr(pixels: impl Iterator<Item = [u8; 3]> + Send) -> impl Iterator<Item = [u16; 3]> + Send {
    const KR: f32 = 0.2990;
    const KG: f32 = 0.5870;
    const KB: f32 = 0.1140;
    const SCALE: f32 = 1023. / 255.;
    const SHIFT: f32 = 512.; // (1023 / 2).round()
    pixels.map(|p| {
        let [r, g, b] = p.map(f32::from);
        let y = (SCALE * KB).mul_add(b, (SCALE * KR).mul_add(r, SCALE * KG * g));
        let cb = b.mul_add(SCALE, -y).mul_add(0.5 / (1. - KB), SHIFT);
        let cr = r.mul_add(SCALE, -y).mul_add(0.5 / (1. - KR), SHIFT);
        [y.round() as u16, cb.round() as u16, cr.round() as u16]
    })
}

/// 8 to 10 bits, 255 to 1023, as ravif widens alpha.
fn ten_bits(v: u8) -> u16 {
    (u16::from(v) << 2) | (u16::from(v) >> 6)
}

/// Checks that every box ends within the one that holds it, down through `meta`, `iprp` and
/// `ipco` (where `iloc`, `iinf` and the properties are), from `depth` 0 at the top level:
/// avif-parse reserves a box's declared size before reading it, so a few kilobytes
/// declaring a 1.5 GB `mdat`, or a 2 GB `iloc`, took that much (found by the `decode_avif`
/// fuzz target).
fn boxes_within(mut data: &[u8], depth: u32) -> Result<()> {
    let past_end = |()| bad("AVIF", "a box runs past the end of the one that holds it");
    while let Some((kind, body, rest)) = next_box(data).map_err(past_end)? {
        // Deeper nesting than a real file has is not followed (and bounds the recursion).
        if depth < 3 {
            match &kind {
                // A full box: version and flags come first.
                b"meta" => boxes_within(body.get(4..).unwrap_or_default(), depth + 1)?,
                b"iprp" | b"ipco" => boxes_within(body, depth + 1)?,
                b"iinf" | b"iloc" => entries_fit(&kind, body)?,
                _ => {}
            }
        }
        data = rest;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ravif::{RGB8, RGBA8};

    /// The handler's encoder writes the very bytes ravif's 8-bit entry points write at the
    /// same settings: opaque, with soft-edged alpha (cleaned up as ravif does), and RGBA
    /// that is all opaque (alpha left out).
    #[test]
    fn same_bytes_as_ravifs_8_bit_entry_points() {
        let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/dragonfly-alpha.png")).unwrap();
        let rgba = photo.resize_exact(61, 43, image::imageops::FilterType::Triangle).to_rgba8();
        let opaque = DynamicImage::ImageRgba8(rgba.clone()).to_rgb8();
        assert!(rgba.pixels().any(|p| p[3] == 0) && rgba.pixels().any(|p| p[3] > 0 && p[3] < 255));
        let ravif = encoder(62);
        let rgb8: Vec<RGB8> = opaque.pixels().map(|p| RGB8::new(p[0], p[1], p[2])).collect();
        let rgba8: Vec<RGBA8> = rgba.pixels().map(|p| RGBA8::new(p[0], p[1], p[2], p[3])).collect();
        let solid: Vec<RGBA8> = rgb8.iter().map(|p| p.with_alpha(255)).collect();

        let ours = encode(&DynamicImage::ImageRgb8(opaque.clone()), 62).unwrap();
        assert_eq!(ours, ravif.encode_rgb(Img::new(&rgb8[..], 61, 43)).unwrap().avif_file);
        let ours = encode(&DynamicImage::ImageRgba8(rgba), 62).unwrap();
        assert_eq!(ours, ravif.encode_rgba(Img::new(&rgba8[..], 61, 43)).unwrap().avif_file);
        let ours = encode(&DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(opaque).to_rgba8()), 62).unwrap();
        assert_eq!(ours, ravif.encode_rgba(Img::new(&solid[..], 61, 43)).unwrap().avif_file);
    }
}
