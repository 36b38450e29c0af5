//! `x-oss-process`: the text parsed into actions, and each action applied to an image.
//!
//! One action is one file with a `parse` (params → [`Action`]) and an `apply` (image →
//! image). Adding one means that file plus a line in [`ACTIONS`]; nothing else changes.

mod average_hue;
mod blur;
mod circle;
mod color;
mod cost;
mod crop;
mod indexcrop;
mod output;
pub mod params;
mod parse;
mod picture;
mod resize;
mod rotate;
mod rounded_corners;
mod sharpen;
mod watermark;

pub use average_hue::average_hue_json;
pub use output::{Output, Quality};
pub use parse::{parse, MAX_ACTIONS, MAX_WATERMARK_IMAGES};
pub use picture::Picture;
pub use resize::Resize;
pub use watermark::Watermark;

use crate::codec::Format;
use crate::error::Result;
use crate::guard::Limits;
use params::Params;

/// One step of `x-oss-process`, with validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Resize(resize::Resize),
    Crop(crop::Crop),
    IndexCrop(indexcrop::IndexCrop),
    Circle(circle::Circle),
    RoundedCorners(rounded_corners::RoundedCorners),
    Rotate(rotate::Rotate),
    AutoOrient(bool),
    Blur(blur::Blur),
    Bright(color::Bright),
    Contrast(color::Contrast),
    Sharpen(sharpen::Sharpen),
    Grey,
    Interlace(bool),
    Quality(Quality),
    Format(Format),
    StripMetadata,
    Info,
    Threshold(u64),
    Cgif(u32),
    Watermark(watermark::Watermark),
    AverageHue,
}

type ParseFn = fn(&mut Params) -> Result<Action>;

/// Action names → parsers. The one table a new action is added to.
pub const ACTIONS: &[(&str, ParseFn)] = &[
    ("resize", resize::parse),
    ("crop", crop::parse),
    ("indexcrop", indexcrop::parse),
    ("circle", circle::parse),
    ("rounded-corners", rounded_corners::parse),
    ("rotate", rotate::parse),
    ("auto-orient", output::parse_auto_orient),
    ("blur", blur::parse),
    ("bright", color::parse_bright),
    ("contrast", color::parse_contrast),
    ("sharpen", sharpen::parse),
    ("grey", color::parse_grey),
    ("interlace", output::parse_interlace),
    ("quality", output::parse_quality),
    ("format", output::parse_format),
    ("strip-metadata", output::parse_strip_metadata),
    ("info", output::parse_info),
    ("threshold", output::parse_threshold),
    ("cgif", output::parse_cgif),
    ("watermark", watermark::parse),
    ("average-hue", average_hue::parse),
];

/// Decodes a watermark image fetched before processing started, within the budget left
/// when `held` bytes are already taken; `None` when there is no such image.
pub type WatermarkImages<'a> = &'a dyn Fn(&str, u64) -> Option<Result<Picture>>;

/// What a step may need besides the image: the output format (transparent or white
/// corners), the limits, and the watermark images.
pub struct StepContext<'a> {
    pub output_format: Format,
    pub limits: &'a Limits,
    /// Bitmap bytes held outside the picture being worked on (the picture a watermark
    /// image is being prepared for).
    pub held: u64,
    pub watermarks: WatermarkImages<'a>,
}

impl StepContext<'_> {
    /// Refuses a step before it allocates: `pic`, `frames` outputs of `out` and `scratch`
    /// bytes held at once must fit the budget with what is held already. The output's sides
    /// are checked when the step grows the picture (a legal source may be wider than an
    /// output may be, and cropping it must still work).
    pub fn reserve(&self, what: &str, pic: &Picture, out: (u32, u32), scratch: u64) -> Result<()> {
        let frames = pic.frames.len();
        if out.0 > pic.width() || out.1 > pic.height() {
            self.limits.check_canvas(&format!("{what}: output"), out.0, out.1, frames)?;
        }
        let output = cost::rgba_bytes(out.0, out.1) * frames as u64;
        self.limits.check_working_set(what, self.held + pic.bytes() + output + scratch)
    }

    /// The context for work done while `pic` is held, e.g. a watermark image made for it.
    pub fn holding(&self, pic: &Picture) -> StepContext<'_> {
        StepContext { held: self.held + pic.bytes(), ..*self }
    }
}

impl Action {
    /// The name it has in `x-oss-process`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Resize(_) => "resize",
            Action::Crop(_) => "crop",
            Action::IndexCrop(_) => "indexcrop",
            Action::Circle(_) => "circle",
            Action::RoundedCorners(_) => "rounded-corners",
            Action::Rotate(_) => "rotate",
            Action::AutoOrient(_) => "auto-orient",
            Action::Blur(_) => "blur",
            Action::Bright(_) => "bright",
            Action::Contrast(_) => "contrast",
            Action::Sharpen(_) => "sharpen",
            Action::Grey => "grey",
            Action::Interlace(_) => "interlace",
            Action::Quality(_) => "quality",
            Action::Format(_) => "format",
            Action::StripMetadata => "strip-metadata",
            Action::Info => "info",
            Action::Threshold(_) => "threshold",
            Action::Cgif(_) => "cgif",
            Action::Watermark(_) => "watermark",
            Action::AverageHue => "average-hue",
        }
    }

    /// Whether this action changes pixels (as opposed to choosing how to encode them).
    pub fn touches_pixels(&self) -> bool {
        !matches!(
            self,
            Action::AutoOrient(_)
                | Action::Interlace(_)
                | Action::Quality(_)
                | Action::Format(_)
                | Action::StripMetadata
                | Action::Info
                | Action::Threshold(_)
                | Action::AverageHue
        )
    }

    /// Applies a pixel step to the whole picture, in place, once its footprint fits.
    pub fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        if let Some(f) = cost::of(self, pic) {
            ctx.reserve(self.name(), pic, f.out, f.scratch)?;
        }
        match self {
            Action::Resize(a) => a.apply(pic),
            Action::Crop(a) => pic.try_map(|f| a.apply(f)),
            Action::IndexCrop(a) => pic.try_map(|f| Ok(a.apply(f))),
            Action::Circle(a) => pic.try_map(|f| Ok(a.apply(f, ctx))),
            Action::RoundedCorners(a) => pic.try_map(|f| Ok(a.apply(f, ctx))),
            Action::Rotate(a) => pic.try_map(|f| Ok(a.apply(f))),
            Action::Blur(a) => pic.try_map(|f| Ok(a.apply(f))),
            Action::Bright(a) => pic.try_map(|f| Ok(a.apply(f))),
            Action::Contrast(a) => pic.try_map(|f| Ok(a.apply(f))),
            Action::Sharpen(a) => pic.try_map(|f| Ok(a.apply(f))),
            Action::Grey => pic.try_map(|f| Ok(color::grey(f))),
            Action::Cgif(n) => {
                pic.keep_frames(*n as usize);
                Ok(())
            }
            Action::Watermark(a) => a.apply(pic, ctx),
            _ => Ok(()),
        }
    }
}
