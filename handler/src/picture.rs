//! The decoded image: what the codecs make and read, and what every step changes. One
//! frame, or all frames of an animation.

use crate::error::Result;
use image::DynamicImage;

/// Decoded pixels. Still images have one frame; animations keep their delays and loop count.
#[derive(Debug, Clone)]
pub struct Picture {
    pub frames: Vec<DynamicImage>,
    /// Per-frame display time in milliseconds (empty for still images).
    pub delays_ms: Vec<u32>,
    /// 0 = loop forever.
    pub loop_count: u16,
    /// The size the source has before shrink-on-load; the first resize plans from it so
    /// rounding matches a full-size decode exactly.
    pub logical_size: Option<(u32, u32)>,
    /// A JPEG as decoded, unturned, its pixels unchanged since: a resize applied to it rounds
    /// the side it computes as the seed's libvips does (see `resize::proportional`).
    pub prescaled_rounding: bool,
}

impl Picture {
    pub fn still(img: DynamicImage) -> Self {
        Self { frames: vec![img], delays_ms: Vec::new(), loop_count: 0, logical_size: None, prescaled_rounding: false }
    }

    pub fn first(&self) -> &DynamicImage {
        &self.frames[0]
    }

    pub fn width(&self) -> u32 {
        self.first().width()
    }

    pub fn height(&self) -> u32 {
        self.first().height()
    }

    /// The bytes one frame holds.
    pub fn frame_bytes(&self) -> u64 {
        self.first().as_bytes().len() as u64
    }

    /// The bytes its frames hold.
    pub fn bytes(&self) -> u64 {
        self.frames.iter().map(|f| f.as_bytes().len() as u64).sum()
    }

    pub fn is_animated(&self) -> bool {
        self.frames.len() > 1
    }

    /// The size the next geometry step should plan from.
    pub fn planning_size(&self) -> (u32, u32) {
        self.logical_size.unwrap_or((self.width(), self.height()))
    }

    /// Replaces every frame by `f(frame)`; geometry is then real, not logical.
    pub fn try_map(&mut self, mut f: impl FnMut(DynamicImage) -> Result<DynamicImage>) -> Result<()> {
        self.logical_size = None;
        self.prescaled_rounding = false;
        let frames = std::mem::take(&mut self.frames);
        self.frames = frames.into_iter().map(&mut f).collect::<Result<_>>()?;
        Ok(())
    }

    /// Replaces every frame by `f(frame)`, for steps that cannot fail.
    pub fn map(&mut self, f: impl FnMut(DynamicImage) -> DynamicImage) {
        self.logical_size = None;
        self.prescaled_rounding = false;
        let frames = std::mem::take(&mut self.frames);
        self.frames = frames.into_iter().map(f).collect();
    }

    pub fn keep_frames(&mut self, n: usize) {
        let n = n.max(1);
        self.frames.truncate(n);
        self.delays_ms.truncate(n);
    }

    /// Drops all frames but the first (for formats that cannot animate).
    pub fn into_first_frame(mut self) -> Self {
        self.keep_frames(1);
        self.delays_ms.clear();
        self
    }
}
