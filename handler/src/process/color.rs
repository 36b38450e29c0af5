//! `bright`, `contrast` and `grey`: per-pixel tone changes; plus solid canvases.

use super::{params::Params, Action};
use crate::error::Result;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};

/// `bright,N`, N in −100..=100: adds N to every colour channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bright(pub i32);

/// `contrast,N`, N in −100..=100: stretches (N > 0) or flattens (N < 0) around mid-grey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contrast(pub i32);

pub fn parse_bright(p: &mut Params) -> Result<Action> {
    Ok(Action::Bright(Bright(p.bare_int("bright", -100..=100)? as i32)))
}

pub fn parse_contrast(p: &mut Params) -> Result<Action> {
    Ok(Action::Contrast(Contrast(p.bare_int("contrast", -100..=100)? as i32)))
}

pub fn parse_grey(_: &mut Params) -> Result<Action> {
    Ok(Action::Grey)
}

impl Bright {
    pub fn apply(&self, img: DynamicImage) -> DynamicImage {
        if self.0 == 0 {
            return img;
        }
        img.brighten(self.0)
    }
}

impl Contrast {
    pub fn apply(&self, img: DynamicImage) -> DynamicImage {
        if self.0 == 0 {
            return img;
        }
        img.adjust_contrast(self.0 as f32)
    }
}

/// Luma, keeping alpha where there is one.
pub fn grey(img: DynamicImage) -> DynamicImage {
    if img.color().has_alpha() {
        DynamicImage::ImageLumaA8(img.to_luma_alpha8())
    } else {
        DynamicImage::ImageLuma8(img.to_luma8())
    }
}

/// A `w`×`h` canvas of one opaque colour, RGBA when `alpha` is asked for.
pub fn filled(w: u32, h: u32, [r, g, b]: [u8; 3], alpha: bool) -> DynamicImage {
    if alpha {
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(w, h, Rgba([r, g, b, 255])))
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([r, g, b])))
    }
}
