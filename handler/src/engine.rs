//! The request path from source bytes to response bytes: decode → steps → encode, as a
//! parsed [`Plan`] says.
//! Synchronous and CPU-bound: callers run it on the bounded blocking pool.

use crate::codec::{self, DecodeOptions, EncodeOptions, Format, Header};
use crate::error::{ProcessError, Result};
use crate::guard::{Deadline, Limits};
use crate::picture::Picture;
use crate::process::{average_hue_json, Answer, Plan, Quality, Step, StepContext};
use std::time::Instant;

/// Encode quality when the request names none.
pub const DEFAULT_QUALITY: u8 = 80;

/// A finished response body, and where the time went.
#[derive(Debug, Clone)]
pub struct Processed {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub timings: Timings,
}

/// Milliseconds spent per stage, for the request log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub decode_ms: f64,
    pub steps_ms: f64,
    pub encode_ms: f64,
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Looks up the raw bytes of another stored object (watermark images), fetched beforehand.
pub type Assets<'a> = &'a dyn Fn(&str) -> Option<&'a [u8]>;

/// Runs `plan` over `source`.
pub fn process(source: &[u8], plan: &Plan, limits: &Limits, assets: Assets) -> Result<Processed> {
    let deadline = Deadline::after(limits.timeout);
    limits.check_source_len(source.len() as u64)?;
    let header = codec::probe(source)?;
    if plan.answer == Answer::Info {
        return Ok(json(info_json(source.len(), &header)));
    }
    let small = plan.threshold.is_some_and(|min| (source.len() as u64) < min);
    if plan.answer == Answer::Original || small {
        return Ok(Processed {
            body: source.to_vec(),
            content_type: header.format.mime(),
            timings: Timings::default(),
        });
    }
    limits.check_header(&header)?;

    let out = plan.output;
    let format = out.format.unwrap_or(header.format);
    let animated = header.frames > 1 && format.animates();
    let min_size = plan_shrink(&plan.steps, &header, out.auto_orient, animated, limits)?;
    let decode = DecodeOptions { min_size, all_frames: animated, auto_orient: out.auto_orient };

    let mut timings = Timings::default();
    let t = Instant::now();
    let pic = decode_within(source, &header, decode, limits, 0)?;
    timings.decode_ms = ms_since(t);
    deadline.check()?;
    // OSS: `q` is relative to a JPEG source's quality (absolute otherwise); `Q` never goes
    // above the source's quality, which imgh can compare only JPEG to JPEG (so WebP's
    // `Q_100` still means lossless).
    let source_quality = (header.format == Format::Jpeg).then(|| codec::estimated_jpeg_quality(source)).flatten();
    let source = Source { format: header.format, quality: source_quality };
    finish(pic, source, plan, limits, assets, &deadline, timings)
}

/// What the steps and the encoder need to know of where a picture came from.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub format: Format,
    /// A JPEG source's estimated quality, which `quality` settings are measured against.
    pub quality: Option<u8>,
}

/// Runs `plan`'s steps over an already decoded picture (a video frame) and encodes it,
/// within the `deadline` its decoding started under.
pub fn process_picture(
    pic: Picture,
    source: Source,
    plan: &Plan,
    limits: &Limits,
    deadline: &Deadline,
) -> Result<Processed> {
    finish(pic, source, plan, limits, &|_| None, deadline, Timings::default())
}

/// The steps, then the encoder, within the limits.
fn finish(
    mut pic: Picture,
    source: Source,
    plan: &Plan,
    limits: &Limits,
    assets: Assets,
    deadline: &Deadline,
    mut timings: Timings,
) -> Result<Processed> {
    let out = plan.output;
    let format = out.format.unwrap_or(source.format);
    let t = Instant::now();
    let decode_asset = |key: &str, held: u64| -> Option<Result<Picture>> {
        let bytes = assets(key)?;
        let h = codec::probe(bytes).ok()?;
        let opts = DecodeOptions { auto_orient: true, ..Default::default() };
        Some(limits.check_header(&h).and_then(|_| decode_within(bytes, &h, opts, limits, held)))
    };
    let ctx = StepContext {
        source_format: source.format,
        output_format: format,
        limits,
        deadline,
        held: 0,
        watermarks: &decode_asset,
    };
    for step in &plan.steps {
        step.apply(&mut pic, &ctx)?;
        deadline.check()?;
    }
    timings.steps_ms = ms_since(t);
    if plan.answer == Answer::AverageHue {
        return Ok(json(average_hue_json(pic.first())));
    }
    if !format.animates() {
        pic = pic.into_first_frame();
    }
    limits.check_canvas("output", pic.width(), pic.height(), pic.frames.len())?;
    let encoding = codec::encoder_bytes(format, pic.width(), pic.height(), pic.frames.len());
    limits.check_working_set(&format!("encoding {}", format.name()), pic.bytes() + encoding)?;
    let quality = match out.quality {
        None => DEFAULT_QUALITY,
        Some(Quality::Absolute(q)) if format == Format::Jpeg => source.quality.map_or(q, |src_q| q.min(src_q)),
        Some(Quality::Absolute(q)) => q,
        Some(Quality::Relative(q)) => match source.quality {
            Some(src_q) => ((src_q as u32 * q as u32 + 50) / 100).max(1) as u8,
            None => q,
        },
    };
    let t = Instant::now();
    let body = codec::encode(&pic, EncodeOptions { format, quality, progressive: out.progressive })?;
    timings.encode_ms = ms_since(t);
    deadline.check()?;
    Ok(Processed { body, content_type: format.mime(), timings })
}

/// Decodes once the bitmap it would build (estimated from the header) fits the limits
/// with the `held` bytes already taken.
fn decode_within(data: &[u8], header: &Header, opts: DecodeOptions, limits: &Limits, held: u64) -> Result<Picture> {
    limits.check_decode(held + codec::decoded_bytes(data, header, opts)?)?;
    codec::decode(data, header, opts)
}

/// Shrink-on-load: when the first pixel step is a resize, decode no larger than it needs.
/// Its output size is checked here too, before a pixel is decoded.
fn plan_shrink(
    steps: &[Step],
    header: &Header,
    auto_orient: bool,
    animated: bool,
    limits: &Limits,
) -> Result<Option<(u32, u32)>> {
    let (w, h) = header.oriented_size(auto_orient);
    // The part of the source the first resize sees: all of it, or a crop's rectangle.
    let (r, (cw, ch), prescaled) = match steps {
        [Step::Resize(r), ..] => (r, (w, h), codec::prescaled_rounding(header, auto_orient)),
        [Step::Crop(c), Step::Resize(r), ..] if !animated => match c.rect(w, h) {
            Ok((_, _, cw, ch)) => (r, (cw, ch), false),
            Err(_) => return Ok(None), // the crop answers it, without a decode at scale
        },
        _ => return Ok(None),
    };
    let Some(g) = r.geometry(cw, ch, animated, prescaled) else {
        return Ok(None);
    };
    let frames = if animated { header.frames as usize } else { 1 };
    for (w, h) in [g.scaled, g.canvas] {
        limits.check_canvas("resize: output", w, h, frames)?;
    }
    if animated {
        return Ok(None);
    }
    if (cw, ch) == (w, h) {
        return Ok(Some(g.scaled));
    }
    // The whole source at a size that leaves the rectangle at least the resize's output,
    // with a pixel to spare for the rectangle's edges landing between scaled pixels.
    let need = |out: u32, part: u32, whole: u32| {
        ((out as u64 + 1) * whole as u64).div_ceil(part as u64).min(whole as u64) as u32
    };
    Ok(Some((need(g.scaled.0, cw, w), need(g.scaled.1, ch, h))))
}

fn info_json(size: usize, h: &Header) -> String {
    format!(
        "{{\"FileSize\": {{\"value\": \"{size}\"}}, \"Format\": {{\"value\": \"{}\"}}, \"ImageHeight\": {{\"value\": \"{}\"}}, \"ImageWidth\": {{\"value\": \"{}\"}}}}",
        h.format.name(),
        h.height,
        h.width
    )
}

fn json(body: String) -> Processed {
    Processed { body: body.into_bytes(), content_type: "application/json", timings: Timings::default() }
}

/// Runs `f`, turning a panic into a 500 for this request only.
pub fn catch_panics<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ProcessError::internal("the image could not be processed (internal error)")))
}
