//! AV1 frames with rav1d (the Rust port of dav1d the AVIF decoder already uses): MP4
//! samples (temporal units of OBUs) in, one RGB picture out.

use crate::codec::avif::{av1_decoder, av1_send, sequence_colour, to_rgb, UNSPECIFIED};
use crate::error::{ProcessError, Result};
use crate::guard::Deadline;
use bytes::Bytes;
use image::{DynamicImage, RgbImage};

/// Decodes `samples` (in decode order, from a sync sample) and returns the frame shown
/// `rank`-th among those they show. `config_obus` are the `av1C` box's OBUs (a sequence
/// header, if the muxer put one there), sent before the first sample; no frame may have
/// more pixels than the track's `size`.
pub fn decode_frame(
    config_obus: &[u8],
    samples: &[Bytes],
    rank: usize,
    (w, h): (u32, u32),
    deadline: &Deadline,
) -> Result<DynamicImage> {
    let broken = |e: re_rav1d::Error| {
        ProcessError::new(400, "InvalidVideo", format!("the video's AV1 stream cannot be decoded ({e})"))
    };
    let max_pixels = (u64::from(w) * u64::from(h)).clamp(1, u64::from(u32::MAX)) as u32;
    let mut dec = av1_decoder(max_pixels).map_err(broken)?;
    let (mut shown, mut frame, mut colour) = (0, None, UNSPECIFIED);
    for (i, sample) in samples.iter().enumerate() {
        deadline.check()?;
        let unit = if i == 0 { Bytes::from([config_obus, sample].concat()) } else { sample.clone() };
        // A frame is coded under the last sequence header before it.
        colour = sequence_colour(&unit).unwrap_or(colour);
        // Frames before the one wanted are dropped as they come.
        let take = |pic| {
            shown += 1;
            if shown > rank {
                frame = Some(pic);
            }
            frame.is_some()
        };
        av1_send(&mut dec, unit, take).map_err(broken)?;
        if let Some(pic) = frame {
            let (w, h) = (pic.width(), pic.height());
            let rgb = to_rgb(&pic, colour, false).map_err(|e| ProcessError::new(400, "InvalidVideo", e.message))?;
            let img = RgbImage::from_raw(w, h, rgb).expect("w × h × 3 bytes");
            return Ok(DynamicImage::ImageRgb8(img));
        }
    }
    Err(ProcessError::new(400, "InvalidVideo", "the video's frames at that time could not be decoded"))
}
