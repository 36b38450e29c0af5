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
    /// Most bitmap bytes one request may hold at once: the decoded source (all frames kept,
    /// with a progressive JPEG's coefficients), then at each step its input, its output and
    /// its scratch buffers together, and at the end the encoder's.
    pub max_image_bytes: u64,
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
            max_image_bytes: 1 << 30,
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
        if h.frame_pixels > self.max_pixels {
            return Err(ProcessError::too_large(format!(
                "source has a frame of {} pixels; the limit is {}",
                h.frame_pixels, self.max_pixels
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

    /// Refuses to decode a source whose bitmap (estimated from its header) needs `bytes`.
    pub fn check_decode(&self, bytes: u64) -> Result<()> {
        if bytes > self.max_image_bytes {
            return Err(ProcessError::too_large(format!(
                "decoding this source needs about {} MB; the limit is {} MB per request \
                 (resize it on upload, or give the handler more memory)",
                bytes.div_ceil(MB),
                self.max_image_bytes / MB
            )));
        }
        Ok(())
    }

    /// Refuses an image of `frames` × `width` × `height` before a step allocates it (or the
    /// result before it is encoded): each side, and its own bytes at 4 a pixel.
    /// `what` names it in the message, e.g. "rotate: output".
    pub fn check_canvas(&self, what: &str, width: u32, height: u32, frames: usize) -> Result<()> {
        if width > self.max_output_side || height > self.max_output_side {
            return Err(ProcessError::too_large(format!(
                "{what} would be {width}x{height}; each side must be at most {}",
                self.max_output_side
            )));
        }
        let bytes = width as u64 * height as u64 * 4 * frames.max(1) as u64;
        if bytes > self.max_image_bytes {
            return Err(ProcessError::too_large(format!(
                "{what} would be {width}x{height} ({} MB); the limit is {} MB per request",
                bytes.div_ceil(MB),
                self.max_image_bytes / MB
            )));
        }
        Ok(())
    }

    /// Refuses work that would hold `bytes` of bitmaps at once (see [`Limits::max_image_bytes`]).
    pub fn check_working_set(&self, what: &str, bytes: u64) -> Result<()> {
        if bytes > self.max_image_bytes {
            return Err(ProcessError::too_large(format!(
                "{what} would hold {} MB of images at once; the limit is {} MB per request",
                bytes.div_ceil(MB),
                self.max_image_bytes / MB
            )));
        }
        Ok(())
    }

    /// The per-request budget for a handler with `memory` bytes running `jobs` images at
    /// once, `reserved` of it kept for everything else (the binary, sources, the cache).
    pub fn image_bytes_for_memory(memory: u64, reserved: u64, jobs: usize) -> u64 {
        memory.saturating_sub(reserved) / jobs.max(1) as u64
    }
}

const MB: u64 = 1024 * 1024;

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

/// Whether `headers` carry `name` exactly once, with one of the `accepted` values. Every
/// value is compared in constant time (equal-length SHA-256 digests, no early exit), all of
/// them every time. With two copies, which one a check read would decide the answer: refused.
pub fn secret_header_ok(
    headers: &http::HeaderMap,
    name: &str,
    accepted: &[String],
) -> std::result::Result<(), Refused> {
    let mut copies = headers.get_all(name).iter();
    let got = sha256(copies.next().map(|v| v.as_bytes()).unwrap_or_default());
    if copies.next().is_some() {
        return Err(Refused::Repeated);
    }
    let matched = accepted.iter().fold(false, |any, secret| {
        let diff = sha256(secret.as_bytes()).iter().zip(got.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        any | (diff == 0)
    });
    if matched {
        Ok(())
    } else {
        Err(Refused::Wrong)
    }
}

/// Why [`secret_header_ok`] refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Missing, or no accepted value.
    Wrong,
    /// More than one copy of the header.
    Repeated,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    <sha2::Sha256 as sha2::Digest>::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_budget_is_the_memory_left_shared_by_the_jobs() {
        assert_eq!(Limits::image_bytes_for_memory(1024 * MB, 128 * MB, 1), 896 * MB);
        assert_eq!(Limits::image_bytes_for_memory(2048 * MB, 384 * MB, 2), 832 * MB);
        assert_eq!(Limits::image_bytes_for_memory(64 * MB, 128 * MB, 4), 0);
    }
}
