//! What a parsed process asks for: the pixel steps in order, and what the request as a
//! whole decides (how to encode, what to answer, when to serve the source as it is).

use super::Step;
use crate::codec::Format;

/// A parsed `x-oss-process`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The pixel steps, in the order they were written.
    pub steps: Vec<Step>,
    pub output: Output,
    pub answer: Answer,
    /// `threshold,N`: a source smaller than N bytes is served as it is (the first wins).
    pub threshold: Option<u64>,
}

impl Default for Plan {
    fn default() -> Self {
        let output = Output { format: None, quality: None, progressive: false, auto_orient: true };
        Plan { steps: Vec::new(), output, answer: Answer::Image, threshold: None }
    }
}

impl Plan {
    /// The keys of the stored images its watermarks need fetched before processing.
    pub fn watermark_keys(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            Step::Watermark(w) => w.image_key(),
            _ => None,
        })
    }
}

/// How the source is decoded and the result encoded. For format, quality and interlace the
/// last action that names one wins; `auto-orient,0` anywhere turns orientation off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub format: Option<Format>,
    pub quality: Option<Quality>,
    pub progressive: bool,
    /// EXIF orientation applied at decode; `auto-orient,0` anywhere turns it off.
    pub auto_orient: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// `q_N`: N percent of the source's own (estimated) JPEG quality.
    Relative(u8),
    /// `Q_N`: exactly N.
    Absolute(u8),
}

/// What the response carries. Ordered: when a process asks for both JSON answers, `info`
/// (made from the header, before any step) wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// The source as it is: the process (`image` alone) names no action.
    Original,
    /// The processed image.
    Image,
    /// `average-hue`: the mean colour after the steps, as JSON.
    AverageHue,
    /// `info`: the source's size and format, as JSON.
    Info,
}
