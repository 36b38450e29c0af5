//! Signed URLs: `Expires` (Unix seconds) and `Signature`, an HMAC-SHA256 over the
//! canonical request, URL-safe base64 without padding.
//!
//! The canonical form is built from the *parsed* request — the decoded path, then every
//! query pair except `Signature`, decoded, sorted, and re-encoded one fixed way — so two
//! spellings of the same URL (`%2C` or `,`, `+` or `%20`, parameter order) sign alike and
//! nothing is verified by string surgery on the raw URL.
//!
//! A signature covers the names the handler reads (the process parameters and `Expires`)
//! and no other: behind CloudFront's legacy cache settings (China) every query name reaches
//! the handler while only those are in the cache key, so an added `&x=1` must change neither
//! the check nor the answer cached under the signed URL.

use crate::error::{ProcessError, Result};
use crate::request::PROCESS_PARAMS;
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

    /// Checks `Expires` and `Signature` of a request against every key, in constant time;
    /// the URL's `Expires` when they match.
    pub fn verify(&self, path: &str, query: Option<&str>, now_unix: u64) -> Result<u64> {
        let pairs: Vec<(String, String)> =
            decoded_pairs(query).into_iter().filter(|(k, _)| covered(k) || k == SIGNATURE).collect();
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
        Ok(expires)
    }

    /// `path?query` with `Expires` and `Signature` added, signed with the first key. A query
    /// naming a covered parameter twice is refused: `verify` would refuse the URL. Other
    /// parameters stay in the URL, unsigned.
    pub fn sign(&self, path: &str, query: Option<&str>, expires_unix: u64) -> Result<String> {
        let key = self.0.first().ok_or_else(|| ProcessError::invalid("there is no signing key"))?;
        let mut pairs: Vec<(String, String)> =
            decoded_pairs(query).into_iter().filter(|(k, _)| k != SIGNATURE && k != EXPIRES).collect();
        pairs.push((EXPIRES.into(), expires_unix.to_string()));
        let signed: Vec<(String, String)> = pairs.iter().filter(|(k, _)| covered(k)).cloned().collect();
        if let Some(name) = repeated_name(&signed) {
            return Err(ProcessError::invalid(format!(
                "\"{name}\" appears twice: a signed URL names each parameter once"
            )));
        }
        let sig = mac(key, &canonical(path, &signed)).finalize().into_bytes();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig);
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        Ok(format!("{path}?{}&Signature={sig}", query.join("&")))
    }
}

/// A name the signature covers: one the handler reads.
fn covered(name: &str) -> bool {
    name == EXPIRES || PROCESS_PARAMS.contains(&name)
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

    /// China's legacy cache settings forward every name but key on the covered ones: a name
    /// the handler does not read changes nothing, repeated or not; one it reads still counts.
    #[test]
    fn names_the_handler_does_not_read_are_not_signed() {
        let keys = SigningKeys::parse("k1");
        let url = keys.sign("/p.jpg", Some("x-oss-process=image/resize,w_100&utm=a"), 2_000).unwrap();
        assert!(url.contains("utm=a"), "{url}");
        let (path, query) = url.split_once('?').unwrap();
        assert_eq!(keys.verify(path, Some(query), 1_000).unwrap(), 2_000);
        let plain = query.replace("utm=a&", "");
        keys.verify(path, Some(&plain), 1_000).unwrap();
        keys.verify(path, Some(&format!("{query}&x=1&x=2&__proto__=3")), 1_000).unwrap();
        assert!(keys.verify(path, Some(&format!("{query}&image_process=image/resize,w_9")), 1_000).is_err());
    }

    #[test]
    fn rotation_accepts_any_active_key() {
        let old = SigningKeys::parse("old");
        let url = old.sign("/p.jpg", None, 2_000).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        SigningKeys::parse("new, old").verify(path, Some(query), 1_000).unwrap();
    }
}
