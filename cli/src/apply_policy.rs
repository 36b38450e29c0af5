//! `imgh policy` and `imgh apply-policy`: the resource policies that let the stack's
//! distributions read their sources. Each bucket's policy gets our OAC statement; with
//! `--kms-key`, the key's policy gets a statement letting CloudFront decrypt for those
//! distributions. Both go the same way: read, merge by `Sid` (see `policy.rs`), show the
//! difference, write a backup, put, read back to verify. `--restore FILE` puts a backup
//! back. Also used by `destroy` to take our statements out again.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::aws::{sdk_message, Aws, SdkResultExt, Session};
use aws_sdk_cloudformation::types::Stack;

use crate::stack::{self, ServedBucket};
use crate::{policy, ui};

/// A resource policy imgh merges its statement into.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Bucket(String),
    /// A KMS key (ARN), whose policy is named `default`.
    Key(String),
}

impl Target {
    /// The largest policy the service stores: S3 takes 20 KB per bucket policy, KMS 32 KB
    /// per key policy.
    fn max_policy_bytes(&self) -> usize {
        match self {
            Target::Bucket(_) => 20 * 1024,
            Target::Key(_) => 32 * 1024,
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Bucket(b) => format!("bucket {b}"),
            Target::Key(k) => format!("KMS key {k}"),
        }
    }

    /// How the target is named in a backup file: the field and its value.
    fn backup_field(&self) -> (&'static str, &str) {
        match self {
            Target::Bucket(b) => ("bucket", b),
            Target::Key(k) => ("kms_key", k),
        }
    }

    /// The policy text, or None when there is none (buckets only: a key always has one).
    async fn get(&self, aws: &Aws) -> Result<Option<String>> {
        match self {
            Target::Bucket(b) => get_bucket_policy(aws, b).await,
            Target::Key(k) => {
                let out = aws.kms.get_key_policy().key_id(k).policy_name("default").send().await.sdk().with_context(|| {
                    format!("cannot read the policy of KMS key {k}: check that it exists in this region and that you may call kms:GetKeyPolicy on it")
                })?;
                Ok(out.policy().map(str::to_string))
            }
        }
    }

    /// Puts `text`, or deletes the policy (`None`, buckets only).
    async fn put(&self, aws: &Aws, text: Option<&str>) -> Result<()> {
        let res = match (self, text) {
            (Target::Bucket(b), Some(t)) => {
                aws.s3.put_bucket_policy().bucket(b).policy(t).send().await.map(|_| ()).map_err(|e| sdk_message(&e))
            }
            (Target::Bucket(b), None) => {
                aws.s3.delete_bucket_policy().bucket(b).send().await.map(|_| ()).map_err(|e| sdk_message(&e))
            }
            (Target::Key(k), Some(t)) => aws
                .kms
                .put_key_policy()
                .key_id(k)
                .policy_name("default")
                .policy(t)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_message(&e)),
            (Target::Key(k), None) => {
                bail!("refusing to leave KMS key {k} without a policy: a key policy cannot be deleted, only replaced")
            }
        };
        res.map_err(|m| anyhow::anyhow!(m)).with_context(|| match self {
            Target::Bucket(b) => {
                format!("cannot write the policy of bucket {b} (s3:PutBucketPolicy / s3:DeleteBucketPolicy)")
            }
            Target::Key(k) => format!("cannot write the policy of KMS key {k} (kms:PutKeyPolicy)"),
        })
    }
}

/// Why a China stack needs no resource policy statement.
const NO_POLICY_IN_CHINA: &str = "No policy to apply: in China CloudFront has no S3 origin here (no origin access control, and no function to route originals to S3), so the handler serves originals too, reading the buckets (and decrypting with the KMS key) through its own IAM role, which the stack grants. No bucket or key policy needs a statement for CloudFront.";

/// Every target of the stack with our statement for it: the buckets (all, or those named
/// by `--bucket`), then the KMS key when the stack has one. The key statement always names
/// every distribution of the stack, since one statement serves them all.
fn plan(stack_name: &str, st: &Stack, only: &[String]) -> Result<Vec<(Target, Value)>> {
    let out = stack::outputs(st);
    let all = stack::buckets(&out);
    if all.is_empty() {
        bail!("stack {stack_name} has no BucketN outputs: is it an imgh stack, and is its deployment complete (imgh status)?");
    }
    let arn_of = |b: &ServedBucket| {
        b.dist_arn.clone().with_context(|| {
            format!(
                "stack {stack_name} has no DistArn{} output for bucket {}: re-deploy it with this version of imgh",
                b.index, b.name
            )
        })
    };
    let mut list = vec![];
    for b in stack::select(all.clone(), only, stack_name)? {
        let arn = arn_of(&b)?;
        list.push((Target::Bucket(b.name.clone()), policy::bucket_statement(stack_name, &b.name, &arn)));
    }
    if let Some(key) = out.get("KmsKey") {
        let arns = all.iter().map(arn_of).collect::<Result<Vec<_>>>()?;
        list.push((Target::Key(key.clone()), policy::kms_statement(&policy::kms_sid(stack_name), &arns)));
    }
    Ok(list)
}

/// `imgh policy`: each bucket's policy document and, with a KMS key, the statement to merge
/// into its key policy (only the statement: a key policy holding nothing else would lock
/// the account out of the key). `--json`: one object keyed by bucket name or key ARN.
#[derive(Debug, clap::Args)]
pub struct Policy {
    /// Only this bucket (repeatable).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    #[arg(long)]
    json: bool,
}

/// In China, says why no policy statement is needed and returns true.
fn none_needed_in_china(aws: &Aws, json: bool, empty: &str) -> bool {
    if !crate::config::is_china(&aws.region) {
        return false;
    }
    eprintln!("{NO_POLICY_IN_CHINA}");
    if json {
        println!("{empty}");
    }
    true
}

impl Policy {
    pub async fn run(self, s: Session) -> Result<()> {
        if none_needed_in_china(&s.aws, self.json, "{}") {
            return Ok(());
        }
        print_for(s.stack(), &stack::require(&s.aws, s.stack()).await?, &self.buckets, self.json)
    }
}

/// `imgh apply-policy`.
#[derive(Debug, clap::Args)]
pub struct ApplyPolicy {
    /// Only this bucket (repeatable).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Put a backup written by apply-policy or destroy back onto its bucket.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["buckets", "dry_run"])]
    restore: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

impl ApplyPolicy {
    pub async fn run(self, s: Session) -> Result<()> {
        if let Some(file) = &self.restore {
            return restore(&s.aws, file, self.yes).await;
        }
        if none_needed_in_china(&s.aws, self.json, "[]") {
            return Ok(());
        }
        let o = ApplyOptions {
            dry_run: self.dry_run,
            yes: self.yes,
            backup_dir: s.settings.backup_dir.clone(),
            json: self.json,
        };
        apply(&s.aws, s.stack(), &self.buckets, &o).await
    }
}

/// What `imgh policy` prints, for a stack already described (deploy's last step too).
pub fn print_for(stack_name: &str, st: &Stack, only: &[String], json: bool) -> Result<()> {
    let mut all = serde_json::Map::new();
    for (target, stmt) in plan(stack_name, st, only)? {
        let (label, value) = match &target {
            Target::Bucket(b) => (b.clone(), json!({ "Version": "2012-10-17", "Statement": [stmt] })),
            Target::Key(k) => (k.clone(), stmt),
        };
        if json {
            all.insert(label, value);
            continue;
        }
        match &target {
            Target::Bucket(b) => eprintln!("# bucket {b}"),
            Target::Key(k) => {
                eprintln!("# KMS key {k}: add this statement to the key policy (imgh apply-policy merges it)")
            }
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(all))?);
    }
    Ok(())
}

/// The bucket's policy text, or None when it has none.
pub async fn get_bucket_policy(aws: &Aws, bucket: &str) -> Result<Option<String>> {
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

/// Writes the policy as it was before a change; returns the file's path.
fn backup(dir: &Path, target: &Target, previous: Option<&str>) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let (field, name) = target.backup_field();
    let file_stem: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    let path = dir.join(format!("{file_stem}-{now}.json"));
    let body = json!({ field: name, "taken_at_unix_ms": now, "policy": previous });
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
struct ApplyOptions {
    dry_run: bool,
    yes: bool,
    backup_dir: PathBuf,
    json: bool,
}

/// One target's merge, worked out before anything is written.
struct Change {
    target: Target,
    sid: String,
    /// The policy as read (None: the bucket had none), parsed as-is and with an older
    /// version's statement for this stack taken over.
    text: Option<String>,
    current: Value,
    before: Value,
    merged: policy::Merged,
}

/// `imgh apply-policy`: every target's merge is worked out and checked against the size
/// limit first, so a merge that cannot be stored leaves every policy as it was.
async fn apply(aws: &Aws, stack_name: &str, only: &[String], o: &ApplyOptions) -> Result<()> {
    let mut changes = vec![];
    let mut too_large = vec![];
    for (target, ours) in plan(stack_name, &stack::require(aws, stack_name).await?, only)? {
        let what = target.describe();
        let text = target.get(aws).await?;
        let current = policy::parse(text.as_deref()).with_context(|| format!("{what}: fix its policy first"))?;
        // An older version's statement for this stack counts as ours (renaming it is a change).
        let before = policy::adopt_legacy(&current, &ours);
        let mut merged = policy::merge(&before, &ours)?;
        merged.changed |= before != current;
        let size = serde_json::to_string(&merged.policy)?.len();
        if size > target.max_policy_bytes() {
            too_large.push(format!(
                "{what}: the merged policy would be {size} bytes, over the {} the service stores (it is {} now; ours adds {})",
                target.max_policy_bytes(),
                serde_json::to_string(&current)?.len(),
                serde_json::to_string(&ours)?.len()
            ));
        }
        let sid = ours["Sid"].as_str().unwrap_or_default().to_string();
        changes.push(Change { target, sid, text, current, before, merged });
    }
    if !too_large.is_empty() {
        bail!(
            "{}\nNothing was changed: remove statements those policies no longer need, then run apply-policy again",
            too_large.join("\n")
        );
    }
    let mut report = vec![];
    for Change { target, sid, text, current, before, merged } in changes {
        let what = target.describe();
        let (field, name) = target.backup_field();
        if !merged.changed {
            eprintln!("{what}: policy already holds statement {sid}; nothing to do.");
            report.push(json!({field: name, "changed": false}));
            continue;
        }
        eprintln!("{what}: {} statement {sid}", if merged.previous.is_some() { "replacing" } else { "adding" });
        let old_pretty = match &text {
            Some(_) => serde_json::to_string_pretty(&current)?,
            None => String::new(),
        };
        eprint!("{}", diff(&old_pretty, &serde_json::to_string_pretty(&merged.policy)?));
        if o.dry_run {
            report.push(json!({field: name, "changed": true, "dry_run": true}));
            continue;
        }
        ui::confirm(&format!("Put this policy on {what}?"), o.yes)?;
        let path = backup(&o.backup_dir, &target, text.as_deref())?;
        eprintln!("Backup of the previous policy: {}  (imgh apply-policy --restore {0})", path.display());
        target.put(aws, Some(&serde_json::to_string(&merged.policy)?)).await?;
        verify(aws, &target, &merged.policy, &before, &sid).await?;
        eprintln!("{what}: policy updated and verified.");
        report.push(json!({field: name, "changed": true, "backup": path}));
    }
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Reads the policy back: ours must be there, every other statement exactly as before.
async fn verify(aws: &Aws, target: &Target, expected: &Value, before: &Value, sid: &str) -> Result<()> {
    let what = target.describe();
    let now = policy::parse(target.get(aws).await?.as_deref())?;
    if policy::find(&now, sid).is_none() || policy::find(&now, sid) != policy::find(expected, sid) {
        bail!("{what}: the policy read back does not hold our statement as written; check it, and restore the backup with `imgh apply-policy --restore FILE` if needed");
    }
    if policy::others(&now, sid) != policy::others(before, sid) {
        bail!("{what}: other statements differ after the update; restore the backup with `imgh apply-policy --restore FILE`");
    }
    Ok(())
}

/// `imgh apply-policy --restore FILE`: puts a backup back (or deletes the bucket policy when
/// the bucket had none), then verifies.
async fn restore(aws: &Aws, file: &Path, yes: bool) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read backup {}", file.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an imgh policy backup (JSON)", file.display()))?;
    let target = match (v["bucket"].as_str(), v["kms_key"].as_str()) {
        (Some(b), None) => Target::Bucket(b.to_string()),
        (None, Some(k)) => Target::Key(k.to_string()),
        _ => bail!("{} is not an imgh policy backup: it names neither a `bucket` nor a `kms_key`", file.display()),
    };
    let what = target.describe();
    let policy = match &v["policy"] {
        Value::Null => None,
        Value::String(s) => Some(s.as_str()),
        _ => bail!("{} is not an imgh policy backup: `policy` must be a string or null", file.display()),
    };
    eprintln!(
        "Restoring {what} to {}",
        if policy.is_some() { "the backed-up policy" } else { "no policy (it had none)" }
    );
    ui::confirm(&format!("Replace the current policy of {what}?"), yes)?;
    target.put(aws, policy).await?;
    let now = target.get(aws).await?;
    let same = match (policy, now.as_deref()) {
        (None, None) => true,
        (Some(a), Some(b)) => serde_json::from_str::<Value>(a).ok() == serde_json::from_str::<Value>(b).ok(),
        _ => false,
    };
    if !same {
        bail!("{what}: the policy read back differs from the backup; check it in the console or with the AWS CLI");
    }
    eprintln!("{what}: restored and verified.");
    Ok(())
}

/// Takes our statements out of the stack's policies (destroy): the buckets it did not
/// create, and its KMS key. Writes a backup first.
pub async fn remove_ours(
    aws: &Aws,
    stack_name: &str,
    buckets: &[ServedBucket],
    kms_key: Option<&str>,
    backup_dir: &Path,
) -> Result<()> {
    // Our statements as apply-policy wrote them (None where a distribution ARN is unknown:
    // then only a statement with our Sid is ours).
    let sid = policy::sid(stack_name);
    let mut targets: Vec<(Target, String, Option<Value>)> = buckets
        .iter()
        .filter(|b| !b.created)
        .map(|b| {
            let ours = b.dist_arn.as_ref().map(|arn| policy::bucket_statement(stack_name, &b.name, arn));
            (Target::Bucket(b.name.clone()), sid.clone(), ours)
        })
        .collect();
    if let Some(k) = kms_key {
        let arns: Vec<String> = buckets.iter().filter_map(|b| b.dist_arn.clone()).collect();
        let kms_sid = policy::kms_sid(stack_name);
        let ours = policy::kms_statement(&kms_sid, &arns);
        targets.push((Target::Key(k.to_string()), kms_sid, Some(ours)));
    }
    for (target, sid, ours) in targets {
        let what = target.describe();
        let Some(text) = target.get(aws).await? else {
            continue;
        };
        let parsed = policy::parse(Some(&text))?;
        let before = ours.as_ref().map_or(parsed.clone(), |o| policy::adopt_legacy(&parsed, o));
        if policy::find(&before, &sid).is_none() {
            continue;
        }
        let after = policy::remove(&before, &sid)?;
        if after.is_none() && matches!(target, Target::Key(_)) {
            eprintln!("warning: {what}: our statement {sid} is the only one in its policy, which cannot be deleted; left in place (remove it by hand once the key has another statement)");
            continue;
        }
        let path = backup(backup_dir, &target, Some(&text))?;
        target.put(aws, after.as_ref().map(serde_json::to_string).transpose()?.as_deref()).await?;
        let now = policy::parse(target.get(aws).await?.as_deref())?;
        if policy::others(&now, &sid) != policy::others(&before, &sid) {
            bail!(
                "{what}: other statements differ after removing ours; restore with `imgh apply-policy --restore {}`",
                path.display()
            );
        }
        eprintln!("{what}: removed statement {sid} (backup: {}).", path.display());
    }
    Ok(())
}
