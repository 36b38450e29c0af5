//! `imgh-handler`: the deployed handler binary. For now it serves a folder over HTTP
//! with the 403 contract (no process → 403); the S3 store and the Lambda runtime
//! adapter come with the cloud handler.

use imgh_handler::guard::Limits;
use imgh_handler::serve::{http, Handler, Unprocessed};
use imgh_handler::store::DirStore;
use imgh_handler::style::Styles;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(env_filter())
        .init();
    let dir = std::env::var("IMGH_DIR").unwrap_or_else(|_| ".".into());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let styles = match std::env::var("IMGH_STYLES") {
        Ok(path) => Styles::from_toml(&std::fs::read_to_string(path)?)?,
        Err(_) => Styles::default(),
    };
    let handler = Handler::new(
        Arc::new(DirStore::new(&dir)?),
        Arc::new(styles),
        Limits::default(),
        Unprocessed::Forbidden,
    );
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    tracing::info!(port, dir, "imgh-handler listening");
    http::serve(Arc::new(handler), listener, http::shutdown_signal()).await?;
    Ok(())
}

fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
}
