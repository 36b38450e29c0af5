//! `cgif,s_N`: keep the first N frames of a GIF source; any other source is a 400, as in
//! the seed system.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::codec::Format;
use crate::error::{ProcessError, Result};
use crate::picture::Picture;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cgif(pub u32);

impl PixelStep for Cgif {
    fn parse(p: &mut Params) -> Result<Self> {
        let s = p.take_u32("s", 1..=1000)?.ok_or_else(|| p.err("needs s (frames to keep)"))?;
        Ok(Cgif(s))
    }

    /// Dropping frames allocates nothing.
    fn footprint(&self, _: &Picture) -> Option<Footprint> {
        None
    }

    fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        if ctx.source_format != Format::Gif {
            return Err(ProcessError::invalid(format!(
                "cgif: the source must be a GIF, not {}",
                ctx.source_format.name()
            )));
        }
        pic.keep_frames(self.0 as usize);
        Ok(())
    }
}
