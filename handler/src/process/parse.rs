//! `image/resize,w_200/quality,q_50` → [`Plan`]. Pure: no I/O, every failure a 400.

use super::{params::Params, Answer, Plan, ACTIONS};
use crate::error::{ProcessError, Result};

/// Most actions in one process. OSS caps the length of `x-oss-process` without saying
/// where; this is imgh's cap, refused before any work, far above any real chain.
pub const MAX_ACTIONS: usize = 32;

/// Most image watermarks in one process, as OSS allows (its error 0040-00000026).
pub const MAX_WATERMARK_IMAGES: usize = 3;

/// Parses a process string whose first segment is `image` (styles are resolved before
/// this). Empty segments are ignored anywhere, as the seed system and OSS do; `image`
/// alone names no action and answers the original.
pub fn parse(process: &str) -> Result<Plan> {
    let mut segments = process.split('/').filter(|s| !s.is_empty());
    if segments.next() != Some("image") {
        return Err(ProcessError::invalid(format!(
            "the process must start with \"image/\" or \"style/\", got \"{}\"",
            truncate(process)
        )));
    }
    let segments: Vec<&str> = segments.collect();
    if segments.is_empty() {
        return Ok(Plan { answer: Answer::Original, ..Plan::default() });
    }
    if segments.len() > MAX_ACTIONS {
        return Err(ProcessError::invalid(format!(
            "the process has {} actions; the limit is {MAX_ACTIONS}",
            segments.len()
        )));
    }
    let mut plan = Plan::default();
    for segment in segments {
        let mut parts = segment.split(',');
        let name = parts.next().unwrap_or_default();
        let (_, parse_fn) = ACTIONS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ProcessError::invalid(format!("unknown action \"{}\"", truncate(name))))?;
        let mut params = Params::new(name, parts);
        parse_fn(&mut params, &mut plan)?;
        params.finish()?;
    }
    let images = plan.watermark_keys().count();
    if images > MAX_WATERMARK_IMAGES {
        return Err(ProcessError::invalid(format!(
            "the process has {images} image watermarks; the limit is {MAX_WATERMARK_IMAGES}"
        )));
    }
    Ok(plan)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;
    use crate::process::{Answer, Quality, Step};

    #[test]
    fn parses_a_chain_in_order() {
        let plan = parse("image/resize,w_200/rotate,90/quality,q_50/format,webp/resize,w_10").unwrap();
        let names: Vec<_> = plan.steps.iter().map(Step::name).collect();
        assert_eq!(names, ["resize", "rotate", "resize"]);
        assert_eq!(plan.output.quality, Some(Quality::Relative(50)));
        assert_eq!(plan.output.format, Some(Format::Webp));
        assert_eq!(plan.answer, Answer::Image);
    }

    #[test]
    fn settings_are_decided_once_for_the_request() {
        let plan = parse("image/format,png/quality,Q_10/format,jpg/threshold,5/threshold,9").unwrap();
        assert_eq!(plan.output.format, Some(Format::Jpeg), "the last format wins");
        assert_eq!(plan.output.quality, Some(Quality::Absolute(10)));
        assert_eq!(plan.threshold, Some(5), "the first threshold wins");
        assert!(parse("image/auto-orient,1").unwrap().output.auto_orient);
        assert!(!parse("image/auto-orient,0/auto-orient,1").unwrap().output.auto_orient);
        assert_eq!(parse("image/info/average-hue").unwrap().answer, Answer::Info);
        assert_eq!(parse("image/average-hue/info").unwrap().answer, Answer::Info);
        assert_eq!(parse("image/average-hue").unwrap().answer, Answer::AverageHue);
    }

    #[test]
    fn empty_segments_are_ignored_and_image_alone_is_the_original() {
        let plan = parse("//image/resize,w_100//quality,q_1//").unwrap();
        assert_eq!(plan.steps.iter().map(Step::name).collect::<Vec<_>>(), ["resize"]);
        assert_eq!(plan.output.quality, Some(Quality::Relative(1)));
        for original in ["image", "image/", "/image//"] {
            assert_eq!(parse(original).unwrap().answer, Answer::Original, "{original}");
        }
        // Naming any action, even one that decides nothing visible, is not the original.
        assert_eq!(parse("image/strip-metadata").unwrap().answer, Answer::Image);
        assert!(parse("imagex/resize,w_1").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        let msg = |s: &str| parse(s).unwrap_err().message;
        assert!(msg("image/resize,w_abc").contains("w must be an integer"));
        assert!(msg("image/resize,w_0").contains("1..=16384"));
        assert!(msg("image/resize,w_16385").contains("1..=16384"));
        assert!(msg("image/resize,x_1,w_10").contains("unknown parameter \"x\""));
        assert!(msg("image/nope,w_1").contains("unknown action \"nope\""));
        assert!(msg("video/snapshot").contains("must start with"));
        assert!(msg("image/rotate,400").contains("0..=360"));
        assert!(msg("image/format,xyz").contains("must be one of"));
        assert!(msg("image/resize,m_zoom,w_1").contains("m must be"));
        assert_eq!(parse("image/blur,r_3").unwrap_err().status, 400);
    }

    #[test]
    fn chains_are_capped_before_any_is_parsed() {
        let chain = |n: usize, step: &str| format!("image/{}", vec![step; n].join("/"));
        assert_eq!(parse(&chain(MAX_ACTIONS, "rotate,90")).unwrap().steps.len(), MAX_ACTIONS);
        let e = parse(&chain(5000, "rotate,90")).unwrap_err();
        assert_eq!((e.status, e.code), (400, "InvalidArgument"));
        assert!(e.message.contains("5000 actions; the limit is 32"), "{}", e.message);
        // Counted before parsing: a long chain of nonsense is refused for its length.
        assert!(parse(&chain(33, "nope")).unwrap_err().message.contains("33 actions"));
        let mark = "watermark,image_bG9nby5wbmc";
        assert!(parse(&chain(3, mark)).is_ok());
        assert!(parse(&chain(4, mark)).unwrap_err().message.contains("4 image watermarks; the limit is 3"));
        assert!(parse(&chain(10, "watermark,text_aGk")).is_ok());
    }
}
