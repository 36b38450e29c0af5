//! `rounded-corners`: round the four corners with radius `r`.

use super::circle::{apply_mask, coverage};
use super::{params::Params, Action, StepContext};
use crate::error::Result;
use image::DynamicImage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundedCorners {
    pub r: u32,
}

pub fn parse(p: &mut Params) -> Result<Action> {
    let r = p.take_u32("r", 1..=4096)?.ok_or_else(|| p.err("needs r"))?;
    Ok(Action::RoundedCorners(RoundedCorners { r }))
}

impl RoundedCorners {
    pub fn apply(&self, img: DynamicImage, ctx: &StepContext) -> DynamicImage {
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
