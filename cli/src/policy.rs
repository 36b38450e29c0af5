//! Resource policies: the statement that lets one CloudFront distribution (through its
//! origin access control) read a bucket, the one that lets the stack's distributions
//! decrypt with a KMS key, and merging either into a policy that already exists.
//!
//! The merge is by `Sid`: our statement is replaced or appended, every other statement is
//! kept as it was (key order included, thanks to serde_json's `preserve_order`). The AWS
//! side (fetch, backup, put, verify, restore) lives in `apply_policy.rs`; this module is pure.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The `Sid` of the statement imgh owns in a bucket policy.
pub fn sid(stack_name: &str) -> String {
    format!("ImghOacRead{}", sid_tail(stack_name))
}

/// The `Sid` of the statement imgh owns in a KMS key policy.
pub fn kms_sid(stack_name: &str) -> String {
    format!("ImghOacDecrypt{}", sid_tail(stack_name))
}

/// How many characters of a Sid come from the stack name's hash.
const HASH_CHARS: usize = 8;

/// The stack name's letters and digits (a Sid holds nothing else), then 8 hex digits of the
/// exact name's SHA-256: stacks whose names differ only in punctuation (`a-b1`, `ab1`) own
/// different statements. The region needs no part: a bucket, and a key, is served only by
/// stacks in its own region, and stack names are unique there.
fn sid_tail(stack_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let letters: String = stack_name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let hash = hex::encode(Sha256::digest(stack_name.as_bytes()));
    format!("{letters}{}", &hash[..HASH_CHARS])
}

/// Renames statements an earlier version of imgh wrote for `ours` (its Sid without the hash,
/// and a source ARN condition naming one of ours' distributions, which no other stack has)
/// to ours' Sid, so they are replaced or removed like ours. A statement with that older Sid
/// for other distributions only (a stack whose name differs only in punctuation) is left alone.
pub fn adopt_legacy(policy: &Value, ours: &Value) -> Value {
    let Some(sid) = ours.get("Sid").and_then(Value::as_str) else { return policy.clone() };
    // Our Sid less its hash; an ASCII Sid longer than the hash, as `sid` makes.
    let Some(legacy) = sid.len().checked_sub(HASH_CHARS).and_then(|n| sid.get(..n)).filter(|l| !l.is_empty()) else {
        return policy.clone();
    };
    let arns = |s: &Value| -> Vec<String> {
        match &s["Condition"]["StringEquals"]["AWS:SourceArn"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(l) => l.iter().filter_map(|a| a.as_str().map(str::to_string)).collect(),
            _ => vec![],
        }
    };
    let ours_arns = arns(ours);
    let mut out = policy.clone();
    let adopt = |s: &mut Value| {
        let theirs = arns(s);
        if has_sid(s, legacy) && theirs.iter().any(|a| ours_arns.contains(a)) {
            s["Sid"] = json!(sid);
        }
    };
    match out.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().for_each(adopt),
        Some(single @ Value::Object(_)) => adopt(single),
        _ => {}
    }
    out
}

/// The key policy statement letting CloudFront decrypt objects encrypted with the key, only
/// on behalf of the stack's distributions. In a key policy, `"Resource": "*"` is the key
/// itself. Reads through OAC need `kms:Decrypt` only.
pub fn kms_statement(sid: &str, dist_arns: &[String]) -> Value {
    let source = match dist_arns {
        [one] => json!(one),
        many => json!(many),
    };
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Service": "cloudfront.amazonaws.com" },
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": { "StringEquals": { "AWS:SourceArn": source } }
    })
}

/// Our statement for `bucket` as `stack_name` owns it, for the distribution `dist_arn` (the
/// partition taken from that ARN).
pub fn bucket_statement(stack_name: &str, bucket: &str, dist_arn: &str) -> Value {
    let partition = dist_arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws");
    statement(&sid(stack_name), partition, bucket, dist_arn)
}

/// The statement allowing `cloudfront.amazonaws.com` to `s3:GetObject` in `bucket`, only on
/// behalf of the distribution `dist_arn` (`AWS:SourceArn`). `partition` is usually derived
/// from the distribution ARN; the template passes `${AWS::Partition}`.
pub fn statement(sid: &str, partition: &str, bucket: &str, dist_arn: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Service": "cloudfront.amazonaws.com" },
        "Action": "s3:GetObject",
        "Resource": format!("arn:{partition}:s3:::{bucket}/*"),
        "Condition": { "StringEquals": { "AWS:SourceArn": dist_arn } }
    })
}

/// The result of merging our statement into an existing policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The new policy document.
    pub policy: Value,
    /// Our statement as it was before (None when it was absent).
    pub previous: Option<Value>,
    /// False when the policy already held exactly our statement: nothing to put.
    pub changed: bool,
}

/// Parses a policy text as S3 returns it. `None` (no policy) becomes an empty document.
pub fn parse(text: Option<&str>) -> Result<Value> {
    let Some(text) = text else {
        return Ok(json!({ "Version": "2012-10-17", "Statement": [] }));
    };
    let v: Value = serde_json::from_str(text).context("the bucket's current policy is not valid JSON")?;
    if !v.is_object() {
        bail!("the bucket's current policy is not a JSON object");
    }
    Ok(v)
}

fn has_sid(stmt: &Value, sid: &str) -> bool {
    stmt.get("Sid").and_then(Value::as_str) == Some(sid)
}

/// Merges `ours` (which carries our `Sid`) into `current`: the first statement with that Sid
/// is replaced in place, later duplicates are dropped, and when there is none ours is appended.
/// A single-statement object (`"Statement": {…}`) becomes an array only when something is added.
pub fn merge(current: &Value, ours: &Value) -> Result<Merged> {
    let sid = ours.get("Sid").and_then(Value::as_str).context("internal: our statement has no Sid")?;
    let mut policy = current.clone();
    let obj = policy.as_object_mut().context("the bucket's current policy is not a JSON object")?;
    if !obj.contains_key("Version") {
        obj.insert("Version".into(), json!("2012-10-17"));
    }
    let previous;
    match obj.get_mut("Statement") {
        None => {
            previous = None;
            obj.insert("Statement".into(), json!([ours]));
        }
        Some(Value::Object(_)) => {
            let single = obj["Statement"].clone();
            if has_sid(&single, sid) {
                previous = Some(single);
                obj.insert("Statement".into(), ours.clone());
            } else {
                previous = None;
                obj.insert("Statement".into(), json!([single, ours]));
            }
        }
        Some(Value::Array(list)) => {
            previous = list.iter().find(|s| has_sid(s, sid)).cloned();
            let mut out = Vec::with_capacity(list.len() + 1);
            let mut placed = false;
            for s in list.drain(..) {
                if has_sid(&s, sid) {
                    if !placed {
                        out.push(ours.clone());
                        placed = true;
                    }
                } else {
                    out.push(s);
                }
            }
            if !placed {
                out.push(ours.clone());
            }
            *list = out;
        }
        Some(_) => bail!("the bucket's current policy has a `Statement` that is neither an object nor an array"),
    }
    let changed = &policy != current;
    Ok(Merged { policy, previous, changed })
}

/// Removes every statement with `sid`. Returns the new policy, or `None` when no statement
/// is left (the caller then deletes the bucket policy rather than putting an empty one).
pub fn remove(current: &Value, sid: &str) -> Result<Option<Value>> {
    let mut policy = current.clone();
    let obj = policy.as_object_mut().context("the bucket's current policy is not a JSON object")?;
    match obj.get_mut("Statement") {
        None => return Ok(None),
        Some(Value::Object(_)) => {
            if has_sid(&obj["Statement"], sid) {
                return Ok(None);
            }
        }
        Some(Value::Array(list)) => {
            list.retain(|s| !has_sid(s, sid));
            if list.is_empty() {
                return Ok(None);
            }
        }
        Some(_) => bail!("the bucket's current policy has a `Statement` that is neither an object nor an array"),
    }
    Ok(Some(policy))
}

/// Our statement in `policy`, if present (first one with `sid`).
pub fn find<'a>(policy: &'a Value, sid: &str) -> Option<&'a Value> {
    match policy.get("Statement") {
        Some(Value::Array(l)) => l.iter().find(|s| has_sid(s, sid)),
        Some(v @ Value::Object(_)) => Some(v).filter(|s| has_sid(s, sid)),
        _ => None,
    }
}

/// Statements other than ours, in order: what must not change. Compared as values, so a
/// service that re-serialises a policy (whitespace, key order) does not count as a change.
pub fn others(policy: &Value, sid: &str) -> Vec<Value> {
    let list: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(l)) => l.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => vec![],
    };
    list.into_iter().filter(|s| !has_sid(s, sid)).cloned().collect()
}

/// Replaces each string holding a `${…}` placeholder by `{"Fn::Sub": string}`, turning a
/// policy document built with CloudFormation placeholders into a template property.
pub fn to_cfn_sub(v: &Value) -> Value {
    match v {
        Value::String(s) if s.contains("${") => json!({ "Fn::Sub": s }),
        Value::Array(a) => Value::Array(a.iter().map(to_cfn_sub).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), to_cfn_sub(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:cloudfront::123456789012:distribution/E1ABC";

    #[test]
    fn merge_appends_then_is_idempotent() {
        let ours = statement("S", "aws", "b0", ARN);
        let cur = parse(Some(r#"{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b0/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#)).unwrap();
        let m = merge(&cur, &ours).unwrap();
        assert!(m.changed);
        assert_eq!(others(&m.policy, "S"), others(&cur, "S"));
        let again = merge(&m.policy, &ours).unwrap();
        assert!(!again.changed);
    }

    #[test]
    fn single_object_statement_kept() {
        let ours = statement("S", "aws", "b0", ARN);
        let cur = parse(Some(r#"{"Statement":{"Sid":"X","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b0/*"}}"#)).unwrap();
        let m = merge(&cur, &ours).unwrap();
        assert_eq!(m.policy["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(others(&m.policy, "S"), others(&cur, "S"));
        let back = remove(&m.policy, "S").unwrap().unwrap();
        assert_eq!(others(&back, "S"), others(&cur, "S"));
    }

    #[test]
    fn replaces_stale_statement_in_place() {
        let old = statement("S", "aws", "b0", "arn:aws:cloudfront::1:distribution/OLD");
        let cur = json!({"Version":"2012-10-17","Statement":[{"Sid":"A"}, old, {"Sid":"B"}]});
        let ours = statement("S", "aws", "b0", ARN);
        let m = merge(&cur, &ours).unwrap();
        assert_eq!(m.policy["Statement"][1], ours);
        assert_eq!(m.previous, Some(cur["Statement"][1].clone()));
        assert!(remove(&json!({"Statement":[ours]}), "S").unwrap().is_none());
    }

    #[test]
    fn kms_statement_names_every_distribution() {
        let one = kms_statement("K", &[ARN.to_string()]);
        assert_eq!(one["Condition"]["StringEquals"]["AWS:SourceArn"], json!(ARN));
        let two = kms_statement("K", &[ARN.to_string(), "arn:aws:cloudfront::1:distribution/E2".into()]);
        assert_eq!(two["Condition"]["StringEquals"]["AWS:SourceArn"].as_array().map(Vec::len), Some(2));
        assert_eq!((two["Action"].as_str(), two["Resource"].as_str()), (Some("kms:Decrypt"), Some("*")));
    }

    #[test]
    fn sids_are_alphanumeric_and_differ_by_punctuation() {
        let s = sid("imgh-prod_2");
        assert!(s.starts_with("ImghOacReadimghprod2") && s.len() == "ImghOacReadimghprod2".len() + 8, "{s}");
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(sid("pmc-5kh4bx"), sid("pmc5kh4bx"));
        assert_ne!(kms_sid("pmc-5kh4bx"), kms_sid("pmc5kh4bx"));
    }

    #[test]
    fn legacy_statements_are_adopted_only_for_our_distribution() {
        let ours = statement(&sid("pmc-5kh4bx"), "aws", "b0", ARN);
        let mine_before = statement("ImghOacReadpmc5kh4bx", "aws", "b0", ARN);
        let other_stack = statement("ImghOacReadpmc5kh4bx", "aws", "b0", "arn:aws:cloudfront::1:distribution/EOTHER");
        let cur = json!({"Version": "2012-10-17", "Statement": [mine_before, other_stack.clone()]});
        let adopted = adopt_legacy(&cur, &ours);
        let m = merge(&adopted, &ours).unwrap();
        assert_eq!(m.policy["Statement"], json!([ours, other_stack]), "ours replaced in place, the other stack's kept");
        assert_eq!(others(&m.policy, &sid("pmc-5kh4bx")), vec![other_stack]);
    }
}
