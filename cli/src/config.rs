//! One `Settings` value from three sources, in order of precedence: command-line flags
//! (and the environment variables clap maps onto them), then `imgh.toml`, then defaults.
//!
//! Validation lives here too, so `render` and `deploy` never see a value CloudFormation
//! would only reject minutes into a deployment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// Where the handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// A Lambda function behind a function URL (response streaming).
    #[default]
    Lambda,
    /// A Fargate service behind an internal ALB, reached through a CloudFront VPC origin.
    Ecs,
}

/// CPU architecture of the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Default)]
pub enum Arch {
    #[default]
    #[value(name = "arm64")]
    #[serde(rename = "arm64")]
    Arm64,
    #[value(name = "x86_64")]
    #[serde(rename = "x86_64")]
    X86_64,
}

/// Global flags, shared by every subcommand.
#[derive(Debug, Clone, Args, Default)]
pub struct GlobalArgs {
    /// AWS named profile.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region.
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this URL (an emulator such as moto_server).
    #[arg(long, global = true, env = "IMGH_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// CloudFormation stack name [default: imgh].
    #[arg(long, global = true, env = "IMGH_STACK_NAME")]
    pub stack_name: Option<String>,
    /// Configuration file (written by `imgh init`); missing is fine.
    #[arg(long, global = true, env = "IMGH_CONFIG", default_value = "imgh.toml")]
    pub config: PathBuf,
}

/// Options that shape the rendered template (`render` and `deploy`).
#[derive(Debug, Clone, Args, Default)]
pub struct TemplateArgs {
    /// Which variant to render [default: lambda].
    #[arg(long, value_enum)]
    pub variant: Option<Variant>,
    /// Source bucket (repeatable). Lambda: one or more existing buckets. ECS: at most one;
    /// without it the stack creates a bucket.
    #[arg(long = "bucket", value_name = "NAME")]
    pub buckets: Vec<String>,
    /// Handler CPU architecture [default: arm64].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Lambda memory in MB (128-10240) [default: 1024].
    #[arg(long)]
    pub memory: Option<u32>,
    /// Seconds a request may take at the origin (3-115; China 3-29) [default: 30; China 29]:
    /// the Lambda timeout; the handler gives up 2 s before it and CloudFront waits 5 s longer.
    #[arg(long)]
    pub timeout: Option<u32>,
    /// Lambda: reserved concurrency, the cost ceiling under a flood of distinct URLs
    /// (past it viewers get 429); 0 reserves none [default: 100].
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// Require signed URLs (Expires + Signature; `imgh sign`): the stack creates the key
    /// secret, and the cache key carries both parameters.
    #[arg(long)]
    pub signed_urls: bool,
    /// Allow cross-origin requests from this origin (https://app.example.com, or *;
    /// repeatable): CloudFront adds the CORS headers and answers preflights.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Turn on the processing API (POST /images) and let it write to this bucket
    /// (repeatable): the stack creates the client secret and grants s3:PutObject there only.
    #[arg(long = "api-target-bucket", value_name = "NAME")]
    pub api_target_buckets: Vec<String>,
    /// Bucket holding the handler zip (Lambda). Produced by `imgh build`.
    #[arg(long)]
    pub code_bucket: Option<String>,
    /// Key of the handler zip in --code-bucket (Lambda).
    #[arg(long)]
    pub code_key: Option<String>,
    /// KMS key ARN the source objects are encrypted with (grants kms:Decrypt).
    #[arg(long)]
    pub kms_key: Option<String>,
    /// Pick AVIF/WebP from the viewer's Accept header (adds a normalised Accept to the cache
    /// key; in China, where CloudFront has no functions to normalise it, the Accept header as sent).
    #[arg(long)]
    pub auto_format: bool,
    /// Log retention in days [default: 14].
    #[arg(long)]
    pub log_retention_days: Option<u32>,
    /// CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All [default:
    /// PriceClass_100; not in China, which has no price classes].
    #[arg(long)]
    pub price_class: Option<String>,
    /// Custom domain name for the distribution (needs --certificate-arn; in China, required,
    /// ICP-registered, with --iam-certificate-id).
    #[arg(long)]
    pub domain: Option<String>,
    /// ACM certificate ARN for --domain; must be in us-east-1.
    #[arg(long)]
    pub certificate_arn: Option<String>,
    /// China regions: the IAM server certificate (its id, ASCA…) for --domain, uploaded with
    /// the /cloudfront/ path (CloudFront in China does not take ACM certificates).
    #[arg(long)]
    pub iam_certificate_id: Option<String>,
    /// Tag for the stack and every resource that takes tags (KEY=VALUE, repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// ECS: existing VPC id (with --subnet); without it the stack creates a VPC.
    #[arg(long)]
    pub vpc_id: Option<String>,
    /// ECS: public subnet in --vpc-id for the tasks (a route to an internet gateway; repeat:
    /// at least two, in different AZs).
    #[arg(long = "subnet", value_name = "SUBNET_ID")]
    pub subnets: Vec<String>,
    /// ECS: private subnet in --vpc-id for the internal ALB behind the VPC origin (repeat:
    /// at least two, in different AZs; VPC origins skip use1-az3, usw1-az2, apne1-az3, cac1-az3).
    #[arg(long = "private-subnet", value_name = "SUBNET_ID")]
    pub private_subnets: Vec<String>,
    /// ECS: a CIDR block covering the --private-subnet subnets, usually the VPC's: the ALB
    /// admits only it (CloudFront's VPC-origin interfaces sit in those subnets) and reaches
    /// the tasks by their security group.
    #[arg(long)]
    pub vpc_cidr: Option<String>,
    /// ECS: task CPU units (256, 512, 1024, 2048, 4096, 8192, 16384) [default: 1024].
    #[arg(long)]
    pub cpu: Option<u32>,
    /// ECS: task memory in MB, a Fargate size for --cpu [default: 2048].
    #[arg(long)]
    pub task_memory: Option<u32>,
    /// ECS: autoscaling minimum (a new service starts at 1, then scales to it) [default: 1].
    #[arg(long)]
    pub min_count: Option<u32>,
    /// ECS: autoscaling maximum, the cost ceiling (past it requests queue, then get 503) [default: 4].
    #[arg(long)]
    pub max_count: Option<u32>,
    /// ECS: handler image, by digest (REPO@sha256:…). Produced by `imgh build`.
    #[arg(long)]
    pub image_uri: Option<String>,
    /// Leave CloudFront's additional metrics off (cache hit rate, origin latency: billed by
    /// CloudFront per distribution; the dashboard then goes without them).
    #[arg(long)]
    pub no_cdn_metrics: bool,
    /// Email the stack's alarms to this address (an SNS topic; AWS mails a confirmation
    /// link first, and nothing is sent until it is followed).
    #[arg(long, value_name = "ADDRESS")]
    pub alarm_email: Option<String>,
}

/// `imgh.toml`: every field optional; flags override it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Arch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_urls: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_target_buckets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_format: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_retention_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_certificate_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private_subnets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_memory: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdn_metrics: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_email: Option<String>,
    /// Where apply-policy and destroy write policy backups [default: .imgh/backups].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_dir: Option<PathBuf>,
    /// Bucket for templates over 51,200 bytes (and, later, build artifacts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_bucket: Option<String>,
}

impl FileConfig {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid imgh configuration (fix the field named above, or remove the file)",
                path.display()
            )
        })
    }
}

/// How to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Everything a template needs, validated.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateSettings {
    pub variant: Variant,
    pub buckets: Vec<String>,
    pub arch: Arch,
    pub memory: u32,
    pub timeout: u32,
    pub max_concurrency: u32,
    pub signed_urls: bool,
    pub cors_origins: Vec<String>,
    /// The processing API's target buckets; none: the API is off.
    pub api_target_buckets: Vec<String>,
    pub code_bucket: Option<String>,
    pub code_key: Option<String>,
    pub kms_key: Option<String>,
    pub auto_format: bool,
    pub log_retention_days: u32,
    /// None in China, which has no price classes (one given there is refused).
    pub price_class: Option<String>,
    pub domain: Option<String>,
    pub certificate_arn: Option<String>,
    pub iam_certificate_id: Option<String>,
    /// The region is in the aws-cn partition (`cn-*`), where the templates differ.
    pub china: bool,
    pub tags: BTreeMap<String, String>,
    pub vpc_id: Option<String>,
    pub subnets: Vec<String>,
    pub private_subnets: Vec<String>,
    pub vpc_cidr: Option<String>,
    pub cpu: u32,
    pub task_memory: u32,
    pub min_count: u32,
    pub max_count: u32,
    pub image_uri: Option<String>,
    /// CloudFront's additional metrics (a monitoring subscription per distribution).
    pub cdn_metrics: bool,
    pub alarm_email: Option<String>,
}

/// The resolved settings of one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    pub aws: AwsSettings,
    pub stack_name: String,
    pub backup_dir: PathBuf,
    pub artifact_bucket: Option<String>,
    file: FileConfig,
}

impl Settings {
    /// Merges the global flags over the configuration file.
    pub fn load(g: &GlobalArgs) -> Result<Self> {
        let file = FileConfig::load(&g.config)?;
        let stack_name = g.stack_name.clone().or_else(|| file.stack_name.clone()).unwrap_or_else(|| "imgh".to_string());
        check_stack_name(&stack_name)?;
        Ok(Settings {
            aws: AwsSettings {
                profile: g.profile.clone().or_else(|| file.profile.clone()),
                region: g.region.clone().or_else(|| file.region.clone()),
                endpoint_url: g.endpoint_url.clone().or_else(|| file.endpoint_url.clone()),
            },
            stack_name,
            backup_dir: file.backup_dir.clone().unwrap_or_else(|| PathBuf::from(".imgh/backups")),
            artifact_bucket: file.artifact_bucket.clone(),
            file,
        })
    }

    /// The configuration file as read (for `init` to start from).
    pub fn file(&self) -> &FileConfig {
        &self.file
    }

    /// Merges the template flags over the configuration file and validates the result.
    pub fn template(&self, a: &TemplateArgs) -> Result<TemplateSettings> {
        let s = self.template_unchecked(a)?;
        s.validate()?;
        if let Some(key) = &s.kms_key {
            check_kms_key(key, self.aws.region.as_deref())?;
        }
        Ok(s)
    }

    /// As `template`, without validation: for `deploy --template-file`, where the template
    /// is given and the settings only fill its parameters and tags.
    pub fn template_unchecked(&self, a: &TemplateArgs) -> Result<TemplateSettings> {
        let f = &self.file;
        let mut tags = f.tags.clone();
        for t in &a.tags {
            let (k, v) = t.split_once('=').with_context(|| format!("--tag {t:?}: expected KEY=VALUE"))?;
            tags.insert(k.to_string(), v.to_string());
        }
        let pick = |flag: &Option<String>, file: &Option<String>| flag.clone().or_else(|| file.clone());
        let pick_list = |flag: &Vec<String>, file: &Vec<String>| if flag.is_empty() { file } else { flag }.clone();
        let china = self.aws.region.as_deref().is_some_and(is_china);
        let s = TemplateSettings {
            variant: a.variant.or(f.variant).unwrap_or_default(),
            buckets: pick_list(&a.buckets, &f.buckets),
            arch: a.arch.or(f.arch).unwrap_or_default(),
            memory: a.memory.or(f.memory).unwrap_or(1024),
            timeout: a.timeout.or(f.timeout).unwrap_or(if china { MAX_CHINA_TIMEOUT } else { 30 }),
            max_concurrency: a.max_concurrency.or(f.max_concurrency).unwrap_or(100),
            signed_urls: a.signed_urls || f.signed_urls.unwrap_or(false),
            cors_origins: pick_list(&a.cors_origins, &f.cors_origins),
            api_target_buckets: pick_list(&a.api_target_buckets, &f.api_target_buckets),
            code_bucket: pick(&a.code_bucket, &f.code_bucket),
            code_key: pick(&a.code_key, &f.code_key),
            kms_key: pick(&a.kms_key, &f.kms_key),
            auto_format: a.auto_format || f.auto_format.unwrap_or(false),
            log_retention_days: a.log_retention_days.or(f.log_retention_days).unwrap_or(14),
            price_class: pick(&a.price_class, &f.price_class).or_else(|| (!china).then(|| "PriceClass_100".into())),
            domain: pick(&a.domain, &f.domain),
            certificate_arn: pick(&a.certificate_arn, &f.certificate_arn),
            iam_certificate_id: pick(&a.iam_certificate_id, &f.iam_certificate_id),
            china,
            tags,
            vpc_id: pick(&a.vpc_id, &f.vpc_id),
            subnets: pick_list(&a.subnets, &f.subnets),
            private_subnets: pick_list(&a.private_subnets, &f.private_subnets),
            vpc_cidr: pick(&a.vpc_cidr, &f.vpc_cidr),
            cpu: a.cpu.or(f.cpu).unwrap_or(1024),
            task_memory: a.task_memory.or(f.task_memory).unwrap_or(2048),
            min_count: a.min_count.or(f.min_count).unwrap_or(1),
            max_count: a.max_count.or(f.max_count).unwrap_or(4),
            image_uri: pick(&a.image_uri, &f.image_uri),
            cdn_metrics: !a.no_cdn_metrics && f.cdn_metrics.unwrap_or(true),
            alarm_email: pick(&a.alarm_email, &f.alarm_email),
        };
        Ok(s)
    }
}

/// Regions of the aws-cn partition (Beijing cn-north-1, Ningxia cn-northwest-1).
pub fn is_china(region: &str) -> bool {
    region.starts_with("cn-")
}

/// The partition's domain (`AWS::URLSuffix`): `amazonaws.com.cn` in China.
pub fn dns_suffix(region: &str) -> &'static str {
    if is_china(region) {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128.
/// imgh derives resource names (limited to 64) from it with suffixes, so it is kept to 56.
fn check_stack_name(name: &str) -> Result<()> {
    let ok = name.len() <= 56
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        bail!("stack name {name:?} is not usable: start with a letter, then letters, digits and hyphens, at most 56 characters (resource names append suffixes such as -handler to it)");
    }
    Ok(())
}

/// S3 bucket naming rules (the subset that matters for an existing bucket's name).
pub fn check_bucket_name(name: &str) -> Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !ok {
        bail!("{name:?} is not a valid S3 bucket name (3-63 lowercase letters, digits, '-' and '.')");
    }
    Ok(())
}

/// A bucket CloudFront or the handler reads over HTTPS, by its virtual-hosted name: "the SSL
/// wildcard certificate matches only buckets that do not contain dots" (S3 User Guide,
/// Virtual hosting of buckets).
pub fn check_served_bucket_name(name: &str) -> Result<()> {
    check_bucket_name(name)?;
    if name.contains('.') {
        bail!("bucket {name:?} has a dot in its name: S3's TLS certificate (*.s3.REGION.amazonaws.com) does not match such a name, so CloudFront and the handler cannot read it over HTTPS. Copy the objects to a bucket named without dots");
    }
    Ok(())
}

/// A KMS key ARN of the stack's partition and, when it is known, its region: IAM refuses a
/// policy naming another partition ("Partition \"aws\" is not valid for resource",
/// aws/copilot-cli#3844), and SSE-KMS objects are encrypted under a key of their bucket's
/// region, so a grant on another region's key matches none.
fn check_kms_key(key: &str, region: Option<&str>) -> Result<()> {
    let (key_partition, key_region) = match key.split(':').collect::<Vec<_>>()[..] {
        ["arn", p, "kms", r, _, id] if id.starts_with("key/") => (p, r),
        _ => bail!("--kms-key must be a key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)"),
    };
    let Some(region) = region else { return Ok(()) };
    let partition = if is_china(region) {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    if key_partition != partition {
        bail!("--kms-key {key} is in partition {key_partition}, but a stack in {region} is in {partition}: use a key of the stack's partition");
    }
    if key_region != region {
        bail!("--kms-key {key} is in {key_region}, but the stack and its buckets are in {region}: S3 encrypts an object under a key of the bucket's region");
    }
    Ok(())
}

/// `--timeout` bounds. CloudFront's origin response timeout is 1 to 120 s without a quota
/// increase; CloudFront gets `timeout + 5` and the handler `timeout - 2`.
const MIN_TIMEOUT: u32 = 3;
const MAX_TIMEOUT: u32 = 115;
/// In China the handler sits behind API Gateway (30 s at most for an integration), which
/// gets `timeout + 1`.
const MAX_CHINA_TIMEOUT: u32 = 29;

impl TemplateSettings {
    /// The handler's own deadline (IMGH_DEADLINE_MS): it answers 503 before Lambda's timeout.
    pub fn deadline_ms(&self) -> u32 {
        (self.timeout - 2) * 1000
    }

    /// CloudFront's origin response timeout: longer than the origin's, so its answer arrives.
    pub fn origin_read_timeout(&self) -> u32 {
        self.timeout + 5
    }

    /// ECS: how long a leaving task keeps serving (the ALB's deregistration delay) and then
    /// has after SIGTERM (the container's stop timeout, at most 120 s on Fargate): as long
    /// as CloudFront waits for an answer.
    pub fn drain_seconds(&self) -> u32 {
        self.origin_read_timeout().min(120)
    }

    /// China: API Gateway's integration timeout, longer than the origin's (at most 30 s).
    pub fn api_timeout_ms(&self) -> u32 {
        (self.timeout + 1) * 1000
    }
}

/// Fargate's CPU and memory pairs (MiB): each CPU size takes memory in a range and step.
fn check_fargate_size(cpu: u32, memory: u32) -> Result<()> {
    let (lo, hi, step) = match cpu {
        256 => (512, 2048, 512),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => bail!("--cpu {cpu} is not a Fargate size: use 256, 512, 1024, 2048, 4096, 8192 or 16384"),
    };
    // 256 CPU takes 512, 1024 or 2048 (not 1536).
    let ok = (lo..=hi).contains(&memory) && memory % step == 0 && !(cpu == 256 && memory == 1536);
    if !ok {
        bail!(
            "--task-memory {memory} does not fit --cpu {cpu} on Fargate: use {lo} to {hi} MiB in steps of {step}{}",
            if cpu == 256 { " (512, 1024 or 2048)" } else { "" }
        );
    }
    Ok(())
}

/// A CORS origin as browsers send it: `*`, or scheme://host[:port] with no path.
fn check_cors_origin(o: &str) -> Result<()> {
    let host = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
    let ok = o == "*"
        || host.is_some_and(|h| {
            !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
    if !ok {
        bail!("--cors-origin {o:?} is not an origin: use * or scheme://host[:port] (https://app.example.com), without a path");
    }
    Ok(())
}

const RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

impl TemplateSettings {
    /// A custom domain outside China: an ACM certificate from us-east-1.
    fn validate_certificate(&self) -> Result<()> {
        if self.iam_certificate_id.is_some() {
            bail!("--iam-certificate-id is for the China regions (cn-north-1, cn-northwest-1), where CloudFront takes no ACM certificate: elsewhere use --certificate-arn");
        }
        match (&self.domain, &self.certificate_arn) {
            (None, None) => Ok(()),
            (Some(_), Some(arn)) => {
                let region = arn.split(':').nth(3).unwrap_or("");
                if region != "us-east-1" {
                    bail!("the certificate {arn} is in {region:?}, but CloudFront only uses ACM certificates from us-east-1: request or import it there");
                }
                Ok(())
            }
            _ => bail!("--domain and --certificate-arn go together: CloudFront needs the certificate for the domain"),
        }
    }

    /// What CloudFront and Lambda in China require or lack (the README's China section).
    fn validate_china(&self) -> Result<()> {
        if self.domain.is_none() {
            bail!("the China regions need --domain: CloudFront in China cannot serve content on its default *.cloudfront.cn name, only on an alternate domain with an ICP recordal (filed by an entity in mainland China for the root domain). Pass --domain img.example.cn and --iam-certificate-id for its certificate");
        }
        if self.certificate_arn.is_some() {
            bail!("--certificate-arn names an ACM certificate, which CloudFront in China does not take: upload the certificate to IAM with the /cloudfront/ path (imgh cert upload --cert … --key … --chain …) and pass the id it prints with --iam-certificate-id");
        }
        match self.iam_certificate_id.as_deref() {
            None => bail!("--domain in China needs --iam-certificate-id: CloudFront in China takes IAM server certificates only (imgh cert upload --cert … --key … --chain … prints the id, ASCA…)"),
            Some(id) if !(id.len() >= 16 && id.starts_with("ASCA") && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())) => {
                bail!("--iam-certificate-id {id:?} is not an IAM server certificate id (ASCA followed by upper-case letters and digits; `aws iam list-server-certificates` lists them)")
            }
            Some(_) => {}
        }
        // API Gateway waits at most 30 s for an integration, and imgh gives it 1 s more than
        // the origin's timeout.
        if self.timeout > MAX_CHINA_TIMEOUT {
            bail!("--timeout {} is out of range in China: use {MIN_TIMEOUT} to {MAX_CHINA_TIMEOUT} seconds (the handler sits behind API Gateway, which waits at most 30 s for it)", self.timeout);
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        // Targets of the processing API are written by the handler's S3 client, which uses
        // path-style requests for names with dots; the sources are read by CloudFront too.
        for (list, check) in [
            (&self.buckets, check_served_bucket_name as fn(&str) -> Result<()>),
            (&self.api_target_buckets, check_bucket_name),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for b in list {
                check(b)?;
                if !seen.insert(b) {
                    bail!("bucket {b:?} is listed twice");
                }
            }
        }
        match self.variant {
            Variant::Lambda => {
                if self.buckets.is_empty() {
                    bail!("the Lambda variant serves existing buckets: pass at least one --bucket NAME (or set `buckets` in imgh.toml)");
                }
                if !(128..=10240).contains(&self.memory) {
                    bail!("--memory {} is out of range: Lambda accepts 128 to 10240 MB", self.memory);
                }
            }
            Variant::Ecs => {
                if self.buckets.len() > 1 {
                    bail!("the ECS variant serves one bucket: pass at most one --bucket (none: the stack creates one)");
                }
                let network_given =
                    !self.subnets.is_empty() || !self.private_subnets.is_empty() || self.vpc_cidr.is_some();
                if self.vpc_id.is_some() != network_given {
                    bail!("--vpc-id goes with --subnet, --private-subnet and --vpc-cidr: pass all of them (an existing VPC) or none (a new VPC)");
                }
                if self.vpc_id.is_some() {
                    if self.subnets.len() < 2 || self.private_subnets.len() < 2 {
                        bail!("an existing VPC needs two subnets of each kind, in different availability zones: --subnet (public, for the tasks) and --private-subnet (for the internal ALB), each twice or more");
                    }
                    let cidr = self.vpc_cidr.as_deref().unwrap_or_default();
                    let valid = cidr.split_once('/').is_some_and(|(ip, len)| {
                        ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
                    });
                    if !valid {
                        bail!("--vpc-cidr {cidr:?} is not an IPv4 CIDR block (10.0.0.0/16): pass the VPC's own");
                    }
                }
                check_fargate_size(self.cpu, self.task_memory)?;
                if self.min_count == 0 || self.min_count > self.max_count {
                    bail!(
                        "autoscaling needs 1 <= --min-count <= --max-count (got {} and {})",
                        self.min_count,
                        self.max_count
                    );
                }
                if let Some(uri) = &self.image_uri {
                    if !uri.contains("@sha256:") {
                        bail!("--image-uri {uri:?} must name the image by digest (REPO@sha256:…), so a deploy is reproducible");
                    }
                }
            }
        }
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&self.timeout) {
            bail!(
                "--timeout {} is out of range: use {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds (CloudFront waits at most 120 s for an origin's response, and imgh gives it 5 s more than the origin's timeout)",
                self.timeout
            );
        }
        for o in &self.cors_origins {
            check_cors_origin(o)?;
        }
        if !RETENTION_DAYS.contains(&self.log_retention_days) {
            bail!(
                "--log-retention-days {} is not a CloudWatch Logs value; use one of {RETENTION_DAYS:?}",
                self.log_retention_days
            );
        }
        if let Some(p) = &self.price_class {
            if self.china {
                bail!("--price-class {p:?} is not for the China regions: CloudFront there serves from its four edge locations in mainland China, with no price classes");
            }
            if !["PriceClass_100", "PriceClass_200", "PriceClass_All"].contains(&p.as_str()) {
                bail!("--price-class {p:?}: use PriceClass_100, PriceClass_200 or PriceClass_All");
            }
        }
        if let Some(e) = &self.alarm_email {
            let valid = e.split_once('@').is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                && !e.contains(char::is_whitespace);
            if !valid {
                bail!("--alarm-email {e:?} is not an email address (ops@example.com)");
            }
        }
        if self.china {
            self.validate_china()?;
        } else {
            self.validate_certificate()?;
        }
        if self.domain.is_some() && self.buckets.len() > 1 {
            bail!("--domain names one distribution, but {} buckets make {} distributions: deploy one stack per bucket for custom domains", self.buckets.len(), self.buckets.len());
        }
        Ok(())
    }
}
