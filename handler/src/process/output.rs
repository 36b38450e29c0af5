//! Actions that choose how the result is written rather than what its pixels are:
//! `format`, `quality`, `interlace`, `auto-orient`, `strip-metadata`, plus the
//! whole-request switches `info`, `threshold` and `cgif`.

use super::{params::Params, Action};
use crate::codec::Format;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// `q_N`: N percent of the source's own (estimated) JPEG quality.
    Relative(u8),
    /// `Q_N`: exactly N.
    Absolute(u8),
}

/// The encode settings gathered from a whole action list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub format: Option<Format>,
    pub quality: Option<Quality>,
    pub progressive: bool,
    /// EXIF orientation applied at decode; `auto-orient,0` anywhere turns it off.
    pub auto_orient: bool,
}

impl Output {
    pub fn from_actions(actions: &[Action]) -> Self {
        let mut out = Output { format: None, quality: None, progressive: false, auto_orient: true };
        for a in actions {
            match a {
                Action::Format(f) => out.format = Some(*f),
                Action::Quality(q) => out.quality = Some(*q),
                Action::Interlace(on) => out.progressive = *on,
                Action::AutoOrient(false) => out.auto_orient = false,
                _ => {}
            }
        }
        out
    }
}

pub fn parse_quality(p: &mut Params) -> Result<Action> {
    let rel = p.take_u32("q", 1..=100)?;
    let abs = p.take_u32("Q", 1..=100)?;
    match (abs, rel) {
        (Some(q), _) => Ok(Action::Quality(Quality::Absolute(q as u8))),
        (None, Some(q)) => Ok(Action::Quality(Quality::Relative(q as u8))),
        (None, None) => Err(p.err("needs q (relative) or Q (absolute), 1..=100")),
    }
}

pub fn parse_format(p: &mut Params) -> Result<Action> {
    let raw = p.take_bare("format")?;
    Format::from_name(raw)
        .map(Action::Format)
        .ok_or_else(|| p.err(format!("must be one of jpg, jpeg, png, webp, gif, avif, bmp, tiff, got \"{raw}\"")))
}

pub fn parse_interlace(p: &mut Params) -> Result<Action> {
    Ok(Action::Interlace(p.bare_int("interlace", 0..=1)? == 1))
}

pub fn parse_auto_orient(p: &mut Params) -> Result<Action> {
    Ok(Action::AutoOrient(p.bare_int("auto-orient", 0..=1)? == 1))
}

pub fn parse_strip_metadata(_: &mut Params) -> Result<Action> {
    Ok(Action::StripMetadata)
}

pub fn parse_info(_: &mut Params) -> Result<Action> {
    Ok(Action::Info)
}

pub fn parse_threshold(p: &mut Params) -> Result<Action> {
    Ok(Action::Threshold(p.bare_int("threshold", 0..=i64::MAX)? as u64))
}

pub fn parse_cgif(p: &mut Params) -> Result<Action> {
    let s = p.take_u32("s", 1..=1000)?.ok_or_else(|| p.err("needs s (frames to keep)"))?;
    Ok(Action::Cgif(s))
}
