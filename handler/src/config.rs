//! The deployed handler's settings, from environment variables (set by the templates),
//! into one [`Handler`]. Every variable is optional; see [`VARIABLES`].

use crate::guard::signature::SigningKeys;
use crate::guard::Limits;
use crate::serve::{Cors, Handler, Options, ProcessingApi};
use crate::store::{DirStore, S3Store, Store};
use crate::style::{DynamoStyles, StyleSource, Styles};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The variables read, with what each means (printed by `imgh-handler --help`).
pub const VARIABLES: &[(&str, &str)] = &[
    ("IMGH_BUCKETS", "comma-separated S3 buckets served (the allow-list)"),
    ("IMGH_DIR", "serve a local folder instead of S3"),
    ("IMGH_BUCKET_HEADER", "origin header naming the bucket (default x-imgh-bucket)"),
    ("IMGH_STYLE_TABLE", "DynamoDB table of styles (key `style`, attribute `process`)"),
    ("IMGH_STYLES_FILE", "TOML file of styles instead of DynamoDB"),
    ("IMGH_CACHE_CONTROL", "Cache-Control of images (default public, max-age=31536000)"),
    ("IMGH_ERROR_CACHE_CONTROL", "Cache-Control of 4xx errors (default public, max-age=60; 5xx are no-store)"),
    ("IMGH_AUTO_FORMAT", "1: choose AVIF/WebP from Accept when no format is asked"),
    ("IMGH_CORS_ORIGINS", "comma-separated allowed origins, or *"),
    ("IMGH_SIGNING_KEYS", "comma-separated HMAC keys: signed URLs required"),
    ("IMGH_SIGNING_SECRET_ID", "Secrets Manager secret holding the keys (read once)"),
    (
        "IMGH_EXACT_QUERY_NAMES",
        "1: read query names only as spelled, never percent-decoded (behind a cache keyed on names as sent)",
    ),
    ("IMGH_ORIGIN_SECRET", "required value of the origin secret header (China: API Gateway origin)"),
    ("IMGH_ORIGIN_SECRET_PREVIOUS", "a second accepted value, while CloudFront moves to a rotated secret"),
    ("IMGH_REQUIRE_ORIGIN_SECRET", "1: refuse to start without IMGH_ORIGIN_SECRET (a public origin)"),
    ("IMGH_SECRET_HEADER", "header carrying the origin secret (default x-imgh-origin-secret)"),
    ("IMGH_API_TARGET_BUCKETS", "comma-separated buckets the processing API (POST /images) may write to"),
    ("IMGH_API_SECRET", "the X-Client-Authorization value POST /images requires (turns the API on)"),
    (
        "IMGH_API_SECRET_ID",
        "Secrets Manager secret holding that value, plain or as {\"X-Client-Authorization\": …} (read once)",
    ),
    ("IMGH_MAX_RESPONSE_BYTES", "largest response body the front door passes on; larger is a 413"),
    ("IMGH_METRICS_NAMESPACE", "CloudWatch namespace of the Lambda metrics (default imgh)"),
    ("IMGH_WORKERS", "concurrent image jobs (default: cores)"),
    ("IMGH_QUEUE_DEPTH", "requests waiting for a turn before 503 (default 256)"),
    ("IMGH_DEADLINE_MS", "per-request budget in ms (default 25000)"),
    ("IMGH_CACHE_MB", "in-memory result cache in MB (default 256 on ECS, 0 on Lambda)"),
    ("IMGH_CACHE_TTL_S", "result cache entry lifetime in seconds (default 3600)"),
    ("IMGH_MAX_SOURCE_BYTES", "largest source object (default 20 MB)"),
    ("IMGH_MAX_SIDE", "largest source side in px (default 30000)"),
    ("IMGH_MAX_PIXELS", "largest source pixel count x frames (default 250000000)"),
    ("IMGH_MAX_OUTPUT_SIDE", "largest output side in px (default 16384)"),
    ("IMGH_MEMORY_MB", "memory the handler may use (default: Lambda's memory size, else the cgroup limit)"),
    ("IMGH_MAX_IMAGE_MB", "largest bitmap one request may build (default: sized from that memory)"),
    ("IMGH_MODE", "lambda or http (default: lambda when AWS_LAMBDA_RUNTIME_API is set)"),
    ("IMGH_LISTEN", "HTTP address (default 0.0.0.0:$PORT, PORT default 8080)"),
];

/// Lambda (runtime API) or HTTP server: `IMGH_MODE`, else whether Lambda set its API address.
pub fn on_lambda() -> bool {
    match var("IMGH_MODE").as_deref() {
        Some("lambda") => true,
        Some(_) => false,
        None => var("AWS_LAMBDA_RUNTIME_API").is_some(),
    }
}

/// The HTTP server's address: `IMGH_LISTEN`, else `0.0.0.0:$PORT`.
pub fn listen_addr() -> String {
    var("IMGH_LISTEN").unwrap_or_else(|| format!("0.0.0.0:{}", var("PORT").unwrap_or_else(|| "8080".into())))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn num<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    var(name).map(|v| v.trim().parse().map_err(|_| format!("{name}={v} is not a number"))).transpose()
}

const MB: u64 = 1024 * 1024;

/// Memory kept for everything but bitmaps: the runtime, fetched sources, responses.
const RESERVED_MEMORY: u64 = 128 * MB;

/// The memory this process may use: `IMGH_MEMORY_MB` (the ECS template sets the task's),
/// Lambda's configured size, else the cgroup (v2, then v1) limit of a container, else
/// unknown ("max", or v1's huge no-limit value).
fn memory_limit() -> Option<u64> {
    let mb = ["IMGH_MEMORY_MB", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"].iter().find_map(|v| var(v)?.parse::<u64>().ok());
    if let Some(mb) = mb {
        return Some(mb * MB);
    }
    ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse::<u64>().ok())
        .filter(|&bytes| bytes < 1 << 50)
}

/// A setting the handler cannot start with: which variable, and what is wrong with it.
#[derive(Debug)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        ConfigError(message)
    }
}

impl From<&str> for ConfigError {
    fn from(message: &str) -> Self {
        ConfigError(message.to_string())
    }
}

/// Builds the handler from the environment. `on_lambda` changes two defaults: no
/// in-memory cache (instances are short-lived and small) and one worker per vCPU.
pub async fn handler_from_env(on_lambda: bool) -> Result<Handler, ConfigError> {
    let aws = aws_defaults().load().await;
    let mut stores: HashMap<String, Arc<dyn Store>> = HashMap::new();
    if let Some(dir) = var("IMGH_DIR") {
        let store = DirStore::new(&dir).map_err(|e| format!("IMGH_DIR={dir}: {e}"))?;
        stores.insert(String::new(), Arc::new(store));
    }
    if let Some(buckets) = var("IMGH_BUCKETS") {
        let s3 = s3_client(&aws);
        for b in buckets.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            stores.insert(b.to_string(), Arc::new(S3Store::new(s3.clone(), b)));
        }
    }
    if stores.is_empty() {
        return Err("set IMGH_BUCKETS (S3 buckets to serve) or IMGH_DIR (a folder)".into());
    }
    let styles: Arc<dyn StyleSource> = match (var("IMGH_STYLE_TABLE"), var("IMGH_STYLES_FILE")) {
        (Some(table), _) => {
            Arc::new(DynamoStyles::new(aws_sdk_dynamodb::Client::new(&aws), table, Duration::from_secs(60)))
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("IMGH_STYLES_FILE={path}: {e}"))?;
            Arc::new(Styles::from_toml(&text).map_err(|e| format!("IMGH_STYLES_FILE={path}: {}", e.message))?)
        }
        (None, None) => Arc::new(Styles::default()),
    };
    let signing = match (var("IMGH_SIGNING_KEYS"), var("IMGH_SIGNING_SECRET_ID")) {
        (Some(keys), _) => Some(SigningKeys::parse(&keys)),
        (None, Some(id)) => Some(SigningKeys::parse(&read_secret(&aws, &id).await?)),
        (None, None) => None,
    };
    if signing.as_ref().is_some_and(SigningKeys::is_empty) {
        return Err("signed URLs are configured but no signing key was found".into());
    }
    let defaults = Options::default();
    let options = Options {
        cache_control: var("IMGH_CACHE_CONTROL").unwrap_or(defaults.cache_control),
        error_cache_control: var("IMGH_ERROR_CACHE_CONTROL").unwrap_or(defaults.error_cache_control),
        auto_format: var("IMGH_AUTO_FORMAT").is_some_and(|v| v == "1" || v == "true"),
        cors: var("IMGH_CORS_ORIGINS").map(|v| Cors::parse(&v)).unwrap_or_default(),
        signing,
        exact_query_names: var("IMGH_EXACT_QUERY_NAMES").is_some_and(|v| v == "1" || v == "true"),
        origin_secrets: ["IMGH_ORIGIN_SECRET", "IMGH_ORIGIN_SECRET_PREVIOUS"].into_iter().filter_map(var).collect(),
        secret_header: var("IMGH_SECRET_HEADER").unwrap_or(defaults.secret_header).to_ascii_lowercase(),
        bucket_header: var("IMGH_BUCKET_HEADER").unwrap_or(defaults.bucket_header).to_ascii_lowercase(),
        workers: num("IMGH_WORKERS")?.unwrap_or(defaults.workers),
        queue_depth: num("IMGH_QUEUE_DEPTH")?.unwrap_or(defaults.queue_depth),
        deadline: num("IMGH_DEADLINE_MS")?.map_or(defaults.deadline, Duration::from_millis),
        max_response_bytes: num("IMGH_MAX_RESPONSE_BYTES")?,
        metrics_namespace: var("IMGH_METRICS_NAMESPACE").unwrap_or(defaults.metrics_namespace),
        cache_bytes: num::<u64>("IMGH_CACHE_MB")?.unwrap_or(if on_lambda { 0 } else { 256 }) * 1024 * 1024,
        cache_ttl: num("IMGH_CACHE_TTL_S")?.map_or(defaults.cache_ttl, Duration::from_secs),
    };
    if var("IMGH_REQUIRE_ORIGIN_SECRET").is_some_and(|v| v == "1" || v == "true") && options.origin_secrets.is_empty() {
        // A public origin without its secret would serve anyone: refuse to start instead.
        return Err("IMGH_REQUIRE_ORIGIN_SECRET is set but IMGH_ORIGIN_SECRET is empty".into());
    }
    let d = Limits::default();
    // Lambda runs one invocation at a time; the server runs `workers` images at once.
    let jobs = if on_lambda { 1 } else { options.workers };
    let max_image_bytes = match num::<u64>("IMGH_MAX_IMAGE_MB")? {
        Some(mb) => mb * MB,
        None => memory_limit().map_or(d.max_image_bytes, |memory| {
            Limits::image_bytes_for_memory(memory, RESERVED_MEMORY + options.cache_bytes, jobs)
        }),
    };
    let limits = Limits {
        max_source_bytes: num("IMGH_MAX_SOURCE_BYTES")?.unwrap_or(d.max_source_bytes),
        max_side: num("IMGH_MAX_SIDE")?.unwrap_or(d.max_side),
        max_pixels: num("IMGH_MAX_PIXELS")?.unwrap_or(d.max_pixels),
        max_output_side: num("IMGH_MAX_OUTPUT_SIDE")?.unwrap_or(d.max_output_side),
        max_image_bytes,
        ..d
    };
    let handler = Handler::new(stores, styles, limits, options);
    Ok(match processing_api(&aws).await? {
        Some(api) => handler.with_api(api),
        None => handler,
    })
}

/// The processing API, on when its client secret is set: `IMGH_API_SECRET`, or the secret
/// `IMGH_API_SECRET_ID` names, plain or as the seed system's `{"X-Client-Authorization": …}`.
async fn processing_api(aws: &aws_config::SdkConfig) -> Result<Option<ProcessingApi>, ConfigError> {
    let secret = match (var("IMGH_API_SECRET"), var("IMGH_API_SECRET_ID")) {
        (Some(value), _) => value,
        (None, Some(id)) => {
            let text = read_secret(aws, &id).await?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(doc) if doc.is_object() => doc["X-Client-Authorization"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("secret {id} is JSON without an \"X-Client-Authorization\" string"))?,
                _ => text,
            }
        }
        (None, None) => return Ok(None),
    };
    // HTTP drops the spaces around a header value: a secret that kept them could never match.
    let secret = secret.trim().to_string();
    if secret.is_empty() {
        return Err("the processing API's client secret is empty".into());
    }
    if var("IMGH_BUCKETS").is_none() {
        return Err("the processing API reads its sources from S3: set IMGH_BUCKETS".into());
    }
    let s3 = s3_client(aws);
    let targets = var("IMGH_API_TARGET_BUCKETS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|b| (b.to_string(), Arc::new(S3Store::new(s3.clone(), b)) as Arc<dyn Store>))
        .collect();
    Ok(Some(ProcessingApi { client_secrets: vec![secret], targets }))
}

async fn read_secret(aws: &aws_config::SdkConfig, id: &str) -> Result<String, ConfigError> {
    let secret =
        aws_sdk_secretsmanager::Client::new(aws).get_secret_value().secret_id(id).send().await.map_err(|e| {
            format!("cannot read secret {id}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e))
        })?;
    Ok(secret.secret_string().unwrap_or_default().to_string())
}

/// The AWS settings every client of the handler starts from: the environment's region and
/// credentials, over one HTTPS client with rustls and ring, which honours the proxy
/// variables (`HTTPS_PROXY`, `NO_PROXY`) as the SDK's default client does.
pub fn aws_defaults() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    });
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client)
}

/// S3 as configured, path-style against an emulator (and some S3-compatible stores).
fn s3_client(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let path_style = var("AWS_ENDPOINT_URL").is_some() || var("AWS_ENDPOINT_URL_S3").is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(aws).force_path_style(path_style).build())
}
