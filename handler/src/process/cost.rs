//! What each pixel step allocates, so that it is refused before it runs when the picture
//! it starts from, its output and its scratch buffers would pass the request's budget
//! together. The scratch figures are the buffers each implementation makes, measured with
//! a counting allocator (`handler/tests/memory.rs` holds every step to them).

use super::{resize, Action, Picture};

/// A step's output size per frame, and the scratch bytes it holds besides while it works
/// on one frame (frames are done one at a time; finished outputs count in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub out: (u32, u32),
    pub scratch: u64,
}

/// Bytes of an 8-bit RGBA bitmap: the widest a step writes.
pub fn rgba_bytes(w: u32, h: u32) -> u64 {
    w as u64 * h as u64 * 4
}

/// The footprint of `action` on `pic`, `None` when it leaves the pixels alone.
pub fn of(action: &Action, pic: &Picture) -> Option<Footprint> {
    let (w, h) = (pic.width(), pic.height());
    // One source frame's bytes, and the same frame widened to RGBA.
    let frame = pic.first().as_bytes().len() as u64;
    let frame_rgba = rgba_bytes(w, h);
    let same = |scratch| Some(Footprint { out: (w, h), scratch });
    match action {
        Action::Resize(r) => {
            let (sw, sh) = pic.planning_size();
            let g = r.geometry(sw, sh, pic.is_animated())?;
            let (ow, oh) = g.scaled;
            // The resampler's 8-bit or premultiplied copy of the source, the image between
            // its two passes, and for `pad` the scaled image beside the canvas.
            let color = pic.first().color();
            let copied = color.has_alpha() || color.bytes_per_pixel() != color.channel_count();
            let mut scratch = if copied { frame_rgba } else { 0 } + rgba_bytes(ow, h).max(rgba_bytes(w, oh));
            if r.mode == resize::Mode::Pad && g.scaled != g.canvas {
                scratch += rgba_bytes(ow, oh);
            }
            Some(Footprint { out: g.canvas, scratch })
        }
        Action::Crop(c) => {
            let (_, _, cw, ch) = c.rect(w, h).ok()?;
            Some(Footprint { out: (cw, ch), scratch: 0 })
        }
        Action::IndexCrop(c) => Some(Footprint { out: c.slice(w, h), scratch: 0 }),
        // The square cut out, then widened to RGBA.
        Action::Circle(c) => {
            let side = c.side(w, h);
            Some(Footprint { out: (side, side), scratch: rgba_bytes(side, side) })
        }
        Action::RoundedCorners(_) => same(0),
        // Any angle: the source widened to RGBA and the turned RGBA canvas before it is
        // narrowed back.
        Action::Rotate(r) => {
            let out = r.output_size(w, h);
            let scratch = if r.is_right_angle() { 0 } else { frame_rgba + rgba_bytes(out.0, out.1) };
            Some(Footprint { out, scratch })
        }
        // Box blur: a transient copy of the frame.
        Action::Blur(_) => same(frame),
        // Unsharp mask: two f32 copies of the frame.
        Action::Sharpen(_) => same(8 * frame),
        Action::Bright(_) | Action::Contrast(_) | Action::Grey => same(0),
        // Blended in place (a grey frame widened first); the mark is checked as it is made.
        Action::Watermark(_) => same(0),
        Action::Cgif(_)
        | Action::AutoOrient(_)
        | Action::Interlace(_)
        | Action::Quality(_)
        | Action::Format(_)
        | Action::StripMetadata
        | Action::Info
        | Action::Threshold(_)
        | Action::AverageHue => None,
    }
}
