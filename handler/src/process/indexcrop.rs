//! `indexcrop,x_N,i_I` (or `y_N`): cut the image into slices N pixels wide (or tall) and
//! keep slice I. Only whole slices count: an I past the last whole slice leaves the image
//! as it is, as OSS documents and the seed system does.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexCrop {
    /// Slice width along x (true) or height along y (false).
    pub along_x: bool,
    pub size: u32,
    pub index: u32,
}

impl PixelStep for IndexCrop {
    fn parse(p: &mut Params) -> Result<Self> {
        let x = p.take_u32("x", 1..=16384)?;
        let y = p.take_u32("y", 1..=16384)?;
        let index = p.take_u32("i", 0..=16384)?.ok_or_else(|| p.err("needs i (the slice to keep)"))?;
        let (along_x, size) = match (x, y) {
            (Some(x), None) => (true, x),
            (None, Some(y)) => (false, y),
            _ => return Err(p.err("needs exactly one of x or y")),
        };
        Ok(IndexCrop { along_x, size, index })
    }

    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint { out: self.slice(pic.width(), pic.height()), scratch: 0 })
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        pic.map(|f| match self.rect(f.width(), f.height()) {
            Some((x, y, w, h)) => f.crop_imm(x, y, w, h),
            None => f,
        });
        Ok(())
    }
}

impl IndexCrop {
    /// The slice (x, y, w, h) of a `w`×`h` image; `None` for an index past the last whole
    /// slice, which leaves the image as it is.
    fn rect(&self, w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
        let extent = if self.along_x { w } else { h };
        if self.index >= extent / self.size {
            return None;
        }
        let start = self.index * self.size;
        Some(if self.along_x { (start, 0, self.size, h) } else { (0, start, w, self.size) })
    }

    /// The size of the slice kept from a `w`×`h` image.
    fn slice(&self, w: u32, h: u32) -> (u32, u32) {
        self.rect(w, h).map_or((w, h), |(_, _, sw, sh)| (sw, sh))
    }
}
