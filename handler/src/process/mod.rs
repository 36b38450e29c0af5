//! `x-oss-process`: the text parsed into a [`Plan`], and its pixel steps applied to a picture.
//!
//! An action is one file plus one line in the `actions!` table below, which declares the
//! module and, for a pixel step, its [`Step`] variant and dispatch:
//! - a **pixel step** (`resize`, `blur`, …) is a type implementing [`PixelStep`]: how it
//!   parses, what it holds while it runs, and how it changes the picture;
//! - a **setting** (`format`, `info`, …) is a module whose `parse` records in the [`Plan`]
//!   what it decides for the whole request.
//!
//! A step type that lacks part of [`PixelStep`] does not compile, and an action file left
//! out of the table fails the test `every_action_file_is_in_the_table`. (`cargo fmt` does
//! not follow modules declared inside a macro: `rustfmt handler/src/process/*.rs`.)

mod footprint;
#[macro_use]
mod table;
pub mod params;
mod parse;
mod plan;

pub use footprint::Footprint;
pub use parse::{parse, MAX_ACTIONS, MAX_WATERMARK_IMAGES};
pub use plan::{Answer, Output, Plan, Quality};

use crate::codec::Format;
use crate::error::Result;
use crate::guard::{Deadline, Limits};
use crate::picture::Picture;
use params::Params;

actions! {
    steps {
        "resize" => resize::Resize,
        "crop" => crop::Crop,
        "indexcrop" => indexcrop::IndexCrop,
        "circle" => circle::Circle,
        "rounded-corners" => rounded_corners::RoundedCorners,
        "rotate" => rotate::Rotate,
        "blur" => blur::Blur,
        "bright" => bright::Bright,
        "contrast" => contrast::Contrast,
        "sharpen" => sharpen::Sharpen,
        "grey" => grey::Grey,
        "cgif" => cgif::Cgif,
        "watermark" => watermark::Watermark,
    }
    settings {
        "auto-orient" => auto_orient,
        "interlace" => interlace,
        "quality" => quality,
        "format" => format,
        "strip-metadata" => strip_metadata,
        "info" => info,
        "threshold" => threshold,
        "average-hue" => average_hue,
    }
}

pub use average_hue::average_hue_json;

/// Whether the handler accepts `text` as a process: an image process, or a video snapshot
/// (styles are checked with this when they are stored).
pub fn check(text: &str) -> crate::error::Result<()> {
    match crate::video::Snapshot::parse(text)? {
        Some(_) => Ok(()),
        None => parse(text).map(|_| ()),
    }
}
pub use resize::Resize;
pub use watermark::Watermark;

/// A step that changes pixels. Every step has this one shape: the whole picture, in place.
pub trait PixelStep: Sized {
    /// Reads the step's parameters; any left untaken is an error.
    fn parse(p: &mut Params) -> Result<Self>;
    /// What the step holds besides `pic` while it runs; `None` when it allocates nothing.
    fn footprint(&self, pic: &Picture) -> Option<Footprint>;
    /// Changes `pic`. Called only once the footprint fits the request's budget.
    fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()>;
}

/// How an action's parameters become part of a plan (a step appended, a setting recorded).
type ParseFn = fn(&mut Params, &mut Plan) -> Result<()>;

fn parse_step<S: PixelStep + Into<Step>>(p: &mut Params, plan: &mut Plan) -> Result<()> {
    plan.steps.push(S::parse(p)?.into());
    Ok(())
}

impl Step {
    /// Applies the step to the whole picture, in place, once its footprint fits.
    pub fn apply(&self, pic: &mut Picture, ctx: &StepContext) -> Result<()> {
        if let Some(f) = self.footprint(pic) {
            ctx.reserve(self.name(), pic, f)?;
        }
        self.run(pic, ctx)
    }
}

/// Decodes a watermark image fetched before processing started, within the budget left
/// when `held` bytes are already taken; `None` when there is no such image.
pub type WatermarkImages<'a> = &'a dyn Fn(&str, u64) -> Option<Result<Picture>>;

/// What a step may need besides the image: the request's formats (transparent or white
/// corners; `cgif` acts on GIF sources only), the limits, the request's deadline (for steps
/// whose time grows with a parameter), and the watermark images.
pub struct StepContext<'a> {
    pub source_format: Format,
    pub output_format: Format,
    pub limits: &'a Limits,
    pub deadline: &'a Deadline,
    /// Bitmap bytes held outside the picture being worked on (the picture a watermark
    /// image is being prepared for).
    pub held: u64,
    pub watermarks: WatermarkImages<'a>,
}

impl StepContext<'_> {
    /// Refuses a step before it allocates: `pic`, its outputs for every frame and the
    /// scratch bytes held at once must fit the budget with what is held already. The
    /// output's sides are checked when the step grows the picture (a legal source may be
    /// wider than an output may be, and cropping it must still work).
    pub fn reserve(&self, what: &str, pic: &Picture, f: Footprint) -> Result<()> {
        let frames = pic.frames.len();
        let (w, h) = f.out;
        if w > pic.width() || h > pic.height() {
            self.limits.check_canvas(&format!("{what}: output"), w, h, frames)?;
        }
        let output = footprint::rgba_bytes(w, h) * frames as u64;
        self.limits.check_working_set(what, self.held + pic.bytes() + output + f.scratch)
    }

    /// The context for work done while `pic` is held, e.g. a watermark image made for it.
    pub fn holding(&self, pic: &Picture) -> StepContext<'_> {
        StepContext { held: self.held + pic.bytes(), ..*self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in this folder that is neither in the table nor a helper is never compiled:
    /// its table line was forgotten.
    #[test]
    fn every_action_file_is_in_the_table() {
        const HELPERS: &[&str] = &["mod", "footprint", "params", "parse", "plan", "table"];
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/process");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(module) = name.strip_suffix(".rs") else { continue };
            assert!(
                ACTION_MODULES.contains(&module) || HELPERS.contains(&module),
                "src/process/{name} is not in the actions! table"
            );
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, (name, _)) in ACTIONS.iter().enumerate() {
            assert!(!ACTIONS[..i].iter().any(|(n, _)| n == name), "{name} is in the table twice");
        }
    }
}
