//! `circle`: keep a centred disc; outside it is transparent, or white for JPEG output.

use super::{footprint::rgba_bytes, params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;
use image::{DynamicImage, Rgba, RgbaImage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub r: u32,
}

impl PixelStep for Circle {
    fn parse(p: &mut Params) -> Result<Self> {
        let r = p.take_u32("r", 1..=4096)?.ok_or_else(|| p.err("needs r"))?;
        Ok(Circle { r })
    }

    /// The square cut out, then widened to RGBA.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        let side = self.side(pic.width(), pic.height());
        Some(Footprint { out: (side, side), scratch: rgba_bytes(side, side) })
    }

    fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        pic.map(|f| self.cut(f, ctx));
        Ok(())
    }
}

impl Circle {
    /// The side of the square that holds the disc in a `w`×`h` image: always odd (2r + 1),
    /// the radius capped at (short side − 1) / 2, as OSS documents.
    fn side(&self, w: u32, h: u32) -> u32 {
        2 * self.r.min((w.min(h) - 1) / 2) + 1
    }

    fn cut(&self, img: DynamicImage, ctx: &StepContext) -> DynamicImage {
        let side = self.side(img.width(), img.height());
        let x = (img.width() - side) / 2;
        let y = (img.height() - side) / 2;
        let square = img.crop_imm(x, y, side, side).to_rgba8();
        let radius = side as f32 / 2.0;
        let mask = |px: u32, py: u32| {
            let dx = px as f32 + 0.5 - radius;
            let dy = py as f32 + 0.5 - radius;
            coverage((dx * dx + dy * dy).sqrt(), radius)
        };
        apply_mask(square, mask, ctx)
    }
}

/// Anti-aliased coverage of a pixel whose centre is `dist` from the centre of a disc.
pub fn coverage(dist: f32, radius: f32) -> f32 {
    (radius - dist + 0.5).clamp(0.0, 1.0)
}

/// Multiplies alpha by `mask`; for formats without alpha, blends onto white instead.
pub fn apply_mask(mut img: RgbaImage, mask: impl Fn(u32, u32) -> f32, ctx: &StepContext) -> DynamicImage {
    let white = !ctx.output_format.has_alpha();
    for (x, y, Rgba(px)) in img.enumerate_pixels_mut() {
        let m = mask(x, y);
        if m >= 1.0 {
            continue;
        }
        if white {
            for c in &mut px[..3] {
                *c = (*c as f32 * m + 255.0 * (1.0 - m)).round() as u8;
            }
        } else {
            px[3] = (px[3] as f32 * m).round() as u8;
        }
    }
    DynamicImage::ImageRgba8(img)
}
