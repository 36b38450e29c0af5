//! `imgh-handler`: the deployed handler. One binary, two entry adapters chosen at start:
//! the Lambda runtime when `AWS_LAMBDA_RUNTIME_API` is set, else an HTTP server (ECS).
//! Behind CloudFront a router function sends only requests that ask for processing here.

use imgh_handler::config::{handler_from_env, listen_addr, on_lambda, VARIABLES};
use imgh_handler::serve::{http, lambda};
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("imgh-handler: serves x-oss-process requests from S3 (Lambda runtime or HTTP server).\n");
        println!("Environment:");
        for (name, what) in VARIABLES {
            println!("  {name:<26} {what}");
        }
        return std::process::ExitCode::SUCCESS;
    }
    imgh_handler::alloc::configure();
    let on_lambda = on_lambda();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Image jobs are gated by IMGH_WORKERS; the rest of the blocking pool serves file reads
    // and DNS. Capped because every thread keeps its own allocator heap (~3 MB resident).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(32.max(4 * cores))
        .thread_keep_alive(imgh_handler::alloc::IDLE_THREAD_LIFETIME)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("imgh-handler: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(on_lambda)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "imgh-handler stopped");
            eprintln!("imgh-handler: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(on_lambda: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let handler = Arc::new(handler_from_env(on_lambda).await?);
    if on_lambda {
        return lambda::run(handler).await;
    }
    let addr = listen_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(port = listener.local_addr()?.port(), "imgh-handler listening");
    http::serve(handler, listener, http::shutdown_signal()).await?;
    Ok(())
}
