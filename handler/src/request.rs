//! From a request URL to the object key and the process text, styles resolved.
//!
//! The process comes from `x-oss-process` (OSS) or `image_process` (Alibaba CDN),
//! either inline (`image/…`) or as `style/<name>`; or from a key suffix `@!<name>` /
//! `!<name>`.

use crate::error::{ProcessError, Result};
use crate::style::{is_valid_name, StyleSource};
use percent_encoding::percent_decode_str;

/// The query parameter names that carry a process, in order of precedence.
pub const PROCESS_PARAMS: [&str; 2] = ["x-oss-process", "image_process"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub key: String,
    /// The process text (`image/…`), or `None` for the original bytes.
    pub process: Option<String>,
}

/// Resolves a request `path` (still percent-encoded) and raw `query`.
pub async fn resolve(path: &str, query: Option<&str>, styles: &dyn StyleSource) -> Result<Resolved> {
    let key = percent_decode_str(path.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| ProcessError::invalid("the object key is not valid UTF-8"))?
        .into_owned();
    if let Some(value) = process_param(query) {
        return Ok(Resolved { key, process: Some(resolve_process(value, styles).await?) });
    }
    if let Some((base, name)) = key.rsplit_once("@!") {
        let process = lookup(name, styles).await?;
        return Ok(Resolved { key: base.to_string(), process: Some(process) });
    }
    // `!name` is a style only when that style exists; otherwise `!` is part of the key.
    if let Some((base, name)) = key.rsplit_once('!') {
        if is_valid_name(name) {
            if let Some(process) = styles.get(name).await? {
                return Ok(Resolved { key: base.to_string(), process: Some(process) });
            }
        }
    }
    Ok(Resolved { key, process: None })
}

/// A process text with its style resolved: `style/<name>` → the style's process; anything
/// else as it is.
pub async fn resolve_process(value: String, styles: &dyn StyleSource) -> Result<String> {
    // Empty segments are ignored, as in the process itself: `//style/thumb/` names `thumb`.
    match value.trim_matches('/').strip_prefix("style/") {
        Some(name) => lookup(name.trim_start_matches('/'), styles).await,
        None => Ok(value),
    }
}

/// The process named by the query's parameters, if any (styles not resolved).
pub fn process_param(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query?.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    PROCESS_PARAMS.iter().find_map(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

async fn lookup(name: &str, styles: &dyn StyleSource) -> Result<String> {
    if !is_valid_name(name) {
        return Err(ProcessError::invalid(format!(
            "style name \"{name}\" is invalid: use 1-63 letters, digits, '_', '-' or '.'"
        )));
    }
    styles
        .get(name)
        .await?
        .ok_or_else(|| ProcessError::new(400, "NoSuchStyle", format!("style \"{name}\" does not exist")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style::Styles;

    fn styles() -> Styles {
        Styles::from_toml("thumb = \"image/resize,w_100\"").unwrap()
    }

    fn r(path: &str, query: Option<&str>) -> Result<Resolved> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(resolve(path, query, &styles()))
    }

    #[test]
    fn process_from_either_parameter() {
        let a = r("/a.jpg", Some("x-oss-process=image/resize,w_10")).unwrap();
        assert_eq!(a.process.as_deref(), Some("image/resize,w_10"));
        let b = r("/a.jpg", Some("image_process=image%2Fresize%2Cw_10")).unwrap();
        assert_eq!(b.process.as_deref(), Some("image/resize,w_10"));
        assert_eq!(r("/a.jpg", None).unwrap().process, None);
    }

    #[test]
    fn styles_by_parameter_and_suffix() {
        let want = Some("image/resize,w_100".to_string());
        assert_eq!(r("/a.jpg", Some("x-oss-process=style/thumb")).unwrap().process, want);
        assert_eq!(r("/a.jpg", Some("x-oss-process=//style//thumb/")).unwrap().process, want);
        let s = r("/dir/a.jpg@!thumb", None).unwrap();
        assert_eq!((s.key.as_str(), s.process.clone()), ("dir/a.jpg", want.clone()));
        let s = r("/a.jpg!thumb", None).unwrap();
        assert_eq!((s.key.as_str(), s.process), ("a.jpg", want));
        assert_eq!(r("/wow!.jpg", None).unwrap().key, "wow!.jpg");
        assert_eq!(r("/a.jpg@!nope", None).unwrap_err().code, "NoSuchStyle");
        assert_eq!(r("/a.jpg", Some("x-oss-process=style/b%20d")).unwrap_err().status, 400);
    }

    #[test]
    fn keys_are_percent_decoded() {
        assert_eq!(r("/a%20b/%E4%B8%AD+(1).jpg", None).unwrap().key, "a b/中+(1).jpg");
    }
}
