//! `image/resize,w_200/quality,q_50` → `Vec<Action>`. Pure: no I/O, every failure a 400.

use super::{params::Params, Action, ACTIONS};
use crate::error::{ProcessError, Result};

/// Parses a process string that starts with `image/` (styles are resolved before this).
pub fn parse(process: &str) -> Result<Vec<Action>> {
    let body = process.strip_prefix("image/").ok_or_else(|| {
        ProcessError::invalid(format!(
            "the process must start with \"image/\" or \"style/\", got \"{}\"",
            truncate(process)
        ))
    })?;
    let mut actions = Vec::new();
    for segment in body.split('/').filter(|s| !s.is_empty()) {
        let mut parts = segment.split(',');
        let name = parts.next().unwrap_or_default();
        let (_, parse_fn) = ACTIONS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ProcessError::invalid(format!("unknown action \"{}\"", truncate(name))))?;
        let mut params = Params::new(name, parts);
        let action = parse_fn(&mut params)?;
        params.finish()?;
        actions.push(action);
    }
    if actions.is_empty() {
        return Err(ProcessError::invalid("the process names no action"));
    }
    Ok(actions)
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
    use crate::process::Quality;

    #[test]
    fn parses_a_chain_in_order() {
        let a = parse("image/resize,w_200/quality,q_50/format,webp").unwrap();
        assert_eq!(a.len(), 3);
        assert!(matches!(a[0], Action::Resize(_)));
        assert_eq!(a[1], Action::Quality(Quality::Relative(50)));
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
}
