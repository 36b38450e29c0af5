//! `imgh deploy`: template → change set → table of changes → confirmation → execute →
//! stack events under a progress bar → failed resources with reasons, or the outputs.
//!
//! `--method direct` skips the change set (CreateStack/UpdateStack). Both paths end in the
//! same event follower, which `destroy` uses too.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};
use clap::ValueEnum;

use crate::aws::Session;
use crate::aws::{sdk_message, Aws, SdkResultExt};
use crate::build::Artifact;
use crate::build::{self, BuildArgs};
use crate::config::TemplateArgs;
use crate::config::{TemplateSettings, Variant};
use crate::follow::{self, Outcome};
use crate::{hotswap, preflight, render, stack, ui};

/// CloudFormation's limit for a template passed inline; larger ones go through S3.
const INLINE_TEMPLATE_LIMIT: usize = 51_200;

/// How to apply the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
enum Method {
    /// Create a change set, show it, confirm, execute.
    #[default]
    ChangeSet,
    /// CreateStack / UpdateStack directly, without a preview.
    Direct,
}

/// `imgh deploy`: what to deploy, and how.
#[derive(Debug, clap::Args)]
pub struct Deploy {
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    build: BuildArgs,
    /// change-set (preview, then execute) or direct (CreateStack/UpdateStack).
    #[arg(long, value_enum, default_value_t)]
    method: Method,
    /// Do not ask for confirmation (required without a terminal).
    #[arg(long, short)]
    yes: bool,
    /// Print the outputs as JSON.
    #[arg(long)]
    json: bool,
    /// A code-only change: put the new handler into the running function (or service)
    /// without a stack update. Refused when anything but the artifact changed; the stack
    /// drifts from its parameters until the next full deploy.
    #[arg(long)]
    hotswap: bool,
    /// Deploy this template file instead of the rendered one. For tests against
    /// emulators that lack some resource types; not for production use.
    #[arg(long, hide = true)]
    template_file: Option<PathBuf>,
}

impl Deploy {
    /// Checks the settings and the account, builds and publishes the handler when no
    /// artifact is named, then applies the template.
    pub async fn run(self, s: Session) -> Result<()> {
        let (aws, stack) = (&s.aws, s.stack());
        let artifact_bucket = s.settings.artifact_bucket.as_deref();
        let mut t = if self.template_file.is_some() {
            s.settings.template_unchecked(&self.template)?
        } else {
            let t = s.settings.template(&self.template)?;
            if t.china {
                eprintln!("{}", render::china_differences(&t));
            }
            check_parameters(&t)?;
            preflight::check(aws, stack, &t).await?;
            t
        };
        // Checked before the build: a refused hotswap costs no build.
        let hotswap = match self.hotswap {
            true => Some(hotswap::check(aws, stack, &self.template(stack, &t)?, &t).await?),
            false => None,
        };
        if (self.template_file.is_none() || hotswap.is_some()) && needs_artifact(&t) {
            let a = build::publish(aws, stack, t.variant, t.arch, &self.build, artifact_bucket).await?;
            use_artifact(&mut t, a);
        }
        match hotswap {
            Some(st) => hotswap::swap(aws, &st, &t, self.yes).await,
            None => self.execute(aws, stack, &t, artifact_bucket).await,
        }
    }

    /// The template to deploy: `--template-file`'s, or the one rendered from `t`.
    fn template(&self, stack_name: &str, t: &TemplateSettings) -> Result<String> {
        match &self.template_file {
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read template {}", p.display())),
            None => render::render(stack_name, t),
        }
    }

    async fn execute(
        &self,
        aws: &Aws,
        stack_name: &str,
        t: &TemplateSettings,
        artifact_bucket: Option<&str>,
    ) -> Result<()> {
        let template = self.template(stack_name, t)?;
        let input = StackInput {
            params: parameters(&template, t)?,
            tags: t.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect(),
            source: TemplateSource::prepare(aws, stack_name, &template, artifact_bucket).await?,
        };
        let resources = resource_ids(&template).len() as u64;
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

        // SNS mails a confirmation link when a subscription is made (a new address replaces it).
        let subscription = alarm_subscription(aws, stack_name, t).await;

        // None: nothing to change.
        let outcome = match self.method {
            Method::ChangeSet => match change_set(aws, stack_name, &input, update, self.yes).await? {
                Some(total) => Some(follow::until_done(aws, stack_name, started, total).await?),
                None => None,
            },
            Method::Direct => match direct(aws, stack_name, &input, update).await {
                Ok(true) => Some(follow::until_done(aws, stack_name, started, resources).await?),
                Ok(false) => None,
                Err(e) => return Err(rejected(e)),
            },
        };
        match outcome {
            Some(o) => finish(aws, stack_name, o, self.json).await?,
            None => {
                eprintln!("No changes: stack {stack_name} already matches the template.");
                crate::status::print_outputs(aws, stack_name, self.json).await?;
            }
        }
        self.put_back_hotswapped(aws, stack_name, &template, t).await?;
        let subscribed = alarm_subscription(aws, stack_name, t).await;
        if let (Some(address), true) = (&t.alarm_email, subscribed.is_some() && subscribed != subscription) {
            eprintln!("Alarms mail {address} once its owner follows the confirmation link SNS has mailed it (nothing is sent before; `imgh status` shows the alarms' states).");
        }
        Ok(())
    }

    /// After a full deploy, a handler still running what `--hotswap` put there is put back on
    /// the stack's artifact: CloudFormation saw no change to the artifact, so left it.
    async fn put_back_hotswapped(
        &self,
        aws: &Aws,
        stack_name: &str,
        template: &str,
        t: &TemplateSettings,
    ) -> Result<()> {
        let handler = match t.variant {
            Variant::Lambda => "HandlerFunction",
            Variant::Ecs => "Service",
        };
        if !resource_ids(template).iter().any(|id| id == handler) {
            return Ok(());
        }
        match hotswap::Running::read(aws, stack_name, t.variant).await {
            Ok(running) if running.runs(t) == Some(false) => {
                // Part of the deploy already confirmed: no second question.
                eprintln!("The handler runs other code than the stack names (left by `imgh deploy --hotswap`): putting the stack's back.");
                hotswap::swap(aws, &stack::require(aws, stack_name).await?, t, true).await
            }
            Ok(_) => Ok(()),
            Err(e) => {
                eprintln!("warning: cannot tell whether the handler runs the stack's artifact: {e:#}");
                Ok(())
            }
        }
    }
}

/// The stack's alarm subscription (its ARN), looked up only when the settings ask for one.
async fn alarm_subscription(aws: &Aws, stack_name: &str, t: &TemplateSettings) -> Option<String> {
    t.alarm_email.as_ref()?;
    stack::physical_id(aws, stack_name, "AlarmSubscription").await.ok()
}

/// A synchronous rejection of the operation (an emulator reports resource failures this
/// way; real CloudFormation does for invalid templates): a failed stack operation, exit 4.
fn rejected(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(ui::Exit(4, format!("{e:#}")))
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

/// The logical ids of the template's resources.
fn resource_ids(template: &str) -> Vec<String> {
    serde_yaml::from_str::<serde_yaml::Value>(template)
        .ok()
        .and_then(|d| d.get("Resources").and_then(|r| r.as_mapping()).cloned())
        .map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// What a stack operation is given: the template, the values of its parameters, the tags.
struct StackInput {
    source: TemplateSource,
    params: Vec<Parameter>,
    tags: Vec<Tag>,
}

/// Sets a [`StackInput`] and the IAM capability on a CreateChangeSet, CreateStack or
/// UpdateStack request: a macro, because each operation has its own builder type.
macro_rules! with_input {
    ($req:expr, $input:expr) => {{
        let input: &StackInput = $input;
        let req = $req
            .capabilities(Capability::CapabilityIam)
            .set_parameters(Some(input.params.clone()))
            .set_tags(Some(input.tags.clone()));
        match &input.source {
            TemplateSource::Body(b) => req.template_body(b),
            TemplateSource::Url(u) => req.template_url(u),
        }
    }};
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
            None => aws.artifact_bucket().await?,
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
            .sdk()
            .with_context(|| format!("cannot upload the template to s3://{bucket}/{key}"))?;
        Ok(TemplateSource::Url(aws.object_url(&bucket, &key)))
    }
}

/// Creates the change set, prints it, asks for confirmation and executes it.
/// Returns the number of resource changes, or None when there is nothing to change.
async fn change_set(aws: &Aws, stack_name: &str, input: &StackInput, update: bool, yes: bool) -> Result<Option<u64>> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let name = format!("imgh-{stamp}");
    let req = aws.cfn.create_change_set().stack_name(stack_name).change_set_name(&name).change_set_type(if update {
        ChangeSetType::Update
    } else {
        ChangeSetType::Create
    });
    with_input!(req, input)
        .send()
        .await
        .sdk()
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
            .sdk()
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
    eprint!("{}", ui::table(&["Action", "Resource", "Type", "Replacement"], &rows));
    if rows.is_empty() {
        let _ = aws.cfn.delete_change_set().stack_name(stack_name).change_set_name(&name).send().await;
        return Ok(None);
    }
    if let Err(e) = ui::confirm(&format!("Execute these changes to {stack_name}?"), yes) {
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
        .sdk()
        .map_err(rejected)
        .map_err(|e| e.context(format!("executing the change set for {stack_name} failed")))?;
    Ok(Some(rows.len() as u64))
}

/// CreateStack or UpdateStack. Returns false when there was nothing to update.
async fn direct(aws: &Aws, stack_name: &str, input: &StackInput, update: bool) -> Result<bool> {
    if update {
        match with_input!(aws.cfn.update_stack().stack_name(stack_name), input).send().await {
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
        with_input!(aws.cfn.create_stack().stack_name(stack_name), input)
            .send()
            .await
            .sdk()
            .with_context(|| format!("CloudFormation rejected the creation of {stack_name}"))?;
        Ok(true)
    }
}

/// Prints the end of a deploy: failures (exit 4) or outputs and bucket policies.
async fn finish(aws: &Aws, stack_name: &str, o: Outcome, json: bool) -> Result<()> {
    if o.failed() {
        follow::report_failure(stack_name, &o);
        return Err(ui::Exit(4, format!("deploying {stack_name} failed ({})", o.status)).into());
    }
    eprintln!("Stack {stack_name}: {}", o.status);
    crate::status::print_outputs(aws, stack_name, json).await?;
    let st = stack::require(aws, stack_name).await?;
    // In China the handler reads the buckets with its role: no policy to apply.
    if !json && !crate::config::is_china(&aws.region) && !stack::buckets(&stack::outputs(&st)).is_empty() {
        eprintln!("\nThe policies that let the distributions read (imgh apply-policy merges them):");
        crate::apply_policy::print_for(stack_name, &st, &[], false)?;
    }
    Ok(())
}

/// Deploy-time checks of settings `render` can do without, made before a (long) build.
fn check_parameters(t: &TemplateSettings) -> Result<()> {
    match t.variant {
        Variant::Lambda if t.code_bucket.is_some() != t.code_key.is_some() => {
            bail!("--code-bucket and --code-key go together: pass both (an existing zip) or neither (imgh builds and uploads one)")
        }
        _ => Ok(()),
    }
}

/// Whether the settings name no handler artifact, so deploy must build one.
fn needs_artifact(t: &TemplateSettings) -> bool {
    match t.variant {
        Variant::Lambda => t.code_bucket.is_none() || t.code_key.is_none(),
        Variant::Ecs => t.image_uri.is_none(),
    }
}

/// Points the settings at a freshly built artifact.
fn use_artifact(t: &mut TemplateSettings, a: Artifact) {
    match a {
        Artifact::Lambda { code_bucket, code_key, .. } => {
            t.code_bucket = Some(code_bucket);
            t.code_key = Some(code_key);
        }
        Artifact::Image { image_uri, .. } => t.image_uri = Some(image_uri),
    }
}
