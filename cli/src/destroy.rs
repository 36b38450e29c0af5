//! `imgh destroy`: take our statements out of the buckets' policies and the KMS key's
//! (keeping every other statement), delete the stack and follow it. A bucket the stack did not create is never
//! emptied or deleted; one it created is retained (DeletionPolicy: Retain) unless
//! `--delete-created-buckets`, which empties and deletes it after the stack is gone. The
//! stack's ECR repository, which `imgh build` made for it, goes with the stack.
//!
//! What users wrote into the stack is kept: the styles (a DynamoDB table the stack owns,
//! deleted with it, backups included) are saved first to a file `imgh style import` reads.
//! What a service made outside the template goes too: ECS Container Insights writes to a log
//! group of its own, `/aws/ecs/containerinsights/CLUSTER/performance`, which would outlive
//! the stack. A delete that stops only at a VPC, subnet or security group still held by
//! interfaces a service removes on its own time (CloudFront's VPC origin: "will be deleted by
//! CloudFront after all VPC origins … are deleted", aws/aws-cdk#33318) is tried again.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::aws::{Aws, SdkResultExt, Session};
use crate::{apply_policy, follow, stack, style, ui};

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
    let stack_id = st.stack_id().unwrap_or(stack_name).to_string();
    let resources = aws
        .cfn
        .describe_stack_resources()
        .stack_name(&stack_id)
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot list the resources of {stack_name}"))?;
    let styles = style::of_stack(aws, &st).await?;
    if !styles.is_empty() {
        eprintln!(
            "  styles: the table is deleted with the stack; its {} styles are saved first to {} (imgh style import FILE restores them)",
            styles.len(),
            backup_dir.display()
        );
    }
    let insights = resources
        .stack_resources()
        .iter()
        .find(|r| r.logical_resource_id() == Some("Cluster"))
        .and_then(|r| r.physical_resource_id())
        .map(|cluster| {
            format!("/aws/ecs/containerinsights/{}/performance", cluster.rsplit('/').next().unwrap_or(cluster))
        });
    if let Some(group) = &insights {
        eprintln!("  log group {group} (Container Insights writes it, not the stack): deleted after the stack");
    }
    ui::confirm(&format!("Delete stack {stack_name}?"), yes)?;

    if !styles.is_empty() {
        let file = style::save(&styles, backup_dir, stack_name)?;
        eprintln!("Styles saved to {}.", file.display());
    }
    apply_policy::remove_ours(aws, stack_name, &buckets, out.get("KmsKey").map(String::as_str), backup_dir).await?;

    let total = resources.stack_resources().len() as u64;
    for attempt in 1..=DELETE_ATTEMPTS {
        let started = SystemTime::now();
        aws.cfn
            .delete_stack()
            .stack_name(&stack_id)
            .send()
            .await
            .sdk()
            .with_context(|| format!("CloudFormation refused to delete {stack_name}"))?;
        let outcome = follow::until_done(aws, &stack_id, started, total).await?;
        if outcome.gone {
            break;
        }
        follow::report_failure(stack_name, &outcome);
        match blocked_by_network_interfaces(&outcome.failures) {
            Some(blocked) if attempt < DELETE_ATTEMPTS => {
                eprintln!(
                    "{} still had network interfaces, public addresses or a security group in use. CloudFront deletes a \
                     VPC origin's interfaces and its CloudFront-VPCOrigins-Service-SG group only after the origin is gone, \
                     and ECS a stopped task's interface and public IP shortly after the task: deleting again in {} s \
                     (attempt {} of {DELETE_ATTEMPTS}).",
                    blocked.join(", "),
                    RETRY_AFTER.as_secs(),
                    attempt + 1
                );
                tokio::time::sleep(RETRY_AFTER).await;
            }
            _ => return Err(ui::Exit(4, format!("deleting {stack_name} failed ({})", outcome.status)).into()),
        }
    }
    eprintln!("Stack {stack_name} deleted.");
    if crate::build::delete_repository(aws, stack_name).await? {
        eprintln!(
            "ECR repository {} (the handler images imgh build pushed) deleted.",
            crate::build::repository_name(stack_name)
        );
    }
    if let Some(group) = &insights {
        match aws.logs.delete_log_group().log_group_name(group).send().await {
            Ok(_) => eprintln!("Log group {group} deleted."),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => eprintln!("warning: log group {group} was not deleted: {}", crate::aws::sdk_message(&e)),
        }
    }
    if delete_created_buckets {
        for b in &created {
            empty_and_delete(aws, &b.name).await?;
            eprintln!("Bucket {} emptied and deleted.", b.name);
        }
    }
    Ok(())
}

/// A delete that stops only at network resources still in use by what AWS services made and
/// remove on their own time (a VPC origin's interfaces and security group, a task's
/// interface) is tried again after a while; anything else is reported as it failed.
const DELETE_ATTEMPTS: u32 = 3;
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(90);

/// The failed resources, when every one is a network resource held by an interface still in
/// use (EC2's `DependencyViolation`; a gateway that "has some mapped public address(es)" while
/// a task's public IP lingers); `None` when anything else failed.
fn blocked_by_network_interfaces(failures: &[[String; 4]]) -> Option<Vec<String>> {
    const NETWORK: [&str; 5] = [
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::SecurityGroup",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::InternetGateway",
    ];
    let blocked = |[_, kind, _, reason]: &[String; 4]| {
        let reason = reason.to_ascii_lowercase();
        // "DependencyViolation", "has dependencies", "has a dependent object".
        NETWORK.contains(&kind.as_str()) && (reason.contains("dependen") || reason.contains("mapped public address"))
    };
    (!failures.is_empty() && failures.iter().all(blocked)).then(|| failures.iter().map(|f| f[0].clone()).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(id: &str, kind: &str, reason: &str) -> [String; 4] {
        [id.into(), kind.into(), "DELETE_FAILED".into(), reason.into()]
    }

    #[test]
    fn only_network_resources_held_by_dependencies_are_retried() {
        let vpc = failure(
            "Vpc",
            "AWS::EC2::VPC",
            "The vpc 'vpc-1' has dependencies and cannot be deleted. (Service: Ec2, Status Code: 400)",
        );
        let subnet = failure(
            "PrivateSubnet0",
            "AWS::EC2::Subnet",
            "DependencyViolation: The subnet 'subnet-1' has dependencies",
        );
        assert_eq!(
            blocked_by_network_interfaces(&[vpc.clone(), subnet.clone()]),
            Some(vec!["Vpc".into(), "PrivateSubnet0".into()])
        );
        // A task's public IP not yet released holds the gateway too (convox/rack#1090).
        let gateway = failure(
            "InternetGatewayAttachment",
            "AWS::EC2::VPCGatewayAttachment",
            "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.",
        );
        assert_eq!(blocked_by_network_interfaces(&[subnet, gateway]).map(|b| b.len()), Some(2));
        let other = failure("Cluster", "AWS::ECS::Cluster", "The Cluster cannot be deleted while Services are active");
        assert_eq!(blocked_by_network_interfaces(&[vpc, other]), None);
        let denied = failure("Vpc", "AWS::EC2::VPC", "You are not authorized to perform this operation");
        assert_eq!(blocked_by_network_interfaces(&[denied]), None);
        assert_eq!(blocked_by_network_interfaces(&[]), None);
    }
}
