//! The one error type a request can end in, shaped like Alibaba OSS errors so that
//! clients written against OSS read ours the same way.

use std::fmt;

/// A request failure: HTTP status, OSS-style code and a message that says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ProcessError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// A bad action or parameter in `x-oss-process`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    /// The source image breaks a configured limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(400, "ImageTooLarge", message)
    }

    /// The source bytes are not an image we can read.
    pub fn bad_image(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidImage", message)
    }

    pub fn no_such_key(key: &str) -> Self {
        Self::new(404, "NoSuchKey", format!("The specified key does not exist: {key}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The OSS XML error document.
    pub fn to_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n</Error>\n",
            self.code,
            xml_escape(&self.message)
        )
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ProcessError {}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if is_xml_char(c) => out.push(c),
            // NUL, other control characters, U+FFFE/U+FFFF: XML 1.0 cannot carry them, even
            // escaped, so an echoed key or parameter would make the document ill-formed.
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// XML 1.0's `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

pub type Result<T, E = ProcessError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_hold_only_what_xml_can_carry() {
        let e = ProcessError::no_such_key("a\u{0}b\u{1b}c\u{FFFF}d\u{FFFE}<&>\te\u{1F600}");
        let xml = e.to_xml();
        assert!(xml.chars().all(is_xml_char), "{xml:?}");
        assert!(xml.contains("a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}&lt;&amp;&gt;\te\u{1F600}"), "{xml:?}");
    }
}
