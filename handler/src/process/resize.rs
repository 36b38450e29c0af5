//! `resize`: scale by width/height, long/short side or percent, in five modes.

use super::{footprint::rgba_bytes, params::Params, Footprint, PixelStep, StepContext};
use crate::error::{ProcessError, Result};
use crate::picture::Picture;
use fast_image_resize::pixels::{U8x2, U8x3, U8x4, U8};
use fast_image_resize::{FilterType, IntoImageViewMut, PixelTrait, ResizeAlg, ResizeError, ResizeOptions, Resizer};
use image::{ColorType, DynamicImage, GenericImage, Rgb, RgbImage, Rgba, RgbaImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fit inside w×h, proportional (the default).
    Lfit,
    /// Cover w×h, proportional, nothing cut.
    Mfit,
    /// Cover w×h, then cut the centre to exactly w×h.
    Fill,
    /// Fit inside w×h, then centre on a w×h canvas of `color`.
    Pad,
    /// Exactly w×h, aspect ignored.
    Fixed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    pub mode: Mode,
    pub w: Option<u32>,
    pub h: Option<u32>,
    pub l: Option<u32>,
    pub s: Option<u32>,
    pub p: Option<u32>,
    pub limit: bool,
    pub color: [u8; 3],
}

impl PixelStep for Resize {
    fn parse(p: &mut Params) -> Result<Self> {
        let mode = match p.take("m") {
            None | Some("lfit") => Mode::Lfit,
            Some("mfit") => Mode::Mfit,
            Some("fill") => Mode::Fill,
            Some("pad") => Mode::Pad,
            Some("fixed") => Mode::Fixed,
            Some(other) => return Err(p.err(format!("m must be lfit, mfit, fill, pad or fixed, got \"{other}\""))),
        };
        let r = Resize {
            mode,
            w: p.take_u32("w", 1..=16384)?,
            h: p.take_u32("h", 1..=16384)?,
            l: p.take_u32("l", 1..=16384)?,
            s: p.take_u32("s", 1..=16384)?,
            p: p.take_u32("p", 1..=1000)?,
            limit: p.take_flag("limit")?.unwrap_or(true),
            color: p.take_color("color")?.unwrap_or([255, 255, 255]),
        };
        if [r.w, r.h, r.l, r.s, r.p].iter().all(Option::is_none) {
            return Err(p.err("needs one of w, h, l, s or p"));
        }
        Ok(r)
    }

    /// The resampler's 8-bit or premultiplied copy of the source, the image between its
    /// two passes, and for `pad` the scaled image beside the canvas.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        let (w, h) = (pic.width(), pic.height());
        let (sw, sh) = pic.planning_size();
        let g = self.geometry(sw, sh, pic.is_animated(), pic.prescaled_rounding)?;
        let (ow, oh) = g.scaled;
        let color = pic.first().color();
        let copied = color.has_alpha() || color.bytes_per_pixel() != color.channel_count();
        let mut scratch = if copied { rgba_bytes(w, h) } else { 0 } + rgba_bytes(ow, h).max(rgba_bytes(w, oh));
        if self.mode == Mode::Pad && g.scaled != g.canvas {
            scratch += rgba_bytes(ow, oh);
        }
        Some(Footprint { out: g.canvas, scratch })
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        let (sw, sh) = pic.planning_size();
        let Some(g) = self.geometry(sw, sh, pic.is_animated(), pic.prescaled_rounding) else {
            pic.logical_size = None;
            return Ok(());
        };
        pic.try_map(|f| match self.mode {
            Mode::Fill => resample_cover(f, g.canvas.0, g.canvas.1),
            Mode::Pad => {
                let inner = resample(f, g.scaled.0, g.scaled.1)?;
                Ok(pad(inner, g.canvas, self.color))
            }
            _ => resample(f, g.scaled.0, g.scaled.1),
        })
    }
}

/// Where the pixels go: resampled to `scaled`, then cut (fill) or padded (pad) to `canvas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub scaled: (u32, u32),
    pub canvas: (u32, u32),
}

impl Resize {
    /// The geometry for a `sw`×`sh` source, or `None` when the image stays as it is
    /// (an enlargement that `limit_1` or an animation forbids). `prescaled` rounds the
    /// computed side as the seed does for a JPEG it decodes at a reduced scale.
    pub fn geometry(&self, sw: u32, sh: u32, animated: bool, prescaled: bool) -> Option<Geometry> {
        let scale = |v: u32, f: f64| ((v as f64 * f).round() as u32).max(1);
        let g = if let (Some(p), None, None) = (self.p, self.w, self.h) {
            let f = p as f64 / 100.0;
            let s = (scale(sw, f), scale(sh, f));
            return (!animated || p <= 100).then_some(Geometry { scaled: s, canvas: s });
        } else if self.mode == Mode::Fixed {
            let (bw, bh) = self.bounding_box(sw, sh);
            let s = (bw.unwrap_or(sw), bh.unwrap_or(sh));
            Geometry { scaled: s, canvas: s }
        } else {
            match self.bounding_box(sw, sh) {
                (Some(w), None) => {
                    let s = (w, proportional(sw, sh, w, prescaled));
                    Geometry { scaled: s, canvas: s }
                }
                (None, Some(h)) => {
                    let s = (proportional(sh, sw, h, prescaled), h);
                    Geometry { scaled: s, canvas: s }
                }
                (Some(w), Some(h)) => {
                    let (rw, rh) = (w as f64 / sw as f64, h as f64 / sh as f64);
                    let by_width = match self.mode {
                        Mode::Lfit | Mode::Pad => rw <= rh,
                        _ => rw >= rh,
                    };
                    let scaled = if by_width {
                        (w, proportional(sw, sh, w, prescaled))
                    } else {
                        (proportional(sh, sw, h, prescaled), h)
                    };
                    let canvas = match self.mode {
                        Mode::Fill | Mode::Pad => (w, h),
                        _ => scaled,
                    };
                    Geometry { scaled, canvas }
                }
                (None, None) => return None,
            }
        };
        let enlarges = g.scaled.0 > sw || g.scaled.1 > sh;
        if enlarges && (self.limit || animated) {
            return None;
        }
        Some(g)
    }

    /// The target box from w/h, or from l/s mapped onto the source's orientation.
    fn bounding_box(&self, sw: u32, sh: u32) -> (Option<u32>, Option<u32>) {
        if self.w.is_some() || self.h.is_some() {
            (self.w, self.h)
        } else if sw >= sh {
            (self.l, self.s)
        } else {
            (self.s, self.l)
        }
    }
}

/// The other side of a proportional resize that brings `bound` to `out`: `other ÷ (bound ÷
/// out)`, rounded half up as libvips rounds. With `prescaled`, from the size the seed's
/// sharp 0.31 decodes an unturned JPEG to first: 1/2, 1/4 or 1/8 of the source, one step
/// less when the factor's integer part equals it (sharp's `pipeline.cc`), each side rounded
/// down (libvips' `jpeg2vips.c`: "strict round down on shrink-on-load"). So a 424×333 JPEG
/// at `w_100` is 100×78 (from 212×166), where rounding the full size gives 100×79.
fn proportional(bound: u32, other: u32, out: u32, prescaled: bool) -> u32 {
    let factor = bound as f64 / out as f64;
    let shrink = match factor {
        _ if !prescaled => 1,
        f if f >= 8.0 => 8,
        f if f >= 4.0 => 4,
        f if f >= 2.0 => 2,
        _ => 1,
    };
    let shrink = if shrink > 1 && factor as u32 == shrink { shrink / 2 } else { shrink };
    let (bound, other) = ((bound / shrink).max(1), (other / shrink).max(1));
    ((other as f64 / (bound as f64 / out as f64) + 0.5).floor() as u32).max(1)
}

/// Lanczos3 resampling with SIMD (`fast_image_resize`), alpha premultiplied on the way.
pub fn resample(img: DynamicImage, w: u32, h: u32) -> Result<DynamicImage> {
    resample_with(img, w, h, None)
}

/// Resamples to cover `w`×`h` and cuts the centre, in one pass.
pub fn resample_cover(img: DynamicImage, w: u32, h: u32) -> Result<DynamicImage> {
    resample_with(img, w, h, Some((0.5, 0.5)))
}

fn resample_with(img: DynamicImage, w: u32, h: u32, centre: Option<(f64, f64)>) -> Result<DynamicImage> {
    if (img.width(), img.height()) == (w, h) {
        return Ok(img);
    }
    let mut img = normalize(img);
    let mut dst = DynamicImage::new(w, h, img.color());
    let opts =
        ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)).fit_into_destination(centre);
    let done = match img.color() {
        ColorType::L8 => resize_as::<U8>(&mut img, &mut dst, &opts),
        ColorType::La8 => resize_as::<U8x2>(&mut img, &mut dst, &opts),
        ColorType::Rgb8 => resize_as::<U8x3>(&mut img, &mut dst, &opts),
        _ => resize_as::<U8x4>(&mut img, &mut dst, &opts),
    };
    done.map_err(|e| ProcessError::internal(format!("resize failed: {e}")))?;
    Ok(dst)
}

/// Resizes as pixels of type `P`, one of the four 8-bit types `normalize` leaves, where
/// `Resizer::resize` would link all thirteen (and the 16-bit kernels' 512 KB table): 1.2 MB
/// less x86_64 binary. Both images are viewed as `TypedImage`, the type of the resampler's
/// own buffers, so each SIMD kernel is compiled once per pixel type, not once per pair of
/// view types: 0.5 MB less. The same kernels run.
fn resize_as<P: PixelTrait>(
    src: &mut DynamicImage,
    dst: &mut DynamicImage,
    opts: &ResizeOptions,
) -> Result<(), ResizeError> {
    match (src.image_view_mut::<P>(), dst.image_view_mut::<P>()) {
        (Some(src), Some(mut dst)) => Resizer::new().resize_typed(&src, &mut dst, opts),
        _ => Err(ResizeError::PixelTypesAreDifferent),
    }
}

/// The resampler works on 8-bit gray, gray+alpha, RGB and RGBA; anything else becomes RGB(A).
fn normalize(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}

/// Centres `inner` on a `canvas` filled with `color`.
fn pad(inner: DynamicImage, canvas: (u32, u32), color: [u8; 3]) -> DynamicImage {
    if (inner.width(), inner.height()) == canvas {
        return inner;
    }
    let mut out = filled(canvas.0, canvas.1, color, inner.color().has_alpha());
    let x = (canvas.0 - inner.width()) / 2;
    let y = (canvas.1 - inner.height()) / 2;
    let inner = match inner {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => inner,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    // The canvas has the same colour type as `inner`, so this copy cannot fail.
    let _ = out.copy_from(&inner, x, y);
    out
}

/// A `w`×`h` canvas of one opaque colour, RGBA when `alpha` is asked for.
fn filled(w: u32, h: u32, [r, g, b]: [u8; 3], alpha: bool) -> DynamicImage {
    if alpha {
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, Rgba([r, g, b, 255])))
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([r, g, b])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Resize {
        Resize::parse(&mut Params::new("resize", s.split(','))).unwrap()
    }

    fn g(s: &str, w: u32, h: u32) -> Option<((u32, u32), (u32, u32))> {
        r(s).geometry(w, h, false, false).map(|g| (g.scaled, g.canvas))
    }

    #[test]
    fn missing_side_rounds_to_nearest() {
        assert_eq!(g("w_200", 400, 267), Some(((200, 134), (200, 134))));
        assert_eq!(g("h_100", 400, 267), Some(((150, 100), (150, 100))));
    }

    #[test]
    fn an_unturned_jpeg_rounds_from_the_seeds_prescaled_decode() {
        let p = |s: &str, w, h| r(s).geometry(w, h, false, true).map(|g| g.scaled);
        // The seed's own tests (f.jpg, example.jpg): 212x166 decoded, then 166 / 2.12.
        assert_eq!(p("w_100", 424, 333), Some((100, 78)));
        assert_eq!(g("w_100", 424, 333).map(|g| g.0), Some((100, 79)));
        assert_eq!(p("w_100", 400, 267), Some((100, 67)));
        // A factor of exactly 2 decodes at full size in sharp: no prescale.
        assert_eq!(p("w_200", 400, 267), Some((200, 134)));
        // Cover by the height: 212x166, then 212 / 1.66.
        assert_eq!(p("m_fill,w_100,h_100", 424, 333), Some((128, 100)));
        assert_eq!(g("m_fill,w_100,h_100", 424, 333).map(|g| g.0), Some((127, 100)));
    }

    #[test]
    fn modes() {
        assert_eq!(g("m_lfit,w_100,h_100", 400, 200), Some(((100, 50), (100, 50))));
        assert_eq!(g("m_mfit,w_100,h_100", 400, 200), Some(((200, 100), (200, 100))));
        assert_eq!(g("m_fill,w_100,h_100", 400, 200), Some(((200, 100), (100, 100))));
        assert_eq!(g("m_pad,w_100,h_100", 400, 200), Some(((100, 50), (100, 100))));
        assert_eq!(g("m_fixed,w_100,h_100", 400, 200), Some(((100, 100), (100, 100))));
        assert_eq!(g("m_fixed,w_100", 400, 200), Some(((100, 200), (100, 200))));
    }

    #[test]
    fn long_and_short_side() {
        assert_eq!(g("l_100", 400, 200), Some(((100, 50), (100, 50))));
        assert_eq!(g("s_100", 400, 200), Some(((200, 100), (200, 100))));
        assert_eq!(g("l_100", 200, 400), Some(((50, 100), (50, 100))));
        assert_eq!(g("w_50,l_100", 400, 200), Some(((50, 25), (50, 25))));
    }

    #[test]
    fn limit_and_percent() {
        assert_eq!(g("w_800", 400, 200), None);
        assert_eq!(g("w_800,limit_0", 400, 200), Some(((800, 400), (800, 400))));
        assert_eq!(g("p_50", 400, 200), Some(((200, 100), (200, 100))));
        assert_eq!(g("p_200", 400, 200), Some(((800, 400), (800, 400))));
        assert_eq!(r("p_200").geometry(400, 200, true, false), None);
    }
}
