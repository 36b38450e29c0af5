//! `bright,N`, N in −100..=100: adds N to every colour channel.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bright(pub i32);

impl PixelStep for Bright {
    fn parse(p: &mut Params) -> Result<Self> {
        Ok(Bright(p.bare_int("bright", -100..=100)? as i32))
    }

    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, 0))
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        if self.0 != 0 {
            pic.map(|f| f.brighten(self.0));
        }
        Ok(())
    }
}
