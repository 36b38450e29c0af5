//! Limits on what one request may cost, checked from the image header before a pixel is
//! decoded, and between processing steps for time; signed URLs in [`signature`].

pub mod signature;

use crate::codec::Header;
use crate::error::{ProcessError, Result};
use std::time::{Duration, Instant};

/// Every limit is configurable; the defaults are the seed system's.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest source object fetched, in bytes.
    pub max_source_bytes: u64,
    /// Largest width or height of a source image.
    pub max_side: u32,
    /// Largest pixel count of a source, all frames counted for animations.
    pub max_pixels: u64,
    /// Largest frame count of an animated source.
    pub max_frames: u32,
    /// Largest width or height of an output image.
    pub max_output_side: u32,
    /// Wall-clock budget of one request's image work.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_source_bytes: 20 * 1024 * 1024,
            max_side: 30_000,
            max_pixels: 250_000_000,
            max_frames: 1_000,
            max_output_side: 16_384,
            timeout: Duration::from_secs(25),
        }
    }
}

impl Limits {
    pub fn check_source_len(&self, len: u64) -> Result<()> {
        check_source_len(len, self.max_source_bytes)
    }

    /// Rejects a source from its header alone: sides, pixels (× frames) and frames.
    pub fn check_header(&self, h: &Header) -> Result<()> {
        if h.width > self.max_side || h.height > self.max_side {
            return Err(ProcessError::too_large(format!(
                "source is {}x{}; each side must be at most {}",
                h.width, h.height, self.max_side
            )));
        }
        if h.frames > self.max_frames {
            return Err(ProcessError::too_large(format!(
                "source has {} frames; the limit is {}",
                h.frames, self.max_frames
            )));
        }
        let pixels = h.width as u64 * h.height as u64 * h.frames.max(1) as u64;
        if pixels > self.max_pixels {
            return Err(ProcessError::too_large(format!(
                "source has {pixels} pixels (width x height x frames); the limit is {}",
                self.max_pixels
            )));
        }
        Ok(())
    }

    pub fn check_output(&self, width: u32, height: u32) -> Result<()> {
        if width > self.max_output_side || height > self.max_output_side {
            return Err(ProcessError::too_large(format!(
                "output would be {width}x{height}; each side must be at most {}",
                self.max_output_side
            )));
        }
        Ok(())
    }
}

/// Refuses a source of `len` bytes when over `max` (stores check before reading a body).
pub fn check_source_len(len: u64, max: u64) -> Result<()> {
    if len > max {
        return Err(ProcessError::too_large(format!("source is {len} bytes; the limit is {max} bytes")));
    }
    Ok(())
}

/// The point in time by which a request's image work must be done.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    pub fn check(&self) -> Result<()> {
        if Instant::now() > self.0 {
            return Err(ProcessError::new(
                503,
                "RequestTimeout",
                "image processing took longer than the configured limit",
            ));
        }
        Ok(())
    }
}
