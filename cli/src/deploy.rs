//! `imgh deploy`: template → change set → table of changes → confirmation → execute →
//! stack events under a progress bar → failed resources with reasons, or the outputs.
//!
//! `--method direct` skips the change set (CreateStack/UpdateStack). Both paths end in the
//! same event follower, which `destroy` uses too.

use std::collections::{BTreeSet, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, StackEvent, Tag};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use crate::aws::{sdk_message, Aws};
use crate::build::Artifact;
use crate::config::{TemplateSettings, Variant};
use crate::{render, stack, Exit};

/// CloudFormation's limit for a template passed inline; larger ones go through S3.
pub const INLINE_TEMPLATE_LIMIT: usize = 51_200;

/// How to apply the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Method {
    /// Create a change set, show it, confirm, execute.
    #[default]
    ChangeSet,
    /// CreateStack / UpdateStack directly, without a preview.
    Direct,
}

/// What `deploy` was asked to do.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub method: Method,
    pub yes: bool,
    /// Deploy this template file instead of rendering one (hidden flag; the tests use it to
    /// run the orchestration against an emulator with resource types it supports).
    pub template_file: Option<PathBuf>,
    pub artifact_bucket: Option<String>,
    pub json: bool,
}

pub async fn run(aws: &Aws, stack_name: &str, t: &TemplateSettings, o: &DeployOptions) -> Result<()> {
    let template = match &o.template_file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read template {}", p.display()))?,
        None => render::render(stack_name, t)?,
    };
    let params = parameters(&template, t)?;
    let tags: Vec<Tag> = t.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let source = TemplateSource::prepare(aws, stack_name, &template, o.artifact_bucket.as_deref()).await?;
    let resources = resource_count(&template);
    let existing = stack::describe(aws, stack_name).await?;
    let status = existing.as_ref().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string());
    if let Some(st) = &status {
        if st == "ROLLBACK_COMPLETE" || st == "ROLLBACK_FAILED" {
            bail!("stack {stack_name} is in {st} after a failed first deployment and cannot be updated: run `imgh destroy`, then deploy again");
        }
        if st.ends_with("_IN_PROGRESS") && st != "REVIEW_IN_PROGRESS" {
            bail!("stack {stack_name} is busy ({st}): wait for it to finish (imgh status), then deploy again");
        }
    }
    let update = matches!(&status, Some(s) if s != "REVIEW_IN_PROGRESS");
    let started = SystemTime::now();

    let outcome = match o.method {
        Method::ChangeSet => {
            let total = match change_set(aws, stack_name, &source, &params, &tags, update, o.yes).await? {
                Some(n) => n,
                None => {
                    eprintln!("No changes: stack {stack_name} already matches the template.");
                    return crate::status::print_outputs(aws, stack_name, o.json).await;
                }
            };
            follow(aws, stack_name, started, total).await?
        }
        Method::Direct => {
            match direct(aws, stack_name, &source, &params, &tags, update).await {
                Ok(true) => {}
                Ok(false) => {
                    eprintln!("No changes: stack {stack_name} already matches the template.");
                    return crate::status::print_outputs(aws, stack_name, o.json).await;
                }
                Err(e) => return Err(rejected(e)),
            }
            follow(aws, stack_name, started, resources).await?
        }
    };
    finish(aws, stack_name, outcome, o.json).await
}

/// A synchronous rejection of the operation (an emulator reports resource failures this
/// way; real CloudFormation does for invalid templates): a failed stack operation, exit 4.
fn rejected(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Exit(4, format!("{e:#}")))
}

/// Values for the parameters the template declares, from the settings. A parameter the
/// settings cannot fill is an error naming the option to pass.
fn parameters(template: &str, t: &TemplateSettings) -> Result<Vec<Parameter>> {
    let mut out = vec![];
    for name in render::declared_parameters(template)? {
        let (value, hint) = match name.as_str() {
            "CodeBucket" => {
                (&t.code_bucket, "--code-bucket (the bucket holding the handler zip; `imgh build` produces it)")
            }
            "CodeKey" => (&t.code_key, "--code-key (the handler zip's key; `imgh build` produces it)"),
            "ImageUri" => (&t.image_uri, "--image-uri REPO@sha256:… (the handler image; `imgh build` pushes it)"),
            _ => continue,
        };
        let Some(v) = value else {
            bail!("the template needs {name}: pass {hint}");
        };
        out.push(Parameter::builder().parameter_key(name).parameter_value(v).build());
    }
    Ok(out)
}

fn resource_count(template: &str) -> u64 {
    serde_yaml::from_str::<serde_yaml::Value>(template)
        .ok()
        .and_then(|d| d.get("Resources").and_then(|r| r.as_mapping()).map(|m| m.len() as u64))
        .unwrap_or(0)
}

/// The template as CloudFormation takes it: inline, or uploaded to S3 when too large.
enum TemplateSource {
    Body(String),
    Url(String),
}

impl TemplateSource {
    async fn prepare(aws: &Aws, stack_name: &str, template: &str, bucket: Option<&str>) -> Result<Self> {
        if template.len() <= INLINE_TEMPLATE_LIMIT {
            return Ok(TemplateSource::Body(template.to_string()));
        }
        let bucket = match bucket {
            Some(b) => b.to_string(),
            None => artifact_bucket(aws).await?,
        };
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let key = format!("templates/{stack_name}/{stamp}.yaml");
        eprintln!(
            "Template is {} bytes (over {INLINE_TEMPLATE_LIMIT}): uploading to s3://{bucket}/{key}",
            template.len()
        );
        aws.s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(template.as_bytes().to_vec().into())
            .content_type("application/x-yaml")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
            .with_context(|| format!("cannot upload the template to s3://{bucket}/{key}"))?;
        Ok(TemplateSource::Url(aws.object_url(&bucket, &key)))
    }
}

/// The per-account, per-region bucket imgh keeps templates (and build artifacts) in;
/// created on first use with public access blocked and default encryption on.
pub async fn artifact_bucket(aws: &Aws) -> Result<String> {
    let name = format!("imgh-artifacts-{}-{}", aws.account_id().await?, aws.region);
    if aws.s3.head_bucket().bucket(&name).send().await.is_ok() {
        return Ok(name);
    }
    let mut req = aws.s3.create_bucket().bucket(&name);
    if aws.region != "us-east-1" {
        req = req.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => {}
        // Another imgh (a parallel pipeline) created it first: configure it all the same.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => {
            let hint = "set `artifact_bucket` in imgh.toml to use an existing one";
            return Err(anyhow::anyhow!(sdk_message(&e)))
                .with_context(|| format!("cannot create the artifact bucket {name}; {hint}"));
        }
    }
    let block = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .block_public_policy(true)
        .ignore_public_acls(true)
        .restrict_public_buckets(true)
        .build();
    aws.s3
        .put_public_access_block()
        .bucket(&name)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
        .with_context(|| format!("cannot block public access on {name}"))?;
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let by_default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build()?;
    let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
    aws.s3
        .put_bucket_encryption()
        .bucket(&name)
        .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build()?)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
        .with_context(|| format!("cannot turn on default encryption on {name}"))?;
    Ok(name)
}

/// Creates the change set, prints it, asks for confirmation and executes it.
/// Returns the number of resource changes, or None when there is nothing to change.
async fn change_set(
    aws: &Aws,
    stack_name: &str,
    source: &TemplateSource,
    params: &[Parameter],
    tags: &[Tag],
    update: bool,
    yes: bool,
) -> Result<Option<u64>> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let name = format!("imgh-{stamp}");
    let mut req = aws
        .cfn
        .create_change_set()
        .stack_name(stack_name)
        .change_set_name(&name)
        .change_set_type(if update { ChangeSetType::Update } else { ChangeSetType::Create })
        .capabilities(Capability::CapabilityIam)
        .set_parameters(Some(params.to_vec()))
        .set_tags(Some(tags.to_vec()));
    req = match source {
        TemplateSource::Body(b) => req.template_body(b),
        TemplateSource::Url(u) => req.template_url(u),
    };
    req.send()
        .await
        .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
        .with_context(|| format!("CloudFormation refused to create a change set for {stack_name}"))?;

    // Wait for the change set to be computed.
    let cs = loop {
        let cs = aws
            .cfn
            .describe_change_set()
            .stack_name(stack_name)
            .change_set_name(&name)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
            .context("cannot read the change set back")?;
        match cs.status() {
            Some(ChangeSetStatus::CreateComplete) => break cs,
            Some(ChangeSetStatus::Failed) => {
                let reason = cs.status_reason().unwrap_or("no reason given");
                let _ = aws.cfn.delete_change_set().stack_name(stack_name).change_set_name(&name).send().await;
                if reason.contains("didn't contain changes") || reason.contains("No updates are to be performed") {
                    return Ok(None);
                }
                bail!("the change set for {stack_name} failed: {reason}");
            }
            _ => tokio::time::sleep(aws.poll_interval()).await,
        }
    };
    let rows: Vec<[String; 4]> = cs
        .changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|r| {
            [
                r.action().map(|a| a.as_str().to_string()).unwrap_or_default(),
                r.logical_resource_id().unwrap_or_default().to_string(),
                r.resource_type().unwrap_or_default().to_string(),
                r.replacement().map(|x| x.as_str().to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    eprintln!("Changes to stack {stack_name} ({} resources):", rows.len());
    eprint!("{}", table(&["Action", "Resource", "Type", "Replacement"], &rows));
    if rows.is_empty() {
        let _ = aws.cfn.delete_change_set().stack_name(stack_name).change_set_name(&name).send().await;
        return Ok(None);
    }
    if let Err(e) = confirm(&format!("Execute these changes to {stack_name}?"), yes) {
        let _ = aws.cfn.delete_change_set().stack_name(stack_name).change_set_name(&name).send().await;
        if !update {
            // A first change set leaves an empty stack in REVIEW_IN_PROGRESS: remove it too.
            let _ = aws.cfn.delete_stack().stack_name(stack_name).send().await;
        }
        return Err(e);
    }
    aws.cfn
        .execute_change_set()
        .stack_name(stack_name)
        .change_set_name(&name)
        .send()
        .await
        .map_err(|e| rejected(anyhow::anyhow!(sdk_message(&e))))
        .map_err(|e| e.context(format!("executing the change set for {stack_name} failed")))?;
    Ok(Some(rows.len() as u64))
}

/// CreateStack or UpdateStack. Returns false when there was nothing to update.
async fn direct(
    aws: &Aws,
    stack_name: &str,
    source: &TemplateSource,
    params: &[Parameter],
    tags: &[Tag],
    update: bool,
) -> Result<bool> {
    if update {
        let mut req = aws
            .cfn
            .update_stack()
            .stack_name(stack_name)
            .capabilities(Capability::CapabilityIam)
            .set_parameters(Some(params.to_vec()))
            .set_tags(Some(tags.to_vec()));
        req = match source {
            TemplateSource::Body(b) => req.template_body(b),
            TemplateSource::Url(u) => req.template_url(u),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let msg = sdk_message(&e);
                if msg.contains("No updates are to be performed") {
                    Ok(false)
                } else {
                    Err(anyhow::anyhow!(msg).context(format!("CloudFormation rejected the update of {stack_name}")))
                }
            }
        }
    } else {
        let mut req = aws
            .cfn
            .create_stack()
            .stack_name(stack_name)
            .capabilities(Capability::CapabilityIam)
            .set_parameters(Some(params.to_vec()))
            .set_tags(Some(tags.to_vec()));
        req = match source {
            TemplateSource::Body(b) => req.template_body(b),
            TemplateSource::Url(u) => req.template_url(u),
        };
        req.send()
            .await
            .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
            .with_context(|| format!("CloudFormation rejected the creation of {stack_name}"))?;
        Ok(true)
    }
}

/// Asks on the terminal; `yes` skips the question. Without a terminal (CI) and without
/// `yes`, refuses rather than guessing (exit code 3).
pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(
            Exit(3, "no terminal to confirm on: re-run with --yes to proceed without confirmation".into()).into()
        );
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .context("cannot read the answer from the terminal")?;
    if !ok {
        return Err(Exit(3, "not confirmed: nothing was changed".into()).into());
    }
    Ok(())
}

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
pub async fn follow(aws: &Aws, stack_name: &str, since: SystemTime, total: u64) -> Result<Outcome> {
    // Events carry second precision; allow for clock skew between us and AWS.
    let since = since - Duration::from_secs(5);
    let bar = ProgressBar::new(total.max(1));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} resources  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
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

/// Prints the end of a deploy: failures (exit 4) or outputs and bucket policies.
async fn finish(aws: &Aws, stack_name: &str, o: Outcome, json: bool) -> Result<()> {
    if o.failed() {
        report_failure(stack_name, &o);
        return Err(Exit(4, format!("deploying {stack_name} failed ({})", o.status)).into());
    }
    eprintln!("Stack {stack_name}: {}", o.status);
    crate::status::print_outputs(aws, stack_name, json).await?;
    let st = stack::require(aws, stack_name).await?;
    if !json && !stack::buckets(&stack::outputs(&st)).is_empty() {
        eprintln!("\nThe policies that let the distributions read (imgh apply-policy merges them):");
        crate::apply_policy::print_for(stack_name, &st, &[], false)?;
    }
    Ok(())
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
        eprint!("{}", table(&["Resource", "Type", "Status", "Reason"], &o.failures));
    }
}

/// A plain text table with aligned columns.
pub fn table<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Deploy-time checks of settings `render` can do without, made before a (long) build.
pub fn check_parameters(t: &TemplateSettings) -> Result<()> {
    match t.variant {
        Variant::Lambda if t.code_bucket.is_some() != t.code_key.is_some() => {
            bail!("--code-bucket and --code-key go together: pass both (an existing zip) or neither (imgh builds and uploads one)")
        }
        _ => Ok(()),
    }
}

/// Whether the settings name no handler artifact, so deploy must build one.
pub fn needs_artifact(t: &TemplateSettings) -> bool {
    match t.variant {
        Variant::Lambda => t.code_bucket.is_none() || t.code_key.is_none(),
        Variant::Ecs => t.image_uri.is_none(),
    }
}

/// Points the settings at a freshly built artifact.
pub fn use_artifact(t: &mut TemplateSettings, a: Artifact) {
    match a {
        Artifact::Lambda { code_bucket, code_key, .. } => {
            t.code_bucket = Some(code_bucket);
            t.code_key = Some(code_key);
        }
        Artifact::Image { image_uri, .. } => t.image_uri = Some(image_uri),
    }
}
