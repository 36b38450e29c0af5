//! Renders the CloudFormation template of a variant from the minijinja sources in
//! `templates/`, which are compiled into the binary so `imgh render` needs no files.
//!
//! The output is parsed back (serde_yaml) before it is returned: a template that does not
//! parse is a bug here, reported before CloudFormation sees it. Validity against the
//! CloudFormation schemas is checked by cfn-lint in the tests, not at run time.

use anyhow::{Context, Result};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::json;

use crate::config::{GlobalArgs, Settings, TemplateArgs, TemplateSettings, Variant};
use crate::{dashboard, policy};

/// What the handler answers at most behind API Gateway (the China front door of the ECS
/// variant): the HTTP API payload limit of 10 MB, less room for the headers.
const API_PAYLOAD_LIMIT: usize = 10_000_000 - 64 * 1024;

/// Every template source, by name, as minijinja sees it.
const SOURCES: &[(&str, &str)] = &[
    ("lambda.yaml.j2", include_str!("../../templates/lambda.yaml.j2")),
    ("ecs.yaml.j2", include_str!("../../templates/ecs.yaml.j2")),
    ("partials/styles.yaml.j2", include_str!("../../templates/partials/styles.yaml.j2")),
    ("partials/read_policy.yaml.j2", include_str!("../../templates/partials/read_policy.yaml.j2")),
    ("partials/edge.yaml.j2", include_str!("../../templates/partials/edge.yaml.j2")),
    ("partials/cache.yaml.j2", include_str!("../../templates/partials/cache.yaml.j2")),
    ("partials/distribution.yaml.j2", include_str!("../../templates/partials/distribution.yaml.j2")),
    ("partials/bucket_outputs.yaml.j2", include_str!("../../templates/partials/bucket_outputs.yaml.j2")),
    ("partials/router.js.j2", include_str!("../../templates/partials/router.js.j2")),
    ("partials/signing.yaml.j2", include_str!("../../templates/partials/signing.yaml.j2")),
    ("partials/processing.yaml.j2", include_str!("../../templates/partials/processing.yaml.j2")),
    ("partials/stack_outputs.yaml.j2", include_str!("../../templates/partials/stack_outputs.yaml.j2")),
    ("partials/api.yaml.j2", include_str!("../../templates/partials/api.yaml.j2")),
    ("partials/api_parameters.yaml.j2", include_str!("../../templates/partials/api_parameters.yaml.j2")),
    ("partials/api_origin.yaml.j2", include_str!("../../templates/partials/api_origin.yaml.j2")),
    ("partials/api_outputs.yaml.j2", include_str!("../../templates/partials/api_outputs.yaml.j2")),
    ("partials/api_condition.yaml.j2", include_str!("../../templates/partials/api_condition.yaml.j2")),
    ("partials/monitoring.yaml.j2", include_str!("../../templates/partials/monitoring.yaml.j2")),
];

/// The query strings in the cache key, and so forwarded to the handler: the process
/// parameters, and for signed URLs the two the signature check reads.
pub fn cache_query_strings(t: &TemplateSettings) -> Vec<&'static str> {
    let mut q = imgh_handler::request::PROCESS_PARAMS.to_vec();
    if t.signed_urls {
        q.extend(imgh_handler::guard::signature::PARAMS);
    }
    q
}

/// A name CloudFront keeps account-wide (cache policy, origin access control, function):
/// `<stack name, cut to 40>-<last 12 hex digits of the stack id>-<role>`, at most 64
/// characters. The stack id part differs between regions and between a deleted stack and
/// its successor, so two stacks never ask for the same name.
fn unique_name(stack_name: &str, role: &str) -> String {
    let prefix: String = stack_name.chars().take(40).collect();
    let id = json!({"Fn::Select": [4, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]});
    json!({"Fn::Sub": [format!("{prefix}-${{Id}}-{role}"), {"Id": id}]}).to_string()
}

/// China: the origin secret's `key` (`current`, `previous`) as CloudFormation resolves it,
/// at the version `imgh rotate-origin-secret` wrote.
fn versioned_secret(key: &str) -> serde_json::Value {
    json!({"Fn::Sub": format!("{{{{resolve:secretsmanager:${{OriginSecret}}:SecretString:{key}::${{OriginSecretVersion}}}}}}")})
}

/// China, as a YAML flow value: the secret's `key` at the rotated version.
fn rotated_origin_secret(key: &str) -> String {
    versioned_secret(key).to_string()
}

/// China, as a YAML flow value: the origin secret CloudFront sends, the rotated version's or,
/// before any rotation, the secret's current one.
fn origin_secret() -> String {
    let latest = json!({"Fn::Sub": "{{resolve:secretsmanager:${OriginSecret}:SecretString:current}}"});
    json!({"Fn::If": ["OriginSecretRotated", versioned_secret("current"), latest]}).to_string()
}

/// checkov checks that do not fit this design, per kind of resource, each with its reason.
/// They are written into the resource's `Metadata`, where checkov reads them and a reviewer
/// sees them beside the resource.
const CHECKOV_SKIPS: &[(&str, &[(&str, &str)])] = &[
    ("distribution", &[
        ("CKV_AWS_68", "No WAF by default: a web ACL costs a monthly fee plus a per-request charge. Abuse is bounded by signed URLs (--signed-urls), the handler's limits and the origin's concurrency cap; attach a web ACL to the distribution where a WAF is required."),
        ("CKV_AWS_86", "Standard logging needs a log bucket with ACLs, which imgh does not create on the user's behalf; every processed request is logged by the handler to CloudWatch Logs. Enable distribution logging where CDN-level logs are required."),
    ]),
    ("default_certificate", &[
        ("CKV_AWS_174", "Without --domain the distribution uses the default *.cloudfront.net certificate, for which CloudFront sets the security policy itself and ignores MinimumProtocolVersion; with --domain the template requires TLSv1.2_2021."),
    ]),
    ("function", &[
        ("CKV_AWS_116", "Invoked synchronously through its function URL: a failure is answered to the viewer, and a dead-letter queue only applies to asynchronous invocations."),
        ("CKV_AWS_117", "The function reads S3 and DynamoDB through their regional endpoints with its IAM role and takes no inbound connection but its URL behind OAC; a VPC would need NAT or endpoints and slower cold starts for no isolation gain."),
        ("CKV_AWS_173", "The environment holds settings only (bucket names, the style table, limits); the signing keys are in Secrets Manager, read at start, never in the environment."),
    ]),
    ("function_cn", &[
        ("CKV_AWS_116", "Invoked synchronously by API Gateway: a failure is answered to the viewer, and a dead-letter queue only applies to asynchronous invocations."),
        ("CKV_AWS_117", "The function reads S3 and DynamoDB through their regional endpoints with its IAM role and takes no inbound connection but API Gateway's invocations; a VPC would need NAT or endpoints and slower cold starts for no isolation gain."),
        ("CKV_AWS_173", "Settings, and the origin secret CloudFormation resolves from Secrets Manager (Lambda has no secret references); the same value is in the distribution's origin header, readable by whoever reads the distribution's configuration. Signing keys stay in Secrets Manager, read at start."),
    ]),
    ("unreserved_concurrency", &[
        ("CKV_AWS_115", "Chosen with --max-concurrency 0: the function shares the account's unreserved concurrency (some accounts have too little to reserve any); the default reserves 100, which caps the cost of a flood."),
    ]),
    ("log_group", &[
        ("CKV_AWS_158", "Request lines (keys, process strings, status, timings) hold no secrets; CloudWatch Logs encrypts every log group at rest by default. A customer managed key would add a key policy to manage for no gain."),
    ]),
    ("style_table", &[
        ("CKV_AWS_119", "Styles are process strings, not secrets; DynamoDB encrypts every table at rest with an AWS owned key. A customer managed key would add cost and a key policy for no gain."),
    ]),
    ("secret", &[
        ("CKV_AWS_149", "Encrypted at rest with the AWS managed key for Secrets Manager; only the handler's role is granted GetSecretValue on it, which a customer managed key would not narrow further."),
    ]),
    ("origin_secret", &[
        ("CKV_AWS_149", "Encrypted at rest with the AWS managed key for Secrets Manager; CloudFormation resolves it into the distribution and the handler, and only the ECS execution role may read it, which a customer managed key would not narrow further."),
    ]),
    ("api_route", &[
        ("CKV_AWS_309", "The handler origin in China, where CloudFront cannot sign requests (no origin access control there): the handler serves only requests carrying the origin secret CloudFront adds, compared in constant time; IAM or JWT authorisation would need a signer CloudFront does not have."),
    ]),
    ("api_stage", &[
        ("CKV_AWS_76", "Every request the API passes on is logged by the handler to CloudWatch Logs (method, path, process, status, timings). Requests API Gateway refuses itself (throttling, integration timeouts) are not; enable stage access logs where those must be kept."),
        ("CKV_AWS_95", "HTTP APIs have no per-stage WAF association; the handler's limits and the Lambda concurrency cap (or the ECS task count) bound the cost of abuse."),
    ]),
    ("load_balancer", &[
        ("CKV_AWS_91", "The ALB is internal and reached only through CloudFront's VPC origin; every request is logged by the handler to CloudWatch Logs, so ALB access logs (and their bucket) would duplicate them."),
    ]),
    ("listener", &[
        ("CKV_AWS_2", "HTTP on an internal ALB that only CloudFront's VPC origin reaches, inside the VPC on AWS's network (as in AWS's own Dynamic Image Transformation); HTTPS would need a certificate for a private load balancer name, which ACM does not issue."),
        ("CKV_AWS_103", "No TLS listener: see CKV_AWS_2 (an internal ALB behind the CloudFront VPC origin)."),
    ]),
    ("load_balancer_cn", &[
        ("CKV_AWS_91", "The ALB is internal and reached only through API Gateway's VPC link; every request is logged by the handler to CloudWatch Logs, so ALB access logs (and their bucket) would duplicate them."),
    ]),
    ("listener_cn", &[
        ("CKV_AWS_2", "HTTP on an internal ALB that only API Gateway's VPC link reaches, inside the VPC on AWS's network; HTTPS would need a certificate for a private load balancer name."),
        ("CKV_AWS_103", "No TLS listener: see CKV_AWS_2 (an internal ALB behind API Gateway's VPC link)."),
    ]),
    ("alarm_topic", &[
        ("CKV_AWS_26", "CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key for SNS (its key policy does not admit CloudWatch), and the alarm texts hold no secrets; a customer managed key would add a key policy to manage for no gain."),
    ]),
    ("source_bucket", &[
        ("CKV_AWS_18", "Reads come through CloudFront and the handler, which log them; S3 server access logs would need a second bucket. Enable them on the bucket where object-level audit is required."),
        ("CKV_AWS_21", "Versioning would keep every overwritten original: a retention decision (and storage cost) for the bucket's owner, who can turn it on; imgh destroy --delete-created-buckets removes every version either way."),
    ]),
];

/// The `Metadata` block skipping the checks of `kinds`, indented for a resource. An empty
/// kind stands for none; an unknown one is a template bug.
fn checkov_skips(kinds: &[String]) -> Result<String, minijinja::Error> {
    let mut skips = vec![];
    for kind in kinds.iter().filter(|k| !k.is_empty()) {
        let (_, list) = CHECKOV_SKIPS.iter().find(|(k, _)| k == kind).ok_or_else(|| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("no checkov skips of kind {kind:?}"))
        })?;
        skips.extend(list.iter());
    }
    if skips.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::from("    Metadata:\n      checkov:\n        skip:");
    for (id, why) in skips {
        out.push_str(&format!("\n          - id: {id}\n            comment: {}", json!(why)));
    }
    Ok(out)
}

/// One source bucket as the templates use it.
#[derive(Debug, Serialize)]
struct BucketCtx {
    /// The literal name ("" for a bucket the stack creates).
    name: String,
    /// The name inside an `Fn::Sub` string: literal, or `${SourceBucket}`.
    sub: String,
    /// The name as a YAML flow value: `"b0"` or `{"Ref": "SourceBucket"}`.
    value: String,
    /// The distribution ARN inside an `Fn::Sub` string.
    dist_arn_sub: String,
    /// The whole bucket policy document as JSON text for `Fn::Sub` (the BucketPolicyN output).
    policy_sub: String,
    /// The policy document as a YAML flow value with `Fn::Sub` where needed (an
    /// `AWS::S3::BucketPolicy` resource for a bucket the stack creates).
    policy_cfn: String,
    created: bool,
}

fn bucket_ctx(stack_name: &str, index: usize, name: Option<&str>) -> Result<BucketCtx> {
    let (sub, value, created) = match name {
        Some(n) => (n.to_string(), serde_json::to_string(n)?, false),
        None => ("${SourceBucket}".to_string(), r#"{"Ref": "SourceBucket"}"#.to_string(), true),
    };
    let dist_arn_sub =
        format!("arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{Distribution{index}}}");
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [policy::statement(&policy::sid(stack_name), "${AWS::Partition}", &sub, &dist_arn_sub)]
    });
    Ok(BucketCtx {
        name: name.unwrap_or_default().to_string(),
        sub,
        value,
        policy_sub: serde_json::to_string(&doc)?,
        policy_cfn: serde_json::to_string(&policy::to_cfn_sub(&doc))?,
        dist_arn_sub,
        created,
    })
}

/// `imgh render`.
#[derive(Debug, clap::Args)]
pub struct Render {
    #[command(flatten)]
    template: TemplateArgs,
}

impl Render {
    pub fn run(self, global: &GlobalArgs) -> Result<()> {
        let mut settings = Settings::load(global)?;
        // The region decides the partition's template: without a flag, AWS_REGION or
        // imgh.toml, the profile's, as the commands that connect resolve it.
        if settings.aws.region.is_none() {
            settings.aws.region = crate::aws::profile_region(settings.aws.profile.as_deref());
        }
        let t = settings.template(&self.template)?;
        let text = render(&settings.stack_name, &t)?;
        if t.china {
            eprintln!("{}", china_differences(&t));
        }
        print!("{text}");
        Ok(())
    }
}

/// What a China template does differently from the global one, for `render` and `deploy`
/// to say (the README's China section has the reasons).
pub fn china_differences(t: &TemplateSettings) -> String {
    let (variant, limit) = match t.variant {
        Variant::Lambda => (
            "CloudFront -> API Gateway HTTP API -> Lambda (no function URLs in China)",
            "Lambda answers through API Gateway are buffered: one over 6 MB encoded (about 4.5 MB of image, originals included) is a 413 ResponseTooLarge; the ECS variant allows 10 MB",
        ),
        Variant::Ecs => (
            "CloudFront -> API Gateway HTTP API -> VPC link -> internal ALB -> ECS (no CloudFront VPC origins in China)",
            "API Gateway passes at most 10 MB: a larger answer is the handler's 413 ResponseTooLarge",
        ),
    };
    let mut lines = vec![
        format!("China (aws-cn): this template differs from the global {} variant:", if t.variant == Variant::Lambda { "Lambda" } else { "ECS" }),
        format!("  - the handler origin is {variant}; it serves only requests carrying the origin secret CloudFront adds (imgh rotate-origin-secret)"),
        "  - every request goes to the handler, originals too: CloudFront in China has no functions to route originals to S3 and no origin access control, so no bucket policy is needed".into(),
        format!("  - {limit}"),
        format!("  - the distribution serves {} only (ICP recordal required), with IAM server certificate {}; no HTTP/3, no IPv6", t.domain.as_deref().unwrap_or("?"), t.iam_certificate_id.as_deref().unwrap_or("?")),
    ];
    lines.push("  - caching by the behaviour's legacy settings (CloudFront in China takes no cache policies): every query parameter reaches the handler, which reads only those in the cache key".into());
    if t.auto_format {
        lines.push("  - auto-format: the Accept header as sent is in the cache key (no function to normalise it), so there is one cached copy per distinct Accept value".into());
    }
    if !t.cors_origins.is_empty() {
        lines.push("  - CORS: the handler answers preflights and adds the headers (no response headers policy), with Origin in the cache key".into());
    }
    if t.signed_urls {
        lines.push("  - signed URLs: no function refuses an expired one at the edge; the handler's max-age ends with the URL instead".into());
    }
    lines.join("\n")
}

/// Renders the template for `t` under `stack_name` and checks that it parses as YAML.
pub fn render(stack_name: &str, t: &TemplateSettings) -> Result<String> {
    let mut env = Environment::new();
    let stack = stack_name.to_string();
    env.add_function("unique_name", move |role: String| unique_name(&stack, &role));
    env.add_function("checkov_skips", |kinds: minijinja::value::Rest<String>| checkov_skips(&kinds));
    env.add_function("origin_secret", origin_secret);
    env.add_function("rotated_origin_secret", |key: String| rotated_origin_secret(&key));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    for (name, src) in SOURCES {
        env.add_template(name, src).with_context(|| format!("internal: template {name} does not compile"))?;
    }
    let buckets: Vec<BucketCtx> = if t.buckets.is_empty() {
        vec![bucket_ctx(stack_name, 0, None)?]
    } else {
        t.buckets.iter().enumerate().map(|(i, b)| bucket_ctx(stack_name, i, Some(b))).collect::<Result<_>>()?
    };
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        stack_name => stack_name,
        buckets => buckets,
        bucket_header => imgh_handler::serve::BUCKET_HEADER,
        secret_header => imgh_handler::serve::SECRET_HEADER,
        api_timeout_ms => t.api_timeout_ms(),
        api_payload_limit => API_PAYLOAD_LIMIT,
        style_key => imgh_handler::style::KEY_ATTRIBUTE,
        cache_query_strings => cache_query_strings(t),
        process_params => imgh_handler::request::PROCESS_PARAMS,
        deadline_ms => t.deadline_ms(),
        origin_read_timeout => t.origin_read_timeout(),
        drain_seconds => t.drain_seconds(),
        arch => match t.arch { crate::config::Arch::Arm64 => "arm64", crate::config::Arch::X86_64 => "x86_64" },
        metrics_namespace => dashboard::NAMESPACE,
        dashboard_body => dashboard::body(t, buckets.len()),
        ecs_arch => match t.arch { crate::config::Arch::Arm64 => "ARM64", crate::config::Arch::X86_64 => "X86_64" },
        ..minijinja::Value::from_serialize(t)
    };
    let name = match t.variant {
        Variant::Lambda => "lambda.yaml.j2",
        Variant::Ecs => "ecs.yaml.j2",
    };
    let text = env
        .get_template(name)
        .and_then(|tpl| tpl.render(ctx))
        .map_err(|e| anyhow::anyhow!("internal: rendering {name} failed: {e:#}"))?;
    let _: serde_yaml::Value =
        serde_yaml::from_str(&text).with_context(|| format!("internal: the rendered {name} is not valid YAML"))?;
    Ok(text)
}

/// Parameters a template declares (deploy passes only those).
pub fn declared_parameters(template: &str) -> Result<Vec<String>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).context("the template is not valid YAML or JSON")?;
    Ok(doc
        .get("Parameters")
        .and_then(|p| p.as_mapping())
        .map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default())
}
