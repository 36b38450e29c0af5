//! `imgh rotate-origin-secret`: a new origin secret for a China stack, without refusing a
//! request on the way.
//!
//! 1. The secret becomes `{current: new, previous: old}`, a new Secrets Manager version.
//! 2. The stack is updated with that version as `OriginSecretVersion`, its template and
//!    other parameters unchanged. CloudFormation reads a dynamic reference again only when
//!    its text changes, which the version does. The handler is updated first (the
//!    distribution depends on it) and accepts both values; CloudFront then sends the new one,
//!    and the update completes once every edge has it.
//! 3. The next `imgh deploy` leaves the parameter empty: the references read the latest
//!    version's `current`, and the handler stops accepting the old value.

use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{Capability, Parameter};
use serde_json::{json, Value};

use crate::aws::{sdk_message, Aws, SdkResultExt, Session};
use crate::{follow, stack, ui};

/// The template parameter naming the secret version CloudFormation reads.
const VERSION_PARAMETER: &str = "OriginSecretVersion";

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
        ui::confirm(
            &format!("Rotate the origin secret of {stack_name} (updates the handler and the distribution)?"),
            self.yes,
        )?;
        let version = put_rotated(aws, &secret_id).await?;
        eprintln!("Secret {secret_id}: version {version} holds the new value and the old one.");
        let params = st
            .parameters()
            .iter()
            .filter_map(|p| p.parameter_key())
            .map(|k| match k {
                VERSION_PARAMETER => Parameter::builder().parameter_key(k).parameter_value(&version).build(),
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
            .with_context(|| format!("cannot update stack {stack_name} to the new secret version (the secret already holds it; run rotate-origin-secret again, or deploy)"))?;
        // The handler, the distribution, and a few resources that name the secret.
        let outcome = follow::until_done(aws, stack_name, started, 3).await?;
        if outcome.failed() {
            follow::report_failure(stack_name, &outcome);
            return Err(
                ui::Exit(4, format!("rotating the origin secret of {stack_name} failed ({})", outcome.status)).into()
            );
        }
        eprintln!("Stack {stack_name}: {}. CloudFront sends the new secret; the handler accepts the old one too until the next `imgh deploy`.", outcome.status);
        Ok(())
    }
}

/// Writes `{current: new, previous: old}` as a new version of the secret; its version id.
async fn put_rotated(aws: &Aws, secret_id: &str) -> Result<String> {
    let sm = &aws.secrets;
    let now = sm.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot read the origin secret {secret_id} (secretsmanager:GetSecretValue): {}",
            sdk_message(&e)
        )
    })?;
    let old: Value = serde_json::from_str(now.secret_string().unwrap_or_default())
        .with_context(|| format!("the origin secret {secret_id} is not the JSON object imgh writes"))?;
    let old = old["current"].as_str().filter(|c| !c.is_empty()).with_context(|| {
        format!(
            "the origin secret {secret_id} has no `current` value: put one back ({{\"current\": \"…\"}}) or redeploy"
        )
    })?;
    let new = sm
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
        .secret_string(json!({"current": new, "previous": old}).to_string())
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot write the origin secret {secret_id} (secretsmanager:PutSecretValue): {}",
                sdk_message(&e)
            )
        })?;
    put.version_id.context("Secrets Manager returned no version id")
}
