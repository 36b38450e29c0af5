//! Reading a deployed stack: its status and outputs, and what the outputs say about the
//! buckets it serves. Shared by deploy, outputs, status, policy, apply-policy, destroy, style.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::Stack;

use crate::aws::{sdk_message, Aws};

/// The stack, or `None` when it does not exist.
pub async fn describe(aws: &Aws, name: &str) -> Result<Option<Stack>> {
    match aws.cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) => {
            let msg = sdk_message(&e);
            if msg.contains("does not exist") {
                Ok(None)
            } else {
                Err(anyhow::anyhow!(msg)).with_context(|| format!("cannot describe stack {name}"))
            }
        }
    }
}

/// The stack, or an error saying how to create it.
pub async fn require(aws: &Aws, name: &str) -> Result<Stack> {
    match describe(aws, name).await? {
        Some(s) => Ok(s),
        None => {
            bail!("stack {name} does not exist in {}: deploy it first (imgh deploy), or pass --stack-name", aws.region)
        }
    }
}

/// The physical id of the stack's resource `logical` (a function's name, a service's ARN).
pub async fn physical_id(aws: &Aws, stack_name: &str, logical: &str) -> Result<String> {
    let got = aws
        .cfn
        .describe_stack_resource()
        .stack_name(stack_name)
        .logical_resource_id(logical)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(sdk_message(&e)))
        .with_context(|| format!("stack {stack_name} has no {logical}: is it an imgh stack of this variant?"))?;
    got.stack_resource_detail()
        .and_then(|d| d.physical_resource_id())
        .map(str::to_string)
        .with_context(|| format!("{logical} of {stack_name} has no physical id yet"))
}

/// Output key → value.
pub fn outputs(stack: &Stack) -> BTreeMap<String, String> {
    stack.outputs().iter().filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string()))).collect()
}

/// One source bucket as the stack's outputs describe it.
#[derive(Debug, Clone)]
pub struct ServedBucket {
    pub index: usize,
    pub name: String,
    /// ARN of the distribution serving it (None in a stack without CloudFront).
    pub dist_arn: Option<String>,
    /// True for a bucket the stack itself created.
    pub created: bool,
}

/// `BucketN` / `DistArnN` / `CreatedBucketN` outputs, in index order.
pub fn buckets(out: &BTreeMap<String, String>) -> Vec<ServedBucket> {
    let mut list = vec![];
    for index in 0.. {
        let Some(name) = out.get(&format!("Bucket{index}")) else {
            break;
        };
        list.push(ServedBucket {
            index,
            name: name.clone(),
            dist_arn: out.get(&format!("DistArn{index}")).cloned(),
            created: out.get(&format!("CreatedBucket{index}")) == Some(name),
        });
    }
    list
}

/// The buckets to act on: all, or those named by `--bucket` (each must be served by the stack).
pub fn select(all: Vec<ServedBucket>, wanted: &[String], stack: &str) -> Result<Vec<ServedBucket>> {
    if wanted.is_empty() {
        return Ok(all);
    }
    let mut chosen = vec![];
    for w in wanted {
        match all.iter().find(|b| &b.name == w) {
            Some(b) => chosen.push(b.clone()),
            None => {
                let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
                bail!("bucket {w} is not served by stack {stack} (it serves: {})", names.join(", "))
            }
        }
    }
    Ok(chosen)
}
