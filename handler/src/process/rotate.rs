//! `rotate,N`: clockwise by N degrees; the canvas grows to the bounding box, filled white.

use super::{footprint::rgba_bytes, params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;
use image::{DynamicImage, Rgba, RgbaImage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotate(pub u32);

impl PixelStep for Rotate {
    fn parse(p: &mut Params) -> Result<Self> {
        Ok(Rotate(p.bare_int("rotate", 0..=360)? as u32))
    }

    /// Quarter turns move pixels; any other angle holds the source widened to RGBA and
    /// the turned RGBA canvas before it is narrowed back.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        let (w, h) = (pic.width(), pic.height());
        let out = self.output_size(w, h);
        let scratch = if self.0 % 90 == 0 { 0 } else { rgba_bytes(w, h) + rgba_bytes(out.0, out.1) };
        Some(Footprint { out, scratch })
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        pic.map(|f| self.turn(f));
        Ok(())
    }
}

impl Rotate {
    /// The size of a `w`×`h` image once turned: the bounding box of the turned image.
    pub fn output_size(&self, w: u32, h: u32) -> (u32, u32) {
        match self.0 % 360 {
            0 | 180 => (w, h),
            90 | 270 => (h, w),
            deg => bounding_box(w, h, deg as f64),
        }
    }

    /// Quarter turns move pixels; other angles resample onto a grown canvas.
    fn turn(&self, img: DynamicImage) -> DynamicImage {
        match self.0 % 360 {
            0 => img,
            90 => img.rotate90(),
            180 => img.rotate180(),
            270 => img.rotate270(),
            deg => {
                let rotated = rotate_any(&img.to_rgba8(), deg as f64, Rgba([255, 255, 255, 255]));
                if img.color().has_alpha() {
                    DynamicImage::ImageRgba8(rotated)
                } else {
                    DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rotated).to_rgb8())
                }
            }
        }
    }
}

/// Bilinear clockwise rotation by inverse mapping onto a `bg` canvas that holds the whole image.
pub fn rotate_any(src: &RgbaImage, deg: f64, bg: Rgba<u8>) -> RgbaImage {
    let (w, h) = (src.width() as f64, src.height() as f64);
    let (sin, cos) = deg.to_radians().sin_cos();
    let (out_w, out_h) = bounding_box(src.width(), src.height(), deg);
    let mut out = RgbaImage::from_pixel(out_w, out_h, bg);
    let (ocx, ocy) = (out_w as f64 / 2.0, out_h as f64 / 2.0);
    let (icx, icy) = (w / 2.0, h / 2.0);
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (dx, dy) = (x as f64 + 0.5 - ocx, y as f64 + 0.5 - ocy);
        // Inverse of a clockwise rotation (y axis points down).
        let sx = dx * cos + dy * sin + icx - 0.5;
        let sy = -dx * sin + dy * cos + icy - 0.5;
        if let Some(s) = sample(src, sx, sy, bg) {
            *px = s;
        }
    }
    out
}

/// The size of the canvas that holds a `w`×`h` image turned by `deg` degrees.
fn bounding_box(w: u32, h: u32, deg: f64) -> (u32, u32) {
    let (w, h) = (w as f64, h as f64);
    let (sin, cos) = deg.to_radians().sin_cos();
    let side = |a: f64, b: f64| (a + b).round().max(1.0) as u32;
    (side(w * cos.abs(), h * sin.abs()), side(w * sin.abs(), h * cos.abs()))
}

/// Bilinear sample at (x, y); outside pixels count as `bg`, `None` when fully outside.
fn sample(img: &RgbaImage, x: f64, y: f64, bg: Rgba<u8>) -> Option<Rgba<u8>> {
    let (w, h) = (img.width() as i64, img.height() as i64);
    if x < -1.0 || y < -1.0 || x > w as f64 || y > h as f64 {
        return None;
    }
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let get = |xi: i64, yi: i64| -> [f64; 4] {
        if xi < 0 || yi < 0 || xi >= w || yi >= h {
            bg.0.map(f64::from)
        } else {
            img.get_pixel(xi as u32, yi as u32).0.map(f64::from)
        }
    };
    let (a, b, c, d) = (get(x0, y0), get(x0 + 1, y0), get(x0, y0 + 1), get(x0 + 1, y0 + 1));
    let mut out = [0u8; 4];
    for i in 0..4 {
        let top = a[i] * (1.0 - fx) + b[i] * fx;
        let bottom = c[i] * (1.0 - fx) + d[i] * fx;
        out[i] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
    }
    Some(Rgba(out))
}
