//! `imgh policy` and `imgh apply-policy`: the S3 side of bucket policies. Reads the
//! bucket's policy, merges our statement (see `policy.rs`), shows the difference, writes a
//! backup, puts the new policy and reads it back to verify. `--restore FILE` puts a backup
//! back. Also used by `destroy` to take our statement out again.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::aws::{sdk_message, Aws};
use crate::stack::{self, ServedBucket};
use crate::{deploy, policy};

/// The buckets of the stack with a distribution, optionally filtered.
async fn targets(aws: &Aws, stack_name: &str, only: &[String]) -> Result<Vec<(ServedBucket, String)>> {
    let st = stack::require(aws, stack_name).await?;
    let out = stack::outputs(&st);
    let all = stack::buckets(&out);
    if all.is_empty() {
        bail!("stack {stack_name} has no BucketN outputs: is it an imgh stack, and is its deployment complete (imgh status)?");
    }
    let mut list = vec![];
    for b in stack::select(all, only, stack_name)? {
        let arn = b.dist_arn.clone().with_context(|| {
            format!(
                "stack {stack_name} has no DistArn{} output for bucket {}: re-deploy it with this version of imgh",
                b.index, b.name
            )
        })?;
        list.push((b, arn));
    }
    Ok(list)
}

/// `imgh policy`: the policy document for each bucket.
pub async fn print(aws: &Aws, stack_name: &str, only: &[String], json: bool) -> Result<()> {
    let sid = policy::sid(stack_name);
    let mut all = serde_json::Map::new();
    for (b, arn) in targets(aws, stack_name, only).await? {
        let doc = policy::document(&sid, &b.name, &arn);
        if json {
            all.insert(b.name.clone(), doc);
        } else {
            eprintln!("# bucket {}", b.name);
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(all))?);
    }
    Ok(())
}

/// The bucket's policy text, or None when it has none.
pub async fn get_policy(aws: &Aws, bucket: &str) -> Result<Option<String>> {
    match aws.s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(o) => Ok(o.policy().map(str::to_string)),
        Err(e) => {
            let msg = sdk_message(&e);
            if msg.contains("NoSuchBucketPolicy") || msg.contains("does not have a bucket policy") {
                Ok(None)
            } else {
                Err(anyhow::anyhow!(msg)).with_context(|| {
                    format!("cannot read the policy of bucket {bucket}: check that it exists and that you may call s3:GetBucketPolicy on it")
                })
            }
        }
    }
}

async fn put_policy(aws: &Aws, bucket: &str, text: Option<&str>) -> Result<()> {
    let res = match text {
        Some(t) => {
            aws.s3.put_bucket_policy().bucket(bucket).policy(t).send().await.map(|_| ()).map_err(|e| sdk_message(&e))
        }
        None => aws.s3.delete_bucket_policy().bucket(bucket).send().await.map(|_| ()).map_err(|e| sdk_message(&e)),
    };
    res.map_err(|m| anyhow::anyhow!(m)).with_context(|| {
        format!("cannot write the policy of bucket {bucket} (s3:PutBucketPolicy / s3:DeleteBucketPolicy)")
    })
}

/// Writes the policy as it was before a change; returns the file's path.
fn backup(dir: &Path, bucket: &str, previous: Option<&str>) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let path = dir.join(format!("{bucket}-{now}.json"));
    let body = json!({ "bucket": bucket, "taken_at_unix_ms": now, "policy": previous });
    std::fs::write(&path, serde_json::to_string_pretty(&body)?)
        .with_context(|| format!("cannot write the backup {}", path.display()))?;
    Ok(path)
}

/// A minimal line diff of two pretty-printed documents: lines only in `a` with `-`,
/// only in `b` with `+` (enough to show the one statement that changes).
fn diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    // Longest common subsequence, then walk it.
    let mut l = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] { l[i + 1][j + 1] + 1 } else { l[i + 1][j].max(l[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// Options of `apply-policy`.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub dry_run: bool,
    pub yes: bool,
    pub backup_dir: PathBuf,
    pub json: bool,
}

/// `imgh apply-policy`.
pub async fn apply(aws: &Aws, stack_name: &str, only: &[String], o: &ApplyOptions) -> Result<()> {
    let sid = policy::sid(stack_name);
    let mut report = vec![];
    for (b, arn) in targets(aws, stack_name, only).await? {
        let ours = policy::statement(&sid, arn.split(':').nth(1).unwrap_or("aws"), &b.name, &arn);
        let before_text = get_policy(aws, &b.name).await?;
        let before = policy::parse(before_text.as_deref())
            .with_context(|| format!("bucket {}: fix or remove its policy first", b.name))?;
        let merged = policy::merge(&before, &ours)?;
        if !merged.changed {
            eprintln!("Bucket {}: policy already holds statement {sid}; nothing to do.", b.name);
            report.push(json!({"bucket": b.name, "changed": false}));
            continue;
        }
        eprintln!(
            "Bucket {}: {} statement {sid}",
            b.name,
            if merged.previous.is_some() { "replacing" } else { "adding" }
        );
        let old_pretty = match &before_text {
            Some(_) => serde_json::to_string_pretty(&before)?,
            None => String::new(),
        };
        eprint!("{}", diff(&old_pretty, &serde_json::to_string_pretty(&merged.policy)?));
        if o.dry_run {
            report.push(json!({"bucket": b.name, "changed": true, "dry_run": true}));
            continue;
        }
        deploy::confirm(&format!("Put this policy on bucket {}?", b.name), o.yes)?;
        let path = backup(&o.backup_dir, &b.name, before_text.as_deref())?;
        eprintln!("Backup of the previous policy: {}  (imgh apply-policy --restore {0})", path.display());
        let new_text = serde_json::to_string(&merged.policy)?;
        put_policy(aws, &b.name, Some(&new_text)).await?;
        verify(aws, &b.name, &merged.policy, &before, &sid).await?;
        eprintln!("Bucket {}: policy updated and verified.", b.name);
        report.push(json!({"bucket": b.name, "changed": true, "backup": path}));
    }
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Reads the policy back: ours must be there, every other statement exactly as before.
async fn verify(aws: &Aws, bucket: &str, expected: &Value, before: &Value, sid: &str) -> Result<()> {
    let text = get_policy(aws, bucket).await?;
    let now = policy::parse(text.as_deref())?;
    if policy::find(&now, sid).is_none() || policy::find(&now, sid) != policy::find(expected, sid) {
        bail!("bucket {bucket}: the policy read back does not hold our statement as written; check it with `aws s3api get-bucket-policy --bucket {bucket}`");
    }
    if policy::others(&now, sid) != policy::others(before, sid) {
        bail!("bucket {bucket}: other statements differ after the update; restore the backup with `imgh apply-policy --restore FILE`");
    }
    Ok(())
}

/// `imgh apply-policy --restore FILE`: puts a backup back (or deletes the policy when the
/// bucket had none), then verifies.
pub async fn restore(aws: &Aws, file: &Path, yes: bool) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read backup {}", file.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an imgh policy backup (JSON)", file.display()))?;
    let bucket = v["bucket"]
        .as_str()
        .with_context(|| format!("{} is not an imgh policy backup: no `bucket` field", file.display()))?;
    let policy = match &v["policy"] {
        Value::Null => None,
        Value::String(s) => Some(s.as_str()),
        _ => bail!("{} is not an imgh policy backup: `policy` must be a string or null", file.display()),
    };
    eprintln!(
        "Restoring bucket {bucket} to {}",
        if policy.is_some() { "the backed-up policy" } else { "no policy (it had none)" }
    );
    deploy::confirm(&format!("Replace the current policy of {bucket}?"), yes)?;
    put_policy(aws, bucket, policy).await?;
    let now = get_policy(aws, bucket).await?;
    let same = match (policy, now.as_deref()) {
        (None, None) => true,
        (Some(a), Some(b)) => serde_json::from_str::<Value>(a).ok() == serde_json::from_str::<Value>(b).ok(),
        _ => false,
    };
    if !same {
        bail!("bucket {bucket}: the policy read back differs from the backup; check it with `aws s3api get-bucket-policy --bucket {bucket}`");
    }
    eprintln!("Bucket {bucket}: restored and verified.");
    Ok(())
}

/// Takes our statement out of each bucket's policy (destroy). Writes a backup first.
pub async fn remove_ours(aws: &Aws, stack_name: &str, buckets: &[ServedBucket], backup_dir: &Path) -> Result<()> {
    let sid = policy::sid(stack_name);
    for b in buckets.iter().filter(|b| !b.created) {
        let Some(text) = get_policy(aws, &b.name).await? else {
            continue;
        };
        let before = policy::parse(Some(&text))?;
        if policy::find(&before, &sid).is_none() {
            continue;
        }
        let path = backup(backup_dir, &b.name, Some(&text))?;
        let after = policy::remove(&before, &sid)?;
        put_policy(aws, &b.name, after.as_ref().map(serde_json::to_string).transpose()?.as_deref()).await?;
        let now = policy::parse(get_policy(aws, &b.name).await?.as_deref())?;
        if policy::others(&now, &sid) != policy::others(&before, &sid) {
            bail!(
                "bucket {}: other statements differ after removing ours; restore with `imgh apply-policy --restore {}`",
                b.name,
                path.display()
            );
        }
        eprintln!("Bucket {}: removed statement {sid} (backup: {}).", b.name, path.display());
    }
    Ok(())
}
