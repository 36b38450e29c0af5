//! `grey`: luma, keeping alpha where there is one.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;
use image::DynamicImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grey;

impl PixelStep for Grey {
    fn parse(_: &mut Params) -> Result<Self> {
        Ok(Grey)
    }

    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        Some(Footprint::same(pic, 0))
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        pic.map(|f| {
            if f.color().has_alpha() {
                DynamicImage::ImageLumaA8(f.to_luma_alpha8())
            } else {
                DynamicImage::ImageLuma8(f.to_luma8())
            }
        });
        Ok(())
    }
}
