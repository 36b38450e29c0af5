//! JPEG through mozjpeg (libjpeg-turbo inside): DCT-scaled decoding for shrink-on-load,
//! and libjpeg-turbo's fast settings with optimised Huffman tables for encoding.

use super::{bad, guarded, Header};
use crate::error::Result;
use crate::picture::Picture;
use image::{DynamicImage, GrayImage, RgbImage};
use mozjpeg::{ColorSpace, Compress, Decompress};

pub fn dimensions(data: &[u8]) -> Result<(u32, u32, u32)> {
    guarded("JPEG header", || {
        let d = Decompress::new_mem(data).map_err(|e| bad("JPEG header", e))?;
        Ok((d.width() as u32, d.height() as u32, 1))
    })
}

/// The largest DCT shrink (1/8, 1/4, 1/2) whose result still covers `min` in both sides.
pub fn scale_numerator(w: u32, h: u32, min: Option<(u32, u32)>) -> u8 {
    let Some((mw, mh)) = min else { return 8 };
    for num in [1u32, 2, 4] {
        let (sw, sh) = ((w * num).div_ceil(8), (h * num).div_ceil(8));
        if sw >= mw && sh >= mh {
            return num as u8;
        }
    }
    8
}

/// What [`decode`] allocates: the scaled bitmap (CMYK counted as its buffer and the RGB
/// made from it), and for a progressive file libjpeg's whole-image coefficient buffer,
/// 128 bytes for every 8×8 block of every component at full size, and at 1/8 the copy
/// without unread scans.
pub fn decoded_bytes(data: &[u8], header: &Header, min: Option<(u32, u32)>) -> u64 {
    let num = scale_numerator(header.width, header.height, min) as u64;
    let pixels = (header.width as u64 * num).div_ceil(8) * (header.height as u64 * num).div_ceil(8);
    let Some(sof) = segments(data).find(|(m, _)| matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC)) else {
        return pixels * 3;
    };
    let (marker, seg) = sof;
    let comps: Vec<(u64, u64)> = sampling(seg).map(|(_, h, v)| (h as u64, v as u64)).collect();
    let channels = match comps.len() {
        1 => 1,
        4 => 7,
        _ => 3,
    };
    let progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    let coefficients = if progressive {
        let (hmax, vmax) = comps.iter().fold((1, 1), |(h, v), &(ch, cv)| (h.max(ch), v.max(cv)));
        let blocks = |side: u32, f: u64, max: u64| (side as u64 * f).div_ceil(max * 8);
        let trimmed = if num == 1 { data.len() as u64 } else { 0 };
        trimmed
            + comps
                .iter()
                .map(|&(h, v)| blocks(header.width, h, hmax) * blocks(header.height, v, vmax) * 128)
                .sum::<u64>()
    } else {
        0
    };
    pixels * channels + coefficients
}

pub fn decode(data: &[u8], header: &Header, min: Option<(u32, u32)>) -> Result<Picture> {
    let num = scale_numerator(header.width, header.height, min);
    let trimmed = if num == 1 { without_unread_scans(data) } else { None };
    guarded("JPEG", || {
        let mut d = Decompress::new_mem(trimmed.as_deref().unwrap_or(data)).map_err(|e| bad("JPEG", e))?;
        d.scale(num);
        if trimmed.is_some() {
            // Smoothing would guess the dropped AC coefficients, which are never read.
            d.do_block_smoothing(false);
        }
        let img = match d.image().map_err(|e| bad("JPEG", e))? {
            mozjpeg::Format::RGB(s) => {
                let (w, h, buf) = read_all(s)?;
                RgbImage::from_raw(w, h, buf).map(DynamicImage::ImageRgb8)
            }
            mozjpeg::Format::Gray(s) => {
                let (w, h, buf) = read_all(s)?;
                GrayImage::from_raw(w, h, buf).map(DynamicImage::ImageLuma8)
            }
            mozjpeg::Format::CMYK(s) => {
                let (w, h, cmyk) = read_all(s)?;
                RgbImage::from_raw(w, h, cmyk_to_rgb(&cmyk)).map(DynamicImage::ImageRgb8)
            }
        };
        let img = img.ok_or_else(|| bad("JPEG", "truncated scanlines"))?;
        let mut pic = Picture::still(img);
        if num != 8 {
            pic.logical_size = Some((header.width, header.height));
        }
        Ok(pic)
    })
}

/// A Huffman progressive JPEG without the AC scans a 1/8 decode never reads: the same pixels,
/// without entropy-decoding most of the file. libjpeg picks each component's IDCT size so
/// that it needs no upsampling where it can (`jdmaster.c`): at 1/8, luma and any
/// full-resolution component get the 1×1 IDCT, which reads the DC coefficient alone
/// (`jidctred.c`), so their AC scans go; 4:2:0 chroma gets the 2×2 IDCT and keeps every
/// scan (a refinement scan's parsing depends on all earlier scans of its component).
///
/// Only a file the decoder reads to its end without doubt qualifies: known markers, each
/// scan well-formed with its Huffman table defined, and the first ten coefficients of every
/// component refined to their last bit. Then libjpeg's block smoothing, which estimates
/// missing coefficients (and even the DC) from neighbouring blocks, is off for the whole
/// file as it is for this one (`jdcoefct.c`, `smoothing_ok`). Anything else is `None`, and
/// goes to the decoder as it is.
fn without_unread_scans(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 2);
    out.extend_from_slice(data.get(..2).filter(|soi| *soi == [0xFF, 0xD8])?);
    let mut components: Vec<Component> = Vec::new();
    let mut ac_tables = [false; 4];
    let (mut i, mut dropped) = (2, false);
    loop {
        while data.get(i..i + 2) == Some(&[0xFF, 0xFF]) {
            i += 1; // fill bytes before a marker
        }
        let &[0xFF, marker] = data.get(i..i + 2)? else { return None };
        if marker == 0xD9 {
            out.extend_from_slice(&data[i..i + 2]);
            let complete = components.iter().all(|c| c.known_bit.iter().all(|&bit| bit == 0));
            return (dropped && complete).then_some(out);
        }
        // SOF2, DHT, SOS, DQT, DRI, APPn, COM: what a progressive Huffman file holds.
        if !matches!(marker, 0xC2 | 0xC4 | 0xDA | 0xDB | 0xDD | 0xE0..=0xEF | 0xFE) {
            return None;
        }
        let len = u16::from_be_bytes([*data.get(i + 2)?, *data.get(i + 3)?]) as usize;
        let segment = data.get(i..i + 2 + len).filter(|_| len >= 2)?;
        let end = i + segment.len();
        match marker {
            0xC2 if components.is_empty() => components = Component::from_sof(segment)?,
            0xC2 => return None,
            0xC4 => define_tables(&segment[4..], &mut ac_tables)?,
            _ => {}
        }
        if marker != 0xDA {
            out.extend_from_slice(segment);
            i = end;
            continue;
        }
        let unread = scan(segment, &mut components, &ac_tables)?;
        // A scan's entropy-coded data runs to the first marker other than a restart marker;
        // 0xFF 0x00 is a stuffed 0xFF.
        let scan_end = end
            + memchr::memchr_iter(0xFF, &data[end..])
                .find(|&j| !matches!(data.get(end + j + 1), Some(0x00 | 0xD0..=0xD7)))?;
        if unread {
            dropped = true;
        } else {
            out.extend_from_slice(&data[i..scan_end]);
        }
        i = scan_end;
    }
}

/// A frame component as a 1/8 decode sees it.
struct Component {
    id: u8,
    /// The IDCT size libjpeg gives it at 1/8.
    idct: u32,
    /// The lowest bit known so far of each of the first ten coefficients (zigzag order, as
    /// libjpeg's `coef_bits`), -1 before any scan carries it.
    known_bit: [i8; 10],
}

impl Component {
    /// The components of SOF2, each with libjpeg's IDCT size at 1/8: doubled from 1 while
    /// the component's sampling still divides the largest (`jdmaster.c`).
    fn from_sof(segment: &[u8]) -> Option<Vec<Component>> {
        let payload = &segment[4..];
        let count = *payload.get(5)? as usize;
        if count == 0 || payload.len() != 6 + 3 * count {
            return None;
        }
        let sampling: Vec<(u8, u32, u32)> = sampling(payload).collect();
        if sampling.iter().any(|&(_, h, v)| !(1..=4).contains(&h) || !(1..=4).contains(&v)) {
            return None;
        }
        let hmax = sampling.iter().map(|c| c.1).max()?;
        let vmax = sampling.iter().map(|c| c.2).max()?;
        let component = |(id, h, v): (u8, u32, u32)| {
            let mut idct = 1;
            while idct < 8 && hmax % (h * idct * 2) == 0 && vmax % (v * idct * 2) == 0 {
                idct *= 2;
            }
            Component { id, idct, known_bit: [-1; 10] }
        };
        Some(sampling.into_iter().map(component).collect())
    }
}

/// Each component's (id, horizontal, vertical) sampling factors, from a SOF payload (the
/// segment after its length).
fn sampling(sof: &[u8]) -> impl Iterator<Item = (u8, u32, u32)> + '_ {
    sof.get(6..).unwrap_or_default().chunks_exact(3).map(|c| (c[0], (c[1] >> 4) as u32, (c[1] & 0x0F) as u32))
}

/// Records which AC Huffman tables a DHT segment's payload defines.
fn define_tables(mut payload: &[u8], ac_tables: &mut [bool; 4]) -> Option<()> {
    while let Some((&class_id, rest)) = payload.split_first() {
        let counts = rest.get(..16)?;
        let values: usize = counts.iter().map(|&n| n as usize).sum();
        let (class, id) = (class_id >> 4, (class_id & 0x0F) as usize);
        if class > 1 || id > 3 {
            return None;
        }
        if class == 1 {
            ac_tables[id] = true;
        }
        payload = rest.get(16 + values..)?;
    }
    Some(())
}

/// Checks an SOS segment as libjpeg would (`jdmarker.c`, `jdphuff.c`), records which
/// coefficient bits it carries, and says whether a 1/8 decode leaves it unread: an AC scan
/// of a component with the 1×1 IDCT. `None` for anything libjpeg would refuse.
fn scan(segment: &[u8], components: &mut [Component], ac_tables: &[bool; 4]) -> Option<bool> {
    let n = *segment.get(4)? as usize;
    if !(1..=4).contains(&n) || segment.len() != 8 + 2 * n {
        return None;
    }
    let [ss, se, approximation] = segment[5 + 2 * n..8 + 2 * n] else { return None };
    let (ah, al) = (approximation >> 4, approximation & 0x0F);
    let dc = ss == 0;
    if (dc && se != 0) || (!dc && (n != 1 || ss > se || se > 63)) || al > 13 || (ah != 0 && al + 1 != ah) {
        return None;
    }
    let mut unread = !dc;
    for selector in segment[5..5 + 2 * n].chunks_exact(2) {
        let c = components.iter_mut().find(|c| c.id == selector[0])?;
        if !dc && !ac_tables.get((selector[1] & 0x0F) as usize).is_some_and(|&defined| defined) {
            return None;
        }
        for bit in c.known_bit.iter_mut().take(se as usize + 1).skip(ss as usize) {
            *bit = al as i8;
        }
        unread &= c.idct == 1;
    }
    Some(unread)
}

fn read_all(mut s: mozjpeg::decompress::DecompressStarted<&[u8]>) -> Result<(u32, u32, Vec<u8>)> {
    let (w, h) = (s.width() as u32, s.height() as u32);
    let buf = s.read_scanlines::<u8>().map_err(|e| bad("JPEG", e))?;
    s.finish().map_err(|e| bad("JPEG", e))?;
    Ok((w, h, buf))
}

/// Adobe-style (inverted) CMYK, as Photoshop writes it, to RGB.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let k = px[3] as u32;
        out.extend(px[..3].iter().map(|&c| (c as u32 * k / 255) as u8));
    }
    out
}

pub fn encode(img: &DynamicImage, quality: u8, progressive: bool) -> Result<Vec<u8>> {
    let (space, pixels) = match img {
        DynamicImage::ImageLuma8(g) => (ColorSpace::JCS_GRAYSCALE, std::borrow::Cow::Borrowed(g.as_raw())),
        DynamicImage::ImageRgb8(rgb) => (ColorSpace::JCS_RGB, std::borrow::Cow::Borrowed(rgb.as_raw())),
        other => (ColorSpace::JCS_RGB, std::borrow::Cow::Owned(super::raster::flatten_on_white(other).into_raw())),
    };
    guarded("JPEG encoder", || {
        let mut c = Compress::new(space);
        c.set_fastest_defaults();
        c.set_size(img.width() as usize, img.height() as usize);
        c.set_quality(quality as f32);
        c.set_optimize_coding(true);
        if progressive {
            c.set_progressive_mode();
        }
        let mut started = c.start_compress(Vec::new()).map_err(|e| bad("JPEG encoder", e))?;
        started.write_scanlines(&pixels).map_err(|e| bad("JPEG encoder", e))?;
        started.finish().map_err(|e| bad("JPEG encoder", e))
    })
}

/// libjpeg's luminance table at quality 50, the reference `jpeg_set_quality` scales.
const STD_LUMA: [u32; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
    87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// Inverts `jpeg_set_quality` on the first luminance quantisation table.
pub fn estimate_quality(data: &[u8]) -> Option<u8> {
    let table = luma_table(data)?;
    let sum: u32 = table.iter().sum();
    let std: u32 = STD_LUMA.iter().sum();
    let scale = sum as f64 * 100.0 / std as f64;
    let q = if scale <= 100.0 { (200.0 - scale) / 2.0 } else { 5000.0 / scale };
    Some(q.round().clamp(1.0, 100.0) as u8)
}

/// The 64 entries of quantisation table 0 from the first DQT segment that holds it.
fn luma_table(data: &[u8]) -> Option<[u32; 64]> {
    for (_, seg) in segments(data).filter(|(m, _)| *m == 0xDB) {
        let mut j = 0;
        while j < seg.len() {
            let (precision, id) = (seg[j] >> 4, seg[j] & 0x0F);
            let size = if precision == 0 { 64 } else { 128 };
            let values = seg.get(j + 1..j + 1 + size)?;
            if id == 0 {
                let mut t = [0u32; 64];
                for (k, v) in t.iter_mut().enumerate() {
                    *v = if precision == 0 {
                        values[k] as u32
                    } else {
                        u16::from_be_bytes([values[2 * k], values[2 * k + 1]]) as u32
                    };
                }
                return Some(t);
            }
            j += 1 + size;
        }
    }
    None
}

/// The marker segments before the first scan: (marker, payload after the length).
pub(super) fn segments(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut i = 2;
    std::iter::from_fn(move || {
        while i + 4 <= data.len() && data[i] == 0xFF {
            let marker = data[i + 1];
            if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 || marker == 0xFF {
                i += if marker == 0xFF { 1 } else { 2 };
                continue;
            }
            if marker == 0xDA {
                return None;
            }
            let len = u16::from_be_bytes([data[i + 2], data[i + 3]]) as usize;
            let seg = data.get(i + 4..(i + 2 + len).max(i + 4))?;
            i += 2 + len.max(2);
            return Some((marker, seg));
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_on_load_keeps_at_least_the_target() {
        assert_eq!(scale_numerator(2725, 2225, Some((720, 588))), 4);
        assert_eq!(scale_numerator(6000, 4000, Some((500, 333))), 1);
        assert_eq!(scale_numerator(400, 267, Some((200, 134))), 4);
        assert_eq!(scale_numerator(400, 267, Some((300, 200))), 8);
        assert_eq!(scale_numerator(400, 267, None), 8);
    }

    /// The corpus: cjpeg's files (see the fixtures' `make.sh`), plus mozjpeg's two scan
    /// scripts, libjpeg's simple progression and its own optimised scans.
    fn progressive_corpus() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/progressive");
        let mut corpus: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        assert!(corpus.len() >= 5, "fixtures missing in {}", dir.display());
        let photo = std::fs::read(dir.join("../../../../samples/mountain.jpg")).unwrap();
        let photo = decode(&photo, &crate::codec::probe(&photo).unwrap(), None).unwrap().frames.swap_remove(0);
        corpus.push(("mozjpeg, simple progression".into(), encode(&photo, 80, true).unwrap()));
        let mut c = Compress::new(ColorSpace::JCS_RGB);
        c.set_size(photo.width() as usize, photo.height() as usize);
        c.set_progressive_mode();
        c.set_optimize_scans(true);
        let mut started = c.start_compress(Vec::new()).unwrap();
        started.write_scanlines(photo.as_bytes()).unwrap();
        corpus.push(("mozjpeg, optimised scans".into(), started.finish().unwrap()));
        corpus
    }

    #[test]
    fn a_one_eighth_decode_without_unread_scans_matches_the_whole_file() {
        for (name, data) in progressive_corpus() {
            let kept = without_unread_scans(&data).unwrap_or_else(|| panic!("{name}: no scan dropped"));
            assert!(kept.len() * 2 < data.len(), "{name}: {} of {} bytes kept", kept.len(), data.len());
            // The reference: libjpeg on the whole file at 1/8, default settings.
            let mut whole = Decompress::new_mem(&data).unwrap();
            whole.scale(1);
            let mut whole = whole.rgb().unwrap();
            let (w, h) = (whole.width() as u32, whole.height() as u32);
            let expected: Vec<u8> = whole.read_scanlines().unwrap();
            let header = crate::codec::probe(&data).unwrap();
            let got = decode(&data, &header, Some((1, 1))).unwrap().frames.swap_remove(0).into_rgb8();
            assert_eq!(got.dimensions(), (w, h), "{name}");
            assert!(got.as_raw() == &expected, "{name}: pixels differ from the whole file's 1/8 decode");
        }
    }

    #[test]
    fn only_whole_huffman_progressive_files_lose_scans() {
        let baseline = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/mountain.jpg")).unwrap();
        assert!(without_unread_scans(&baseline).is_none());
        let (_, progressive) = progressive_corpus().swap_remove(0);
        let truncated = &progressive[..progressive.len() - 1000];
        assert!(without_unread_scans(truncated).is_none(), "a truncated file goes to the decoder whole");
        assert!(without_unread_scans(&progressive[..1000]).is_none());
        // Without its last scan (a refinement), the progression is incomplete: libjpeg
        // smooths the whole file's blocks, so it must be decoded as it is.
        let last_scan = progressive.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
        let unfinished = [&progressive[..last_scan], &[0xFF, 0xD9][..]].concat();
        assert!(without_unread_scans(&unfinished).is_none());
    }

    #[test]
    fn quality_estimate_inverts_the_encoder() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 200])));
        for q in [30u8, 50, 75, 80, 90, 95] {
            let bytes = encode(&img, q, false).unwrap();
            let est = estimate_quality(&bytes).unwrap();
            assert!((est as i32 - q as i32).abs() <= 1, "q{q} estimated as {est}");
        }
    }
}
