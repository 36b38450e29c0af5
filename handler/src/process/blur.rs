//! `blur,r_R,s_S`: Gaussian blur; `s` is the standard deviation, `r` bounds the kernel.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;

#[derive(Debug, Clone, PartialEq)]
pub struct Blur {
    pub r: u32,
    pub s: u32,
}

impl PixelStep for Blur {
    fn parse(p: &mut Params) -> Result<Self> {
        let r = p.take_u32("r", 1..=50)?.ok_or_else(|| p.err("needs r (1..=50)"))?;
        let s = p.take_u32("s", 1..=50)?.ok_or_else(|| p.err("needs s (1..=50)"))?;
        Ok(Blur { r, s })
    }

    /// Box blur: a transient copy of the frame.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, pic.frame_bytes()))
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        // The kernel is truncated at radius r, so a sigma wider than r has no effect past it.
        let sigma = self.s.min(self.r) as f32;
        pic.map(|f| f.fast_blur(sigma));
        Ok(())
    }
}
