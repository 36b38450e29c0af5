//! `rounded-corners`: round the four corners with radius `r`.

use super::circle::{apply_mask, coverage};
use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;
use image::DynamicImage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundedCorners {
    pub r: u32,
}

impl PixelStep for RoundedCorners {
    fn parse(p: &mut Params) -> Result<Self> {
        let r = p.take_u32("r", 1..=4096)?.ok_or_else(|| p.err("needs r"))?;
        Ok(RoundedCorners { r })
    }

    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, 0))
    }

    fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        pic.map(|f| self.round(f, ctx));
        Ok(())
    }
}

impl RoundedCorners {
    fn round(&self, img: DynamicImage, ctx: &StepContext) -> DynamicImage {
        let (w, h) = (img.width(), img.height());
        let r = (self.r as f32).min(w as f32 / 2.0).min(h as f32 / 2.0);
        let mask = |x: u32, y: u32| {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            // Distance from the nearest corner's circle centre, when inside a corner box.
            let cx = if px < r {
                r
            } else if px > w as f32 - r {
                w as f32 - r
            } else {
                return 1.0;
            };
            let cy = if py < r {
                r
            } else if py > h as f32 - r {
                h as f32 - r
            } else {
                return 1.0;
            };
            let (dx, dy) = (px - cx, py - cy);
            coverage((dx * dx + dy * dy).sqrt(), r)
        };
        apply_mask(img.to_rgba8(), mask, ctx)
    }
}
