//! The HTTP server adapter (axum): `imgh serve` and the ECS task.

use super::{Handler, Incoming};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Response};
use axum::Router;
use std::future::Future;
use std::sync::Arc;

pub fn router(handler: Arc<Handler>) -> Router {
    Router::new().fallback(serve_one).with_state(handler)
}

async fn serve_one(State(handler): State<Arc<Handler>>, req: Request) -> Response<Body> {
    let incoming = Incoming {
        method: req.method().as_str(),
        path: req.uri().path(),
        query: req.uri().query(),
        headers: req.headers(),
    };
    let reply = handler.handle(&incoming).await;
    let mut res = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        res = res.header(*k, v.as_str());
    }
    if reply.status != 304 && reply.status != 204 {
        res = res.header(header::CONTENT_LENGTH, reply.body.len());
    }
    let body = if req.method() == axum::http::Method::HEAD { Body::empty() } else { Body::from(reply.body) };
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
