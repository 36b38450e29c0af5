//! The HTTP server adapter (axum): `imgh serve` and the ECS task.

use super::Handler;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, Response, StatusCode};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn router(handler: Arc<Handler>) -> Router {
    Router::new().fallback(serve_one).with_state(handler)
}

async fn serve_one(State(handler): State<Arc<Handler>>, req: Request) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    if !head && req.method() != Method::GET {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET, HEAD")
            .body(Body::empty())
            .unwrap_or_default();
    }
    let inm = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let reply = handler
        .handle(req.uri().path(), req.uri().query(), inm)
        .await;
    let mut res = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        res = res.header(*k, v.as_str());
    }
    res = res.header(header::CONTENT_LENGTH, reply.body.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(reply.body)
    };
    res.body(body).unwrap_or_default()
}

/// Serves until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    handler: Arc<Handler>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(handler).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
