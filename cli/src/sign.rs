//! `imgh sign URL`: adds `Expires` and `Signature` to a URL for a handler that requires
//! signed URLs (the same canonical form the handler verifies).

use anyhow::{bail, Context};
use imgh_handler::guard::signature::SigningKeys;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, clap::Args)]
pub struct Sign {
    /// The URL (or path) to sign, e.g. https://d1.cloudfront.net/a.jpg?x-oss-process=image/resize,w_200
    url: String,
    /// The signing key (the first of the handler's IMGH_SIGNING_KEYS).
    #[arg(long, env = "IMGH_SIGNING_KEY", hide_env_values = true)]
    key: String,
    /// How long the URL stays valid, in seconds.
    #[arg(long, default_value_t = 3600)]
    expires_in: u64,
}

impl Sign {
    pub fn run(self) -> anyhow::Result<()> {
        let (origin, rest) = split_origin(&self.url);
        if !rest.starts_with('/') {
            bail!("\"{}\" has no path: give a URL like https://host/key.jpg?x-oss-process=...", self.url);
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let expires = (SystemTime::now() + Duration::from_secs(self.expires_in))
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs();
        let keys = SigningKeys::parse(&self.key);
        let signed =
            keys.sign(path, query, expires).map_err(|e| anyhow::anyhow!("cannot sign {}: {}", self.url, e.message))?;
        println!("{origin}{signed}");
        Ok(())
    }
}

/// `https://host/a?b` → (`https://host`, `/a?b`); a bare path has no origin.
fn split_origin(url: &str) -> (&str, &str) {
    match url.find("://") {
        Some(i) => {
            let after = i + 3;
            let slash = url[after..].find('/').map_or(url.len(), |j| after + j);
            (&url[..slash], &url[slash..])
        }
        None => ("", url),
    }
}
