//! AWS SDK clients, built in one place from the profile, region and endpoint URL.
//!
//! With an endpoint URL (an emulator such as moto_server) every client talks to it, and S3
//! uses path-style addressing, because an emulator on 127.0.0.1 has no per-bucket host names.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region};

use crate::config::AwsSettings;

/// The clients one invocation needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Aws {
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub sts: aws_sdk_sts::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub kms: aws_sdk_kms::Client,
    pub region: String,
    pub endpoint_url: Option<String>,
}

impl Aws {
    /// Loads credentials and region the standard way (environment, profile, instance role),
    /// with the given settings taking precedence.
    pub async fn connect(s: &AwsSettings) -> Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &s.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &s.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &s.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .context("no AWS region: pass --region, set AWS_REGION, or put `region = \"…\"` in imgh.toml")?;
        let s3_conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(s.endpoint_url.is_some()).build();
        Ok(Aws {
            cfn: aws_sdk_cloudformation::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            ddb: aws_sdk_dynamodb::Client::new(&sdk),
            sts: aws_sdk_sts::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            lambda: aws_sdk_lambda::Client::new(&sdk),
            kms: aws_sdk_kms::Client::new(&sdk),
            region,
            endpoint_url: s.endpoint_url.clone(),
        })
    }

    /// How long to wait between polls of a stack: short against an emulator.
    pub fn poll_interval(&self) -> std::time::Duration {
        if self.endpoint_url.is_some() {
            std::time::Duration::from_millis(300)
        } else {
            std::time::Duration::from_secs(4)
        }
    }

    /// How long to follow a stack operation before giving up (CloudFront distributions
    /// can take half an hour; an emulator answers at once).
    pub fn follow_limit(&self) -> std::time::Duration {
        if self.endpoint_url.is_some() {
            std::time::Duration::from_secs(60)
        } else {
            std::time::Duration::from_secs(3 * 3600)
        }
    }

    /// The account id of the caller.
    pub async fn account_id(&self) -> Result<String> {
        let who = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
            .context("cannot tell which AWS account the credentials belong to (sts:GetCallerIdentity)")?;
        who.account().map(str::to_string).context("sts:GetCallerIdentity returned no account")
    }

    /// The URL of an object, for CloudFormation's `TemplateURL`. Always the AWS
    /// virtual-hosted form: CloudFormation reads it on its side (moto resolves it too).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region)
    }
}

/// The service's own message of an SDK error (code and message), rather than the
/// SDK's generic "service error" text.
pub fn sdk_message<E, R>(e: &aws_sdk_cloudformation::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_cloudformation::error::SdkError;
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                (None, Some(m)) => m.to_string(),
                (None, None) => format!("{err}"),
            }
        }
        other => format!("{}", aws_sdk_cloudformation::error::DisplayErrorContext(other)),
    }
}
