//! The Lambda adapter: a custom runtime (`lambda_runtime`) taking function-URL events,
//! answered as a response stream (no 6 MB cap), and API Gateway HTTP API (payload v2)
//! events, answered buffered with a 413 when the encoded response passes 6 MB.

use super::{Handler, Incoming, Reply};
use crate::error::ProcessError;
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use lambda_runtime::{service_fn, FunctionResponse, LambdaEvent, MetadataPrelude, StreamResponse};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// Lambda's limit on a buffered response payload.
pub const BUFFERED_LIMIT: usize = 6 * 1024 * 1024;
/// Streamed bodies go out in chunks of this size.
const CHUNK: usize = 256 * 1024;

type Chunks = futures_util::stream::Iter<std::vec::IntoIter<Result<Bytes, Infallible>>>;

pub async fn run(handler: Arc<Handler>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(invoke(&handler, event.payload).await) }
    }))
    .await
}

/// One invocation: the event → a request → a reply, streamed or buffered by event kind.
pub async fn invoke(handler: &Handler, event: Value) -> FunctionResponse<Value, Chunks> {
    let started = Instant::now();
    let streamed = is_function_url(&event);
    let (reply, head) = match parse_event(&event) {
        Ok((method, path, query, headers)) => {
            // Only the processing API reads a body.
            let body = if method == "POST" && path == super::api::PATH { event_body(&event) } else { Vec::new() };
            let incoming =
                Incoming { method: &method, path: &path, query: query.as_deref(), headers: &headers, body: &body };
            (handler.handle(&incoming).await, method == "HEAD")
        }
        Err(e) => (handler.error_reply(&e), false),
    };
    let mut reply = with_length(reply);
    if head {
        reply.body = Bytes::new();
    }
    let (status, bytes_out) = (reply.status, reply.body.len());
    let response = if streamed { stream(reply) } else { buffered(handler, reply) };
    let status = match &response {
        FunctionResponse::BufferedResponse(doc) => doc["statusCode"].as_u64().map_or(status, |s| s as u16),
        FunctionResponse::StreamingResponse(_) => status,
    };
    emit_metrics(&handler.options.metrics_namespace, status, bytes_out, started);
    response
}

fn with_length(mut reply: Reply) -> Reply {
    if reply.header("content-length").is_none() {
        reply.headers.push(("content-length", reply.body.len().to_string()));
    }
    reply
}

/// Function URL events carry the URL's domain, `<id>.lambda-url.<region>.on.aws`.
fn is_function_url(event: &Value) -> bool {
    event["requestContext"]["domainName"].as_str().is_some_and(|d| d.contains(".lambda-url."))
}

/// Method, raw path, raw query and headers of a payload-v2 event.
fn parse_event(event: &Value) -> Result<(String, String, Option<String>, HeaderMap), ProcessError> {
    let method = event["requestContext"]["http"]["method"]
        .as_str()
        .ok_or_else(|| ProcessError::new(400, "BadRequest", "not an HTTP event (payload format 2.0 expected)"))?
        .to_ascii_uppercase();
    let raw = event["rawPath"].as_str().unwrap_or("/");
    // API Gateway HTTP APIs hand over the path percent-decoded (function URLs keep the
    // viewer's encoding); encoded again, it reads as every other adapter's path.
    let path = if is_function_url(event) { raw.to_string() } else { encode_decoded_path(raw) };
    let query = event["rawQueryString"].as_str().filter(|q| !q.is_empty()).map(String::from);
    let mut headers = HeaderMap::new();
    if let Some(map) = event["headers"].as_object() {
        for (k, v) in map {
            if let (Ok(name), Some(Ok(value))) =
                (HeaderName::try_from(k.as_str()), v.as_str().map(HeaderValue::from_str))
            {
                headers.insert(name, value);
            }
        }
    }
    Ok((method, path, query, headers))
}

/// The request body of a payload-v2 event, base64-decoded when it says so (a malformed
/// one reads as empty, which the processing API refuses as not JSON).
fn event_body(event: &Value) -> Vec<u8> {
    let text = event["body"].as_str().unwrap_or_default();
    if event["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    }
}

/// A decoded path in the encoded form the handler reads: every byte that cannot stand for
/// itself in a URL path (`%` included, which here is a literal `%`) percent-encoded.
fn encode_decoded_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn stream(reply: Reply) -> FunctionResponse<Value, Chunks> {
    let mut headers = HeaderMap::new();
    for (k, v) in &reply.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.append(*k, v);
        }
    }
    let status_code = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let chunks: Vec<Result<Bytes, Infallible>> = (0..reply.body.len())
        .step_by(CHUNK)
        .map(|at| Ok(reply.body.slice(at..(at + CHUNK).min(reply.body.len()))))
        .collect();
    FunctionResponse::StreamingResponse(StreamResponse {
        metadata_prelude: MetadataPrelude { status_code, headers, cookies: Vec::new() },
        stream: futures_util::stream::iter(chunks),
    })
}

/// The API Gateway v2 response document; 413 when it would pass Lambda's 6 MB limit.
fn buffered(handler: &Handler, reply: Reply) -> FunctionResponse<Value, Chunks> {
    let doc = buffered_doc(&reply);
    let wire = serde_json::to_vec(&doc).map_or(usize::MAX, |v| v.len());
    if wire > BUFFERED_LIMIT {
        let e = super::too_large(
            wire,
            BUFFERED_LIMIT,
            "the limit of a buffered Lambda response, base64 included (API Gateway, as in China): ask for a smaller image, or deploy the ECS variant (10 MB in China, streamed elsewhere)",
        );
        return FunctionResponse::BufferedResponse(buffered_doc(&with_length(handler.error_reply(&e))));
    }
    FunctionResponse::BufferedResponse(doc)
}

fn buffered_doc(reply: &Reply) -> Value {
    let headers: serde_json::Map<String, Value> =
        reply.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
    json!({
        "statusCode": reply.status,
        "headers": headers,
        "isBase64Encoded": true,
        "body": base64::engine::general_purpose::STANDARD.encode(&reply.body),
    })
}

/// One CloudWatch Embedded Metric Format line per invocation: latency, errors (0 or 1, so
/// their average is the error rate), bytes. The ECS template derives the same metrics from
/// the request log lines with metric filters.
fn emit_metrics(namespace: &str, status: u16, bytes_out: usize, started: Instant) {
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let line = json!({
        "_aws": {
            "Timestamp": timestamp as u64,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [
                    {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "ClientErrors", "Unit": "Count"},
                    {"Name": "ServerErrors", "Unit": "Count"},
                    {"Name": "BytesOut", "Unit": "Bytes"}
                ]
            }]
        },
        "Latency": started.elapsed().as_secs_f64() * 1000.0,
        "ClientErrors": u8::from((400..500).contains(&status)),
        "ServerErrors": u8::from(status >= 500),
        "BytesOut": bytes_out,
        "Status": status,
    });
    println!("{line}");
}
