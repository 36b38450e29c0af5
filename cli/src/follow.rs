//! Following a stack operation (deploy or destroy): its events as they come, under a
//! progress bar, until it settles; then how it ended and which resources failed, nested
//! stacks included.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use aws_sdk_cloudformation::types::StackEvent;

use crate::aws::{sdk_message, Aws};
use crate::{stack, ui};

/// How a followed stack operation ended.
#[derive(Debug)]
pub struct Outcome {
    pub status: String,
    pub reason: Option<String>,
    /// (logical id, type, status, reason), nested stacks' failures included.
    pub failures: Vec<[String; 4]>,
    /// The stack no longer exists (a completed delete).
    pub gone: bool,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        self.status.contains("FAILED") || self.status.contains("ROLLBACK")
    }
}

fn event_time(e: &StackEvent) -> Option<SystemTime> {
    let t = e.timestamp()?;
    let secs = u64::try_from(t.secs()).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, t.subsec_nanos()))
}

/// Follows the stack's events from `since` until it leaves the *_IN_PROGRESS states,
/// with a progress bar of resources done out of `total`.
pub async fn until_done(aws: &Aws, stack_name: &str, since: SystemTime, total: u64) -> Result<Outcome> {
    // Events carry second precision; allow for clock skew between us and AWS.
    let since = since - Duration::from_secs(5);
    let bar =
        ui::progress_bar(total.max(1), "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} resources  {wide_msg}");
    bar.enable_steady_tick(Duration::from_millis(200));
    let stack_id = stack::describe(aws, stack_name)
        .await?
        .and_then(|s| s.stack_id().map(str::to_string))
        .unwrap_or_else(|| stack_name.to_string());
    let mut seen: HashSet<String> = HashSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let waited = std::time::Instant::now();
    loop {
        for e in new_events(aws, &stack_id, since, &mut seen).await? {
            let logical = e.logical_resource_id().unwrap_or_default();
            let status = e.resource_status().map(|s| s.as_str()).unwrap_or_default();
            let line = format!(
                "{status:<22} {logical:<32} {}{}",
                e.resource_type().unwrap_or_default(),
                e.resource_status_reason().map(|r| format!("  ({r})")).unwrap_or_default()
            );
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
            if e.resource_type() != Some("AWS::CloudFormation::Stack") && status.ends_with("_COMPLETE") {
                done.insert(logical.to_string());
                if done.len() as u64 > bar.length().unwrap_or(0) {
                    bar.set_length(done.len() as u64);
                }
                bar.set_position(done.len() as u64);
            }
            bar.set_message(format!("{logical} {status}"));
        }
        let Some(st) = stack::describe(aws, &stack_id).await? else {
            bar.finish_and_clear();
            return Ok(Outcome { status: "DELETE_COMPLETE".into(), reason: None, failures: vec![], gone: true });
        };
        let status = st.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default();
        if !status.ends_with("_IN_PROGRESS") {
            bar.finish_and_clear();
            let failures = if status.contains("FAILED") || status.contains("ROLLBACK") {
                failures(aws, &stack_id, since).await?
            } else {
                vec![]
            };
            return Ok(Outcome {
                gone: status == "DELETE_COMPLETE",
                reason: st.stack_status_reason().map(str::to_string),
                status,
                failures,
            });
        }
        if waited.elapsed() > aws.follow_limit() {
            bar.finish_and_clear();
            bail!(
                "stack {stack_name} is still {status} after {} s; stopped following it (it goes on in CloudFormation): check it with `imgh status`",
                waited.elapsed().as_secs()
            );
        }
        tokio::time::sleep(aws.poll_interval()).await;
    }
}

/// Events newer than `since` not yet in `seen`, oldest first.
async fn new_events(aws: &Aws, stack: &str, since: SystemTime, seen: &mut HashSet<String>) -> Result<Vec<StackEvent>> {
    let mut fresh = vec![];
    let mut token: Option<String> = None;
    'pages: loop {
        let out = match aws.cfn.describe_stack_events().stack_name(stack).set_next_token(token.clone()).send().await {
            Ok(o) => o,
            Err(e) => {
                let msg = sdk_message(&e);
                if msg.contains("does not exist") {
                    break;
                }
                return Err(anyhow::anyhow!(msg).context(format!("cannot read the events of {stack}")));
            }
        };
        for e in out.stack_events() {
            if event_time(e).is_some_and(|t| t < since) {
                break 'pages;
            }
            let id = e.event_id().unwrap_or_default().to_string();
            if seen.insert(id) {
                fresh.push(e.clone());
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    fresh.reverse();
    Ok(fresh)
}

/// A boxed future: `failures` recurses into nested stacks.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Every *_FAILED event since `since`, descending into nested stacks.
fn failures<'a>(aws: &'a Aws, stack: &'a str, since: SystemTime) -> BoxFuture<'a, Result<Vec<[String; 4]>>> {
    Box::pin(async move {
        let mut seen = HashSet::new();
        let mut out = vec![];
        for e in new_events(aws, stack, since, &mut seen).await? {
            let status = e.resource_status().map(|s| s.as_str()).unwrap_or_default();
            if !status.ends_with("_FAILED") {
                continue;
            }
            let ty = e.resource_type().unwrap_or_default();
            let reason = e.resource_status_reason().unwrap_or_default();
            // The stack's own failure event only repeats a summary; skip it.
            if e.physical_resource_id() == Some(stack) || e.stack_id() == e.physical_resource_id() {
                continue;
            }
            out.push([
                e.logical_resource_id().unwrap_or_default().to_string(),
                ty.to_string(),
                status.to_string(),
                reason.to_string(),
            ]);
            if ty == "AWS::CloudFormation::Stack" {
                if let Some(nested) = e.physical_resource_id().filter(|p| !p.is_empty()) {
                    for mut f in failures(aws, nested, since).await? {
                        f[0] = format!("{} / {}", e.logical_resource_id().unwrap_or_default(), f[0]);
                        out.push(f);
                    }
                }
            }
        }
        Ok(out)
    })
}

pub fn report_failure(stack_name: &str, o: &Outcome) {
    eprintln!(
        "Stack {stack_name} ended in {}{}",
        o.status,
        o.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
    );
    if o.failures.is_empty() {
        eprintln!("(CloudFormation reported no failed resource events)");
    } else {
        eprintln!("Failed resources:");
        eprint!("{}", ui::table(&["Resource", "Type", "Status", "Reason"], &o.failures));
    }
}
