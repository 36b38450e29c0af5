//! `indexcrop`: cut the image into equal slices along one axis and keep slice `i`.

use super::{params::Params, Action};
use crate::error::Result;
use image::DynamicImage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexCrop {
    /// Slice width along x (true) or height along y (false).
    pub along_x: bool,
    pub size: u32,
    pub index: u32,
}

pub fn parse(p: &mut Params) -> Result<Action> {
    let x = p.take_u32("x", 1..=16384)?;
    let y = p.take_u32("y", 1..=16384)?;
    let index = p.take_u32("i", 0..=16384)?.unwrap_or(0);
    let (along_x, size) = match (x, y) {
        (Some(x), None) => (true, x),
        (None, Some(y)) => (false, y),
        _ => return Err(p.err("needs exactly one of x or y")),
    };
    Ok(Action::IndexCrop(IndexCrop { along_x, size, index }))
}

impl IndexCrop {
    /// The slice (x, y, w, h) of a `w`×`h` image; `None` for an index past the last slice,
    /// which leaves the image as it is (OSS behaviour).
    fn rect(&self, w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
        let extent = if self.along_x { w } else { h };
        let start = self.index as u64 * self.size as u64;
        if start >= extent as u64 {
            return None;
        }
        let start = start as u32;
        let len = self.size.min(extent - start);
        Some(if self.along_x { (start, 0, len, h) } else { (0, start, w, len) })
    }

    /// The size of the slice kept from a `w`×`h` image.
    pub fn slice(&self, w: u32, h: u32) -> (u32, u32) {
        self.rect(w, h).map_or((w, h), |(_, _, sw, sh)| (sw, sh))
    }

    pub fn apply(&self, img: DynamicImage) -> DynamicImage {
        match self.rect(img.width(), img.height()) {
            Some((x, y, w, h)) => img.crop_imm(x, y, w, h),
            None => img,
        }
    }
}
