//! `imgh build`: the static handler binary → a Lambda zip in the artifact bucket, or an OCI
//! image in the stack's ECR repository. `imgh deploy` runs it when no artifact is given.

mod binary;
mod lambda;
mod oci;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Args;
use indicatif::ProgressBar;
use oci_client::secrets::RegistryAuth;
use serde::Serialize;

use crate::aws::{sdk_message, Aws, SdkResultExt, Session};
use crate::config::{Arch, TemplateArgs, Variant};
use crate::ui;

/// How to get the handler, shared by `build` and `deploy`.
#[derive(Debug, Clone, Args, Default)]
pub struct BuildArgs {
    /// Use this prebuilt static handler binary instead of building one (CI pipelines that
    /// build elsewhere).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The imgh source tree to build the handler from [default: the one holding the
    /// current directory].
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Push the image to this registry instead of the account's ECR endpoint
    /// (https://host[:port], or http:// for a local registry); ECR's token still signs in.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
}

/// What a build produced: what the template needs to deploy it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Artifact {
    Lambda { code_bucket: String, code_key: String, sha256: String, zip_bytes: usize, uploaded: bool },
    Image { image_uri: String, tag: String, layer_bytes: usize, uploaded_blobs: usize },
}

/// `imgh build`: which artifact to build, and how.
#[derive(Debug, clap::Args)]
pub struct Build {
    /// Which variant's artifact [default: lambda, or imgh.toml's].
    #[arg(long, value_enum)]
    variant: Option<Variant>,
    /// CPU architecture [default: arm64, or imgh.toml's].
    #[arg(long, value_enum)]
    arch: Option<Arch>,
    #[command(flatten)]
    build: BuildArgs,
    /// Print the artifact as JSON.
    #[arg(long)]
    json: bool,
}

impl Build {
    pub async fn run(self, s: Session) -> Result<()> {
        let a = TemplateArgs { variant: self.variant, arch: self.arch, ..Default::default() };
        let t = s.settings.template_unchecked(&a)?;
        let artifact_bucket = s.settings.artifact_bucket.as_deref();
        let artifact = publish(&s.aws, s.stack(), t.variant, t.arch, &self.build, artifact_bucket).await?;
        print_artifact(&artifact, self.json)
    }
}

/// Prints what `imgh build` made: for people, the flags that deploy it; or JSON.
fn print_artifact(a: &Artifact, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(a)?);
        return Ok(());
    }
    match a {
        Artifact::Lambda { code_bucket, code_key, .. } => println!("--code-bucket {code_bucket} --code-key {code_key}"),
        Artifact::Image { image_uri, .. } => println!("--image-uri {image_uri}"),
    }
    Ok(())
}

/// Builds (or takes) the binary and publishes the artifact `variant` deploys from.
pub async fn publish(
    aws: &Aws,
    stack: &str,
    variant: Variant,
    arch: Arch,
    args: &BuildArgs,
    artifact_bucket: Option<&str>,
) -> Result<Artifact> {
    let path = match &args.binary {
        Some(p) => p.clone(),
        None => binary::build(arch, &source_tree(args.source.as_deref())?)?,
    };
    let bin = binary::read_static(&path, arch)?;
    eprintln!("Handler binary: {} ({}, static, {})", path.display(), megabytes(bin.len()), arch.musl_target());
    match variant {
        Variant::Lambda => {
            let zip = lambda::zip_bootstrap(&bin)?;
            let bucket = match artifact_bucket {
                Some(b) => b.to_string(),
                None => aws.artifact_bucket().await?,
            };
            let up = lambda::upload(aws, &bucket, &zip).await?;
            eprintln!("Lambda zip: s3://{}/{} ({})", up.bucket, up.key, megabytes(up.size));
            Ok(Artifact::Lambda {
                code_bucket: up.bucket,
                code_key: up.key,
                sha256: up.sha256,
                zip_bytes: up.size,
                uploaded: up.uploaded,
            })
        }
        Variant::Ecs => {
            let image = oci::image(&bin, &oci::host_ca_bundle()?, arch)?;
            let repository = repository_name(stack);
            ensure_repository(aws, &repository).await?;
            let (endpoint, auth) = ecr_login(aws).await?;
            let registry = oci::Registry::from_url(args.registry.as_deref().unwrap_or(&endpoint), auth)?;
            let tag = format!("{}-{}", env!("CARGO_PKG_VERSION"), &image.manifest.digest[7..19]);
            let pushed = oci::push(&image, &registry, &repository, &tag).await?;
            eprintln!(
                "Image: {} (tag {}; layer {}, {} blob(s) uploaded)",
                pushed.uri,
                pushed.tag,
                megabytes(image.layer.data.len()),
                pushed.uploaded_blobs
            );
            Ok(Artifact::Image {
                image_uri: pushed.uri,
                tag: pushed.tag,
                layer_bytes: image.layer.data.len(),
                uploaded_blobs: pushed.uploaded_blobs,
            })
        }
    }
}

/// The stack's ECR repository (ECR names are lower case).
pub fn repository_name(stack: &str) -> String {
    format!("{}-handler", stack.to_ascii_lowercase())
}

/// Creates the repository if it is missing (scan on push).
async fn ensure_repository(aws: &Aws, name: &str) -> Result<()> {
    use aws_sdk_ecr::types::ImageScanningConfiguration;
    let created = aws
        .ecr
        .create_repository()
        .repository_name(name)
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
        .send()
        .await;
    match created {
        Ok(_) => eprintln!("Created the ECR repository {name}"),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_already_exists_exception()) => {}
        Err(e) => {
            return Err(anyhow::anyhow!(sdk_message(&e)))
                .with_context(|| format!("cannot create the ECR repository {name}"))
        }
    }
    Ok(())
}

/// Deletes the stack's ECR repository and its images, if there is one.
pub async fn delete_repository(aws: &Aws, stack: &str) -> Result<bool> {
    let name = repository_name(stack);
    match aws.ecr.delete_repository().repository_name(&name).force(true).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_repository_not_found_exception()) => Ok(false),
        Err(e) => {
            Err(anyhow::anyhow!(sdk_message(&e))).with_context(|| format!("cannot delete the ECR repository {name}"))
        }
    }
}

/// ECR's registry endpoint and Basic credentials (`AWS:<token>`) from GetAuthorizationToken.
async fn ecr_login(aws: &Aws) -> Result<(String, RegistryAuth)> {
    let out = aws
        .ecr
        .get_authorization_token()
        .send()
        .await
        .sdk()
        .context("cannot get a registry token (ecr:GetAuthorizationToken)")?;
    let data = out.authorization_data().first().context("ECR returned no authorization data")?;
    let token = data.authorization_token().context("ECR returned no token")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(token).context("ECR token is not base64")?;
    let decoded = String::from_utf8(decoded).context("ECR token is not text")?;
    let (user, password) = decoded.split_once(':').context("ECR token is not USER:PASSWORD")?;
    let endpoint = data.proxy_endpoint().context("ECR returned no registry endpoint")?.to_string();
    Ok((endpoint, RegistryAuth::Basic(user.to_string(), password.to_string())))
}

/// The imgh source tree: `--source`, else the nearest directory above the current one
/// whose workspace holds the handler crate.
fn source_tree(given: Option<&Path>) -> Result<PathBuf> {
    let is_tree = |d: &Path| d.join("Cargo.toml").is_file() && d.join("handler/Cargo.toml").is_file();
    if let Some(d) = given {
        if !is_tree(d) {
            bail!("--source {}: not an imgh source tree (no Cargo.toml with handler/)", d.display());
        }
        return Ok(d.to_path_buf());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    cwd.ancestors().find(|d| is_tree(d)).map(Path::to_path_buf).with_context(|| {
        "no imgh source tree here to build the handler from: run inside one, pass --source DIR, or pass --binary PATH"
            .to_string()
    })
}

fn megabytes(n: usize) -> String {
    format!("{:.1} MB", n as f64 / 1e6)
}

/// A progress bar over `len` bytes on stderr (hidden when stderr is not a terminal).
fn bytes_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ui::progress_bar(len, "{spinner} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}  {wide_msg}");
    bar.set_message(what.to_string());
    bar
}
