//! Deploy-time checks against the account, made before anything is built or created:
//! what `render` cannot know without AWS. Each failure says what to change.
//!
//! Not here: checks of the settings alone (config.rs validates those for `render` too).

use anyhow::{bail, Context, Result};

use crate::aws::{sdk_message, Aws, SdkResultExt};
use crate::config::{TemplateSettings, Variant};

/// Lambda keeps this much of an account's concurrency unreserved; a reservation that
/// would leave less is refused by `PutFunctionConcurrency`.
const UNRESERVED_MINIMUM: i32 = 100;

/// Regions that offer CloudFront VPC origins (CloudFront Developer Guide, "Restrict access
/// with VPC origins"), which the ECS variant's origin is.
const VPC_ORIGIN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "sa-east-1",
    "mx-central-1",
];

pub async fn check(aws: &Aws, stack_name: &str, t: &TemplateSettings) -> Result<()> {
    // In China the ECS variant's origin is an API Gateway VPC link instead.
    if t.variant == Variant::Ecs && !t.china && !VPC_ORIGIN_REGIONS.contains(&aws.region.as_str()) {
        bail!(
            "the ECS variant reaches its handler through a CloudFront VPC origin, which {} does not offer: deploy the Lambda variant there, or the ECS variant in a region that has VPC origins",
            aws.region
        );
    }
    for bucket in &t.buckets {
        let region = bucket_region(aws, bucket).await?;
        if region != aws.region {
            bail!(
                "bucket {bucket} is in {region}, but the stack deploys to {}: deploy with --region {region}, so the handler (and CloudFront's S3 origin) read it in its own region (and without cross-region transfer charges)",
                aws.region
            );
        }
    }
    if t.variant == Variant::Lambda && t.max_concurrency > 0 {
        check_concurrency(aws, stack_name, t.max_concurrency).await?;
    }
    Ok(())
}

/// The bucket's region. `GetBucketLocation` answers no constraint for us-east-1 and the
/// legacy `EU` for eu-west-1.
async fn bucket_region(aws: &Aws, bucket: &str) -> Result<String> {
    let out = aws.s3.get_bucket_location().bucket(bucket).send().await.sdk().with_context(|| {
        format!("cannot read the region of bucket {bucket}: check that it exists and that you may call s3:GetBucketLocation on it")
    })?;
    Ok(match out.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(r) => r.to_string(),
    })
}

/// A reservation must leave Lambda's minimum unreserved. Our function's own current
/// reservation (on an update) is available again.
async fn check_concurrency(aws: &Aws, stack_name: &str, wanted: u32) -> Result<()> {
    let settings = match aws.lambda.get_account_settings().send().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: cannot read the account's Lambda concurrency ({}); not checking --max-concurrency {wanted} against it", sdk_message(&e));
            return Ok(());
        }
    };
    let Some(unreserved) = settings.account_limit().and_then(|l| l.unreserved_concurrent_executions()) else {
        return Ok(());
    };
    let ours = aws
        .lambda
        .get_function_concurrency()
        .function_name(format!("{stack_name}-handler"))
        .send()
        .await
        .ok()
        .and_then(|c| c.reserved_concurrent_executions())
        .unwrap_or(0);
    let available = unreserved + ours - UNRESERVED_MINIMUM;
    if i64::from(wanted) > i64::from(available) {
        bail!(
            "--max-concurrency {wanted} cannot be reserved: the account has {} unreserved and Lambda keeps {UNRESERVED_MINIMUM} of it, so at most {} is possible. Pass a lower --max-concurrency, 0 to reserve none, or ask AWS for a higher concurrency quota",
            unreserved + ours,
            available.max(0)
        );
    }
    Ok(())
}
