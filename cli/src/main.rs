//! `imgh`: deploy and run the imgh image-processing CDN on AWS.
//!
//! This file holds the command-line definitions and the dispatch only; each subcommand's
//! work lives in its own module.

mod apply_policy;
mod aws;
mod build;
mod config;
mod deploy;
mod destroy;
mod init;
mod policy;
mod preflight;
mod render;
mod serve;
mod sign;
mod stack;
mod status;
mod style;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

use config::{GlobalArgs, Settings, TemplateArgs};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (including a deploy with nothing to change)
  1  error (the message says what was wrong and what to do)
  2  invalid command line
  3  not confirmed: declined at the prompt, or no terminal to ask on and no --yes
  4  the stack operation failed (failed resources and reasons are printed)";

#[derive(Debug, Parser)]
#[command(name = "imgh", version, about = "Deploy and run the imgh image-processing CDN on AWS", after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a folder (default: the bundled sample photos) with the image handler.
    Serve(serve::ServeArgs),
    /// Sign a URL for a handler that requires signed URLs (IMGH_SIGNING_KEYS).
    Sign(sign::SignArgs),
    /// Build the static handler and publish it: a Lambda zip in the artifact bucket, or an
    /// OCI image in the stack's ECR repository (no Docker needed).
    Build {
        /// Which variant's artifact [default: lambda, or imgh.toml's].
        #[arg(long, value_enum)]
        variant: Option<config::Variant>,
        /// CPU architecture [default: arm64, or imgh.toml's].
        #[arg(long, value_enum)]
        arch: Option<config::Arch>,
        #[command(flatten)]
        build: build::BuildArgs,
        /// Print the artifact as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the CloudFormation template (YAML) of a variant.
    Render {
        #[command(flatten)]
        template: TemplateArgs,
    },
    /// Build and publish the handler (unless --code-bucket/--code-key or --image-uri name an
    /// existing artifact), render, create a change set, show it, confirm, execute, follow,
    /// print the outputs.
    Deploy {
        #[command(flatten)]
        template: TemplateArgs,
        #[command(flatten)]
        build: build::BuildArgs,
        /// change-set (preview, then execute) or direct (CreateStack/UpdateStack).
        #[arg(long, value_enum, default_value_t)]
        method: deploy::Method,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Print the outputs as JSON.
        #[arg(long)]
        json: bool,
        /// Deploy this template file instead of the rendered one. For tests against
        /// emulators that lack some resource types; not for production use.
        #[arg(long, hide = true)]
        template_file: Option<PathBuf>,
    },
    /// Print the stack's outputs.
    Outputs {
        #[arg(long)]
        json: bool,
    },
    /// Print the stack's status and the buckets it serves.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Print the BucketPolicy JSON that lets each distribution read its bucket.
    Policy {
        /// Only this bucket (repeatable).
        #[arg(long = "bucket")]
        buckets: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Merge the policy statement into each bucket's policy (backup, diff, verify).
    ApplyPolicy {
        /// Only this bucket (repeatable).
        #[arg(long = "bucket")]
        buckets: Vec<String>,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Put a backup written by apply-policy or destroy back onto its bucket.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["buckets", "dry_run"])]
        restore: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Remove our bucket-policy statements, then delete the stack.
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Also empty and delete buckets the stack created (never buckets it did not).
        #[arg(long)]
        delete_created_buckets: bool,
    },
    /// Named styles (`style/NAME` in a request) in the stack's style table.
    #[command(subcommand)]
    Style(StyleCommand),
    /// Ask a few questions and write imgh.toml.
    Init,
    /// Print shell completions.
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum StyleCommand {
    /// Define or replace a style.
    Set {
        name: String,
        /// The process string, e.g. image/resize,w_200/format,webp
        process: String,
    },
    /// Print one style's process string.
    Get {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List every style.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a style.
    Rm { name: String },
}

/// Prints what `imgh build` made: for people, the flags that deploy it; or JSON.
fn print_artifact(a: &build::Artifact, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(a)?);
        return Ok(());
    }
    match a {
        build::Artifact::Lambda { code_bucket, code_key, .. } => {
            println!("--code-bucket {code_bucket} --code-key {code_key}")
        }
        build::Artifact::Image { image_uri, .. } => println!("--image-uri {image_uri}"),
    }
    Ok(())
}

/// An error that carries its own exit code (see EXIT_CODES).
#[derive(Debug)]
pub struct Exit(pub u8, pub String);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Exit {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.downcast_ref::<Exit>().map_or(1, |x| x.0);
            eprintln!("error: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    // Local commands: no settings, no AWS.
    match cli.command {
        Command::Serve(args) => {
            imgh_handler::alloc::configure();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_keep_alive(imgh_handler::alloc::IDLE_THREAD_LIFETIME)
                .build()?;
            return rt.block_on(serve::run(args));
        }
        Command::Sign(args) => return sign::run(args),
        _ => {}
    }
    let settings = Settings::load(&cli.global)?;
    let stack = settings.stack_name.as_str();
    // Commands that need no AWS.
    match &cli.command {
        Command::Render { template } => {
            let t = settings.template(template)?;
            print!("{}", render::render(stack, &t)?);
            return Ok(());
        }
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "imgh", &mut std::io::stdout());
            return Ok(());
        }
        Command::Init => return init::run(&cli.global.config, settings.file()),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let aws = aws::Aws::connect(&settings.aws).await?;
        match cli.command {
            Command::Build { variant, arch, build, json } => {
                let a = TemplateArgs { variant, arch, ..Default::default() };
                let t = settings.template_unchecked(&a)?;
                let artifact =
                    build::run(&aws, stack, t.variant, t.arch, &build, settings.artifact_bucket.as_deref()).await?;
                print_artifact(&artifact, json)
            }
            Command::Serve(_)
            | Command::Sign(_)
            | Command::Render { .. }
            | Command::Completions { .. }
            | Command::Init => Ok(()),
            Command::Deploy { template, build, method, yes, json, template_file } => {
                let mut t = if template_file.is_some() {
                    settings.template_unchecked(&template)?
                } else {
                    let t = settings.template(&template)?;
                    deploy::check_parameters(&t)?;
                    preflight::check(&aws, stack, &t).await?;
                    t
                };
                if template_file.is_none() && deploy::needs_artifact(&t) {
                    let a =
                        build::run(&aws, stack, t.variant, t.arch, &build, settings.artifact_bucket.as_deref()).await?;
                    deploy::use_artifact(&mut t, a);
                }
                let o = deploy::DeployOptions {
                    method,
                    yes,
                    template_file,
                    artifact_bucket: settings.artifact_bucket.clone(),
                    json,
                };
                deploy::run(&aws, stack, &t, &o).await
            }
            Command::Outputs { json } => status::print_outputs(&aws, stack, json).await,
            Command::Status { json } => status::print_status(&aws, stack, json).await,
            Command::Policy { buckets, json } => apply_policy::print(&aws, stack, &buckets, json).await,
            Command::ApplyPolicy { buckets, dry_run, yes, restore, json } => match restore {
                Some(file) => apply_policy::restore(&aws, &file, yes).await,
                None => {
                    let o = apply_policy::ApplyOptions { dry_run, yes, backup_dir: settings.backup_dir.clone(), json };
                    apply_policy::apply(&aws, stack, &buckets, &o).await
                }
            },
            Command::Destroy { yes, delete_created_buckets } => {
                destroy::run(&aws, stack, yes, delete_created_buckets, &settings.backup_dir).await
            }
            Command::Style(s) => match s {
                StyleCommand::Set { name, process } => style::set(&aws, stack, &name, &process).await,
                StyleCommand::Get { name, json } => style::get(&aws, stack, &name, json).await,
                StyleCommand::List { json } => style::list(&aws, stack, json).await,
                StyleCommand::Rm { name } => style::rm(&aws, stack, &name).await,
            },
        }
    })
}
