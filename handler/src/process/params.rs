//! The `k_v` parameters of one action, taken one by one so that anything left over is an
//! error naming it.

use crate::error::{ProcessError, Result};
use base64::Engine;
use std::ops::RangeInclusive;

/// The parameters of one action: `resize,w_200,h_100` → action `resize`, `w`=`200`, `h`=`100`.
/// A part without `_` (as in `rotate,90`) is the action's bare value.
pub struct Params<'a> {
    action: &'a str,
    pairs: Vec<(&'a str, &'a str)>,
    bare: Vec<&'a str>,
}

impl<'a> Params<'a> {
    pub fn new(action: &'a str, parts: impl Iterator<Item = &'a str>) -> Self {
        let (mut pairs, mut bare) = (Vec::new(), Vec::new());
        for part in parts.filter(|p| !p.is_empty()) {
            match part.split_once('_') {
                Some((k, v)) => pairs.push((k, v)),
                None => bare.push(part),
            }
        }
        Self { action, pairs, bare }
    }

    pub fn err(&self, msg: impl std::fmt::Display) -> ProcessError {
        ProcessError::invalid(format!("{}: {msg}", self.action))
    }

    /// Removes and returns the raw value of `key` (the last one wins, as in OSS).
    pub fn take(&mut self, key: &str) -> Option<&'a str> {
        let mut found = None;
        self.pairs.retain(|(k, v)| {
            if *k == key {
                found = Some(*v);
                false
            } else {
                true
            }
        });
        found
    }

    pub fn take_int(&mut self, key: &str, range: RangeInclusive<i64>) -> Result<Option<i64>> {
        let Some(raw) = self.take(key) else {
            return Ok(None);
        };
        self.int(key, raw, range).map(Some)
    }

    pub fn take_u32(&mut self, key: &str, range: RangeInclusive<u32>) -> Result<Option<u32>> {
        let r = *range.start() as i64..=*range.end() as i64;
        Ok(self.take_int(key, r)?.map(|v| v as u32))
    }

    pub fn take_flag(&mut self, key: &str) -> Result<Option<bool>> {
        Ok(self.take_int(key, 0..=1)?.map(|v| v == 1))
    }

    /// A hex colour `RRGGBB` (a leading `#` is allowed).
    pub fn take_color(&mut self, key: &str) -> Result<Option<[u8; 3]>> {
        let Some(raw) = self.take(key) else {
            return Ok(None);
        };
        parse_color(raw)
            .map(Some)
            .ok_or_else(|| self.err(format!("{key} must be a colour RRGGBB in hex, got \"{raw}\"")))
    }

    /// A URL-safe base64 text parameter (standard alphabet and missing padding accepted too).
    pub fn take_base64(&mut self, key: &str) -> Result<Option<String>> {
        let Some(raw) = self.take(key) else {
            return Ok(None);
        };
        decode_base64(raw)
            .map(Some)
            .ok_or_else(|| self.err(format!("{key} must be URL-safe base64 of UTF-8 text, got \"{raw}\"")))
    }

    /// The single bare value, as an integer in `range`.
    pub fn bare_int(&mut self, name: &str, range: RangeInclusive<i64>) -> Result<i64> {
        let raw = self.take_bare(name)?;
        self.int(name, raw, range)
    }

    /// Whether the action was given no parameter at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.bare.is_empty()
    }

    /// Whether the action was given a bare value.
    pub fn has_bare(&self) -> bool {
        !self.bare.is_empty()
    }

    pub fn take_bare(&mut self, name: &str) -> Result<&'a str> {
        if self.bare.len() != 1 {
            return Err(self.err(format!("expects exactly one value ({name})")));
        }
        Ok(self.bare.remove(0))
    }

    pub fn int(&self, key: &str, raw: &str, range: RangeInclusive<i64>) -> Result<i64> {
        match raw.parse::<i64>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => {
                Err(self.err(format!("{key} must be an integer in {}..={}, got \"{raw}\"", range.start(), range.end())))
            }
        }
    }

    /// Fails on any parameter no one took.
    pub fn finish(self) -> Result<()> {
        if let Some((k, _)) = self.pairs.first() {
            return Err(self.err(format!("unknown parameter \"{k}\"")));
        }
        if let Some(v) = self.bare.first() {
            return Err(self.err(format!("unexpected value \"{v}\"")));
        }
        Ok(())
    }
}

pub fn parse_color(raw: &str) -> Option<[u8; 3]> {
    let hex = raw.strip_prefix('#').unwrap_or(raw);
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// Decodes OSS's URL-safe base64, forgiving the standard alphabet, missing padding and a
/// `+` that a form decoder turned into a space.
pub fn decode_base64(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' | ' ' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned).ok()?;
    String::from_utf8(bytes).ok()
}
