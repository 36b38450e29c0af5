//! `sharpen,N`, N in 50..=399: unsharp mask, stronger with N.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharpen(pub u32);

impl PixelStep for Sharpen {
    fn parse(p: &mut Params) -> Result<Self> {
        Ok(Sharpen(p.bare_int("sharpen", 50..=399)? as u32))
    }

    /// Unsharp mask: two f32 copies of the frame.
    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, 8 * pic.frame_bytes()))
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        pic.map(|f| f.unsharpen(self.0 as f32 / 100.0, 0));
        Ok(())
    }
}
