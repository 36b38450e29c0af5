//! MP4/MOV: where the `moov` box is, found by reading box headers only, and from it (with
//! `mp4parse`) the first video track's codec, size, rotation and sample table.

use crate::error::{ProcessError, Result};
use crate::guard::Limits;
use mp4parse::unstable::{create_sample_table, CheckedInteger};
use mp4parse::{SampleEntry, Track, TrackType, VideoCodecSpecific};

/// Samples a track's index may list: over 9 hours at 30 frames a second. A constant-size
/// `stsz` lets a `moov` of a few hundred bytes declare billions.
const MAX_INDEXED_SAMPLES: u64 = 1_000_000;
/// What the index costs a sample while a snapshot is made: mp4parse's entry (48 bytes), this
/// module's (32) and `plan_decode`'s order (8), rounded up. Counted against the memory limit.
pub const INDEXED_SAMPLE_BYTES: u64 = 100;

/// A top-level box: its start and length in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxAt {
    pub start: u64,
    pub len: u64,
}

/// Where the next top-level box is, from its header (`head`, at least 16 bytes when there
/// are): `Some((kind, box))`, or `None` past the file's end. `total` is the file's size.
pub fn next_box(head: &[u8], start: u64, total: u64) -> Result<Option<([u8; 4], BoxAt)>> {
    if start + 8 > total || head.len() < 8 {
        return Ok(None);
    }
    let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
    let len = match u32::from_be_bytes(head[0..4].try_into().expect("4 bytes")) {
        // Up to the end of the file.
        0 => total - start,
        // A 64-bit size follows the kind.
        1 if head.len() >= 16 => u64::from_be_bytes(head[8..16].try_into().expect("8 bytes")),
        1 => return Err(not_a_video("a box header is cut short")),
        n => n as u64,
    };
    if len < 8 || !kind.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        return Err(not_a_video("the file is not made of MP4 boxes"));
    }
    Ok(Some((kind, BoxAt { start, len: len.min(total - start) })))
}

/// One sample of the video track: where it is, when it shows, whether decoding may start there.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub start: u64,
    pub end: u64,
    /// Presentation time in microseconds, the edit list's offset removed.
    pub pts_us: i64,
    pub sync: bool,
}

/// The video track's coding, with what its decoder is configured from.
#[derive(Debug)]
pub enum Codec {
    /// `avcC`: the H.264 decoder configuration (parameter sets, NAL length size).
    H264(Vec<u8>),
    /// `av1C`'s configOBUs: a sequence header, or nothing (then it is in the samples).
    Av1(Vec<u8>),
}

/// What a snapshot needs of the movie.
#[derive(Debug)]
pub struct Movie {
    pub codec: Codec,
    pub width: u32,
    pub height: u32,
    /// Clockwise quarter turns of the track's display matrix (0..=3).
    pub quarter_turns: u8,
    /// In decode order.
    pub samples: Vec<Sample>,
}

/// Reads the `moov` box (the whole box, header included), its sample table within `limits`.
pub fn parse_moov(moov: &[u8], limits: &Limits) -> Result<Movie> {
    let ctx = mp4parse::read_mp4(&mut std::io::Cursor::new(moov))
        .map_err(|e| not_a_video(&format!("its index cannot be read ({e:?})")))?;
    let track = ctx
        .tracks
        .iter()
        .find(|t| t.track_type == TrackType::Video)
        .ok_or_else(|| not_a_video("it has no video track"))?;
    let entry = track.stsd.as_ref().and_then(|d| d.descriptions.first());
    let video = match entry {
        Some(SampleEntry::Video(v)) => v,
        _ => return Err(not_a_video("its video track has no sample description")),
    };
    let codec = match &video.codec_specific {
        VideoCodecSpecific::AVCConfig(c) => Codec::H264(c.to_vec()),
        VideoCodecSpecific::AV1Config(c) => Codec::Av1(c.config_obus().to_vec()),
        other => {
            let name = match other {
                VideoCodecSpecific::VPxConfig(_) => "VP8/VP9",
                _ => "this codec (HEVC, MPEG-4 Part 2, …)",
            };
            return Err(ProcessError::new(
                400,
                "UnsupportedVideo",
                format!("video snapshots decode H.264 (avc1) and AV1 (av01), not {name}"),
            ));
        }
    };
    let timescale = track.timescale.map_or(0, |t| t.0) as i64;
    if timescale <= 0 {
        return Err(not_a_video("its video track has no timescale"));
    }
    // The edit list's start: composition times before it are not shown (a B-frame stream's delay).
    let media_time = track.media_time.map_or(0, |t| t.0.min(i64::MAX as u64) as i64);
    let count = indexed_samples(track);
    if count > MAX_INDEXED_SAMPLES {
        return Err(ProcessError::too_large(format!(
            "the video's index lists {count} samples; snapshots read videos of at most {MAX_INDEXED_SAMPLES}"
        )));
    }
    limits.check_decode(count * INDEXED_SAMPLE_BYTES)?;
    let table = create_sample_table(track, CheckedInteger(0)).ok_or_else(|| not_a_video("it has no sample table"))?;
    let samples = table
        .iter()
        .map(|i| Sample {
            start: i.start_offset.0,
            end: i.end_offset.0,
            // In i128: hostile composition times and edit offsets neither overflow nor wrap.
            pts_us: ((i.start_composition.0 as i128 - media_time as i128) * 1_000_000 / timescale as i128)
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            sync: i.sync,
        })
        .collect::<Vec<_>>();
    if samples.is_empty() {
        return Err(not_a_video("its video track has no samples"));
    }
    let quarter_turns = track.tkhd.as_ref().map_or(0, |t| {
        // The matrix's rotation part (16.16 fixed point), [a b; c d]: [0 1; -1 0] shows the
        // frame turned a quarter clockwise, as ffmpeg shows it.
        match (t.matrix.a.signum(), t.matrix.b.signum(), t.matrix.c.signum(), t.matrix.d.signum()) {
            (0, 1, -1, 0) => 1,
            (-1, 0, 0, -1) => 2,
            (0, -1, 1, 0) => 3,
            _ => 0,
        }
    });
    Ok(Movie { codec, width: video.width as u32, height: video.height as u32, quarter_turns, samples })
}

/// At least as many samples as `create_sample_table` lists, from the chunk runs alone
/// (`stsc` over `stco`'s chunks), before it allocates one entry a sample.
fn indexed_samples(track: &Track) -> u64 {
    let (Some(stsc), Some(stco)) = (&track.stsc, &track.stco) else { return 0 };
    let runs = &stsc.samples;
    let mut chunks_left = stco.offsets.len() as u64;
    let mut total = 0u64;
    for (i, run) in runs.iter().enumerate() {
        let chunks = runs
            .get(i + 1)
            .map_or(chunks_left, |next| u64::from(next.first_chunk).saturating_sub(u64::from(run.first_chunk)));
        let chunks = chunks.min(chunks_left);
        chunks_left -= chunks;
        total = total.saturating_add(chunks.saturating_mul(u64::from(run.samples_per_chunk)));
    }
    total
}

/// The samples to decode for the frame shown at `t_us` (the first shown at or after it, or
/// the last): from the sync sample before it, in decode order, and the frame's place among
/// the frames they output (decoders output in presentation order). `fast`: the sync sample
/// shown at or before `t_us` itself.
pub fn plan_decode(samples: &[Sample], t_us: i64, fast: bool) -> (std::ops::Range<usize>, usize) {
    let mut shown: Vec<usize> = (0..samples.len()).collect();
    shown.sort_by_key(|&i| samples[i].pts_us);
    let target = if fast {
        let before = shown.iter().rev().find(|&&i| samples[i].sync && samples[i].pts_us <= t_us);
        *before.or_else(|| shown.iter().find(|&&i| samples[i].sync)).unwrap_or(&shown[0])
    } else {
        *shown.iter().find(|&&i| samples[i].pts_us >= t_us).unwrap_or(&shown[shown.len() - 1])
    };
    let sync = (0..=target).rev().find(|&i| samples[i].sync).unwrap_or(0);
    let to = samples[target].pts_us;
    // The last sample to feed: the last in decode order shown no later than the target.
    let last = (sync..samples.len()).filter(|&i| samples[i].pts_us <= to).max().unwrap_or(target).max(target);
    // Every fed sample shown before the target comes out of the decoder before it (an open
    // GOP's leading frames too).
    let rank = samples[sync..=last].iter().filter(|s| s.pts_us < to).count();
    (sync..last + 1, rank)
}

pub fn not_a_video(why: &str) -> ProcessError {
    ProcessError::new(400, "InvalidVideo", format!("the source is not an MP4/MOV video that can be read: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pts_ms: i64, sync: bool) -> Sample {
        Sample { start: 0, end: 1, pts_us: pts_ms * 1000, sync }
    }

    #[test]
    fn the_frame_at_t_and_the_keyframe_before_it() {
        // Decode order I0 P3 B1 B2 I4 P7 B5 B6 (B-frames shown between their references).
        let samples = [
            s(0, true),
            s(120, false),
            s(40, false),
            s(80, false),
            s(160, true),
            s(280, false),
            s(200, false),
            s(240, false),
        ];
        // 50 ms: the first frame shown at or after it is B2 (80 ms), the third shown from I0.
        assert_eq!(plan_decode(&samples, 50_000, false), (0..4, 2));
        // Exactly on a frame; on the keyframe itself; past the end: the last frame shown.
        assert_eq!(plan_decode(&samples, 40_000, false), (0..3, 1));
        assert_eq!(plan_decode(&samples, 160_000, false), (4..5, 0));
        assert_eq!(plan_decode(&samples, 9_000_000, false), (4..8, 3));
        // m_fast: the keyframe shown at or before t.
        assert_eq!(plan_decode(&samples, 150_000, true), (0..1, 0));
        assert_eq!(plan_decode(&samples, 170_000, true), (4..5, 0));
    }

    #[test]
    fn box_headers() {
        let total = 1 << 40;
        let free = [0, 0, 0, 16, b'f', b'r', b'e', b'e', 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(next_box(&free, 0, total).unwrap(), Some((*b"free", BoxAt { start: 0, len: 16 })));
        let large = [0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(next_box(&large, 8, total).unwrap().unwrap().1.len, 1 << 32);
        assert!(next_box(b"\x00\x00\x00\x04moov", 0, total).is_err());
        assert!(next_box(b"\x00\x00\x00\x10\x00\x01\x02\x03", 0, total).is_err());
        assert_eq!(next_box(&free, total - 4, total).unwrap(), None);
    }
}
