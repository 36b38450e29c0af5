//! How a handler behaves beyond the engine: headers, CORS, signing, concurrency, deadline
//! and the result cache.

use super::Reply;
use crate::guard::signature::SigningKeys;
use http::HeaderMap;
use std::time::Duration;

/// The origin custom header through which CloudFront names the bucket of a request (the
/// templates set it; the handler serves only buckets on its allow-list).
pub const BUCKET_HEADER: &str = "x-imgh-bucket";

/// The header through which CloudFront proves itself to a public origin (the China
/// templates' API Gateway) with the origin secret.
pub const SECRET_HEADER: &str = "x-imgh-origin-secret";

#[derive(Clone)]
pub struct Options {
    pub cache_control: String,
    /// Cache-Control of client errors (4xx); server errors (5xx) are `no-store`, so a
    /// passing overload or timeout is not kept by a CDN longer than its minimum.
    pub error_cache_control: String,
    /// Pick AVIF/WebP from `Accept` when no `format` action is given (adds `Vary: Accept`).
    pub auto_format: bool,
    pub cors: Cors,
    /// When set, every request must carry a valid `Expires` + `Signature`.
    pub signing: Option<SigningKeys>,
    /// Read only query names spelled as they are, without percent-encoding (a pair whose
    /// name is encoded is dropped). Behind CloudFront's legacy cache settings (China) the
    /// cache key matches names as the viewer sent them while every name reaches the handler:
    /// were `x%2Doss%2Dprocess` read as `x-oss-process`, a processed image would be cached
    /// under the original's key, or a signed answer under an unsigned key.
    pub exact_query_names: bool,
    /// When not empty, requests must carry `secret_header` with one of these values: the
    /// one CloudFront sends, and during a rotation the one it sent before.
    pub origin_secrets: Vec<String>,
    pub secret_header: String,
    /// The origin custom header CloudFront sets to name the bucket.
    pub bucket_header: String,
    /// Concurrent image jobs (default: the cores).
    pub workers: usize,
    /// Requests allowed to wait (holding no source yet) before 503.
    pub queue_depth: usize,
    /// Budget for one request's wait and work; keep it below the front door's timeout.
    pub deadline: Duration,
    /// The largest body the front door passes on (API Gateway: 10 MB); a larger answer is a
    /// 413 from the handler rather than the front door's own error.
    pub max_response_bytes: Option<usize>,
    /// CloudWatch namespace of the Lambda adapter's metrics (the templates: `imgh/<stack>`).
    pub metrics_namespace: String,
    /// In-memory result cache size in bytes (0 = off) and entry lifetime.
    pub cache_bytes: u64,
    pub cache_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache_control: "public, max-age=31536000".into(),
            error_cache_control: "public, max-age=60".into(),
            auto_format: false,
            cors: Cors::default(),
            signing: None,
            exact_query_names: false,
            origin_secrets: Vec::new(),
            secret_header: SECRET_HEADER.into(),
            bucket_header: BUCKET_HEADER.into(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue_depth: 256,
            deadline: Duration::from_secs(25),
            max_response_bytes: None,
            metrics_namespace: "imgh".into(),
            cache_bytes: 0,
            cache_ttl: Duration::from_secs(3600),
        }
    }
}

/// Allowed origins for cross-origin requests; empty = CORS off, `*` = any.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub origins: Vec<String>,
}

impl Cors {
    pub fn parse(list: &str) -> Self {
        Self { origins: list.split(',').map(str::trim).filter(|o| !o.is_empty()).map(String::from).collect() }
    }

    fn allowed(&self, headers: &HeaderMap) -> Option<String> {
        let origin = headers.get("origin")?.to_str().ok()?;
        if self.origins.iter().any(|o| o == "*") {
            Some("*".into())
        } else {
            self.origins.iter().any(|o| o == origin).then(|| origin.to_string())
        }
    }

    /// Adds `Access-Control-Allow-Origin` to any reply for an allowed origin.
    pub fn decorate(&self, headers: &HeaderMap, reply: &mut Reply) {
        if self.origins.is_empty() {
            return;
        }
        if let Some(origin) = self.allowed(headers) {
            reply.headers.push(("access-control-allow-origin", origin));
        }
        reply.headers.push(("vary", "Origin".into()));
    }

    /// The answer to an `OPTIONS` preflight.
    pub fn preflight(&self, headers: &HeaderMap) -> Reply {
        let mut reply = Reply { status: 204, headers: Vec::new(), body: Default::default() };
        if self.allowed(headers).is_some() {
            reply.headers.push(("access-control-allow-methods", "GET, HEAD, OPTIONS".into()));
            let asked = headers.get("access-control-request-headers").and_then(|v| v.to_str().ok()).unwrap_or("");
            if !asked.is_empty() {
                reply.headers.push(("access-control-allow-headers", asked.to_string()));
            }
            reply.headers.push(("access-control-max-age", "86400".into()));
        }
        reply
    }
}
