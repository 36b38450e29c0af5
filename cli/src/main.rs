//! `imgh`: deploy and run the imgh image-processing CDN on AWS.
//!
//! This file holds the command-line definitions and the dispatch only: each subcommand's
//! arguments and its `run` live in its own module, prompts, tables and progress in `ui`,
//! AWS clients and the session a command runs in in `aws`.

mod apply_policy;
mod aws;
mod build;
mod cert;
mod config;
mod dashboard;
mod deploy;
mod destroy;
mod figures;
mod follow;
mod hotswap;
mod init;
mod invalidate;
mod logs;
mod policy;
mod preflight;
mod process;
mod render;
mod rotate;
mod serve;
mod sign;
mod stack;
mod status;
mod style;
mod ui;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

use aws::Session;
use config::GlobalArgs;

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
    Serve(serve::Serve),
    /// Sign a URL for a handler that requires signed URLs (IMGH_SIGNING_KEYS).
    Sign(sign::Sign),
    /// Build the static handler and publish it: a Lambda zip in the artifact bucket, or an
    /// OCI image in the stack's ECR repository (no Docker needed).
    Build(build::Build),
    /// Print the CloudFormation template (YAML) of a variant.
    Render(render::Render),
    /// Build and publish the handler (unless --code-bucket/--code-key or --image-uri name an
    /// existing artifact), render, create a change set, show it, confirm, execute, follow,
    /// print the outputs.
    Deploy(deploy::Deploy),
    /// Run the image engine on local files or S3 objects: one, or every object under a
    /// prefix (resumable), with no stack needed.
    Process(process::Process),
    /// Print the stack's outputs.
    Outputs(status::Outputs),
    /// Print the stack's status and the buckets it serves.
    Status(status::Status),
    /// Print the BucketPolicy JSON that lets each distribution read its bucket.
    Policy(apply_policy::Policy),
    /// Merge the policy statement into each bucket's policy (backup, diff, verify).
    ApplyPolicy(apply_policy::ApplyPolicy),
    /// Remove our bucket-policy statements, then delete the stack.
    Destroy(destroy::Destroy),
    /// Named styles (`style/NAME` in a request) in the stack's style table.
    #[command(subcommand)]
    Style(style::StyleCommand),
    /// Remove paths (and their processed renditions) from the distributions' caches.
    Invalidate(invalidate::Invalidate),
    /// The handler's request log lines, as a table (or JSON); --follow streams them.
    Logs(logs::Logs),
    /// China: certificates for --domain in IAM (CloudFront there takes no ACM certificate).
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// China: a new secret CloudFront proves itself to the handler with, without downtime.
    RotateOriginSecret(rotate::RotateOriginSecret),
    /// Ask a few questions and write imgh.toml.
    Init,
    /// Print shell completions.
    Completions {
        /// Shell to complete for.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    ui::exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Serve(c) => c.run(),
        Command::Sign(c) => c.run(),
        Command::Render(c) => c.run(global),
        Command::Init => init::run(global),
        Command::Process(c) => c.run(global),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "imgh", &mut std::io::stdout());
            Ok(())
        }
        Command::Build(c) => Session::run(global, |s| c.run(s)),
        Command::Deploy(c) => Session::run(global, |s| c.run(s)),
        Command::Outputs(c) => Session::run(global, |s| c.run(s)),
        Command::Status(c) => Session::run(global, |s| c.run(s)),
        Command::Policy(c) => Session::run(global, |s| c.run(s)),
        Command::ApplyPolicy(c) => Session::run(global, |s| c.run(s)),
        Command::Destroy(c) => Session::run(global, |s| c.run(s)),
        Command::Style(c) => Session::run(global, |s| c.run(s)),
        Command::Cert(c) => Session::run(global, |s| c.run(s)),
        Command::Invalidate(c) => Session::run(global, |s| c.run(s)),
        Command::Logs(c) => Session::run(global, |s| c.run(s)),
        Command::RotateOriginSecret(c) => Session::run(global, |s| c.run(s)),
    }
}
