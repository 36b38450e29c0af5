//! The Lambda adapter for real: the `imgh-handler` binary runs as a subprocess against a
//! stand-in of the documented Lambda Runtime API (below), receives function-URL and API
//! Gateway v2 events, and its streamed / buffered responses are checked.

mod support;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::sync::mpsc;

/// What the runtime posted back for one invocation.
#[derive(Debug)]
struct Posted {
    headers: HeaderMap,
    body: Bytes,
}

struct RuntimeApi {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    results: mpsc::Sender<(String, Posted)>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> impl IntoResponse {
    // One waiting runtime at a time; the lock is held only to take the receiver's next item.
    let item = {
        let mut rx = api.events.lock().unwrap();
        rx.try_recv().ok()
    };
    let (id, event) = match item {
        Some(item) => item,
        None => loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Ok(item) = api.events.lock().unwrap().try_recv() {
                break item;
            }
        },
    };
    let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 30_000;
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    h.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().unwrap());
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:imgh".parse().unwrap(),
    );
    h.insert("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".parse().unwrap());
    (h, event.to_string())
}

async fn respond(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    api.results.send((id, Posted { headers, body })).await.unwrap();
    StatusCode::ACCEPTED
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    api.results.send((format!("error:{id}"), Posted { headers, body })).await.unwrap();
    StatusCode::ACCEPTED
}

struct Harness {
    events: mpsc::Sender<(String, Value)>,
    results: mpsc::Receiver<(String, Posted)>,
    _proc: support::KillOnDrop,
    seq: usize,
}

impl Harness {
    /// The handler binary under the stand-in, with `env` on top of the test defaults.
    async fn start(env: &[(&str, &str)]) -> Self {
        let (ev_tx, ev_rx) = mpsc::channel(16);
        let (res_tx, res_rx) = mpsc::channel(16);
        let api = Arc::new(RuntimeApi { events: Mutex::new(ev_rx), results: res_tx });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            // Streamed responses may be far larger than axum's default 2 MB body limit.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imgh-handler"));
        base_env(&mut cmd)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "imgh")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("IMGH_DIR", samples_dir())
            .envs(env.iter().copied());
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start imgh-handler");
        Harness { events: ev_tx, results: res_rx, _proc: support::KillOnDrop(child), seq: 0 }
    }

    async fn invoke(&mut self, event: Value) -> Posted {
        self.seq += 1;
        let id = format!("req-{}", self.seq);
        self.events.send((id.clone(), event)).await.unwrap();
        let (got, posted) = tokio::time::timeout(Duration::from_secs(60), self.results.recv()).await.unwrap().unwrap();
        assert_eq!(got, id, "response posted for the wrong invocation: {}", String::from_utf8_lossy(&posted.body));
        posted
    }
}

fn event(domain: &str, method: &str, path: &str, query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"accept": "*/*", "host": domain},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": domain,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "isBase64Encoded": false
    })
}

const URL_DOMAIN: &str = "abcdefghij.lambda-url.us-east-1.on.aws";
const APIGW_DOMAIN: &str = "abc123.execute-api.us-east-1.amazonaws.com";
const CHINA_DOMAIN: &str = "abc123.execute-api.cn-north-1.amazonaws.com.cn";

/// Splits a streamed HTTP-integration response into its JSON prelude and body.
fn split_stream(p: &Posted) -> (Value, &[u8]) {
    assert_eq!(p.headers.get("lambda-runtime-function-response-mode").unwrap(), "streaming");
    assert_eq!(p.headers.get("content-type").unwrap(), "application/vnd.awslambda.http-integration-response");
    let at = p.body.windows(8).position(|w| w == [0u8; 8]).expect("8 NUL bytes after the prelude");
    (serde_json::from_slice(&p.body[..at]).expect("JSON prelude"), &p.body[at + 8..])
}

#[tokio::test(flavor = "multi_thread")]
async fn function_url_streams_and_api_gateway_buffers() {
    let mut h = Harness::start(&[]).await;

    // A processed image, streamed.
    let p = h.invoke(event(URL_DOMAIN, "GET", "/mountain.jpg", "x-oss-process=image/resize,w_200")).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["headers"]["content-type"], "image/jpeg");
    let img = image::load_from_memory(body).unwrap();
    assert_eq!((img.width(), img.height()), (200, 133));

    // Originals and error bodies are the server's.
    let p = h.invoke(event(URL_DOMAIN, "GET", "/mountain.jpg", "")).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(body, &include_bytes!("../../samples/mountain.jpg")[..]);
    let p = h.invoke(event(URL_DOMAIN, "GET", "/mountain.jpg", "x-oss-process=image/resize,w_abc")).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 400);
    assert!(String::from_utf8_lossy(body).contains("w must be an integer"));

    // Over 6 MB: a ~21 MB BMP streams whole through the function URL …
    let big = "x-oss-process=image/resize,w_3300,limit_0/format,bmp";
    let p = h.invoke(event(URL_DOMAIN, "GET", "/sunset.jpg", big)).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 200);
    assert!(body.len() > 20_000_000, "{} bytes", body.len());
    assert_eq!(prelude["headers"]["content-length"], body.len().to_string());
    let img = image::load_from_memory_with_format(body, image::ImageFormat::Bmp).unwrap();
    assert_eq!((img.width(), img.height()), (3300, 2200));

    // … and is a clear 413 through API Gateway's buffered path.
    let p = h.invoke(event(APIGW_DOMAIN, "GET", "/sunset.jpg", big)).await;
    let doc: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(doc["statusCode"], 413);
    let text = base64::engine::general_purpose::STANDARD.decode(doc["body"].as_str().unwrap()).unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("ResponseTooLarge") && text.contains("ECS variant"), "{text}");

    // The per-image memory budget follows the function's memory (1024 MB here): a canvas
    // that would not fit is refused before it is allocated.
    let huge = "x-oss-process=image/resize,w_16000,h_16000,m_fixed,limit_0";
    let p = h.invoke(event(URL_DOMAIN, "GET", "/mountain.jpg", huge)).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 400);
    let text = String::from_utf8_lossy(body);
    assert!(text.contains("ImageTooLarge") && text.contains("the limit is 896 MB per request"), "{text}");

    // A small image through API Gateway: buffered, base64.
    let p = h.invoke(event(APIGW_DOMAIN, "GET", "/dragonfly.jpg", "x-oss-process=image/resize,w_64/format,webp")).await;
    let doc: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(doc["statusCode"], 200);
    assert_eq!(doc["headers"]["content-type"], "image/webp");
    assert_eq!(doc["isBase64Encoded"], true);
    let bytes = base64::engine::general_purpose::STANDARD.decode(doc["body"].as_str().unwrap()).unwrap();
    assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 64);

    // HEAD: headers, no body.
    let p = h.invoke(event(URL_DOMAIN, "HEAD", "/mountain.jpg", "x-oss-process=image/resize,w_100")).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 200);
    assert!(body.is_empty());
    assert_ne!(prelude["headers"]["content-length"], "0");
}

/// The China Lambda variant: API Gateway (payload 2.0) events, the origin secret CloudFront
/// adds as a header, and originals served by the handler (no function routes them to S3).
#[tokio::test(flavor = "multi_thread")]
async fn china_api_gateway_events_need_the_origin_secret() {
    let mut h = Harness::start(&[("IMGH_ORIGIN_SECRET", "s3cret")]).await;
    let with_secret = |path: &str, query: &str, secret: &str| {
        let mut e = event(CHINA_DOMAIN, "GET", path, query);
        e["headers"]["x-imgh-origin-secret"] = json!(secret);
        e
    };
    let answer = |p: &Posted| -> (u64, Vec<u8>) {
        let doc: Value = serde_json::from_slice(&p.body).expect("a buffered response document");
        let body = base64::engine::general_purpose::STANDARD.decode(doc["body"].as_str().unwrap()).unwrap();
        (doc["statusCode"].as_u64().unwrap(), body)
    };
    let p = h.invoke(with_secret("/mountain.jpg", "x-oss-process=image/resize,w_120", "s3cret")).await;
    let (status, body) = answer(&p);
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 120);
    let (status, body) = answer(&h.invoke(with_secret("/mountain.jpg", "", "s3cret")).await);
    assert_eq!((status, body.as_slice()), (200, &include_bytes!("../../samples/mountain.jpg")[..]));
    for wrong in ["guess", ""] {
        let (status, body) = answer(&h.invoke(with_secret("/mountain.jpg", "", wrong)).await);
        assert_eq!(status, 403, "{wrong:?}");
        assert!(String::from_utf8_lossy(&body).contains("AccessDenied"));
    }
    let (status, _) = answer(&h.invoke(event(CHINA_DOMAIN, "GET", "/mountain.jpg", "")).await);
    assert_eq!(status, 403, "no secret header");
    // HTTP APIs deliver the path decoded: `%25`, a space, CJK, `?` and `#` are the key's own
    // characters, not escapes or URL syntax.
    let (status, body) = answer(&h.invoke(with_secret("/a b/照片%41?#.jpg", "", "s3cret")).await);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("a b/照片%41?#.jpg"), "{}", String::from_utf8_lossy(&body));
}

/// The processing API through both events: a function URL's body arrives base64-encoded, an
/// API Gateway one as text; each job's result lands in the target bucket (moto S3).
#[tokio::test(flavor = "multi_thread")]
async fn the_processing_api_reads_the_event_body() {
    let Some(moto) = moto_url() else { return };
    let s3 = moto_s3(&moto_config(&moto).await);
    let (src, dst) =
        (format!("lambda-api-src-{}", std::process::id()), format!("lambda-api-dst-{}", std::process::id()));
    for b in [&src, &dst] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let jpg = include_bytes!("../../samples/mountain.jpg").to_vec();
    s3.put_object().bucket(&src).key("p.jpg").body(jpg.into()).send().await.unwrap();
    let mut h = Harness::start(&[
        ("AWS_ENDPOINT_URL", &moto),
        ("IMGH_BUCKETS", &src),
        ("IMGH_API_SECRET", "k"),
        ("IMGH_API_TARGET_BUCKETS", &dst),
    ])
    .await;
    let job = |target: &str| {
        json!({"params": "image/resize,w_50", "sourceBucket": src, "sourceObject": "p.jpg",
               "targetBucket": dst, "targetObject": target})
        .to_string()
    };

    let mut e = event(URL_DOMAIN, "POST", "/images", "");
    e["headers"]["x-client-authorization"] = json!("k");
    e["isBase64Encoded"] = json!(true);
    e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(job("url.jpg")));
    let p = h.invoke(e.clone()).await;
    let (prelude, body) = split_stream(&p);
    assert_eq!(prelude["statusCode"], 200, "{}", String::from_utf8_lossy(body));

    let mut e = event(APIGW_DOMAIN, "POST", "/images", "");
    e["headers"]["x-client-authorization"] = json!("k");
    e["body"] = json!(job("apigw.jpg"));
    let p = h.invoke(e.clone()).await;
    let doc: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(doc["statusCode"], 200, "{doc}");

    for key in ["url.jpg", "apigw.jpg"] {
        let out = s3.get_object().bucket(&dst).key(key).send().await.expect("the result is written");
        assert_eq!(out.content_type(), Some("image/jpeg"));
        let bytes = out.body.collect().await.unwrap().into_bytes();
        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 50, "{key}");
    }

    // Without the secret: refused, as JSON, nothing written.
    e["headers"]["x-client-authorization"] = json!("nope");
    e["body"] = json!(job("refused.jpg"));
    let doc: Value = serde_json::from_slice(&h.invoke(e).await.body).unwrap();
    assert_eq!(doc["statusCode"], 403);
    assert!(s3.get_object().bucket(&dst).key("refused.jpg").send().await.is_err());
}
