//! Signed URLs: what `sign` makes, `verify` takes; and a signature only verifies for a
//! request the handler reads the same way (same key, same process).
//! Input: path, query, another path and another query, separated by NULs.
#![no_main]
use imgh_handler::guard::signature::SigningKeys;
use imgh_handler::request::process_param;
use libfuzzer_sys::fuzz_target;

/// The key the handler reads from a path.
fn decoded(path: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(path.trim_start_matches('/')).collect()
}

fuzz_target!(|text: &str| {
    let parts: Vec<&str> = text.splitn(4, '\0').collect();
    let [path, query, path2, query2] = parts[..] else { return };
    let keys = SigningKeys::parse("fuzz-key");
    let Ok(url) = keys.sign(path, Some(query), 2_000_000_000) else { return };
    let signed = url.strip_prefix(path).and_then(|q| q.strip_prefix('?')).expect("sign keeps the path");
    keys.verify(path, Some(signed), 1_000_000_000).expect("a URL sign made verifies");
    // The same signature on another request: only when the handler would do the same.
    let sig = signed.rsplit_once("Signature=").map(|(_, s)| s).unwrap();
    let expires = "Expires=2000000000";
    let forged = format!("{query2}&{expires}&Signature={sig}");
    // Keys that are not UTF-8 are refused by the handler before any signature matters.
    let utf8 = |p: &str| String::from_utf8(decoded(p)).is_ok();
    if utf8(path) && utf8(path2) && keys.verify(path2, Some(&forged), 1_000_000_000).is_ok() {
        assert_eq!(decoded(path), decoded(path2), "a signature verified for another key");
        assert_eq!(process_param(Some(signed)), process_param(Some(&forged)), "… for another process");
    }
});
