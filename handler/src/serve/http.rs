//! The HTTP server adapter (axum): `imgh serve` and the ECS task.

use super::{api, Handler, Incoming, Reply};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, Response};
use axum::Router;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;

pub fn router(handler: Arc<Handler>) -> Router {
    Router::new().fallback(serve_one).with_state(handler)
}

async fn serve_one(State(handler): State<Arc<Handler>>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Only the processing API reads a body, and a small one.
    let body = if parts.method == Method::POST && parts.uri.path() == api::PATH {
        match axum::body::to_bytes(body, api::MAX_BODY_BYTES).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::info!(error = %e, "processing API: the request body was not read");
                return respond(&parts.method, api::error_reply(&api::body_too_large()));
            }
        }
    } else {
        Bytes::new()
    };
    let incoming = Incoming {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    let reply = handler.handle(&incoming).await;
    respond(&parts.method, reply)
}

fn respond(method: &Method, reply: Reply) -> Response<Body> {
    let mut res = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        res = res.header(*k, v.as_str());
    }
    if reply.status != 304 && reply.status != 204 {
        res = res.header(header::CONTENT_LENGTH, reply.body.len());
    }
    let body = if method == Method::HEAD { Body::empty() } else { Body::from(reply.body) };
    res.body(body).unwrap_or_default()
}

/// Serves until `shutdown` resolves; in-flight requests finish first, new ones are refused.
pub async fn serve(
    handler: Arc<Handler>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(handler)).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGTERM (ECS stopping a task) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
