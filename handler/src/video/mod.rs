//! Video snapshots, OSS's `video/snapshot,t_7000,f_jpg,w_800,h_0,m_fast,ar_auto`: one frame
//! of an MP4/MOV's H.264 or AV1 track as a JPEG or PNG, in process, without ffmpeg.
//!
//! A video is read in parts ([`Store::get_range`]): the box headers up to `moov`, the `moov`
//! box, then only the samples from the keyframe before the asked time to the frame itself,
//! so a 2 GB video costs a few MB of reads; the source byte limit counts the bytes read, not
//! the object's size. The frame is then rotated, scaled and encoded by the image engine.

mod av1;
mod h264;
pub mod mp4;

use crate::codec::Format;
use crate::engine::{self, Processed, Source};
use crate::error::{ProcessError, Result};
use crate::guard::{Deadline, Limits};
use crate::picture::Picture;
use crate::process::{self, Plan};
use crate::store::Store;
use bytes::Bytes;

/// The first read: the file's first boxes, often `moov` itself (a "fast start" file).
const FIRST_READ: u64 = 64 * 1024;
/// Top-level boxes walked looking for `moov` before giving up.
const MAX_BOXES: usize = 64;
/// Samples decoded for one snapshot at most: a keyframe at least every 40 s at 25 frames a
/// second. A video with rarer keyframes gets a clear 400 for times far from one.
const MAX_SAMPLES: usize = 1_000;
/// The decoder's buffers per pixel of a frame, and the RGB frame handed on (3 bytes).
/// H.264 (OpenH264 decodes 8-bit 4:2:0): up to 16 reference frames and the one being
/// decoded at 1.5 bytes. AV1: 8 references and the current frame at up to 6 bytes (12-bit
/// 4:4:4 in 16-bit samples), and its 8-bit copy for the conversion (3 bytes).
fn decode_bytes_per_pixel(codec: &mp4::Codec) -> u64 {
    match codec {
        mp4::Codec::H264(_) => 17 * 3 / 2 + 3,
        mp4::Codec::Av1(_) => 9 * 6 + 3 + 3,
    }
}

/// A parsed `video/snapshot` process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The time, in milliseconds.
    pub t_ms: u64,
    pub format: Format,
    /// Output width and height; 0 keeps the aspect ratio from the other (both 0: as stored).
    pub width: u32,
    pub height: u32,
    /// `m_fast`: the keyframe at or before `t` rather than the frame at `t`.
    pub fast: bool,
    /// `ar_auto`: turned as the track's display matrix says.
    pub auto_rotate: bool,
}

impl Snapshot {
    /// `Some` for a `video/…` process (which must be one `snapshot`), `None` for any other.
    pub fn parse(text: &str) -> Result<Option<Self>> {
        let mut segments = text.split('/').filter(|s| !s.is_empty());
        if segments.next() != Some("video") {
            return Ok(None);
        }
        let actions: Vec<&str> = segments.collect();
        let [action] = actions[..] else {
            return Err(ProcessError::invalid("video: the process is one action, video/snapshot,…"));
        };
        let mut params = action.split(',');
        if params.next() != Some("snapshot") {
            return Err(ProcessError::invalid(format!("video: unknown action \"{action}\" (only snapshot)")));
        }
        let mut s = Snapshot { t_ms: 0, format: Format::Jpeg, width: 0, height: 0, fast: false, auto_rotate: false };
        let number = |name: &str, v: &str, max: u64| {
            v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                ProcessError::invalid(format!("snapshot: {name} must be an integer in 0..={max}, got \"{v}\""))
            })
        };
        for p in params.filter(|p| !p.is_empty()) {
            let (k, v) = p.split_once('_').unwrap_or((p, ""));
            match k {
                "t" => s.t_ms = number("t", v, 86_400_000 * 365)?,
                "w" => s.width = number("w", v, 16_384)? as u32,
                "h" => s.height = number("h", v, 16_384)? as u32,
                "f" => {
                    s.format = match v {
                        "jpg" => Format::Jpeg,
                        "png" => Format::Png,
                        _ => return Err(ProcessError::invalid(format!("snapshot: f must be jpg or png, got \"{v}\""))),
                    }
                }
                "m" if v == "fast" => s.fast = true,
                "m" => return Err(ProcessError::invalid(format!("snapshot: m must be fast, got \"{v}\""))),
                "ar" if v == "auto" => s.auto_rotate = true,
                "ar" => return Err(ProcessError::invalid(format!("snapshot: ar must be auto, got \"{v}\""))),
                _ => return Err(ProcessError::invalid(format!("snapshot: unknown parameter \"{k}\""))),
            }
        }
        Ok(Some(s))
    }

    /// The image process that finishes the frame: the turn (`ar_auto`), the size, the format.
    fn image_plan(&self, quarter_turns: u8) -> Result<Plan> {
        let mut text = String::from("image");
        if self.auto_rotate && quarter_turns > 0 {
            text.push_str(&format!("/rotate,{}", quarter_turns as u32 * 90));
        }
        match (self.width, self.height) {
            (0, 0) => {}
            (w, 0) => text.push_str(&format!("/resize,w_{w},limit_0")),
            (0, h) => text.push_str(&format!("/resize,h_{h},limit_0")),
            (w, h) => text.push_str(&format!("/resize,w_{w},h_{h},m_fixed,limit_0")),
        }
        text.push_str(&format!("/format,{}", self.format.name()));
        process::parse(&text)
    }
}

/// What a snapshot read from the store: the movie's index, the samples to decode, and
/// the frame's place among those they show.
pub struct Fetched {
    movie: mp4::Movie,
    samples: Vec<Bytes>,
    rank: usize,
    /// Bytes read from the store.
    pub bytes_read: u64,
}

/// Reads, in parts, what the snapshot of `key` needs; at most `limits.max_source_bytes` in all.
pub async fn fetch(store: &dyn Store, key: &str, s: &Snapshot, limits: &Limits) -> Result<Fetched> {
    let mut reader = Reader { store, key, read: 0, max: limits.max_source_bytes };
    let first = reader.range(0, FIRST_READ).await?;
    let total = first.total;
    let mut at = 0;
    let mut moov = None;
    for _ in 0..MAX_BOXES {
        let head = match first.bytes.get(at as usize..at as usize + 16) {
            Some(head) => Bytes::copy_from_slice(head),
            None => reader.range(at, at + 16).await?.bytes,
        };
        match mp4::next_box(&head, at, total)? {
            Some((kind, b)) if &kind == b"moov" => {
                moov = Some(b);
                break;
            }
            Some((_, b)) => at = b.start + b.len,
            None => break,
        }
    }
    let moov = moov.ok_or_else(|| mp4::not_a_video("it has no moov box (its index)"))?;
    let moov_bytes = if moov.start + moov.len <= first.bytes.len() as u64 {
        first.bytes.slice(moov.start as usize..(moov.start + moov.len) as usize)
    } else {
        reader.range(moov.start, moov.start + moov.len).await?.bytes
    };
    let movie = mp4::parse_moov(&moov_bytes, limits)?;
    limits.check_canvas("video frame", movie.width, movie.height, 1)?;
    let frame = movie.width as u64 * movie.height as u64 * decode_bytes_per_pixel(&movie.codec);
    limits.check_decode(frame + movie.samples.len() as u64 * mp4::INDEXED_SAMPLE_BYTES)?;
    let (range, rank) = mp4::plan_decode(&movie.samples, (s.t_ms as i64).saturating_mul(1000), s.fast);
    if range.len() > MAX_SAMPLES {
        return Err(ProcessError::too_large(format!(
            "the frame is {} frames after the keyframe before it; a snapshot decodes at most {MAX_SAMPLES} (use m_fast, or a video with more keyframes)",
            range.len()
        )));
    }
    let wanted = &movie.samples[range];
    if wanted.iter().any(|x| x.end < x.start || x.end > total) {
        return Err(mp4::not_a_video("a sample lies outside the file"));
    }
    // Samples that follow each other in the file are read together: one request per run.
    let mut samples = Vec::with_capacity(wanted.len());
    let mut i = 0;
    while i < wanted.len() {
        let mut j = i + 1;
        while j < wanted.len() && wanted[j].start == wanted[j - 1].end {
            j += 1;
        }
        let run = reader.range(wanted[i].start, wanted[j - 1].end).await?.bytes;
        for x in &wanted[i..j] {
            let (from, to) = ((x.start - wanted[i].start) as usize, (x.end - wanted[i].start) as usize);
            samples.push(
                run.get(from..to)
                    .map(|_| run.slice(from..to))
                    .ok_or_else(|| mp4::not_a_video("the file is shorter than its index says"))?,
            );
        }
        i = j;
    }
    Ok(Fetched { movie, samples, rank, bytes_read: reader.read })
}

/// Decodes the frame, then turns, scales and encodes it (CPU work: on the blocking pool).
pub fn render(f: &Fetched, s: &Snapshot, limits: &Limits) -> Result<Processed> {
    let deadline = Deadline::after(limits.timeout);
    let size = (f.movie.width, f.movie.height);
    let frame = match &f.movie.codec {
        mp4::Codec::H264(config) => h264::decode_frame(config, &f.samples, f.rank, size, &deadline)?,
        mp4::Codec::Av1(config) => av1::decode_frame(config, &f.samples, f.rank, size, &deadline)?,
    };
    let plan = s.image_plan(f.movie.quarter_turns)?;
    let source = Source { format: s.format, quality: None };
    engine::process_picture(Picture::still(frame), source, &plan, limits, &deadline)
}

/// Ranged reads of one object, counted against a byte budget.
struct Reader<'a> {
    store: &'a dyn Store,
    key: &'a str,
    read: u64,
    max: u64,
}

impl Reader<'_> {
    async fn range(&mut self, start: u64, end: u64) -> Result<crate::store::Range> {
        if self.read + end.saturating_sub(start) > self.max {
            return Err(ProcessError::too_large(format!(
                "the snapshot would read over {} bytes of the video (the source limit)",
                self.max
            )));
        }
        let part = self.store.get_range(self.key, start, end).await?;
        self.read += part.bytes.len() as u64;
        Ok(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_parameters_as_oss_writes_them() {
        let s = Snapshot::parse("video/snapshot,t_7000,f_jpg,w_800,h_0,m_fast").unwrap().unwrap();
        assert_eq!(
            (s.t_ms, s.format, s.width, s.height, s.fast, s.auto_rotate),
            (7000, Format::Jpeg, 800, 0, true, false)
        );
        let s = Snapshot::parse("//video//snapshot,t_0,f_png,ar_auto/").unwrap().unwrap();
        assert_eq!((s.format, s.auto_rotate, s.fast), (Format::Png, true, false));
        assert_eq!(Snapshot::parse("image/resize,w_10").unwrap(), None);
        for bad in [
            "video/snapshot,t_x",
            "video/snapshot,f_gif",
            "video/snapshot,m_slow",
            "video/snapshot,z_1",
            "video/resize,w_1",
            "video/snapshot/snapshot",
            "video",
        ] {
            assert_eq!(Snapshot::parse(bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn the_frame_is_finished_by_the_image_process() {
        let s = Snapshot::parse("video/snapshot,w_100,h_50,ar_auto,f_png").unwrap().unwrap();
        let plan = s.image_plan(1).unwrap();
        assert_eq!(plan.steps.len(), 2, "a quarter turn, then the size");
        assert_eq!(plan.output.format, Some(Format::Png));
        assert!(s.image_plan(0).unwrap().steps.len() == 1);
    }
}
