//! Stored styles: a name standing for a whole process string (`style/thumb`,
//! `key@!thumb`). Here from a TOML file of `name = "image/…"` lines.

use crate::error::{ProcessError, Result};
use std::collections::HashMap;

/// Where style names are looked up.
pub trait StyleSource: Send + Sync {
    fn get(&self, name: &str) -> Option<String>;
}

/// A valid style name: `^[\w\-.]{1,63}$`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Styles held in memory.
#[derive(Debug, Clone, Default)]
pub struct Styles(HashMap<String, String>);

impl Styles {
    /// Reads `name = "image/…"` pairs; every name and process is checked up front.
    pub fn from_toml(text: &str) -> Result<Self> {
        let table: HashMap<String, String> = toml::from_str(text).map_err(|e| {
            ProcessError::invalid(format!(
                "styles file: expected name = \"image/...\" lines: {e}"
            ))
        })?;
        for (name, process) in &table {
            if !is_valid_name(name) {
                return Err(ProcessError::invalid(format!(
                    "styles file: \"{name}\" is not a valid style name"
                )));
            }
            crate::process::parse(process).map_err(|e| {
                ProcessError::invalid(format!("styles file: style \"{name}\": {}", e.message))
            })?;
        }
        Ok(Self(table))
    }
}

impl StyleSource for Styles {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}
