//! Signed URLs: `Expires` (Unix seconds) and `Signature`, an HMAC-SHA256 over the
//! canonical request, URL-safe base64 without padding.
//!
//! The canonical form is built from the *parsed* request — the decoded path, then every
//! query pair except `Signature`, decoded, sorted, and re-encoded one fixed way — so two
//! spellings of the same URL (`%2C` or `,`, `+` or `%20`, parameter order) sign alike and
//! nothing is verified by string surgery on the raw URL.

use crate::error::{ProcessError, Result};
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

/// The query parameters of a signed URL (a CDN in front must forward both).
pub const EXPIRES: &str = "Expires";
pub const SIGNATURE: &str = "Signature";
pub const PARAMS: [&str; 2] = [EXPIRES, SIGNATURE];

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The active signing keys; more than one during a rotation.
#[derive(Clone, Default)]
pub struct SigningKeys(Vec<Vec<u8>>);

impl SigningKeys {
    /// Keys separated by commas or whitespace (as in an environment variable or a secret).
    pub fn parse(text: &str) -> Self {
        Self(
            text.split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| k.as_bytes().to_vec())
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks `Expires` and `Signature` of a request against every key, in constant time.
    pub fn verify(&self, path: &str, query: Option<&str>, now_unix: u64) -> Result<()> {
        let pairs = decoded_pairs(query);
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let denied = |msg: &str| ProcessError::new(403, "AccessDenied", msg);
        if let Some(name) = repeated_name(&pairs) {
            return Err(denied(&format!("a signed URL names each parameter once; \"{name}\" is repeated")));
        }
        let expires: u64 = get(EXPIRES)
            .ok_or_else(|| denied("this URL must be signed: Expires and Signature are missing"))?
            .parse()
            .map_err(|_| denied("Expires must be Unix seconds"))?;
        if expires <= now_unix {
            return Err(denied("the signed URL has expired"));
        }
        let signature = get(SIGNATURE).ok_or_else(|| denied("Signature is missing"))?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature.trim_end_matches('='))
            .map_err(|_| denied("Signature is not URL-safe base64"))?;
        let canonical = canonical(path, &pairs);
        let valid = self.0.iter().any(|key| mac(key, &canonical).verify_slice(&signature).is_ok());
        if !valid {
            return Err(denied("the signature does not match"));
        }
        Ok(())
    }

    /// `path?query` with `Expires` and `Signature` added, signed with the first key. A query
    /// naming a parameter twice is refused: `verify` would refuse the URL.
    pub fn sign(&self, path: &str, query: Option<&str>, expires_unix: u64) -> Result<String> {
        let key = self.0.first().ok_or_else(|| ProcessError::invalid("there is no signing key"))?;
        let mut pairs: Vec<(String, String)> =
            decoded_pairs(query).into_iter().filter(|(k, _)| k != SIGNATURE && k != EXPIRES).collect();
        if let Some(name) = repeated_name(&pairs) {
            return Err(ProcessError::invalid(format!(
                "\"{name}\" appears twice: a signed URL names each parameter once"
            )));
        }
        pairs.push((EXPIRES.into(), expires_unix.to_string()));
        let sig = mac(key, &canonical(path, &pairs)).finalize().into_bytes();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        Ok(format!("{path}?{}&Signature={sig}", query.join("&")))
    }
}

fn mac(key: &[u8], canonical: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(canonical.as_bytes());
    m
}

/// A name that appears more than once. The canonical form sorts the pairs while the handler
/// reads the first of a repeated name, so with repeats two requests that do different things
/// could share a signature.
fn repeated_name(pairs: &[(String, String)]) -> Option<&str> {
    let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

fn decoded_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, STRICT).to_string()
}

/// Decoded path, newline, then the sorted, strictly re-encoded pairs except `Signature`.
fn canonical(path: &str, pairs: &[(String, String)]) -> String {
    let path = percent_decode_str(path).decode_utf8_lossy();
    let mut encoded: Vec<String> =
        pairs.iter().filter(|(k, _)| k != SIGNATURE).map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    encoded.sort();
    format!("{}\n{}", encode_path(&path), encoded.join("&"))
}

fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_across_spellings() {
        let keys = SigningKeys::parse("k1");
        let url = keys.sign("/a b/photo.jpg", Some("x-oss-process=image/resize,w_100"), 2_000).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        keys.verify(path, Some(query), 1_000).unwrap();
        // Same request, other spelling: decoded path, reordered query, encoded commas.
        let sig = query.rsplit_once("Signature=").unwrap().1;
        let respelled = format!("Signature={sig}&Expires=2000&x-oss-process=image%2Fresize%2Cw_100");
        keys.verify("/a%20b/photo.jpg", Some(&respelled), 1_000).unwrap();
    }

    #[test]
    fn rejects_tampering_expiry_and_unknown_keys() {
        let keys = SigningKeys::parse("k1");
        let url = keys.sign("/p.jpg", Some("x-oss-process=image/resize,w_100"), 2_000).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        assert!(keys.verify(path, Some(&query.replace("w_100", "w_900")), 1_000).is_err());
        assert!(keys.verify("/q.jpg", Some(query), 1_000).is_err());
        assert!(keys.verify(path, Some(query), 2_000).unwrap_err().message.contains("expired"));
        assert!(keys.verify(path, Some(&query.replace("Expires=2000", "Expires=3000")), 1_000).is_err());
        assert!(SigningKeys::parse("other").verify(path, Some(query), 1_000).is_err());
        assert!(keys.verify(path, Some("x-oss-process=image/resize,w_100"), 1_000).is_err());
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let keys = SigningKeys::parse("k1");
        let twice = "x-oss-process=image/resize,w_100&x-oss-process=image/resize,w_900";
        assert!(keys.sign("/p.jpg", Some(twice), 2_000).unwrap_err().message.contains("appears twice"));
        // A URL signed over the sorted pairs of a repeat (as before this check) is refused,
        // and so is the one with the two values swapped, which shared its signature.
        let pairs: Vec<(String, String)> = decoded_pairs(Some(&format!("{twice}&Expires=2000")));
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(mac(b"k1", &canonical("/p.jpg", &pairs)).finalize().into_bytes());
        let query = format!("{twice}&Expires=2000&Signature={sig}");
        let e = keys.verify("/p.jpg", Some(&query), 1_000).unwrap_err();
        assert!(e.message.contains("\"x-oss-process\" is repeated"), "{}", e.message);
        let swapped = query.replacen("w_100", "w_TMP", 1).replacen("w_900", "w_100", 1).replacen("w_TMP", "w_900", 1);
        assert!(keys.verify("/p.jpg", Some(&swapped), 1_000).is_err());
        // A repeat spelled differently (encoded name) is the same name once decoded.
        let good = keys.sign("/p.jpg", Some("x-oss-process=image/resize,w_100"), 2_000).unwrap();
        let (_, q) = good.split_once('?').unwrap();
        assert!(keys.verify("/p.jpg", Some(&format!("{q}&x%2Doss%2Dprocess=image/resize,w_9")), 1_000).is_err());
    }

    #[test]
    fn rotation_accepts_any_active_key() {
        let old = SigningKeys::parse("old");
        let url = old.sign("/p.jpg", None, 2_000).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        SigningKeys::parse("new, old").verify(path, Some(query), 1_000).unwrap();
    }
}
