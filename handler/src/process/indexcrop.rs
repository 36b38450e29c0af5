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
    /// An index past the last slice leaves the image as it is (OSS behaviour).
    pub fn apply(&self, img: DynamicImage) -> DynamicImage {
        let (w, h) = (img.width(), img.height());
        let extent = if self.along_x { w } else { h };
        let start = self.index as u64 * self.size as u64;
        if start >= extent as u64 {
            return img;
        }
        let start = start as u32;
        let len = self.size.min(extent - start);
        if self.along_x {
            img.crop_imm(start, 0, len, h)
        } else {
            img.crop_imm(0, start, w, len)
        }
    }
}
