//! `sharpen,N`, N in 50..=399: unsharp mask, stronger with N.

use super::{params::Params, Action};
use crate::error::Result;
use image::DynamicImage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharpen(pub u32);

pub fn parse(p: &mut Params) -> Result<Action> {
    Ok(Action::Sharpen(Sharpen(p.bare_int("sharpen", 50..=399)? as u32)))
}

impl Sharpen {
    pub fn apply(&self, img: DynamicImage) -> DynamicImage {
        img.unsharpen(self.0 as f32 / 100.0, 0)
    }
}
