//! What a pixel step holds while it runs, so that it is refused before it runs when the
//! picture it starts from, its output and its scratch buffers would pass the request's
//! budget together. Each step's scratch figure is the buffers its implementation makes,
//! measured with a counting allocator (`handler/tests/memory.rs` holds every step to it).

use crate::picture::Picture;

/// A step's output size per frame, and the scratch bytes it holds besides while it works
/// on one frame (frames are done one at a time; finished outputs count in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub out: (u32, u32),
    pub scratch: u64,
}

impl Footprint {
    /// A step whose output has the picture's size.
    pub fn same(pic: &Picture, scratch: u64) -> Self {
        Footprint { out: (pic.width(), pic.height()), scratch }
    }
}

/// Bytes of an 8-bit RGBA bitmap: the widest a step writes.
pub fn rgba_bytes(w: u32, h: u32) -> u64 {
    w as u64 * h as u64 * 4
}
