//! `imgh`: clap definitions and dispatch only.

mod serve;
mod sign;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "imgh", version, about = "Run and deploy the imgh image-processing CDN")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a folder (default: the bundled sample photos) with the image handler.
    Serve(serve::ServeArgs),
    /// Sign a URL for a handler that requires signed URLs.
    Sign(sign::SignArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Sign(args) => sign::run(args),
    }
}
