//! AWS plumbing in one place: SDK clients built from the profile, region and endpoint
//! URL, the session a command runs in, the artifact bucket, and SDK errors as messages.
//!
//! With an endpoint URL (an emulator such as moto_server) every client talks to it, and S3
//! uses path-style addressing, because an emulator on 127.0.0.1 has no per-bucket host names.

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region};

use crate::config::{AwsSettings, GlobalArgs, Settings};

/// What a command that talks to AWS runs with: its settings and the clients.
pub struct Session {
    pub settings: Settings,
    pub aws: Aws,
}

impl Session {
    /// Loads the settings, connects, and runs `command` to its end.
    pub fn run<F, Fut>(global: &GlobalArgs, command: F) -> Result<()>
    where
        F: FnOnce(Session) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let mut settings = Settings::load(global)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let aws = Aws::connect(&settings.aws).await?;
            // The region as resolved (a profile's included): it picks the partition's templates.
            settings.aws.region = Some(aws.region.clone());
            command(Session { settings, aws }).await
        })
    }

    pub fn stack(&self) -> &str {
        &self.settings.stack_name
    }
}

/// The region `profile` (else AWS_PROFILE's, else the default profile) names in the AWS
/// config files; read from the files only, without credentials or network.
pub fn profile_region(profile: Option<&str>) -> Option<String> {
    use aws_config::meta::region::ProvideRegion;
    let mut builder = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = profile {
        builder = builder.profile_name(p);
    }
    let provider = builder.build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    rt.block_on(provider.region()).map(|r| r.to_string())
}

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
    pub secrets: aws_sdk_secretsmanager::Client,
    pub iam: aws_sdk_iam::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub ecs: aws_sdk_ecs::Client,
    /// CloudFront's metrics are in us-east-1 whatever the stack's region.
    pub cloudwatch_us_east_1: aws_sdk_cloudwatch::Client,
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
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            cloudfront: aws_sdk_cloudfront::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            ecs: aws_sdk_ecs::Client::new(&sdk),
            cloudwatch_us_east_1: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&sdk).region(Region::new("us-east-1")).build(),
            ),
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
            .sdk()
            .context("cannot tell which AWS account the credentials belong to (sts:GetCallerIdentity)")?;
        who.account().map(str::to_string).context("sts:GetCallerIdentity returned no account")
    }

    /// The per-account, per-region bucket imgh keeps templates (and build artifacts) in;
    /// created on first use with public access blocked and default encryption on.
    pub async fn artifact_bucket(&self) -> Result<String> {
        let account = self.account_id().await?;
        let name = format!("imgh-artifacts-{account}-{}", self.region);
        // Bucket names are global and this one is guessable: a bucket of that name that
        // another account made first (and opened to this one) must not receive the handler's
        // code. With ExpectedBucketOwner, S3 answers 403 unless this account owns it, and
        // the create below then fails with BucketAlreadyExists.
        if self.s3.head_bucket().bucket(&name).expected_bucket_owner(&account).send().await.is_ok() {
            return Ok(name);
        }
        let mut req = self.s3.create_bucket().bucket(&name);
        if self.region != "us-east-1" {
            req = req.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            // Another imgh (a parallel pipeline) created it first: configure it all the same.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e) => {
                let hint = "set `artifact_bucket` in imgh.toml to use an existing one of this account";
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
        self.s3
            .put_public_access_block()
            .bucket(&name)
            .public_access_block_configuration(block)
            .send()
            .await
            .sdk()
            .with_context(|| format!("cannot block public access on {name}"))?;
        use aws_sdk_s3::types::{
            ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
            ServerSideEncryptionRule,
        };
        let by_default =
            ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256).build()?;
        let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
        self.s3
            .put_bucket_encryption()
            .bucket(&name)
            .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build()?)
            .send()
            .await
            .sdk()
            .with_context(|| format!("cannot turn on default encryption on {name}"))?;
        Ok(name)
    }

    /// The URL of an object, for CloudFormation's `TemplateURL`. Always the AWS
    /// virtual-hosted form: CloudFormation reads it on its side (moto resolves it too).
    pub fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}.s3.{}.{}/{key}", self.region, crate::config::dns_suffix(&self.region))
    }
}

/// SDK results turned into `anyhow` errors that carry the service's own message, ready
/// for `?` and `.with_context(…)`.
pub trait SdkResultExt<T> {
    fn sdk(self) -> Result<T>;
}

impl<T, E, R> SdkResultExt<T> for std::result::Result<T, aws_sdk_cloudformation::error::SdkError<E, R>>
where
    E: aws_sdk_cloudformation::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn sdk(self) -> Result<T> {
        self.map_err(|e| anyhow::anyhow!(sdk_message(&e)))
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
