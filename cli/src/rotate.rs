//! `imgh rotate-origin-secret`: a new origin secret for a China stack, without refusing a
//! request on the way.
//!
//! 1. A new Secrets Manager version `{current: new, previous: old}` is written under a
//!    staging label of its own: the secret's current version (what an unversioned reference
//!    reads) stays the old one, so a failure below changes nothing in service.
//! 2. The stack is updated with that version as `OriginSecretVersion`, its template and
//!    other parameters unchanged. CloudFormation reads a dynamic reference again only when
//!    its text changes, which the version does. The handler is updated first (the
//!    distribution depends on it) and accepts both values; CloudFront then sends the new one,
//!    and the update completes once every edge has it.
//! 3. Only then does the new version become the secret's current one. The next
//!    `imgh deploy` leaves the parameter empty: the references read the current version,
//!    the new value, and the handler stops accepting the old one.
//!
//! If the update is refused or rolls back, the new version loses its label (Secrets Manager
//! then deprecates it) and the stack, the handler and CloudFront stay on the old value.

use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack};
use serde_json::{json, Value};

use crate::aws::{sdk_message, Aws, SdkResultExt, Session};
use crate::{follow, stack, ui};

/// The template parameter naming the secret version CloudFormation reads.
const VERSION_PARAMETER: &str = "OriginSecretVersion";
/// The staging label of a version written but not yet in service.
const PENDING: &str = "IMGH_PENDING";

#[derive(Debug, clap::Args)]
pub struct RotateOriginSecret {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
}

impl RotateOriginSecret {
    pub async fn run(self, s: Session) -> Result<()> {
        let (aws, stack_name) = (&s.aws, s.stack());
        let st = stack::require(aws, stack_name).await?;
        let Some(secret_id) = stack::outputs(&st).get("OriginSecret").cloned() else {
            bail!("stack {stack_name} has no origin secret: only the China templates have one (elsewhere CloudFront signs its requests to the handler with origin access control, or reaches it through a VPC origin)");
        };
        if !st.parameters().iter().any(|p| p.parameter_key() == Some(VERSION_PARAMETER)) {
            bail!("stack {stack_name} has no {VERSION_PARAMETER} parameter: deploy it with this version of imgh first");
        }
        let status = st.stack_status().map(|s| s.as_str().to_string()).unwrap_or_default();
        if !status.ends_with("_COMPLETE") || status == "ROLLBACK_COMPLETE" {
            bail!("stack {stack_name} is {status}: rotate once it is settled (imgh status)");
        }
        let question = format!("Rotate the origin secret of {stack_name} (updates the handler and the distribution)?");
        ui::confirm(&question, self.yes)?;
        let rotation = put_pending(aws, &secret_id).await?;
        eprintln!("Secret {secret_id}: version {} holds the new value and the old one.", rotation.new);
        match update(aws, stack_name, &st, &rotation.new).await {
            Ok(status) => {
                promote(aws, &secret_id, &rotation).await?;
                eprintln!("Stack {stack_name}: {status}. CloudFront sends the new secret; the handler accepts the old one too until the next `imgh deploy`.");
                Ok(())
            }
            Err(e) => {
                let withdrawn = aws
                    .secrets
                    .update_secret_version_stage()
                    .secret_id(&secret_id)
                    .version_stage(PENDING)
                    .remove_from_version_id(&rotation.new)
                    .send()
                    .await;
                Err(e.context(match withdrawn {
                    Ok(_) => "nothing changed in service: the stack, the handler and CloudFront stay on the old secret, and the new version was withdrawn".to_string(),
                    Err(w) => format!("the stack stays on the old secret; withdrawing the new version failed too ({})", sdk_message(&w)),
                }))
            }
        }
    }
}

/// A version written under [`PENDING`], and the version that was current.
struct Rotation {
    new: String,
    old: String,
}

/// Writes `{current: new, previous: old}` as a new version under [`PENDING`], leaving the
/// current version as it is.
async fn put_pending(aws: &Aws, secret_id: &str) -> Result<Rotation> {
    let sm = &aws.secrets;
    let now = sm.get_secret_value().secret_id(secret_id).version_stage("AWSCURRENT").send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot read the origin secret {secret_id} (secretsmanager:GetSecretValue): {}",
            sdk_message(&e)
        )
    })?;
    let value: Value = serde_json::from_str(now.secret_string().unwrap_or_default())
        .with_context(|| format!("the origin secret {secret_id} is not the JSON object imgh writes"))?;
    let old_value = value["current"].as_str().filter(|c| !c.is_empty()).with_context(|| {
        format!(
            "the origin secret {secret_id} has no `current` value: put one back ({{\"current\": \"…\"}}) or redeploy"
        )
    })?;
    let old = now.version_id().context("Secrets Manager returned no version id")?.to_string();
    let new_value = sm
        .get_random_password()
        .password_length(48)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot generate a secret (secretsmanager:GetRandomPassword): {}", sdk_message(&e))
        })?
        .random_password
        .context("Secrets Manager returned no password")?;
    let put = sm
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(json!({"current": new_value, "previous": old_value}).to_string())
        .version_stages(PENDING)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot write the origin secret {secret_id} (secretsmanager:PutSecretValue): {}",
                sdk_message(&e)
            )
        })?;
    Ok(Rotation { new: put.version_id.context("Secrets Manager returned no version id")?, old })
}

/// Updates the stack to read `version`, other parameters and the template kept; the final
/// status, or the failure.
async fn update(aws: &Aws, stack_name: &str, st: &Stack, version: &str) -> Result<String> {
    let params = st
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_key())
        .map(|k| match k {
            VERSION_PARAMETER => Parameter::builder().parameter_key(k).parameter_value(version).build(),
            _ => Parameter::builder().parameter_key(k).use_previous_value(true).build(),
        })
        .collect();
    let started = SystemTime::now();
    aws.cfn
        .update_stack()
        .stack_name(stack_name)
        .use_previous_template(true)
        .set_parameters(Some(params))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot update stack {stack_name} to the new secret version"))?;
    // The handler, the distribution, and a few resources that name the secret.
    let outcome = follow::until_done(aws, stack_name, started, 3).await?;
    if outcome.failed() {
        follow::report_failure(stack_name, &outcome);
        return Err(
            ui::Exit(4, format!("rotating the origin secret of {stack_name} failed ({})", outcome.status)).into()
        );
    }
    Ok(outcome.status)
}

/// The new version becomes the secret's current one (what unversioned references read).
async fn promote(aws: &Aws, secret_id: &str, r: &Rotation) -> Result<()> {
    let stage = |label: &str| aws.secrets.update_secret_version_stage().secret_id(secret_id).version_stage(label);
    stage("AWSCURRENT").move_to_version_id(&r.new).remove_from_version_id(&r.old).send().await.map_err(|e| {
        anyhow::anyhow!(
            "the stack reads the new secret, but making version {new} current failed ({}): before the next deploy, run `aws secretsmanager update-secret-version-stage --secret-id {secret_id} --version-stage AWSCURRENT --move-to-version-id {new} --remove-from-version-id {old}`",
            sdk_message(&e),
            new = r.new,
            old = r.old
        )
    })?;
    // The label only marked the version while it was pending.
    let _ = stage(PENDING).remove_from_version_id(&r.new).send().await;
    Ok(())
}
