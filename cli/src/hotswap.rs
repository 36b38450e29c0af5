//! `imgh deploy --hotswap`: a code-only change put straight into the running handler — the
//! function's code (Lambda `UpdateFunctionCode`, publishing nothing else) or a new revision
//! of the task definition and a service update (ECS) — without a CloudFormation update.
//!
//! Only when the template is the deployed one but for the artifact: the template with its
//! parameters' defaults (where the artifact's names go) left out, and the stack's tags. The
//! stack's parameters still name the old artifact afterwards, so it drifts until the next
//! full deploy. That deploy puts the stack's artifact back if the handler still runs another
//! ([`Running::runs`]): CloudFormation, seeing no change to the artifact, would leave it.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_cloudformation::types::{Stack, TemplateStage};
use aws_sdk_ecs::types::{Tag, TaskDefinition, TaskDefinitionField};
use aws_sdk_lambda::types::LastUpdateStatus;

use crate::aws::{sdk_message, Aws, SdkResultExt};
use crate::config::{TemplateSettings, Variant};
use crate::{stack, ui};

/// How long a code update may take before we stop watching it (it goes on without us).
const LIMIT: Duration = Duration::from_secs(15 * 60);

/// Refuses, with the reason, unless `template` is the deployed one but for its parameters'
/// defaults and the stack is settled.
pub async fn check(aws: &Aws, stack_name: &str, template: &str, t: &TemplateSettings) -> Result<Stack> {
    let refuse =
        |why: String| -> anyhow::Error { ui::Exit(1, format!("--hotswap: {why}; deploy without --hotswap")).into() };
    let Some(st) = stack::describe(aws, stack_name).await? else {
        return Err(refuse(format!("stack {stack_name} does not exist yet")));
    };
    let status = st.stack_status().map(|s| s.as_str()).unwrap_or_default();
    if !matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE") {
        return Err(refuse(format!("stack {stack_name} is {status}, not settled")));
    }
    let deployed = aws
        .cfn
        .get_template()
        .stack_name(stack_name)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .sdk()
        .with_context(|| format!("cannot read the template of {stack_name} (cloudformation:GetTemplate)"))?;
    let deployed = deployed.template_body().unwrap_or_default();
    let changed = template_changes(deployed, template)?;
    if !changed.is_empty() {
        return Err(refuse(format!("the template changed too ({})", changed.join(", "))));
    }
    let tags: std::collections::BTreeMap<String, String> =
        st.tags().iter().filter_map(|tag| Some((tag.key()?.to_string(), tag.value()?.to_string()))).collect();
    if tags != t.tags {
        return Err(refuse("the stack's tags changed".into()));
    }
    Ok(st)
}

/// The top-level sections and resources in which two templates differ, parameters' defaults
/// aside (empty when they are the same).
fn template_changes(deployed: &str, template: &str) -> Result<Vec<String>> {
    let shape = |text: &str| -> Result<serde_yaml::Mapping> {
        let mut doc: serde_yaml::Value = serde_yaml::from_str(text).context("a template is not YAML or JSON")?;
        if let Some(params) = doc.get_mut("Parameters").and_then(|p| p.as_mapping_mut()) {
            for (_, p) in params.iter_mut() {
                if let Some(p) = p.as_mapping_mut() {
                    p.remove("Default");
                }
            }
        }
        Ok(doc.as_mapping().cloned().unwrap_or_default())
    };
    let (old, new) = (shape(deployed)?, shape(template)?);
    let mut changed = vec![];
    let name = |k: &serde_yaml::Value| k.as_str().unwrap_or("?").to_string();
    for key in old.keys().chain(new.keys().filter(|k| !old.contains_key(*k))) {
        match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(serde_yaml::Value::Mapping(a)), Some(serde_yaml::Value::Mapping(b))) if name(key) == "Resources" => {
                for id in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    if a.get(id) != b.get(id) {
                        changed.push(format!("resource {}", name(id)));
                    }
                }
            }
            _ => changed.push(name(key)),
        }
    }
    Ok(changed)
}

/// Puts the artifact `t` names into the running handler of `st`, after confirmation; nothing
/// when the handler runs it already. When the artifact is the stack's own (a full deploy
/// putting back what a hotswap replaced), the stack no longer drifts, and says so.
pub async fn swap(aws: &Aws, st: &Stack, t: &TemplateSettings, yes: bool) -> Result<()> {
    let stack_name = st.stack_name().unwrap_or_default();
    let param = |key: &str| {
        st.parameters().iter().find(|p| p.parameter_key() == Some(key)).and_then(|p| p.parameter_value()).unwrap_or("-")
    };
    let handler = Running::read(aws, stack_name, t.variant).await?;
    match (&handler, t.variant) {
        (Running::Function { name, .. }, Variant::Lambda) => {
            let (bucket, key) =
                (t.code_bucket.as_deref().unwrap_or_default(), t.code_key.as_deref().unwrap_or_default());
            if handler.runs(t) == Some(true) {
                eprintln!("Function {name} runs s3://{bucket}/{key} already: nothing to swap.");
                return Ok(());
            }
            eprintln!("Hotswap: function {name}: code → s3://{bucket}/{key}");
            ui::confirm(&format!("Update the code of {name}?"), yes)?;
            aws.lambda.update_function_code().function_name(name).s3_bucket(bucket).s3_key(key).send().await.map_err(
                |e| anyhow::anyhow!("cannot update {name} (lambda:UpdateFunctionCode): {}", sdk_message(&e)),
            )?;
            wait(aws, &format!("{name}: updating code"), || function_updated(aws, name)).await?;
            eprintln!("Function {name} runs the new code.");
            if param("CodeBucket") != bucket || param("CodeKey") != key {
                let stale = format!("s3://{}/{}", param("CodeBucket"), param("CodeKey"));
                drift(stack_name, &format!("its CodeBucket and CodeKey parameters still name {stale}"));
                if build_sha256(key).is_none() {
                    eprintln!("{key} is not named by its SHA-256 as `imgh build` names zips: a full deploy cannot tell this code from the stack's, so it will not put the stack's back; do that with `imgh deploy --hotswap` and the stack's artifact.");
                }
            }
        }
        (Running::Service { cluster, service, task_definition, tags }, Variant::Ecs) => {
            let image = t.image_uri.as_deref().unwrap_or_default();
            if handler.runs(t) == Some(true) {
                eprintln!("Service {service} runs {image} already: nothing to swap.");
                return Ok(());
            }
            let own = param("ImageUri") == image;
            eprintln!("Hotswap: service {service}: image → {image}");
            let revision = if own {
                // The stack's own revision, rather than a copy of it.
                ui::confirm(&format!("Roll {service} back onto the stack's task definition?"), yes)?;
                stack::physical_id(aws, stack_name, "TaskDefinition").await?
            } else {
                ui::confirm(
                    &format!("Register a task definition revision with the new image and roll {service} onto it?"),
                    yes,
                )?;
                register_with_image(aws, task_definition, tags, image).await?
            };
            aws.ecs
                .update_service()
                .cluster(cluster)
                .service(service)
                .task_definition(&revision)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("cannot update service {service} (ecs:UpdateService): {}", sdk_message(&e))
                })?;
            wait(aws, &format!("{service}: rolling onto {revision}"), || steady(aws, cluster, service, &revision))
                .await?;
            eprintln!("Service {service} is steady on {revision}.");
            if !own {
                let stale = param("ImageUri");
                drift(
                    stack_name,
                    &format!("its task definition is {revision}, outside the stack, and ImageUri still names {stale}"),
                );
            }
        }
        _ => bail!("stack {stack_name} is not of the {:?} variant", t.variant),
    }
    Ok(())
}

fn drift(stack_name: &str, what: &str) {
    eprintln!("Stack {stack_name} now drifts from its template: {what}, until the next full `imgh deploy`.");
}

/// What the stack's handler runs now.
pub enum Running {
    /// The function, and the SHA-256 of its code (base64, as Lambda gives it).
    Function { name: String, code_sha256: Option<String> },
    /// The service and the task definition it runs.
    Service { cluster: String, service: String, task_definition: Box<TaskDefinition>, tags: Vec<Tag> },
}

impl Running {
    pub async fn read(aws: &Aws, stack_name: &str, variant: Variant) -> Result<Running> {
        Ok(match variant {
            Variant::Lambda => {
                let name = stack::physical_id(aws, stack_name, "HandlerFunction").await?;
                let c = aws.lambda.get_function_configuration().function_name(&name).send().await.map_err(|e| {
                    anyhow::anyhow!("cannot read {name} (lambda:GetFunctionConfiguration): {}", sdk_message(&e))
                })?;
                Running::Function { code_sha256: c.code_sha256().map(str::to_string), name }
            }
            Variant::Ecs => {
                let cluster = stack::physical_id(aws, stack_name, "Cluster").await?;
                let service = stack::physical_id(aws, stack_name, "Service").await?;
                let (task_definition, tags) = service_task_definition(aws, &cluster, &service).await?;
                Running::Service { cluster, service, task_definition: Box::new(task_definition), tags }
            }
        })
    }

    /// Whether this is `t`'s artifact; `None` when that cannot be told (a zip whose key does
    /// not carry its SHA-256, as `imgh build` names them).
    pub fn runs(&self, t: &TemplateSettings) -> Option<bool> {
        match self {
            Running::Function { code_sha256, .. } => {
                let want = build_sha256(t.code_key.as_deref()?)?;
                Some(code_sha256.as_deref() == Some(want.as_str()))
            }
            Running::Service { task_definition, .. } => {
                let want = t.image_uri.as_deref()?;
                let handler = task_definition.container_definitions().iter().find(|c| c.name() == Some("handler"))?;
                Some(handler.image() == Some(want))
            }
        }
    }
}

/// The SHA-256 of the zip `imgh build` uploaded under `key` (`…/imgh-handler-<hex>.zip`), in
/// base64 as Lambda reports a function's.
fn build_sha256(key: &str) -> Option<String> {
    use base64::Engine;
    let hex_digest = key.rsplit('/').next()?.strip_prefix("imgh-handler-")?.strip_suffix(".zip")?;
    let bytes = hex::decode(hex_digest).ok().filter(|b| b.len() == 32)?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Polls `done` under a spinner until it says the change has landed (or fails, or
/// [`LIMIT`] passes).
async fn wait<F, Fut>(aws: &Aws, message: &str, mut done: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let bar = ui::progress_bar(1, "{spinner} [{elapsed_precise}] {msg}");
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    let since = Instant::now();
    while !done().await? {
        if since.elapsed() > LIMIT {
            bail!("{message}: not done after {LIMIT:?}; it goes on without us (imgh status)");
        }
        tokio::time::sleep(aws.poll_interval()).await;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Whether the function's last update has succeeded; its reason if it failed.
async fn function_updated(aws: &Aws, function: &str) -> Result<bool> {
    let c = aws.lambda.get_function_configuration().function_name(function).send().await.map_err(|e| {
        anyhow::anyhow!("cannot read {function} (lambda:GetFunctionConfiguration): {}", sdk_message(&e))
    })?;
    match c.last_update_status() {
        Some(LastUpdateStatus::Failed) => {
            bail!(
                "the code update of {function} failed: {}",
                c.last_update_status_reason().unwrap_or("no reason given")
            )
        }
        Some(LastUpdateStatus::InProgress) => Ok(false),
        _ => Ok(true),
    }
}

/// The task definition `service` runs, with its tags (CloudFormation's own, `aws:…`, left out:
/// a registration may not set them).
async fn service_task_definition(aws: &Aws, cluster: &str, service: &str) -> Result<(TaskDefinition, Vec<Tag>)> {
    let arn = describe_service(aws, cluster, service)
        .await?
        .task_definition()
        .map(str::to_string)
        .with_context(|| format!("service {service} has no task definition"))?;
    let got = aws
        .ecs
        .describe_task_definition()
        .task_definition(&arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {arn} (ecs:DescribeTaskDefinition): {}", sdk_message(&e)))?;
    let tags = got.tags().iter().filter(|t| !t.key().is_some_and(|k| k.starts_with("aws:"))).cloned().collect();
    Ok((got.task_definition.with_context(|| format!("{arn} is not described"))?, tags))
}

async fn describe_service(aws: &Aws, cluster: &str, service: &str) -> Result<aws_sdk_ecs::types::Service> {
    let got =
        aws.ecs.describe_services().cluster(cluster).services(service).send().await.map_err(|e| {
            anyhow::anyhow!("cannot read service {service} (ecs:DescribeServices): {}", sdk_message(&e))
        })?;
    got.services.unwrap_or_default().into_iter().next().with_context(|| format!("no service {service} in {cluster}"))
}

/// A new revision of `current` whose handler container runs `image`, all else (tags included)
/// the same; its ARN.
async fn register_with_image(aws: &Aws, current: &TaskDefinition, tags: &[Tag], image: &str) -> Result<String> {
    let mut containers = current.container_definitions().to_vec();
    let handler = containers
        .iter_mut()
        .find(|c| c.name() == Some("handler"))
        .context("the task definition has no container named handler")?;
    handler.image = Some(image.to_string());
    let got = aws
        .ecs
        .register_task_definition()
        .family(current.family().unwrap_or_default())
        .set_container_definitions(Some(containers))
        .set_task_role_arn(current.task_role_arn().map(str::to_string))
        .set_execution_role_arn(current.execution_role_arn().map(str::to_string))
        .set_network_mode(current.network_mode().cloned())
        .set_requires_compatibilities(Some(current.requires_compatibilities().to_vec()))
        .set_cpu(current.cpu().map(str::to_string))
        .set_memory(current.memory().map(str::to_string))
        .set_runtime_platform(current.runtime_platform().cloned())
        .set_volumes(Some(current.volumes().to_vec()))
        .set_ephemeral_storage(current.ephemeral_storage().cloned())
        .set_placement_constraints(Some(current.placement_constraints().to_vec()))
        .set_proxy_configuration(current.proxy_configuration().cloned())
        .set_pid_mode(current.pid_mode().cloned())
        .set_ipc_mode(current.ipc_mode().cloned())
        .set_enable_fault_injection(current.enable_fault_injection())
        .set_tags((!tags.is_empty()).then(|| tags.to_vec()))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot register a task definition revision (ecs:RegisterTaskDefinition): {}",
                sdk_message(&e)
            )
        })?;
    got.task_definition.and_then(|d| d.task_definition_arn).context("ecs:RegisterTaskDefinition returned no ARN")
}

/// Whether `service` runs only `revision`, as many tasks as it wants (ECS's steady state).
async fn steady(aws: &Aws, cluster: &str, service: &str, revision: &str) -> Result<bool> {
    rolled_onto(&describe_service(aws, cluster, service).await?, revision)
}

/// Whether a service is steady on `revision`: one deployment, as many tasks running as it
/// wants. An error when the rollout failed or the service left the revision (the deployment
/// circuit breaker rolls a failed one back).
fn rolled_onto(s: &aws_sdk_ecs::types::Service, revision: &str) -> Result<bool> {
    use aws_sdk_ecs::types::DeploymentRolloutState;
    let name = s.service_name().unwrap_or("the service");
    if let Some(failed) = s.deployments().iter().find(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed)) {
        bail!("the rollout of {name} failed: {}", failed.rollout_state_reason().unwrap_or("no reason given"));
    }
    if s.task_definition() != Some(revision) {
        bail!("{name} is no longer on {revision} (a rollback or another deploy replaced it)");
    }
    Ok(s.deployments().len() == 1 && s.running_count() == s.desired_count())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};

    use super::{rolled_onto, template_changes};

    #[test]
    fn a_service_is_steady_on_one_deployment_of_the_revision_at_its_count() {
        let deployment = |state| Deployment::builder().status("PRIMARY").rollout_state(state).build();
        let service = |td: &str, deployments: Vec<Deployment>, running| {
            Service::builder()
                .service_name("svc")
                .task_definition(td)
                .set_deployments(Some(deployments))
                .desired_count(2)
                .running_count(running)
                .build()
        };
        let (new, old) = ("td:2", "td:1");
        let rolling =
            vec![deployment(DeploymentRolloutState::InProgress), Deployment::builder().status("ACTIVE").build()];
        assert!(!rolled_onto(&service(new, rolling, 2), new).unwrap(), "two deployments: still rolling");
        assert!(!rolled_onto(&service(new, vec![deployment(DeploymentRolloutState::InProgress)], 1), new).unwrap());
        assert!(rolled_onto(&service(new, vec![deployment(DeploymentRolloutState::Completed)], 2), new).unwrap());
        let failed = rolled_onto(&service(old, vec![deployment(DeploymentRolloutState::Failed)], 2), new);
        assert!(failed.unwrap_err().to_string().contains("failed"));
        let replaced = rolled_onto(&service(old, vec![deployment(DeploymentRolloutState::Completed)], 2), new);
        assert!(replaced.unwrap_err().to_string().contains("no longer on td:2"));
    }

    #[test]
    fn only_parameter_defaults_may_differ() {
        let base = "Parameters:\n  CodeKey:\n    Type: String\n    Default: a.zip\nResources:\n  F:\n    Type: T\n  G:\n    Type: T\n";
        assert!(template_changes(base, &base.replace("a.zip", "b.zip")).unwrap().is_empty());
        assert!(template_changes(base, &base.replace("    Default: a.zip\n", "")).unwrap().is_empty());
        assert_eq!(
            template_changes(base, &base.replace("G:\n    Type: T", "G:\n    Type: U")).unwrap(),
            ["resource G"]
        );
        assert_eq!(template_changes(base, &format!("{base}  H:\n    Type: T\n")).unwrap(), ["resource H"]);
        assert_eq!(template_changes(base, &format!("{base}Outputs: {{}}\n")).unwrap(), ["Outputs"]);
        assert_eq!(template_changes(base, &base.replace("Type: String", "Type: Number")).unwrap(), ["Parameters"]);
    }
}
