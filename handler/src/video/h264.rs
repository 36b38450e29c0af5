//! H.264 frames with OpenH264 (built from its vendored source into the static binary): MP4
//! samples (length-prefixed NAL units) in, one RGB picture out.

use crate::error::{ProcessError, Result};
use crate::guard::Deadline;
use bytes::Bytes;
use h264_reader::nal::sps::{FrameMbsFlags, SeqParameterSet};
use h264_reader::rbsp::{decode_nal, BitReader};
use image::{DynamicImage, RgbImage};
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

/// Decodes `samples` (in decode order, from a sync sample) and returns the frame shown
/// `rank`-th among those they output. `avc_config` is the track's `avcC` box content; no
/// sequence parameter set, there or in a sample, may be larger than the track's `size`
/// (the size the decoder's memory was checked for).
pub fn decode_frame(
    avc_config: &[u8],
    samples: &[Bytes],
    rank: usize,
    size: (u32, u32),
    deadline: &Deadline,
) -> Result<DynamicImage> {
    let (nal_length, parameter_sets) = parse_avcc(avc_config, size)?;
    // No flush after each sample: B-frames wait in the decoder's reorder buffer for the
    // references shown after them (flushing early breaks their decoding).
    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| broken(&e))?;
    decoder.decode(&parameter_sets).map_err(|e| broken(&e))?;
    let mut shown = 0;
    for sample in samples {
        deadline.check()?;
        let annex_b = to_annex_b(sample, nal_length, size)?;
        if let Some(frame) = decoder.decode(&annex_b).map_err(|e| broken(&e))? {
            if shown == rank {
                return Ok(to_rgb(&frame));
            }
            shown += 1;
        }
    }
    for frame in decoder.flush_remaining().map_err(|e| broken(&e))? {
        if shown == rank {
            return Ok(to_rgb(&frame));
        }
        shown += 1;
    }
    Err(ProcessError::new(400, "InvalidVideo", "the video's frames at that time could not be decoded"))
}

/// The NAL length size and the parameter sets (SPS, PPS) in Annex B form.
fn parse_avcc(c: &[u8], size: (u32, u32)) -> Result<(usize, Vec<u8>)> {
    let bad = || ProcessError::new(400, "InvalidVideo", "the video's H.264 configuration (avcC) is malformed");
    let nal_length = (*c.get(4).ok_or_else(bad)? & 3) as usize + 1;
    let mut out = Vec::new();
    let mut at = 5;
    for mask in [0x1f, 0xff] {
        let count = (*c.get(at).ok_or_else(bad)? & mask) as usize;
        at += 1;
        for _ in 0..count {
            let len = u16::from_be_bytes([*c.get(at).ok_or_else(bad)?, *c.get(at + 1).ok_or_else(bad)?]) as usize;
            at += 2;
            let nal = c.get(at..at + len).ok_or_else(bad)?;
            check_nal(nal, size)?;
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
            at += len;
        }
    }
    Ok((nal_length, out))
}

/// Length-prefixed NAL units → start-code-prefixed ones.
fn to_annex_b(sample: &[u8], nal_length: usize, size: (u32, u32)) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(sample.len() + 16);
    let mut at = 0;
    while at + nal_length <= sample.len() {
        let len = sample[at..at + nal_length].iter().fold(0usize, |n, &b| n << 8 | b as usize);
        at += nal_length;
        let nal = sample
            .get(at..at + len)
            .ok_or_else(|| ProcessError::new(400, "InvalidVideo", "a video sample is cut short"))?;
        check_nal(nal, size)?;
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
        at += len;
    }
    Ok(out)
}

/// Refuses a NAL unit OpenH264 would size its frames from unchecked: a sequence parameter
/// set (type 7) whose pictures are larger than the track says, or that cannot be read, and
/// the SVC/MVC units (types 14, 15, 20).
fn check_nal(nal: &[u8], (w, h): (u32, u32)) -> Result<()> {
    match nal.first().map(|b| b & 0x1f) {
        Some(7) => {}
        // A prefix NAL, subset SPS or extension slice: SVC and MVC streams, whose subset SPS
        // OpenH264 would size its frames from too.
        Some(14 | 15 | 20) => {
            return Err(ProcessError::new(400, "UnsupportedVideo", "scalable and multiview H.264 is not decoded"))
        }
        _ => return Ok(()),
    }
    let bad = |why: String| ProcessError::new(400, "InvalidVideo", format!("the video's H.264 {why}"));
    let rbsp = decode_nal(nal).map_err(|e| bad(format!("parameter set cannot be read ({e})")))?;
    let sps = SeqParameterSet::from_bits(BitReader::new(&rbsp[..]))
        .map_err(|e| bad(format!("parameter set cannot be read ({e:?})")))?;
    // The coded size, in whole macroblocks (of two rows' height for field pictures), before
    // the cropping that takes it down to the shown size.
    let rows = match sps.frame_mbs_flags {
        FrameMbsFlags::Frames => 16,
        FrameMbsFlags::Fields { .. } => 32,
    };
    let sw = (u64::from(sps.pic_width_in_mbs_minus1) + 1) * 16;
    let sh = (u64::from(sps.pic_height_in_map_units_minus1) + 1) * rows;
    if sw > u64::from(w.div_ceil(16) * 16) || sh > u64::from(h.div_ceil(rows as u32) * rows as u32) {
        return Err(bad(format!("pictures are {sw}×{sh}, larger than the track's {w}×{h}")));
    }
    Ok(())
}

fn to_rgb(frame: &DecodedYUV<'_>) -> DynamicImage {
    let (w, h) = frame.dimensions();
    let mut rgb = vec![0; w * h * 3];
    frame.write_rgb8(&mut rgb);
    DynamicImage::ImageRgb8(RgbImage::from_raw(w as u32, h as u32, rgb).expect("w × h × 3 bytes"))
}

fn broken(e: &openh264::Error) -> ProcessError {
    ProcessError::new(400, "InvalidVideo", format!("the video's H.264 stream cannot be decoded ({e})"))
}
