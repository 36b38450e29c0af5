//! The CLI's AWS orchestration against a real emulator (moto_server), with `imgh` run as a
//! subprocess: deploy, outputs, policy, apply-policy (on buckets already holding policies of
//! several shapes), re-deploy, styles, failure reporting, destroy.
//!
//! moto's CloudFormation skips CloudFront, Lambda::Url and S3::BucketPolicy, gives stacks
//! made from change sets no outputs, records no per-resource events and fails synchronously.
//! So these tests deploy small templates of types moto supports through the hidden
//! `--template-file` flag, take outputs from `--method direct`, and provoke a failure with a
//! resource moto rejects. The real templates are checked by cfn-lint (tests/render.rs).

mod common;

use std::path::Path;

use common::{imgh, moto_url, run_expect, s3, scratch, stdout};
use serde_json::{json, Value};

async fn get_policy(c: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    c.get_bucket_policy().bucket(bucket).send().await.ok().and_then(|o| o.policy().map(str::to_string))
}

fn dist_arn(i: usize) -> String {
    format!("arn:aws:cloudfront::123456789012:distribution/EMOTO{i}")
}

/// A stack of moto-supported types whose outputs mirror an imgh stack's.
fn flow_template(buckets: &[&str], extra: &str) -> String {
    let mut outputs = String::new();
    for (i, b) in buckets.iter().enumerate() {
        outputs.push_str(&format!(
            "  Bucket{i}:\n    Value: {b}\n  DistArn{i}:\n    Value: \"{}\"\n  DistUrl{i}:\n    Value: https://emoto{i}.cloudfront.net\n",
            dist_arn(i)
        ));
    }
    let n = buckets.len();
    format!(
        r#"AWSTemplateFormatVersion: "2010-09-09"
Description: imgh orchestration test stack (moto)
Resources:
  StyleTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName:
        Fn::Sub: ${{AWS::StackName}}-styles
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: style
          AttributeType: S
      KeySchema:
        - AttributeName: style
          KeyType: HASH
  SourceBucket:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
  Marker:
    Type: AWS::SNS::Topic
{extra}Outputs:
{outputs}  Bucket{n}:
    Value:
      Ref: SourceBucket
  CreatedBucket{n}:
    Value:
      Ref: SourceBucket
  DistArn{n}:
    Value: "{}"
  StyleConfig:
    Value:
      Ref: StyleTable
"#,
        dist_arn(n)
    )
}

fn statements_except(text: &str, sid: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).expect("policy JSON");
    let list = match &v["Statement"] {
        Value::Array(l) => l.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => vec![],
    };
    list.into_iter().filter(|s| s.get("Sid").and_then(Value::as_str) != Some(sid)).map(|s| s.to_string()).collect()
}

fn find_sid(text: &str, sid: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).expect("policy JSON");
    match &v["Statement"] {
        Value::Array(l) => l.iter().find(|s| s["Sid"].as_str() == Some(sid)).cloned(),
        s if s["Sid"].as_str() == Some(sid) => Some(s.clone()),
        _ => None,
    }
}

fn backups(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_policy_redeploy_style_destroy_flow() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-flow");
    let c = s3(&url);
    let pid = common::unique();
    let stack = format!("imgh-flow-{pid}");
    let sid = common::sid("ImghOacRead", &stack);
    let (a, b, cc) = (format!("src-a-{pid}"), format!("src-b-{pid}"), format!("src-c-{pid}"));
    for name in [&a, &b, &cc] {
        c.create_bucket().bucket(name).send().await.expect("create bucket");
    }
    // Policies of several shapes: a single statement object; an array with conditions, a
    // statement without Sid, and a stale copy of ours in the middle; none at all.
    let policy_a = json!({
        "Version": "2012-10-17",
        "Id": "LegacyPolicy",
        "Statement": {"Sid": "LegacyRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                      "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{a}/*")}
    })
    .to_string();
    let policy_b = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DenyInsecure", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": sid, "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{b}/*"),
             "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/OLD"}}},
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/b"]},
             "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")],
             "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}, "StringLike": {"s3:prefix": ["public/*"]}}}
        ]
    })
    .to_string();
    c.put_bucket_policy().bucket(&a).policy(&policy_a).send().await.expect("put a");
    c.put_bucket_policy().bucket(&b).policy(&policy_b).send().await.expect("put b");

    let tpl = dir.join("stack.yaml");
    std::fs::write(&tpl, flow_template(&[&a, &b, &cc], "")).expect("write template");
    let cmd = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack]).args(args);
        c
    };

    // Deploy (direct: moto gives outputs only to stacks created this way).
    let out = run_expect(
        &mut cmd(&[
            "deploy",
            "--method",
            "direct",
            "--yes",
            "--template-file",
            tpl.to_str().expect("utf8"),
            "--tag",
            "team=media",
        ]),
        0,
    );
    let text = stdout(&out);
    assert!(text.contains(&dist_arn(0)), "deploy prints the bucket policies:\n{text}");

    // Outputs.
    let out = run_expect(&mut cmd(&["outputs", "--json"]), 0);
    let outputs: Value = serde_json::from_str(&stdout(&out)).expect("outputs JSON");
    assert_eq!(outputs["Bucket0"].as_str(), Some(a.as_str()));
    assert_eq!(outputs["StyleConfig"].as_str(), Some(format!("{stack}-styles").as_str()));
    let created = outputs["Bucket3"].as_str().expect("created bucket").to_string();
    let out = run_expect(&mut cmd(&["status", "--json"]), 0);
    let status: Value = serde_json::from_str(&stdout(&out)).expect("status JSON");
    assert_eq!(status["status"].as_str(), Some("CREATE_COMPLETE"));

    // `imgh policy`: one statement per bucket, naming that bucket's distribution.
    let out = run_expect(&mut cmd(&["policy", "--json"]), 0);
    let policies: Value = serde_json::from_str(&stdout(&out)).expect("policy JSON");
    for (i, name) in [&a, &b, &cc].iter().enumerate() {
        let st = &policies[name.as_str()]["Statement"][0];
        assert_eq!(st["Sid"].as_str(), Some(sid.as_str()));
        assert_eq!(st["Condition"]["StringEquals"]["AWS:SourceArn"].as_str(), Some(dist_arn(i).as_str()));
        assert_eq!(st["Resource"].as_str(), Some(format!("arn:aws:s3:::{name}/*").as_str()));
    }

    // …and is exactly the BucketPolicyN output of the rendered Lambda template for the same
    // stack and buckets, once CloudFormation's placeholders are filled with this stack's values.
    let rendered = stdout(&run_expect(&mut cmd(&["render", "--bucket", &a, "--bucket", &b, "--bucket", &cc]), 0));
    let doc: serde_yaml::Value = serde_yaml::from_str(&rendered).expect("template");
    for (i, name) in [&a, &b, &cc].iter().enumerate() {
        let sub = doc["Outputs"][format!("BucketPolicy{i}").as_str()]["Value"]["Fn::Sub"].as_str().expect("Sub");
        let filled = sub
            .replace("${AWS::Partition}", "aws")
            .replace("${AWS::AccountId}", "123456789012")
            .replace(&format!("${{Distribution{i}}}"), &format!("EMOTO{i}"));
        let from_template: Value = serde_json::from_str(&filled).expect("policy JSON");
        assert_eq!(from_template, policies[name.as_str()], "{name}: template output == imgh policy");
    }

    // Dry run and no-terminal refusal change nothing.
    let backup_dir = dir.join(".imgh/backups");
    run_expect(&mut cmd(&["apply-policy", "--dry-run"]), 0);
    run_expect(&mut cmd(&["apply-policy"]), 3);
    assert_eq!(get_policy(&c, &a).await.as_deref(), Some(policy_a.as_str()));
    assert_eq!(get_policy(&c, &b).await.as_deref(), Some(policy_b.as_str()));
    assert!(get_policy(&c, &cc).await.is_none());
    assert!(backups(&backup_dir).is_empty(), "no backup without a change");

    // Apply: ours merged in, every other statement as it was, backups written.
    let out = run_expect(&mut cmd(&["apply-policy", "--yes", "--bucket", &a, "--bucket", &b, "--bucket", &cc]), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Backup of the previous policy"), "{err}");
    assert_eq!(backups(&backup_dir).len(), 3);
    for (i, (name, before)) in [(&a, Some(&policy_a)), (&b, Some(&policy_b)), (&cc, None)].into_iter().enumerate() {
        let now = get_policy(&c, name).await.expect("policy after apply");
        let ours = find_sid(&now, &sid).expect("our statement");
        assert_eq!(ours, policies[name.as_str()]["Statement"][0], "{name}: the statement imgh policy printed");
        assert_eq!(ours["Condition"]["StringEquals"]["AWS:SourceArn"].as_str(), Some(dist_arn(i).as_str()));
        if let Some(before) = before {
            assert_eq!(statements_except(&now, &sid), statements_except(before, &sid), "{name}: others unchanged");
        }
    }
    let now_a: Value = serde_json::from_str(&get_policy(&c, &a).await.expect("a")).expect("json");
    assert_eq!(now_a["Id"].as_str(), Some("LegacyPolicy"), "top-level keys kept");
    let now_b: Value = serde_json::from_str(&get_policy(&c, &b).await.expect("b")).expect("json");
    assert_eq!(now_b["Statement"][1]["Sid"].as_str(), Some(sid.as_str()), "stale statement replaced in place");
    assert_eq!(now_b["Statement"].as_array().map(Vec::len), Some(3));

    // Idempotent: a second run changes nothing and writes no backup.
    let snapshot = (get_policy(&c, &a).await, get_policy(&c, &b).await, get_policy(&c, &cc).await);
    let out = run_expect(&mut cmd(&["apply-policy", "--yes", "--bucket", &a, "--bucket", &b, "--bucket", &cc]), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to do"));
    assert_eq!(backups(&backup_dir).len(), 3, "no new backups");
    assert_eq!(snapshot, (get_policy(&c, &a).await, get_policy(&c, &b).await, get_policy(&c, &cc).await));

    // Restore puts the exact previous policy back (and "no policy" back as no policy).
    let files = backups(&backup_dir);
    let file_b = files
        .iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&b)))
        .expect("backup b");
    let file_c = files
        .iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&cc)))
        .expect("backup c");
    run_expect(&mut cmd(&["apply-policy", "--restore", file_b.to_str().expect("utf8"), "--yes"]), 0);
    assert_eq!(get_policy(&c, &b).await.as_deref(), Some(policy_b.as_str()));
    run_expect(&mut cmd(&["apply-policy", "--restore", file_c.to_str().expect("utf8"), "--yes"]), 0);
    assert!(get_policy(&c, &cc).await.is_none());
    run_expect(&mut cmd(&["apply-policy", "--yes"]), 0);

    // Re-deploy through a change set: the same template is "no changes" (exit 0)…
    let out = run_expect(&mut cmd(&["deploy", "--yes", "--template-file", tpl.to_str().expect("utf8")]), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No changes"), "{}", String::from_utf8_lossy(&out.stderr));
    // …a changed one without a terminal and without --yes is refused, and nothing runs…
    let extra = "  Marker2:\n    Type: AWS::SNS::Topic\n";
    std::fs::write(&tpl, flow_template(&[&a, &b, &cc], extra)).expect("write template");
    let out = run_expect(&mut cmd(&["deploy", "--template-file", tpl.to_str().expect("utf8")]), 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Marker2") && err.contains("--yes"), "{err}");
    // …and with --yes it shows the changes and executes them.
    let out = run_expect(&mut cmd(&["deploy", "--yes", "--template-file", tpl.to_str().expect("utf8")]), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Add") && err.contains("Marker2") && err.contains("AWS::SNS::Topic"), "{err}");
    let out = run_expect(&mut cmd(&["status", "--json"]), 0);
    let status: Value = serde_json::from_str(&stdout(&out)).expect("status JSON");
    assert_eq!(status["status"].as_str(), Some("UPDATE_COMPLETE"));

    // Styles in the stack's table.
    run_expect(&mut cmd(&["style", "set", "thumb", "image/resize,w_200/format,webp"]), 0);
    run_expect(&mut cmd(&["style", "set", "large", "x-oss-process=image/resize,w_1600"]), 0);
    let out = run_expect(&mut cmd(&["style", "get", "thumb"]), 0);
    assert_eq!(stdout(&out).trim(), "image/resize,w_200/format,webp");
    let out = run_expect(&mut cmd(&["style", "list", "--json"]), 0);
    let list: Value = serde_json::from_str(&stdout(&out)).expect("styles JSON");
    assert_eq!(list, json!({"large": "image/resize,w_1600", "thumb": "image/resize,w_200/format,webp"}));
    run_expect(&mut cmd(&["style", "rm", "thumb"]), 0);
    run_expect(&mut cmd(&["style", "get", "thumb"]), 1);
    // The handler's own rules: a name it would refuse, a process it cannot parse.
    let long = "n".repeat(64);
    let out = run_expect(&mut cmd(&["style", "set", &long, "image/resize,w_200"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1-63 letters"));
    let out = run_expect(&mut cmd(&["style", "set", "bad", "image/resize,w_abc"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("w must be an integer"));

    // Import: every style of a file is checked before any is written.
    let styles_file = dir.join("styles.toml");
    std::fs::write(&styles_file, "small = \"image/resize,w_100\"\nbroken = \"image/resize,w_abc\"\n").unwrap();
    let out = run_expect(&mut cmd(&["style", "import", styles_file.to_str().unwrap()]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken"));
    run_expect(&mut cmd(&["style", "get", "small"]), 1);
    std::fs::write(&styles_file, "small = \"image/resize,w_100\"\n").unwrap();
    run_expect(&mut cmd(&["style", "import", styles_file.to_str().unwrap()]), 0);
    let out = run_expect(&mut cmd(&["style", "get", "small"]), 0);
    assert_eq!(stdout(&out).trim(), "image/resize,w_100");

    // Destroy: refused without a terminal, then our statements out, stack gone, buckets kept;
    // the styles (deleted with the stack's table) saved first, in a file import reads.
    let before: Vec<_> = backups(&backup_dir);
    run_expect(&mut cmd(&["destroy"]), 3);
    assert_eq!(backups(&backup_dir), before, "nothing written before the answer");
    let out = run_expect(&mut cmd(&["destroy", "--yes"]), 0);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("2 styles are saved first"), "{said}");
    let saved: Vec<_> = backups(&backup_dir)
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains("-styles-")))
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let kept: std::collections::BTreeMap<String, String> =
        toml::from_str(&std::fs::read_to_string(&saved[0]).unwrap()).expect("a styles file");
    assert_eq!(
        kept,
        [("large", "image/resize,w_1600"), ("small", "image/resize,w_100")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
    );
    assert_eq!(statements_except(&get_policy(&c, &a).await.expect("a kept"), &sid), statements_except(&policy_a, &sid));
    assert!(find_sid(&get_policy(&c, &a).await.expect("a"), &sid).is_none());
    let now_b = get_policy(&c, &b).await.expect("b kept");
    assert!(find_sid(&now_b, &sid).is_none());
    assert_eq!(statements_except(&now_b, &sid), statements_except(&policy_b, &sid));
    assert!(get_policy(&c, &cc).await.is_none(), "a policy holding only ours is deleted");
    for name in [&a, &b, &cc, &created] {
        assert!(c.head_bucket().bucket(name.as_str()).send().await.is_ok(), "bucket {name} kept");
    }
    let out = run_expect(&mut cmd(&["status"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn failed_resource_is_reported_with_its_reason() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-fail");
    let tpl = dir.join("bad.yaml");
    // moto rejects an SQS queue name with spaces, synchronously, with a reason.
    std::fs::write(
        &tpl,
        "Resources:\n  Good:\n    Type: AWS::SNS::Topic\n  BadQueue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: not a valid name\n",
    )
    .expect("write");
    for method in ["direct", "change-set"] {
        let stack = format!("imgh-fail-{method}-{}", common::unique());
        let out = run_expect(
            imgh(&dir, Some(&url))
                .args(["--stack-name", &stack, "deploy", "--yes", "--method", method, "--template-file"])
                .arg(&tpl),
            4,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("alphanumeric"), "{method}: the reason is printed:\n{err}");
    }
}

#[test]
fn declined_first_deploy_leaves_no_stack() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-declined");
    let tpl = dir.join("t.yaml");
    std::fs::write(&tpl, "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n").expect("write");
    let stack = format!("imgh-declined-{}", common::unique());
    let out =
        run_expect(imgh(&dir, Some(&url)).args(["--stack-name", &stack, "deploy", "--template-file"]).arg(&tpl), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let out = run_expect(imgh(&dir, Some(&url)).args(["--stack-name", &stack, "status"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn large_template_goes_through_s3() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-large");
    let tpl = dir.join("large.yaml");
    let padding = "x".repeat(60_000);
    std::fs::write(
        &tpl,
        format!("Metadata:\n  Padding: {padding}\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\nOutputs:\n  Hello:\n    Value: world\n"),
    )
    .expect("write");
    let stack = format!("imgh-large-{}", common::unique());
    let out = run_expect(
        imgh(&dir, Some(&url)).args(["--stack-name", &stack, "deploy", "--yes", "--template-file"]).arg(&tpl),
        0,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("uploading to s3://imgh-artifacts-123456789012-us-east-1/"), "{err}");
    run_expect(imgh(&dir, Some(&url)).args(["--stack-name", &stack, "destroy", "--yes"]), 0);
}

/// Settings a deploy cannot go on without are refused before the (long) handler build:
/// those `render` refuses too, and those only the account can tell (a bucket's region).
#[tokio::test(flavor = "multi_thread")]
async fn deploy_checks_its_settings_before_building() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("no-artifacts");
    let dead = Some("http://127.0.0.1:9");
    let out = run_expect(imgh(&dir, dead).args(["deploy", "--yes", "--bucket", "bucket-0", "--code-bucket", "b"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--code-bucket and --code-key go together"));
    let out = run_expect(
        imgh(&dir, dead).args(["deploy", "--yes", "--variant", "ecs", "--cpu", "256", "--task-memory", "4096"]),
        1,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit --cpu 256"));
    // A bucket in another region than the stack: its S3 origin would point at the wrong
    // regional endpoint, so the deploy stops here.
    let pid = common::unique();
    let (here, away) = (format!("pre-here-{pid}"), format!("pre-away-{pid}"));
    let c = s3(&url);
    c.create_bucket().bucket(&here).send().await.expect("create bucket");
    let conf = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    c.create_bucket().bucket(&away).create_bucket_configuration(conf).send().await.expect("create bucket");
    let out = run_expect(imgh(&dir, Some(&url)).args(["deploy", "--yes", "--bucket", &away]), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in eu-west-1") && err.contains("--region eu-west-1"), "{err}");
    // A region without CloudFront VPC origins cannot host the ECS variant (China's has its
    // own origin, and is refused without the ICP-registered domain it needs).
    let out = run_expect(
        imgh(&dir, Some(&url)).args(["deploy", "--yes", "--variant", "ecs", "--region", "us-gov-west-1"]),
        1,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("us-gov-west-1 does not offer"));
    let out =
        run_expect(imgh(&dir, Some(&url)).args(["deploy", "--yes", "--variant", "ecs", "--region", "cn-north-1"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ICP recordal"));
    let out = run_expect(imgh(&dir, Some(&url)).args(["deploy", "--yes", "--bucket", "missing-bucket-xyz"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the region of bucket"));
    // Without an artifact, deploy builds one: here from a binary that is not there.
    let out = run_expect(
        imgh(&dir, Some(&url)).args(["deploy", "--yes", "--bucket", &here, "--binary", "/nonexistent/bin"]),
        1,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/bin"));
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_deletes_created_buckets_only_when_asked() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-created");
    let c = s3(&url);
    let pid = common::unique();
    let kept = format!("kept-src-{pid}");
    c.create_bucket().bucket(&kept).send().await.expect("create");
    let tpl = dir.join("created.yaml");
    std::fs::write(&tpl, flow_template(&[&kept], "")).expect("write");
    for (i, delete) in [false, true].into_iter().enumerate() {
        let stack = format!("imgh-created-{i}-{pid}");
        let cmd = |args: &[&str]| {
            let mut c = imgh(&dir, Some(&url));
            c.args(["--stack-name", &stack]).args(args);
            c
        };
        run_expect(
            &mut cmd(&["deploy", "--method", "direct", "--yes", "--template-file", tpl.to_str().expect("utf8")]),
            0,
        );
        let out = run_expect(&mut cmd(&["outputs", "--json"]), 0);
        let outputs: Value = serde_json::from_str(&stdout(&out)).expect("outputs");
        let created = outputs["CreatedBucket1"].as_str().expect("created bucket").to_string();
        c.put_object().bucket(&created).key("a photo.jpg").body(b"jpeg".to_vec().into()).send().await.expect("put");
        let mut args = vec!["destroy", "--yes"];
        if delete {
            args.push("--delete-created-buckets");
        }
        run_expect(&mut cmd(&args), 0);
        assert!(c.head_bucket().bucket(&kept).send().await.is_ok(), "a bucket the stack did not create is kept");
        assert_eq!(
            c.head_bucket().bucket(&created).send().await.is_ok(),
            !delete,
            "created bucket deleted only when asked"
        );
    }
}

/// With a KMS key, `imgh policy` prints the key policy statement for every distribution of
/// the stack, `apply-policy` merges it into the key's policy the same safe way as a bucket's
/// (others kept, backup, verify, idempotent), `--restore` puts the backup back, and
/// `destroy` takes our statement out again.
#[tokio::test(flavor = "multi_thread")]
async fn kms_key_policy_is_merged_backed_up_restored_and_removed() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-kms");
    let pid = common::unique();
    let stack = format!("imgh-kms-{pid}");
    let sid = common::sid("ImghOacDecrypt", &stack);
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(aws_sdk_kms::config::Credentials::new("testing", "testing", None, None, "test"))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(conf);
    let key = kms.create_key().send().await.expect("create key");
    let arn = key.key_metadata().expect("metadata").arn().expect("arn").to_string();
    let key_policy = |k: aws_sdk_kms::Client, a: String| async move {
        k.get_key_policy()
            .key_id(a)
            .policy_name("default")
            .send()
            .await
            .expect("get key policy")
            .policy()
            .unwrap()
            .to_string()
    };
    let original = key_policy(kms.clone(), arn.clone()).await;
    let (a, b) = (format!("kms-a-{pid}"), format!("kms-b-{pid}"));
    let c = s3(&url);
    for name in [&a, &b] {
        c.create_bucket().bucket(name).send().await.expect("create bucket");
    }
    let tpl = dir.join("stack.yaml");
    std::fs::write(
        &tpl,
        format!(
            "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Marker:\n    Type: AWS::SNS::Topic\nOutputs:\n  Bucket0:\n    Value: {a}\n  DistArn0:\n    Value: \"{}\"\n  Bucket1:\n    Value: {b}\n  DistArn1:\n    Value: \"{}\"\n  KmsKey:\n    Value: \"{arn}\"\n",
            dist_arn(0),
            dist_arn(1)
        ),
    )
    .expect("write template");
    let cmd = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack]).args(args);
        c
    };
    run_expect(&mut cmd(&["deploy", "--method", "direct", "--yes", "--template-file", tpl.to_str().unwrap()]), 0);

    let printed: Value = serde_json::from_str(&stdout(&run_expect(&mut cmd(&["policy", "--json"]), 0))).expect("JSON");
    let ours = &printed[arn.as_str()];
    assert_eq!(ours["Sid"].as_str(), Some(sid.as_str()));
    assert_eq!(ours["Action"].as_str(), Some("kms:Decrypt"));
    assert_eq!(ours["Principal"]["Service"].as_str(), Some("cloudfront.amazonaws.com"));
    assert_eq!(ours["Condition"]["StringEquals"]["AWS:SourceArn"], json!([dist_arn(0), dist_arn(1)]));
    // Only the bucket filter's buckets get bucket policies; the key statement still names
    // every distribution (one statement serves the whole stack).
    let filtered: Value =
        serde_json::from_str(&stdout(&run_expect(&mut cmd(&["policy", "--json", "--bucket", &a]), 0))).expect("JSON");
    assert!(filtered.get(&b).is_none());
    assert_eq!(filtered[arn.as_str()], *ours);

    let backup_dir = dir.join(".imgh/backups");
    let out = run_expect(&mut cmd(&["apply-policy", "--yes"]), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("KMS key {arn}: policy updated and verified")), "{err}");
    let now = key_policy(kms.clone(), arn.clone()).await;
    assert_eq!(find_sid(&now, &sid).as_ref(), Some(ours));
    assert_eq!(statements_except(&now, &sid), statements_except(&original, &sid), "the key's own statements kept");
    let key_backups: Vec<_> = backups(&backup_dir)
        .into_iter()
        .filter(|p| std::fs::read_to_string(p).unwrap_or_default().contains("\"kms_key\""))
        .collect();
    assert_eq!(key_backups.len(), 1);

    let out = run_expect(&mut cmd(&["apply-policy", "--yes"]), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("KMS key {arn}: policy already holds")));

    run_expect(&mut cmd(&["apply-policy", "--restore", key_backups[0].to_str().unwrap(), "--yes"]), 0);
    let restored: Value = serde_json::from_str(&key_policy(kms.clone(), arn.clone()).await).unwrap();
    assert_eq!(restored, serde_json::from_str::<Value>(&original).unwrap());

    run_expect(&mut cmd(&["apply-policy", "--yes"]), 0);
    run_expect(&mut cmd(&["destroy", "--yes"]), 0);
    let after = key_policy(kms, arn).await;
    assert!(find_sid(&after, &sid).is_none(), "destroy removed our statement");
    assert_eq!(statements_except(&after, &sid), statements_except(&original, &sid));
}

/// A merge that would pass S3's 20 KB bucket policy limit is refused before anything is
/// written: no backup, no put, the policy as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_over_the_policy_size_limit_changes_nothing() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-policy-size");
    let pid = common::unique();
    let stack = format!("imgh-size-{pid}");
    let (small, bucket) = (format!("small-{pid}"), format!("size-{pid}"));
    let c = s3(&url);
    for b in [&small, &bucket] {
        c.create_bucket().bucket(b).send().await.expect("create bucket");
    }
    // Just under 20 KB of other statements (S3 would store them).
    let mut statements = vec![];
    let mut i = 0;
    loop {
        let s = json!({"Sid": format!("Reader{i}"), "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::123456789012:role/reader-{i:04}")},
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/team-{i:04}/*")});
        statements.push(s);
        let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        // Stop within ~60 bytes of the limit: our ~270-byte statement then passes it.
        if text.len() > 20 * 1024 - 60 {
            statements.pop();
            break;
        }
        i += 1;
    }
    let before = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    c.put_bucket_policy().bucket(&bucket).policy(&before).send().await.expect("put policy");
    let tpl = dir.join("stack.yaml");
    std::fs::write(&tpl, flow_template(&[&small, &bucket], "")).expect("write template");
    let cmd = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack]).args(args);
        c
    };
    run_expect(&mut cmd(&["deploy", "--method", "direct", "--yes", "--template-file", tpl.to_str().unwrap()]), 0);
    // The small bucket comes first, and is not written either: the other cannot be.
    let out = run_expect(&mut cmd(&["apply-policy", "--yes", "--bucket", &small, "--bucket", &bucket]), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("over the 20480 the service stores") && err.contains("Nothing was changed"), "{err}");
    assert!(get_policy(&c, &small).await.is_none(), "the first bucket's policy was not written");
    assert_eq!(get_policy(&c, &bucket).await.as_deref(), Some(before.as_str()));
    assert!(backups(&dir.join(".imgh/backups")).is_empty(), "no backup for a refused merge");
    run_expect(&mut cmd(&["destroy", "--yes"]), 0);
}

/// Stacks whose names differ only in punctuation own different statements; a statement an
/// earlier imgh wrote (Sid without the hash) is taken over when it names this stack's
/// distribution, and left alone when it names another's.
#[tokio::test(flavor = "multi_thread")]
async fn statements_of_look_alike_stacks_stay_apart() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-sids");
    let pid = common::unique().replace('-', "x");
    let (stack, look_alike) = (format!("pmc-{pid}"), format!("pmc{pid}"));
    let (sid, other_sid) = (common::sid("ImghOacRead", &stack), common::sid("ImghOacRead", &look_alike));
    assert_ne!(sid, other_sid);
    let legacy = format!("ImghOacRead{}", stack.replace('-', ""));
    let bucket = format!("sids-{pid}");
    let c = s3(&url);
    c.create_bucket().bucket(&bucket).send().await.expect("create bucket");
    let stmt = |sid: &str, dist: &str| {
        json!({"Sid": sid, "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
               "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*"),
               "Condition": {"StringEquals": {"AWS:SourceArn": dist}}})
    };
    let theirs = stmt(&legacy, "arn:aws:cloudfront::123456789012:distribution/ELOOKALIKE");
    let before = json!({"Version": "2012-10-17", "Statement": [stmt(&legacy, &dist_arn(0)), theirs.clone()]});
    c.put_bucket_policy().bucket(&bucket).policy(before.to_string()).send().await.expect("put policy");
    let tpl = dir.join("stack.yaml");
    std::fs::write(&tpl, flow_template(&[&bucket], "")).expect("write template");
    let cmd = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack]).args(args);
        c
    };
    run_expect(&mut cmd(&["deploy", "--method", "direct", "--yes", "--template-file", tpl.to_str().unwrap()]), 0);
    run_expect(&mut cmd(&["apply-policy", "--yes", "--bucket", &bucket]), 0);
    let now: Value = serde_json::from_str(&get_policy(&c, &bucket).await.expect("policy")).unwrap();
    assert_eq!(now["Statement"][0]["Sid"].as_str(), Some(sid.as_str()), "ours taken over, in place");
    assert_eq!(now["Statement"][1], theirs, "the look-alike stack's statement kept");
    assert_eq!(now["Statement"].as_array().map(Vec::len), Some(2));
    run_expect(&mut cmd(&["destroy", "--yes"]), 0);
    let after: Value = serde_json::from_str(&get_policy(&c, &bucket).await.expect("policy")).unwrap();
    assert_eq!(after["Statement"], json!([theirs]), "destroy removed ours only");
}

/// SDK configuration for the emulator in `region`, with the dummy credentials `imgh` gets.
async fn sdk(endpoint: &str, region: &'static str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

/// `imgh rotate-origin-secret` on a China stack: the secret gets a new `current` and keeps
/// the old one as `previous` in a new version, and the stack is updated to that version
/// (its other parameters kept). moto's CloudFormation has no Secrets Manager resources or
/// dynamic references, so the stack names a secret created here; the templates' use of
/// the version is checked in tests/render.rs.
#[tokio::test(flavor = "multi_thread")]
async fn origin_secret_rotates_to_a_new_version_the_stack_then_reads() {
    let Some(url) = moto_url() else { return };
    let conf = sdk(&url, "cn-north-1").await;
    let (sm, cfn) = (aws_sdk_secretsmanager::Client::new(&conf), aws_sdk_cloudformation::Client::new(&conf));
    let stack = format!("imgh-rotate-{}", common::unique());
    let secret = sm
        .create_secret()
        .name(format!("{stack}-origin"))
        .secret_string(json!({"current": "first-secret"}).to_string())
        .send()
        .await
        .expect("create secret");
    let arn = secret.arn().expect("secret arn").to_string();
    assert!(arn.starts_with("arn:aws-cn:"), "{arn}");
    let dir = scratch("moto-rotate");
    let tpl = dir.join("rotate.yaml");
    std::fs::write(
        &tpl,
        format!(
            r#"Parameters:
  OriginSecretVersion:
    Type: String
    Default: ""
  CodeBucket:
    Type: String
  CodeKey:
    Type: String
Resources:
  Marker:
    Type: AWS::SNS::Topic
Outputs:
  OriginSecret:
    Value: "{arn}"
"#
        ),
    )
    .expect("write");
    let imgh_cn = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--region", "cn-north-1", "--stack-name", &stack]).args(args);
        c
    };
    let deploy = ["deploy", "--yes", "--method", "direct", "--code-bucket", "artifacts", "--code-key", "handler/a.zip"];
    run_expect(imgh_cn(&deploy).arg("--template-file").arg(&tpl), 0);
    let value = |v: &str| serde_json::from_str::<Value>(v).expect("secret JSON");
    let mut previous = "first-secret".to_string();
    for _ in 0..2 {
        let out = run_expect(&mut imgh_cn(&["rotate-origin-secret", "--yes"]), 0);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("accepts the old one too until the next `imgh deploy`"), "{err}");
        let now = sm.get_secret_value().secret_id(&arn).version_stage("AWSCURRENT").send().await.expect("read secret");
        let v = value(now.secret_string().unwrap());
        let current = v["current"].as_str().expect("current").to_string();
        assert_eq!(v["previous"].as_str(), Some(previous.as_str()), "the old value is still accepted");
        assert!(current.len() == 48 && current.chars().all(|c| c.is_ascii_alphanumeric()), "{current}");
        assert_ne!(current, previous);
        let st = cfn.describe_stacks().stack_name(&stack).send().await.expect("describe");
        let params: std::collections::BTreeMap<_, _> = st.stacks()[0]
            .parameters()
            .iter()
            .map(|p| (p.parameter_key().unwrap().to_string(), p.parameter_value().unwrap_or_default().to_string()))
            .collect();
        assert_eq!(params["OriginSecretVersion"], now.version_id().unwrap(), "the stack reads the new version");
        assert_eq!(params["CodeKey"], "handler/a.zip", "other parameters keep their values");
        previous = current;
    }
    // The stack's update fails (moto cannot evaluate an out-of-range Fn::Select on the new
    // version, as CloudFormation would refuse an update): nothing changes in service, the
    // secret's current value included.
    let failing = std::fs::read_to_string(&tpl).unwrap().replace(
        "Resources:\n  Marker:\n    Type: AWS::SNS::Topic\n",
        "Conditions:\n  Rotated:\n    Fn::Not: [{\"Fn::Equals\": [{\"Ref\": \"OriginSecretVersion\"}, \"\"]}]\nResources:\n  Marker:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName:\n        Fn::If: [Rotated, {\"Fn::Select\": [9, {\"Fn::Split\": [\"-\", {\"Ref\": \"OriginSecretVersion\"}]}]}, {\"Ref\": \"AWS::NoValue\"}]\n",
    );
    assert_ne!(failing, std::fs::read_to_string(&tpl).unwrap());
    std::fs::write(&tpl, failing).unwrap();
    run_expect(imgh_cn(&deploy).arg("--template-file").arg(&tpl), 0);
    let before = sm.get_secret_value().secret_id(&arn).version_stage("AWSCURRENT").send().await.expect("read secret");
    let out = run_expect(&mut imgh_cn(&["rotate-origin-secret", "--yes"]), 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing changed in service"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = sm.get_secret_value().secret_id(&arn).version_stage("AWSCURRENT").send().await.expect("read secret");
    assert_eq!(after.version_id(), before.version_id(), "the current version stays");
    assert_eq!(after.secret_string(), before.secret_string());
    run_expect(&mut imgh_cn(&["destroy", "--yes"]), 0);
    // A stack without an origin secret (every global one) is refused with the reason.
    let out = run_expect(&mut imgh_cn(&["rotate-origin-secret", "--yes"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&stack));
}

/// `imgh cert upload` puts a PEM certificate into IAM under /cloudfront/ (the only path
/// CloudFront in China reads) and prints the id `--iam-certificate-id` takes.
#[tokio::test(flavor = "multi_thread")]
async fn certificate_upload_prints_the_id_to_deploy_with() {
    let Some(url) = moto_url() else { return };
    let dir = scratch("moto-cert");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let name = format!("imgh-cert-{}", common::unique());
    let out = run_expect(
        imgh(&dir, Some(&url))
            .args(["--region", "cn-north-1", "cert", "upload", "--name", &name, "--cert"])
            .arg(fixtures.join("test-cert.pem"))
            .arg("--key")
            .arg(fixtures.join("test-key.pem")),
        0,
    );
    let id = stdout(&out).trim().to_string();
    let conf = sdk(&url, "cn-north-1").await;
    let got = aws_sdk_iam::Client::new(&conf).get_server_certificate().server_certificate_name(&name).send().await;
    let meta =
        got.expect("uploaded").server_certificate.expect("certificate").server_certificate_metadata.expect("meta");
    assert_eq!(meta.path, "/cloudfront/");
    assert_eq!(meta.server_certificate_id, id);
    assert!(meta.arn.starts_with("arn:aws-cn:iam::"), "{}", meta.arn);
    // The id renders: it is what the China templates take.
    run_expect(
        imgh(&dir, None).args([
            "--region",
            "cn-north-1",
            "render",
            "--variant",
            "lambda",
            "--bucket",
            "photos-cn0",
            "--domain",
            "img.example.cn",
            "--iam-certificate-id",
            &id,
        ]),
        0,
    );
    // A key where the certificate should be is refused before any call.
    let out = run_expect(
        imgh(&dir, Some(&url))
            .args(["--region", "cn-north-1", "cert", "upload", "--cert"])
            .arg(fixtures.join("test-key.pem"))
            .arg("--key")
            .arg(fixtures.join("test-key.pem")),
        1,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PEM CERTIFICATE block"));
}

/// A distribution in moto's CloudFront (which CloudFormation there does not create). moto's
/// CreateDistribution answer has a root element the SDK does not parse, so the id is read
/// from the raw answer.
async fn moto_distribution(cf: &aws_sdk_cloudfront::Client) -> String {
    use aws_sdk_cloudfront::types::*;
    let origin = Origin::builder()
        .id("s3")
        .domain_name("b0.s3.us-east-1.amazonaws.com")
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()
        .unwrap();
    let behavior = DefaultCacheBehavior::builder()
        .target_origin_id("s3")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(common::unique())
        .origins(Origins::builder().quantity(1).items(origin).build().unwrap())
        .default_cache_behavior(behavior)
        .comment("imgh test")
        .enabled(true)
        .build()
        .unwrap();
    match cf.create_distribution().distribution_config(config).send().await {
        Ok(d) => d.distribution.expect("distribution").id,
        Err(e) => {
            let body = e.raw_response().and_then(|r| r.body().bytes()).map(String::from_utf8_lossy).unwrap_or_default();
            let id = body.split("<Id>").nth(1).and_then(|r| r.split("</Id>").next());
            id.unwrap_or_else(|| panic!("create distribution: {e:?}")).to_string()
        }
    }
}

/// `imgh invalidate`: one invalidation per distribution of the stack, each path widened to
/// its processed renditions, followed to completion; `--all` is `/*`; bad paths are refused
/// before any call.
#[tokio::test(flavor = "multi_thread")]
async fn invalidate_removes_paths_and_their_renditions_from_every_distribution() {
    let Some(url) = moto_url() else { return };
    let conf = sdk(&url, "us-east-1").await;
    let cf = aws_sdk_cloudfront::Client::new(&conf);
    let ids = [moto_distribution(&cf).await, moto_distribution(&cf).await];
    let stack = format!("imgh-inval-{}", common::unique());
    let dir = scratch("moto-invalidate");
    let tpl = dir.join("t.yaml");
    let mut outputs = String::new();
    for (i, id) in ids.iter().enumerate() {
        let bucket = format!("{stack}-{i}");
        s3(&url).create_bucket().bucket(&bucket).send().await.expect("create bucket");
        outputs.push_str(&format!(
            "  Bucket{i}:\n    Value: {bucket}\n  DistArn{i}:\n    Value: arn:aws:cloudfront::123456789012:distribution/{id}\n"
        ));
    }
    std::fs::write(&tpl, format!("Resources:\n  Marker:\n    Type: AWS::SNS::Topic\nOutputs:\n{outputs}")).unwrap();
    let cli = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack]).args(args);
        c
    };
    run_expect(cli(&["deploy", "--yes", "--method", "direct", "--template-file"]).arg(&tpl), 0);
    let out = run_expect(&mut cli(&["invalidate", "/photos/a.jpg", "/gallery/*", "--json"]), 0);
    let report: Value = serde_json::from_str(&stdout(&out)).expect("JSON report");
    let list = report.as_array().expect("one entry per distribution");
    assert_eq!(list.len(), 2);
    for (entry, id) in list.iter().zip(&ids) {
        assert_eq!(entry["distribution"], id.as_str());
        assert_eq!(entry["completed"], true);
        let inv = cf
            .get_invalidation()
            .distribution_id(id)
            .id(entry["invalidation"].as_str().unwrap())
            .send()
            .await
            .expect("the invalidation exists");
        let paths = inv.invalidation.unwrap().invalidation_batch.unwrap().paths.unwrap().items.unwrap();
        assert_eq!(paths, ["/photos/a.jpg*", "/gallery/*"]);
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("first 1,000 paths a month are free"));
    let out = run_expect(&mut cli(&["invalidate", "--all", "--no-wait", "--json"]), 0);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report[0]["paths"], json!(["/*"]));
    assert_eq!(report[0]["completed"], false);
    let out = run_expect(&mut cli(&["invalidate", "photos/a.jpg"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with /"));
    let many: Vec<String> = (0..16).map(|i| format!("/k{i}.jpg")).collect();
    let out = run_expect(cli(&["invalidate"]).args(&many), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 15 wildcard paths"));
    run_expect(&mut cli(&["destroy", "--yes"]), 0);
}

/// `imgh logs`: the handler's request lines from its log group, as rows or as logged; other
/// lines (EMF metrics, start-up) left out.
#[tokio::test(flavor = "multi_thread")]
async fn logs_print_the_request_lines() {
    let Some(url) = moto_url() else { return };
    let conf = sdk(&url, "us-east-1").await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    let stack = format!("imgh-logs-{}", common::unique());
    let group = format!("/aws/lambda/{stack}-handler");
    logs.create_log_group().log_group_name(&group).send().await.expect("log group");
    logs.create_log_stream().log_group_name(&group).log_stream_name("s").send().await.expect("stream");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let request = |path: &str, status: u16| {
        json!({"timestamp": "2026-12-01T10:00:00.000000Z", "level": "INFO", "fields": {"message": "request",
            "method": "GET", "path": path, "process": "image/resize,w_50", "status": status, "bytes_out": 806, "total_ms": 19.3}})
        .to_string()
    };
    let lines =
        [request("/a.jpg", 200), r#"{"_aws":{"Timestamp":1},"Latency":3.0}"#.to_string(), request("/missing.jpg", 404)];
    let events: Vec<_> = lines
        .iter()
        .enumerate()
        .map(|(i, m)| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now - 1000 + i as i64)
                .message(m)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(&group)
        .log_stream_name("s")
        .set_log_events(Some(events))
        .send()
        .await
        .expect("put");
    let dir = scratch("moto-logs");
    let tpl = dir.join("t.yaml");
    std::fs::write(&tpl, "Resources:\n  Marker:\n    Type: AWS::SNS::Topic\nOutputs:\n  Variant:\n    Value: lambda\n")
        .unwrap();
    let cli = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack]).args(args);
        c
    };
    run_expect(cli(&["deploy", "--yes", "--method", "direct", "--template-file"]).arg(&tpl), 0);
    let table = stdout(&run_expect(&mut cli(&["logs", "--since", "1h"]), 0));
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "a header and two requests:\n{table}");
    assert!(
        rows[1].contains(" 200 ") && rows[1].contains("/a.jpg") && rows[1].contains("image/resize,w_50"),
        "{table}"
    );
    assert!(rows[2].contains(" 404 ") && rows[2].contains("/missing.jpg"), "{table}");
    let raw = stdout(&run_expect(&mut cli(&["logs", "--since", "1h", "--json"]), 0));
    let parsed: Vec<Value> = raw.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1]["fields"]["status"], 404);
    run_expect(&mut cli(&["destroy", "--yes"]), 0);
}

/// A zip holding one `bootstrap` file with `text` in it: a Lambda artifact moto accepts.
fn code_zip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    z.start_file("bootstrap", zip::write::SimpleFileOptions::default()).unwrap();
    z.write_all(text.as_bytes()).unwrap();
    z.finish().unwrap();
    out.into_inner()
}

/// `imgh deploy --hotswap` on the Lambda variant: the function gets the new code (and
/// nothing else is published), the stack keeps its parameters (and says it now drifts);
/// a template that changed beyond the artifact is refused, naming what changed, before any
/// change to the function.
#[tokio::test(flavor = "multi_thread")]
async fn hotswap_replaces_the_function_code_only_when_nothing_else_changed() {
    let Some(url) = moto_url() else { return };
    let conf = sdk(&url, "us-east-1").await;
    let (lambda, cfn) = (aws_sdk_lambda::Client::new(&conf), aws_sdk_cloudformation::Client::new(&conf));
    let stack = format!("imgh-hotswap-{}", common::unique());
    let c = s3(&url);
    let bucket = format!("{stack}-code");
    c.create_bucket().bucket(&bucket).send().await.expect("code bucket");
    let (v1, v2) = (code_zip("one"), code_zip("two"));
    // Named as `imgh build` names them, by their SHA-256: how a deploy tells the code running.
    let key_of = |zip: &[u8]| {
        use sha2::Digest;
        format!("lambda/imgh-handler-{}.zip", hex::encode(sha2::Sha256::digest(zip)))
    };
    let (k1, k2) = (key_of(&v1), key_of(&v2));
    for (key, body) in [(&k1, &v1), (&k2, &v2)] {
        c.put_object().bucket(&bucket).key(key).body(body.clone().into()).send().await.expect("put code");
    }
    let template = r#"Parameters:
  CodeBucket:
    Type: String
  CodeKey:
    Type: String
Resources:
  HandlerRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: lambda.amazonaws.com
            Action: sts:AssumeRole
  HandlerFunction:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName:
        Fn::Sub: ${AWS::StackName}-handler
      Runtime: provided.al2023
      Handler: bootstrap
      Code:
        S3Bucket:
          Ref: CodeBucket
        S3Key:
          Ref: CodeKey
      Role:
        Fn::GetAtt: [HandlerRole, Arn]
Outputs:
  Variant:
    Value: lambda
"#;
    let dir = scratch("moto-hotswap");
    let tpl = dir.join("t.yaml");
    std::fs::write(&tpl, template).unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = imgh(&dir, Some(&url));
        cmd.args(["--stack-name", &stack]).args(args);
        if args[0] == "deploy" {
            cmd.args(["--code-bucket", &bucket, "--template-file"]).arg(&tpl);
        }
        cmd
    };
    run_expect(&mut cli(&["deploy", "--yes", "--method", "direct", "--code-key", &k1]), 0);
    let function = format!("{stack}-handler");
    let sha = |body: &[u8]| {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body))
    };
    let code_sha = || async {
        let f = lambda.get_function().function_name(&function).send().await.expect("function");
        f.configuration().and_then(|c| c.code_sha256()).unwrap().to_string()
    };
    assert_eq!(code_sha().await, sha(&v1));

    // Without a terminal and without --yes, nothing happens.
    run_expect(&mut cli(&["deploy", "--hotswap", "--code-key", &k2]), 3);
    assert_eq!(code_sha().await, sha(&v1));

    let out = run_expect(&mut cli(&["deploy", "--hotswap", "--yes", "--code-key", &k2]), 0);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(code_sha().await, sha(&v2), "{said}");
    assert!(said.contains(&format!("code → s3://{bucket}/{k2}")) && said.contains("drifts"), "{said}");
    let versions = lambda.list_versions_by_function().function_name(&function).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "only $LATEST: nothing published");
    let st = cfn.describe_stacks().stack_name(&stack).send().await.unwrap();
    let key = st.stacks()[0].parameters().iter().find(|p| p.parameter_key() == Some("CodeKey")).unwrap();
    assert_eq!(key.parameter_value(), Some(k1.as_str()), "the stack's parameters are left as they were");

    // The same code again: nothing to do.
    let out = run_expect(&mut cli(&["deploy", "--hotswap", "--yes", "--code-key", &k2]), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to swap"));

    // The template changed too: refused, and the function keeps its code.
    std::fs::write(&tpl, template.replace("Outputs:", "  Marker:\n    Type: AWS::SNS::Topic\nOutputs:")).unwrap();
    let out = run_expect(&mut cli(&["deploy", "--hotswap", "--yes", "--code-key", &k1]), 1);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        said.contains("the template changed too (resource Marker)") && said.contains("without --hotswap"),
        "{said}"
    );
    assert_eq!(code_sha().await, sha(&v2));

    // A full deploy of the stack's own artifact puts it back, though CloudFormation sees no change.
    std::fs::write(&tpl, template).unwrap();
    let out = run_expect(&mut cli(&["deploy", "--yes", "--method", "direct", "--code-key", &k1]), 0);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("No changes") && said.contains("putting the stack's back"), "{said}");
    assert!(!said.contains("drifts"), "{said}");
    assert_eq!(code_sha().await, sha(&v1), "{said}");
    run_expect(&mut cli(&["destroy", "--yes"]), 0);
}

/// A stack of the ECS variant's compute resources, as moto runs them, taking the image as
/// `ImageUri` and saying it is of the ECS variant.
const ECS_TEMPLATE: &str = r#"Parameters:
  ImageUri:
    Type: String
Resources:
  Cluster:
    Type: AWS::ECS::Cluster
  TaskDefinition:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family:
        Fn::Sub: ${AWS::StackName}-handler
      Cpu: "1024"
      Memory: "2048"
      NetworkMode: awsvpc
      RequiresCompatibilities:
        - FARGATE
      ContainerDefinitions:
        - Name: handler
          Image:
            Ref: ImageUri
          Essential: true
          Environment:
            - Name: IMGH_MODE
              Value: http
  Service:
    Type: AWS::ECS::Service
    Properties:
      Cluster:
        Ref: Cluster
      TaskDefinition:
        Ref: TaskDefinition
      DesiredCount: 1
      LaunchType: FARGATE
Outputs:
  Variant:
    Value: ecs
"#;

/// `imgh deploy --hotswap` on the ECS variant: a new task definition revision that differs
/// from the running one in the handler's image only, and the service rolled onto it. (moto
/// reports a service's tasks as running at once, MOTO_ECS_SERVICE_RUNNING in tests/run.sh;
/// how a rollout is judged steady is unit-tested in hotswap.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn hotswap_rolls_the_service_onto_a_revision_with_the_new_image() {
    let Some(url) = moto_url() else { return };
    let conf = sdk(&url, "us-east-1").await;
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let stack = format!("imgh-hotswap-ecs-{}", common::unique());
    let dir = scratch("moto-hotswap-ecs");
    let tpl = dir.join("t.yaml");
    std::fs::write(&tpl, ECS_TEMPLATE).unwrap();
    let image =
        |n: u8| format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/imgh@sha256:{}", format!("{n:x}").repeat(64));
    let cli = |args: &[&str]| {
        let mut cmd = imgh(&dir, Some(&url));
        cmd.args(["--stack-name", &stack]).args(args);
        if args[0] == "deploy" {
            cmd.args(["--variant", "ecs", "--template-file"]).arg(&tpl);
        }
        cmd
    };
    run_expect(&mut cli(&["deploy", "--yes", "--method", "direct", "--image-uri", &image(1)]), 0);
    let out = run_expect(&mut cli(&["deploy", "--hotswap", "--yes", "--image-uri", &image(2)]), 0);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("is steady on") && said.contains("drifts"), "{said}");

    let clusters = ecs.list_clusters().send().await.unwrap();
    let mut found = None;
    for cluster in clusters.cluster_arns() {
        for svc in ecs.list_services().cluster(cluster).send().await.unwrap().service_arns() {
            let d = ecs.describe_services().cluster(cluster).services(svc).send().await.unwrap();
            let s = d.services()[0].clone();
            if s.task_definition().is_some_and(|td| td.contains(&format!("{stack}-handler:"))) {
                found = Some(s);
            }
        }
    }
    let service = found.expect("the stack's service");
    let td = service.task_definition().unwrap();
    assert!(td.ends_with(&format!("{stack}-handler:2")), "{td}");
    let describe = |arn: String| {
        let ecs = ecs.clone();
        async move { ecs.describe_task_definition().task_definition(arn).send().await.unwrap().task_definition.unwrap() }
    };
    let (old, new) = (describe(td.replace(":2", ":1")).await, describe(td.to_string()).await);
    assert_eq!(new.container_definitions()[0].image(), Some(image(2).as_str()));
    assert_eq!(old.container_definitions()[0].image(), Some(image(1).as_str()));
    assert_eq!(new.container_definitions()[0].environment(), old.container_definitions()[0].environment());
    assert_eq!((new.cpu(), new.memory(), new.network_mode()), (old.cpu(), old.memory(), old.network_mode()));

    // A full deploy of the stack's image rolls the service back onto the stack's own revision.
    let out = run_expect(&mut cli(&["deploy", "--yes", "--method", "direct", "--image-uri", &image(1)]), 0);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("putting the stack's back") && !said.contains("drifts"), "{said}");
    let svc = ecs
        .describe_services()
        .cluster(service.cluster_arn().unwrap())
        .services(service.service_arn().unwrap())
        .send()
        .await
        .unwrap();
    let back = svc.services()[0].task_definition().unwrap().to_string();
    assert!(back.ends_with(&format!("{stack}-handler:1")), "{back}");

    // Container Insights writes a log group the stack does not own: destroy says so, then
    // removes it once the stack is gone.
    let cluster = service.cluster_arn().unwrap().rsplit('/').next().unwrap().to_string();
    let group = format!("/aws/ecs/containerinsights/{cluster}/performance");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&conf);
    logs.create_log_group().log_group_name(&group).send().await.unwrap();
    let out = run_expect(&mut cli(&["destroy", "--yes"]), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("log group {group}")));
    let left = logs.describe_log_groups().log_group_name_prefix(&group).send().await.unwrap();
    assert!(left.log_groups().is_empty(), "{group} deleted");
}

/// `imgh status` on a stack with a dashboard: its URL, the last hour's figures from the
/// handler's namespace and from CloudFront's metrics in us-east-1 (the stack is in another
/// region), and the alarms' states.
#[tokio::test(flavor = "multi_thread")]
async fn status_prints_the_dashboard_and_the_last_hour() {
    let Some(url) = moto_url() else { return };
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    let stack = format!("imgh-status-{}", common::unique());
    let regional = aws_sdk_cloudwatch::Client::new(&sdk(&url, "eu-west-1").await);
    let global = aws_sdk_cloudwatch::Client::new(&sdk(&url, "us-east-1").await);
    // A minute ago: the figures are of the last hour up to now, to the second.
    let minute_ago = aws_sdk_cloudwatch::primitives::DateTime::from(
        std::time::SystemTime::now() - std::time::Duration::from_secs(60),
    );
    let datum = |name: &str, value: f64| {
        MetricDatum::builder().metric_name(name).value(value).unit(StandardUnit::None).timestamp(minute_ago).build()
    };
    let ns = format!("imgh/{stack}");
    let mut data = vec![];
    for (ms, client_error) in [(10.0, 1.0), (20.0, 0.0), (30.0, 0.0), (40.0, 0.0)] {
        data.extend([
            datum("Latency", ms),
            datum("ClientErrors", client_error),
            datum("ServerErrors", 0.0),
            datum("BytesOut", 1500.0),
        ]);
    }
    regional.put_metric_data().namespace(&ns).set_metric_data(Some(data)).send().await.expect("handler metrics");
    let on = |d: MetricDatum| {
        let mut d = d;
        d.dimensions = Some(vec![
            Dimension::builder().name("DistributionId").value("EMOTO0").build(),
            Dimension::builder().name("Region").value("Global").build(),
        ]);
        d
    };
    global
        .put_metric_data()
        .namespace("AWS/CloudFront")
        .metric_data(on(datum("Requests", 120.0)))
        .metric_data(on(datum("BytesDownloaded", 2.5e6)))
        .send()
        .await
        .expect("cloudfront metrics");
    regional
        .put_metric_alarm()
        .alarm_name(format!("{stack}-origin-errors"))
        .namespace(&ns)
        .metric_name("ServerErrors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .expect("alarm");

    let photos = format!("{stack}-photos");
    s3(&url).create_bucket().bucket(&photos).send().await.expect("bucket");
    let dir = scratch("moto-status");
    let tpl = dir.join("t.yaml");
    std::fs::write(
        &tpl,
        format!(
            "{ECS_TEMPLATE}  Bucket0:\n    Value: {photos}\n  DistArn0:\n    Value: \"{}\"\n  DashboardUrl:\n    Value: https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name={stack}-eu-west-1\n",
            dist_arn(0)
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut c = imgh(&dir, Some(&url));
        c.args(["--stack-name", &stack, "--region", "eu-west-1"]).args(args);
        c
    };
    let image = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/imgh@sha256:{}", "0".repeat(64));
    run_expect(
        cli(&["deploy", "--yes", "--method", "direct", "--variant", "ecs", "--image-uri", &image, "--template-file"])
            .arg(&tpl),
        0,
    );
    // Container Insights' task count, under the names the stack's cluster and service got.
    let cfn = aws_sdk_cloudformation::Client::new(&sdk(&url, "eu-west-1").await);
    let mut names = vec![];
    for logical in ["Cluster", "Service"] {
        let r = cfn.describe_stack_resource().stack_name(&stack).logical_resource_id(logical).send().await.unwrap();
        let id = r.stack_resource_detail().unwrap().physical_resource_id().unwrap().to_string();
        names.push(id.rsplit('/').next().unwrap().to_string());
    }
    let mut tasks = datum("RunningTaskCount", 2.0);
    tasks.dimensions = Some(vec![
        Dimension::builder().name("ClusterName").value(&names[0]).build(),
        Dimension::builder().name("ServiceName").value(&names[1]).build(),
    ]);
    regional.put_metric_data().namespace("ECS/ContainerInsights").metric_data(tasks).send().await.expect("task count");
    let text = stdout(&run_expect(&mut cli(&["status"]), 0));
    assert!(text.contains("ECS         2.0 tasks running on average"), "{text}");
    assert!(text.contains(&format!("Dashboard   https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name={stack}-eu-west-1")), "{text}");
    assert!(text.contains("CloudFront  120 requests, 2.5 MB out"), "{text}");
    assert!(text.contains("Handler     4 requests") && text.contains("4xx 25.0%, 5xx 0.0%, 6.0 kB out"), "{text}");
    assert!(text.contains("Alarms      origin-errors "), "{text}");
    let v: Value = serde_json::from_str(&stdout(&run_expect(&mut cli(&["status", "--json"]), 0))).unwrap();
    assert_eq!(v["last_hour"]["handler"]["requests"], 4.0, "{v}");
    assert_eq!(v["last_hour"]["cloudfront"]["requests"], 120.0, "{v}");
    assert!(v["last_hour"]["alarms"]["origin-errors"].is_string(), "{v}");
    run_expect(&mut cli(&["destroy", "--yes"]), 0);
}
