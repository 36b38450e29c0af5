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

use crate::config::{TemplateSettings, Variant};
use crate::policy;

/// Every template source, by name, as minijinja sees it.
const SOURCES: &[(&str, &str)] = &[
    ("lambda.yaml.j2", include_str!("../../templates/lambda.yaml.j2")),
    ("ecs.yaml.j2", include_str!("../../templates/ecs.yaml.j2")),
    ("partials/styles.yaml.j2", include_str!("../../templates/partials/styles.yaml.j2")),
    ("partials/read_policy.yaml.j2", include_str!("../../templates/partials/read_policy.yaml.j2")),
    ("partials/edge.yaml.j2", include_str!("../../templates/partials/edge.yaml.j2")),
    ("partials/distribution.yaml.j2", include_str!("../../templates/partials/distribution.yaml.j2")),
    ("partials/bucket_outputs.yaml.j2", include_str!("../../templates/partials/bucket_outputs.yaml.j2")),
];

/// The origin custom header through which CloudFront tells the handler which bucket a
/// request is for (the handler serves only buckets on its IMGH_BUCKETS allow-list).
pub const BUCKET_HEADER: &str = "x-imgh-bucket";
/// The origin custom header carrying the ECS variant's shared secret (ALB rule + handler).
pub const SECRET_HEADER: &str = "x-imgh-origin-secret";

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

/// Renders the template for `t` under `stack_name` and checks that it parses as YAML.
pub fn render(stack_name: &str, t: &TemplateSettings) -> Result<String> {
    let mut env = Environment::new();
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
        bucket_header => BUCKET_HEADER,
        secret_header => SECRET_HEADER,
        arch => match t.arch { crate::config::Arch::Arm64 => "arm64", crate::config::Arch::X86_64 => "x86_64" },
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
