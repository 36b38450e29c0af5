//! `contrast,N`, N in −100..=100: stretches (N > 0) or flattens (N < 0) around mid-grey.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contrast(pub i32);

impl PixelStep for Contrast {
    fn parse(p: &mut Params) -> Result<Self> {
        Ok(Contrast(p.bare_int("contrast", -100..=100)? as i32))
    }

    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, 0))
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        if self.0 != 0 {
            pic.map(|f| f.adjust_contrast(self.0 as f32));
        }
        Ok(())
    }
}
