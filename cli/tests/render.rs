//! Every variant × option combination renders, parses, and passes cfn-lint with zero
//! errors; structural checks on the parsed YAML (origin-group failover, OAC, least-privilege
//! IAM, the bucket policy output).

mod common;

use std::process::Command;

use common::{imgh, run_expect, scratch, stdout};
use serde_yaml::Value;

/// The combinations rendered and linted. Each is (name, arguments).
const CASES: &[(&str, &[&str])] = &[
    ("lambda-one", &["--variant", "lambda", "--bucket", "photos-0"]),
    ("lambda-three", &["--variant", "lambda", "--bucket", "bucket-0", "--bucket", "bucket-1", "--bucket", "bucket-2"]),
    (
        "lambda-all-options",
        &[
            "--variant", "lambda", "--bucket", "photos-0", "--arch", "x86_64", "--memory", "2048", "--timeout", "60",
            "--kms-key", "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666",
            "--auto-format", "--log-retention-days", "30", "--price-class", "PriceClass_All",
            "--domain", "img.example.com",
            "--certificate-arn", "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666",
            "--code-bucket", "artifacts", "--code-key", "handler/abc.zip", "--tag", "team=media",
        ],
    ),
    ("ecs-new-vpc-created-bucket", &["--variant", "ecs"]),
    (
        "ecs-existing-vpc-bucket",
        &[
            "--variant", "ecs", "--bucket", "photos-0", "--vpc-id", "vpc-0123456789abcdef0",
            "--subnet", "subnet-0123456789abcdef0", "--subnet", "subnet-0123456789abcdef1",
            "--arch", "x86_64", "--cpu", "2048", "--task-memory", "4096", "--desired-count", "2",
            "--min-count", "2", "--max-count", "8", "--auto-format",
            "--image-uri", "123456789012.dkr.ecr.us-east-1.amazonaws.com/imgh@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "--cloudfront-prefix-list", "pl-3b927c52",
        ],
    ),
    (
        "ecs-domain-kms",
        &[
            "--variant", "ecs", "--bucket", "photos-0", "--domain", "img.example.com",
            "--certificate-arn", "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666",
            "--kms-key", "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666",
        ],
    ),
];

fn render(args: &[&str]) -> String {
    let dir = scratch("render");
    let out = run_expect(imgh(&dir, None).arg("render").args(args).args(["--stack-name", "imgh-test"]), 0);
    stdout(&out)
}

fn parse(text: &str) -> Value {
    serde_yaml::from_str(text).expect("rendered template parses")
}

fn resources_of_type<'a>(doc: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    doc["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(k, r)| (k.as_str().expect("logical id"), r))
        .collect()
}

/// cfn-lint rules ignored, each with its reason. Keep this list short.
const IGNORED_RULES: &[(&str, &str)] = &[
    // None yet: every case must lint clean. Add an entry with the reason if a warning is accepted.
];

#[test]
fn every_case_passes_cfn_lint() {
    let Some(lint) = common::cfn_lint() else {
        return;
    };
    let dir = scratch("cfn-lint");
    let mut files = vec![];
    for (name, args) in CASES {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, render(args)).expect("write template");
        files.push(path);
    }
    let mut cmd = Command::new(&lint);
    cmd.args(["--format", "parseable", "--regions", "us-east-1"]);
    for (rule, _why) in IGNORED_RULES {
        cmd.args(["--ignore-checks", rule]);
    }
    cmd.arg("--").args(&files);
    let out = cmd.output().expect("run cfn-lint");
    let text = String::from_utf8_lossy(&out.stdout);
    // Any finding (error, warning or informational) fails: accepted ones are in IGNORED_RULES.
    assert!(
        out.status.success() && text.trim().is_empty(),
        "cfn-lint findings:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_case_fails_over_on_403_to_s3_with_oac() {
    for (name, args) in CASES {
        let doc = parse(&render(args));
        let dists = resources_of_type(&doc, "AWS::CloudFront::Distribution");
        assert!(!dists.is_empty(), "{name}: no distribution");
        for (id, d) in dists {
            let cfg = &d["Properties"]["DistributionConfig"];
            let group = &cfg["OriginGroups"]["Items"][0];
            assert_eq!(group["FailoverCriteria"]["StatusCodes"]["Items"][0].as_u64(), Some(403), "{name}/{id}");
            assert_eq!(group["FailoverCriteria"]["StatusCodes"]["Quantity"].as_u64(), Some(1));
            let members: Vec<&str> = group["Members"]["Items"]
                .as_sequence()
                .expect("members")
                .iter()
                .map(|m| m["OriginId"].as_str().expect("origin id"))
                .collect();
            assert_eq!(members, ["handler", "s3"], "{name}/{id}: handler first, then S3");
            assert_eq!(cfg["DefaultCacheBehavior"]["TargetOriginId"], group["Id"], "{name}/{id}");
            let origins = cfg["Origins"].as_sequence().expect("origins");
            let s3 = origins.iter().find(|o| o["Id"].as_str() == Some("s3")).expect("s3 origin");
            assert_eq!(
                s3["OriginAccessControlId"]["Fn::GetAtt"][0].as_str(),
                Some("SourceOriginAccessControl"),
                "{name}/{id}: S3 origin uses OAC"
            );
            assert_eq!(s3["S3OriginConfig"]["OriginAccessIdentity"].as_str(), Some(""), "no legacy OAI");
            let handler = origins.iter().find(|o| o["Id"].as_str() == Some("handler")).expect("handler origin");
            if name.starts_with("lambda") {
                assert_eq!(
                    handler["OriginAccessControlId"]["Fn::GetAtt"][0].as_str(),
                    Some("HandlerOriginAccessControl"),
                    "{name}/{id}: function URL behind OAC"
                );
            }
            let key = &doc["Resources"]["ImageCachePolicy"]["Properties"]["CachePolicyConfig"]
                ["ParametersInCacheKeyAndForwardedToOrigin"];
            let qs: Vec<&str> = key["QueryStringsConfig"]["QueryStrings"]
                .as_sequence()
                .expect("query strings")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(qs, ["x-oss-process", "image_process"]);
            let accept_keyed = key["HeadersConfig"]["HeaderBehavior"].as_str() == Some("whitelist");
            assert_eq!(accept_keyed, args.contains(&"--auto-format"), "{name}: Accept only with auto-format");
        }
    }
}

#[test]
fn lambda_url_streams_behind_iam() {
    let doc = parse(&render(CASES[0].1));
    let url = &doc["Resources"]["HandlerUrl"]["Properties"];
    assert_eq!(url["InvokeMode"].as_str(), Some("RESPONSE_STREAM"));
    assert_eq!(url["AuthType"].as_str(), Some("AWS_IAM"));
    for id in ["HandlerUrlPermission0", "HandlerInvokePermission0"] {
        let p = &doc["Resources"][id]["Properties"];
        assert_eq!(p["Principal"].as_str(), Some("cloudfront.amazonaws.com"), "{id}");
        assert_eq!(p["SourceArn"]["Fn::Sub"].as_str().map(|s| s.ends_with("${Distribution0}")), Some(true), "{id}");
    }
    assert_eq!(
        doc["Resources"]["HandlerInvokePermission0"]["Properties"]["InvokedViaFunctionUrl"].as_bool(),
        Some(true)
    );
    let f = &doc["Resources"]["HandlerFunction"]["Properties"];
    assert_eq!(f["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(f["Architectures"][0].as_str(), Some("arm64"));
}

/// The ECS handler is told its task's memory, which sizes its per-image budget.
#[test]
fn ecs_handler_knows_its_task_memory() {
    let doc = parse(&render(CASES[4].1));
    let task = &doc["Resources"]["TaskDefinition"]["Properties"];
    assert_eq!(task["Memory"].as_str(), Some("4096"));
    let env = task["ContainerDefinitions"][0]["Environment"].as_sequence().unwrap();
    let memory = env.iter().find(|e| e["Name"].as_str() == Some("IMGH_MEMORY_MB")).expect("IMGH_MEMORY_MB is set");
    assert_eq!(memory["Value"].as_str(), Some("4096"));
}

/// The handler's role reads only the listed buckets' objects (and the style table).
#[test]
fn iam_is_limited_to_the_listed_buckets() {
    for (name, args) in CASES {
        let doc = parse(&render(args));
        let role_id = if name.starts_with("lambda") { "HandlerRole" } else { "TaskRole" };
        let stmts = doc["Resources"][role_id]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_sequence()
            .expect("statements");
        let mut expected: Vec<String> = args
            .windows(2)
            .filter(|w| w[0] == "--bucket")
            .map(|w| format!("arn:${{AWS::Partition}}:s3:::{}/*", w[1]))
            .collect();
        if expected.is_empty() {
            expected.push("arn:${AWS::Partition}:s3:::${SourceBucket}/*".into());
        }
        for s in stmts {
            let actions: Vec<&str> = match &s["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Sequence(l) => l.iter().filter_map(Value::as_str).collect(),
                other => panic!("{name}: unexpected Action {other:?}"),
            };
            assert!(!actions.iter().any(|a| a.contains('*')), "{name}: wildcard action {actions:?}");
            if actions.iter().any(|a| a.starts_with("s3:")) {
                assert_eq!(actions, ["s3:GetObject"], "{name}");
                let res: Vec<String> = s["Resource"]
                    .as_sequence()
                    .expect("resource list")
                    .iter()
                    .map(|r| r["Fn::Sub"].as_str().expect("Fn::Sub").to_string())
                    .collect();
                assert_eq!(res, expected, "{name}: S3 read limited to the listed buckets");
            }
            if actions.contains(&"kms:Decrypt") {
                assert!(args.contains(&"--kms-key"), "{name}: kms only with --kms-key");
            }
        }
    }
}

/// The BucketPolicyN output names the distribution serving that bucket, and equals what
/// `imgh policy` builds (policy::document) once CloudFormation substitutes the values.
#[test]
fn bucket_policy_output_matches_its_distribution() {
    let doc = parse(&render(CASES[1].1));
    for i in 0..3 {
        let out = &doc["Outputs"];
        let sub = out[format!("BucketPolicy{i}").as_str()]["Value"]["Fn::Sub"].as_str().expect("policy Sub");
        let arn_sub = out[format!("DistArn{i}").as_str()]["Value"]["Fn::Sub"].as_str().expect("arn Sub");
        assert!(arn_sub.ends_with(&format!("distribution/${{Distribution{i}}}")), "{arn_sub}");
        assert_eq!(
            doc["Resources"][format!("Distribution{i}").as_str()]["Type"].as_str(),
            Some("AWS::CloudFront::Distribution")
        );
        let fill = |s: &str| {
            s.replace("${AWS::Partition}", "aws")
                .replace("${AWS::AccountId}", "123456789012")
                .replace(&format!("${{Distribution{i}}}"), "E2EXAMPLE")
        };
        let policy: serde_json::Value = serde_json::from_str(&fill(sub)).expect("policy JSON");
        let arn = fill(arn_sub);
        let stmt = &policy["Statement"][0];
        assert_eq!(stmt["Condition"]["StringEquals"]["AWS:SourceArn"].as_str(), Some(arn.as_str()));
        assert_eq!(stmt["Principal"]["Service"].as_str(), Some("cloudfront.amazonaws.com"));
        assert_eq!(stmt["Resource"].as_str(), Some(format!("arn:aws:s3:::bucket-{i}/*").as_str()));
        assert_eq!(stmt["Sid"].as_str(), Some("ImghOacReadimghtest"));
    }
}

#[test]
fn invalid_options_are_refused_with_a_reason() {
    let dir = scratch("render-refuse");
    let cases: &[(&[&str], &str)] = &[
        (&["--variant", "lambda"], "at least one --bucket"),
        (&["--bucket", "Bad_Name"], "not a valid S3 bucket name"),
        (
            &[
                "--bucket",
                "bucket-0",
                "--domain",
                "x.example.com",
                "--certificate-arn",
                "arn:aws:acm:eu-west-1:1:certificate/x",
            ],
            "us-east-1",
        ),
        (&["--variant", "ecs", "--image-uri", "repo:latest"], "by digest"),
        (&["--variant", "ecs", "--vpc-id", "vpc-1"], "go together"),
    ];
    for (args, needle) in cases {
        let out = run_expect(imgh(&dir, None).arg("render").args(*args), 1);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn imgh_toml_is_read_and_flags_override_it() {
    let dir = scratch("config");
    std::fs::write(
        dir.join("imgh.toml"),
        "stack_name = \"from-file\"\nvariant = \"lambda\"\nbuckets = [\"file-bucket\"]\narch = \"x86_64\"\nmemory = 512\n",
    )
    .expect("write imgh.toml");
    let doc = parse(&stdout(&run_expect(imgh(&dir, None).arg("render"), 0)));
    let f = &doc["Resources"]["HandlerFunction"]["Properties"];
    assert_eq!(f["Architectures"][0].as_str(), Some("x86_64"));
    assert_eq!(f["MemorySize"].as_u64(), Some(512));
    assert_eq!(doc["Outputs"]["Bucket0"]["Value"].as_str(), Some("file-bucket"));
    let sub = doc["Outputs"]["BucketPolicy0"]["Value"]["Fn::Sub"].as_str().expect("policy");
    assert!(sub.contains("ImghOacReadfromfile"), "stack name from the file: {sub}");
    let doc =
        parse(&stdout(&run_expect(imgh(&dir, None).args(["render", "--arch", "arm64", "--stack-name", "flag"]), 0)));
    assert_eq!(doc["Resources"]["HandlerFunction"]["Properties"]["Architectures"][0].as_str(), Some("arm64"));
    assert!(doc["Outputs"]["BucketPolicy0"]["Value"]["Fn::Sub"].as_str().expect("policy").contains("ImghOacReadflag"));
    std::fs::write(dir.join("imgh.toml"), "stack_nme = \"typo\"\n").expect("write");
    let out = run_expect(imgh(&dir, None).arg("render"), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("stack_nme"));
}

#[test]
fn completions_and_help_document_exit_codes() {
    let dir = scratch("help");
    let out = run_expect(imgh(&dir, None).arg("--help"), 0);
    assert!(stdout(&out).contains("Exit codes:"));
    let out = run_expect(imgh(&dir, None).args(["completions", "bash"]), 0);
    assert!(stdout(&out).contains("apply-policy"));
    // init needs a terminal; without one it says so instead of hanging.
    let out = run_expect(imgh(&dir, None).arg("init"), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("terminal"));
}
