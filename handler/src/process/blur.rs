//! `blur,r_R,s_S`: Gaussian blur; `s` is the standard deviation, `r` bounds the kernel.

use super::{params::Params, Action};
use crate::error::Result;
use image::DynamicImage;

#[derive(Debug, Clone, PartialEq)]
pub struct Blur {
    pub r: u32,
    pub s: u32,
}

pub fn parse(p: &mut Params) -> Result<Action> {
    let r = p.take_u32("r", 1..=50)?.ok_or_else(|| p.err("needs r (1..=50)"))?;
    let s = p.take_u32("s", 1..=50)?.ok_or_else(|| p.err("needs s (1..=50)"))?;
    Ok(Action::Blur(Blur { r, s }))
}

impl Blur {
    pub fn apply(&self, img: DynamicImage) -> DynamicImage {
        // The kernel is truncated at radius r, so a sigma wider than r has no effect past it.
        let sigma = self.s.min(self.r) as f32;
        img.fast_blur(sigma)
    }
}
