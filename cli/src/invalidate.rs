//! `imgh invalidate [PATH…] [--all] [--no-wait] [--json]`: a CloudFront invalidation on every
//! distribution of the stack, followed until CloudFront reports it completed.
//!
//! Each path also removes the key's processed renditions: they are cached under the same path
//! with a query string, and "to invalidate all versions of the object with query strings, use
//! the * wildcard" (CloudFront Developer Guide, *What you need to know when invalidating
//! files*), so `/a.jpg` is sent as `/a.jpg*`. CloudFront allows 15 wildcard paths in progress
//! at once per distribution; the first 1,000 paths a month are free, then each path is charged
//! (a wildcard path counts as one).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use serde_json::json;

use crate::aws::{sdk_message, Aws, Session};
use crate::{stack, ui};

/// CloudFront's limit on wildcard invalidation paths in progress at one time.
const MAX_WILDCARD_PATHS: usize = 15;

#[derive(Debug, clap::Args)]
pub struct Invalidate {
    /// Paths as they appear in the URL (`/photos/a.jpg`, `/photos/*`); each also removes the
    /// key's processed renditions.
    #[arg(value_name = "PATH", required_unless_present = "all", conflicts_with = "all")]
    paths: Vec<String>,
    /// Everything the distributions cache (`/*`).
    #[arg(long)]
    all: bool,
    /// Return once CloudFront accepted the invalidation, without waiting for it to complete.
    #[arg(long)]
    no_wait: bool,
    /// Print the invalidations as JSON.
    #[arg(long)]
    json: bool,
}

impl Invalidate {
    pub async fn run(self, s: Session) -> Result<()> {
        let paths = if self.all {
            vec!["/*".to_string()]
        } else {
            self.paths.iter().map(|p| wildcard(p)).collect::<Result<Vec<_>>>()?
        };
        if paths.len() > MAX_WILDCARD_PATHS {
            bail!("{} paths: CloudFront takes at most {MAX_WILDCARD_PATHS} wildcard paths in progress at once per distribution; invalidate a common prefix (/photos/*) or everything (--all)", paths.len());
        }
        let (aws, stack_name) = (&s.aws, s.stack());
        let st = stack::require(aws, stack_name).await?;
        let ids: Vec<String> = stack::buckets(&stack::outputs(&st))
            .iter()
            .filter_map(|b| b.dist_arn.as_deref().and_then(|a| a.rsplit('/').next()).map(str::to_string))
            .collect();
        if ids.is_empty() {
            bail!("stack {stack_name} has no DistArnN outputs: is its deployment complete (imgh status)?");
        }
        eprintln!(
            "Invalidating {} on {} distribution(s): {} path(s) each; the first 1,000 paths a month are free, then each is charged.",
            paths.join(" "),
            ids.len(),
            paths.len()
        );
        let mut started: Vec<(String, String)> = vec![];
        for id in &ids {
            match create(aws, id, &paths).await {
                Ok(invalidation) => started.push((id.clone(), invalidation)),
                Err(e) if started.is_empty() => return Err(e),
                Err(e) => {
                    let submitted: Vec<String> = started.iter().map(|(d, i)| format!("{d}: {i}")).collect();
                    return Err(
                        e.context(format!("invalidations already submitted (they go on): {}", submitted.join(", ")))
                    );
                }
            }
        }
        if !self.no_wait {
            wait(aws, &started).await?;
        }
        let report: Vec<_> = started
            .iter()
            .map(|(d, i)| json!({"distribution": d, "invalidation": i, "paths": paths, "completed": !self.no_wait}))
            .collect();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            for (d, i) in &started {
                eprintln!("{d}: invalidation {i} {}", if self.no_wait { "submitted" } else { "completed" });
            }
        }
        Ok(())
    }
}

/// The invalidation path for `path`: checked, unsafe characters percent-encoded (CloudFront
/// matches the encoded form the viewer sent), and a trailing `*` so that processed renditions
/// (the same path with a query string) go too.
fn wildcard(path: &str) -> Result<String> {
    if !path.starts_with('/') {
        bail!("invalidation path {path:?} must start with / (the path as in the URL: /photos/a.jpg)");
    }
    let body = path.strip_suffix('*').unwrap_or(path);
    if body.contains('*') {
        bail!("invalidation path {path:?}: CloudFront takes * only at the end");
    }
    if body.chars().any(char::is_control) {
        bail!("invalidation path {path:?} holds a control character");
    }
    let mut out = String::new();
    for c in body.chars() {
        if c.is_ascii_alphanumeric() || "/-._~%!$&'()+,;=:@".contains(c) {
            out.push(c);
        } else {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out.push('*');
    Ok(out)
}

async fn create(aws: &Aws, distribution: &str, paths: &[String]) -> Result<String> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let batch = InvalidationBatch::builder()
        .caller_reference(format!("imgh-{nanos}"))
        .paths(Paths::builder().quantity(paths.len() as i32).set_items(Some(paths.to_vec())).build()?)
        .build()?;
    let out = aws
        .cloudfront
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot invalidate on distribution {distribution} (cloudfront:CreateInvalidation): {}",
                sdk_message(&e)
            )
        })?;
    Ok(out.invalidation.context("CloudFront returned no invalidation")?.id)
}

/// Polls each invalidation until CloudFront reports it `Completed` (usually a few minutes).
async fn wait(aws: &Aws, started: &[(String, String)]) -> Result<()> {
    let bar =
        ui::progress_bar(started.len() as u64, "{spinner} [{elapsed_precise}] {pos}/{len} invalidations completed");
    bar.enable_steady_tick(Duration::from_millis(200));
    let since = Instant::now();
    for (distribution, id) in started {
        loop {
            let got = aws.cloudfront.get_invalidation().distribution_id(distribution).id(id).send().await;
            let status = got
                .map_err(|e| {
                    anyhow::anyhow!("cannot read invalidation {id} (cloudfront:GetInvalidation): {}", sdk_message(&e))
                })?
                .invalidation
                .map(|i| i.status)
                .unwrap_or_default();
            if status.eq_ignore_ascii_case("completed") {
                break;
            }
            if since.elapsed() > aws.follow_limit() {
                bail!(
                    "invalidation {id} on {distribution} is still {status} after {:?}; it goes on without us",
                    aws.follow_limit()
                );
            }
            tokio::time::sleep(aws.poll_interval()).await;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn paths_become_wildcards_over_their_renditions() {
        assert_eq!(wildcard("/photos/a.jpg").unwrap(), "/photos/a.jpg*");
        assert_eq!(wildcard("/photos/*").unwrap(), "/photos/*");
        assert_eq!(wildcard("/a b/照片.jpg").unwrap(), "/a%20b/%E7%85%A7%E7%89%87.jpg*");
        assert_eq!(wildcard("/already%20encoded.jpg").unwrap(), "/already%20encoded.jpg*");
        assert_eq!(wildcard("/~user/a.jpg").unwrap(), "/~user/a.jpg*", "viewers send ~ as it is");
        for bad in ["photos/a.jpg", "/a*b", "/a\nb"] {
            assert!(wildcard(bad).is_err(), "{bad:?}");
        }
    }
}
