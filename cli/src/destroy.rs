//! `imgh destroy`: take our statements out of the buckets' policies and the KMS key's
//! (keeping every other statement), delete the stack and follow it. A bucket the stack did not create is never
//! emptied or deleted; one it created is retained (DeletionPolicy: Retain) unless
//! `--delete-created-buckets`, which empties and deletes it after the stack is gone. The
//! stack's ECR repository, which `imgh build` made for it, goes with the stack.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::aws::{Aws, SdkResultExt, Session};
use crate::{apply_policy, follow, stack, ui};

/// `imgh destroy`.
#[derive(Debug, clap::Args)]
pub struct Destroy {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Also empty and delete buckets the stack created (never buckets it did not).
    #[arg(long)]
    delete_created_buckets: bool,
}

impl Destroy {
    pub async fn run(self, s: Session) -> Result<()> {
        destroy(&s.aws, s.stack(), self.yes, self.delete_created_buckets, &s.settings.backup_dir).await
    }
}

async fn destroy(
    aws: &Aws,
    stack_name: &str,
    yes: bool,
    delete_created_buckets: bool,
    backup_dir: &Path,
) -> Result<()> {
    let st = stack::require(aws, stack_name).await?;
    let out = stack::outputs(&st);
    let buckets = stack::buckets(&out);
    let (created, existing): (Vec<_>, Vec<_>) = buckets.iter().cloned().partition(|b| b.created);
    eprintln!("Destroying stack {stack_name} ({}).", aws.region);
    if !existing.is_empty() {
        let names: Vec<&str> = existing.iter().map(|b| b.name.as_str()).collect();
        eprintln!(
            "  bucket policies of {}: our statement removed, the buckets and their objects kept",
            names.join(", ")
        );
    }
    for b in &created {
        eprintln!(
            "  bucket {} (created by the stack): {}",
            b.name,
            if delete_created_buckets { "EMPTIED AND DELETED" } else { "retained" }
        );
    }
    ui::confirm(&format!("Delete stack {stack_name}?"), yes)?;

    apply_policy::remove_ours(aws, stack_name, &buckets, out.get("KmsKey").map(String::as_str), backup_dir).await?;

    let stack_id = st.stack_id().unwrap_or(stack_name).to_string();
    let started = SystemTime::now();
    aws.cfn
        .delete_stack()
        .stack_name(&stack_id)
        .send()
        .await
        .sdk()
        .with_context(|| format!("CloudFormation refused to delete {stack_name}"))?;
    let total = aws
        .cfn
        .describe_stack_resources()
        .stack_name(&stack_id)
        .send()
        .await
        .map(|r| r.stack_resources().len() as u64)
        .unwrap_or(0);
    let outcome = follow::until_done(aws, &stack_id, started, total).await?;
    if !outcome.gone {
        follow::report_failure(stack_name, &outcome);
        return Err(ui::Exit(4, format!("deleting {stack_name} failed ({})", outcome.status)).into());
    }
    eprintln!("Stack {stack_name} deleted.");
    if crate::build::delete_repository(aws, stack_name).await? {
        eprintln!(
            "ECR repository {} (the handler images imgh build pushed) deleted.",
            crate::build::repository_name(stack_name)
        );
    }
    if delete_created_buckets {
        for b in &created {
            empty_and_delete(aws, &b.name).await?;
            eprintln!("Bucket {} emptied and deleted.", b.name);
        }
    }
    Ok(())
}

/// Deletes every object version and delete marker, then the bucket.
async fn empty_and_delete(aws: &Aws, bucket: &str) -> Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    loop {
        let page = aws
            .s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .sdk()
            .with_context(|| format!("cannot list objects of {bucket}"))?;
        let mut ids = vec![];
        for v in page.versions() {
            if let Some(k) = v.key() {
                ids.push(
                    ObjectIdentifier::builder().key(k).set_version_id(v.version_id().map(str::to_string)).build()?,
                );
            }
        }
        for m in page.delete_markers() {
            if let Some(k) = m.key() {
                ids.push(
                    ObjectIdentifier::builder().key(k).set_version_id(m.version_id().map(str::to_string)).build()?,
                );
            }
        }
        if ids.is_empty() {
            break;
        }
        aws.s3
            .delete_objects()
            .bucket(bucket)
            .delete(Delete::builder().set_objects(Some(ids)).quiet(true).build()?)
            .send()
            .await
            .sdk()
            .with_context(|| format!("cannot delete objects of {bucket}"))?;
    }
    aws.s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot delete bucket {bucket}"))?;
    Ok(())
}
