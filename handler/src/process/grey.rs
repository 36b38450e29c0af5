//! `grey,1`: luma, keeping alpha where there is one; `grey,0` leaves the image alone (the
//! seed system's form). A bare `grey` is `grey,1`.

use super::{params::Params, Footprint, PixelStep, StepContext};
use crate::error::Result;
use crate::picture::Picture;
use image::DynamicImage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grey(pub bool);

impl PixelStep for Grey {
    fn parse(p: &mut Params) -> Result<Self> {
        Ok(Grey(!p.has_bare() || p.bare_int("grey", 0..=1)? == 1))
    }

    fn footprint(&self, pic: &Picture) -> Option<Footprint> {
        self.0.then(|| Footprint::same(pic, 0))
    }

    fn apply(&self, pic: &mut Picture, _: &StepContext) -> Result<()> {
        if !self.0 {
            return Ok(());
        }
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
