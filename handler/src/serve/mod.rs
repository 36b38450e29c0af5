//! Serving requests, independent of the entry adapter ([`http`] server for `imgh serve`
//! and ECS, [`lambda`] runtime): check → resolve → fetch → cache → process on the
//! bounded pool → a [`Reply`].

pub mod api;
pub mod http;
pub mod lambda;
mod options;

pub use api::ProcessingApi;
pub use options::{Cors, Options, BUCKET_HEADER, SECRET_HEADER};

use crate::codec::Format;
use crate::engine::{self, Processed, Timings};
use crate::error::{ProcessError, Result};
use crate::guard::{self, Limits};
use crate::process::{self, Answer, Plan};
use crate::request::{self, Resolved};
use crate::store::{Object, Store};
use crate::style::StyleSource;
use crate::video;
use ::http::HeaderMap;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::sync::Semaphore;

/// A response its front door would refuse: `size` bytes past its `limit`; `front` names the
/// limit and what else to do.
pub(crate) fn too_large(size: usize, limit: usize, front: &str) -> ProcessError {
    let mb = limit / (1024 * 1024);
    ProcessError::new(413, "ResponseTooLarge", format!("the response is {size} bytes, over {mb} MB, {front}"))
}

/// One request as any adapter sees it.
pub struct Incoming<'a> {
    pub method: &'a str,
    /// The raw (percent-encoded) path.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The request body: read only for the processing API, empty otherwise.
    pub body: &'a [u8],
}

/// An adapter-neutral response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A processed result kept in the in-memory cache, valid while its source's ETag is
/// `source_etag`.
struct Cached {
    body: Bytes,
    content_type: &'static str,
    etag: String,
    last_modified: Option<SystemTime>,
    source_etag: String,
}

const FETCH_SLOTS_PER_WORKER: usize = 4;

/// Everything requests share: stores by bucket, styles, limits, options, the worker pool.
pub struct Handler {
    stores: HashMap<String, Arc<dyn Store>>,
    styles: Arc<dyn StyleSource>,
    limits: Limits,
    options: Options,
    workers: Semaphore,
    /// Requests that may hold a fetched source at once: a few per worker, so the next
    /// sources are fetched while the workers are busy, and memory stays bounded.
    fetching: Semaphore,
    /// Requests holding or waiting for a fetch slot; past fetch slots + queue depth → 503.
    admitted: AtomicUsize,
    cache: Option<moka::future::Cache<String, Arc<Cached>>>,
    /// `POST /images`, when configured.
    api: Option<ProcessingApi>,
}

/// A request's turn at processing: its place among the admitted, its fetch slot, and the
/// time by which it must be done.
struct Turn<'a> {
    _admitted: Admission<'a>,
    _slot: tokio::sync::SemaphorePermit<'a>,
    deadline: tokio::time::Instant,
}

impl Handler {
    /// `stores` maps bucket names to stores; with one store it serves requests that name none.
    pub fn new(
        stores: HashMap<String, Arc<dyn Store>>,
        styles: Arc<dyn StyleSource>,
        mut limits: Limits,
        mut options: Options,
    ) -> Self {
        limits.timeout = limits.timeout.min(options.deadline);
        options.workers = options.workers.max(1);
        let cache = (options.cache_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .weigher(|_: &String, v: &Arc<Cached>| v.body.len().try_into().unwrap_or(u32::MAX))
                .max_capacity(options.cache_bytes)
                .time_to_live(options.cache_ttl)
                .build()
        });
        Self {
            stores,
            styles,
            limits,
            workers: Semaphore::new(options.workers),
            fetching: Semaphore::new(FETCH_SLOTS_PER_WORKER * options.workers),
            admitted: AtomicUsize::new(0),
            cache,
            options,
            api: None,
        }
    }

    /// Turns on the processing API (`POST /images`).
    pub fn with_api(mut self, api: ProcessingApi) -> Self {
        self.api = Some(api);
        self
    }

    /// A handler over one store (a folder, the embedded samples).
    pub fn single(store: Arc<dyn Store>, styles: Arc<dyn StyleSource>, limits: Limits, options: Options) -> Self {
        Self::new(HashMap::from([(String::new(), store)]), styles, limits, options)
    }

    pub async fn handle(&self, req: &Incoming<'_>) -> Reply {
        let (plain, filtered);
        let req = match req.query.filter(|_| self.options.exact_query_names) {
            Some(query) => {
                plain = plain_names(query);
                filtered = Incoming { query: Some(plain.as_str()), ..*req };
                &filtered
            }
            None => req,
        };
        let started = Instant::now();
        let mut log = RequestLog::default();
        let mut reply = match self.try_handle(req, &mut log).await {
            Ok(reply) => reply,
            Err(e) if api::is_api(req) => api::error_reply(&e),
            Err(e) => self.error_reply(&e),
        };
        if let Some(limit) = self.options.max_response_bytes.filter(|&l| reply.body.len() > l) {
            reply = self.error_reply(&too_large(
                reply.body.len(),
                limit,
                "API Gateway's payload limit: ask for a smaller image",
            ));
        }
        self.options.cors.decorate(req.headers, &mut reply);
        tracing::info!(
            method = req.method,
            path = req.path,
            process = log.process.as_deref().unwrap_or(""),
            status = reply.status,
            bytes_in = log.bytes_in,
            bytes_out = reply.body.len(),
            cache = log.cache_hit,
            decode_ms = log.timings.decode_ms,
            process_ms = log.timings.steps_ms,
            encode_ms = log.timings.encode_ms,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        reply
    }

    async fn try_handle(&self, req: &Incoming<'_>, log: &mut RequestLog) -> Result<Reply> {
        if is_health_check(req) {
            return Ok(Reply { status: 200, headers: vec![("content-type", "text/plain".into())], body: "ok".into() });
        }
        // A refusal (403) is never cached (`error_reply`): a distribution that sends a stale
        // secret must not keep it.
        self.check_origin_secret(req.headers)?;
        if req.method == "OPTIONS" {
            return Ok(self.options.cors.preflight(req.headers));
        }
        if api::is_api(req) {
            return Ok(self.process_api(req).await);
        }
        if req.method != "GET" && req.method != "HEAD" {
            return Err(ProcessError::new(
                405,
                "MethodNotAllowed",
                "only GET, HEAD and OPTIONS are served (and POST /images, the processing API)",
            ));
        }
        // Signatures guard processing: a request naming a process in its query is checked
        // before anything else, the bucket included. A process named only by a key suffix
        // (`key@!name`, `key!name`) is checked once the suffix resolved to a style: an
        // original (`wow!.jpg`) is served as S3 would serve it.
        let query_process = request::process_param(req.query).is_some();
        let mut signed_until = if query_process { self.check_signature(req)? } else { None };
        let store = self.store_for(req.headers)?;
        let Resolved { key, process } = request::resolve(req.path, req.query, self.styles.as_ref()).await?;
        if process.is_some() && !query_process {
            signed_until = self.check_signature(req)?;
        }
        let mut reply = self.answer(req, store.as_ref(), key, process, log).await?;
        if let Some(expires) = signed_until {
            bound_by_expiry(&mut reply, expires, unix_now());
        }
        Ok(reply)
    }

    /// The answer to a request whose key and process are resolved (and signature checked).
    async fn answer(
        &self,
        req: &Incoming<'_>,
        store: &dyn Store,
        key: String,
        process: Option<String>,
        log: &mut RequestLog,
    ) -> Result<Reply> {
        // No process: the original. Behind CloudFront only `key!name` requests get here
        // without one (the router cannot know whether the style exists; when it does not,
        // the `!` is part of the key); everything else unprocessed is read from S3 directly.
        let Some(process) = process else {
            return self.original(store, &key).await;
        };
        log.process = Some(process.clone());
        if let Some(snapshot) = video::Snapshot::parse(&process)? {
            return self.snapshot(store, &key, snapshot, log).await;
        }
        let mut plan = process::parse(&process)?;
        let negotiated = self.negotiate(&plan, req.headers);
        if let Some(f) = negotiated {
            plan.output.format = Some(f);
        }
        let turn = self.take_turn().await?;
        let cache_key =
            format!("{}\n{key}\n{process}\n{negotiated:?}", self.bucket_name(req.headers).unwrap_or_default());
        let source = match self.fetch(store, &key, &cache_key, req.headers, log).await? {
            Fetched::Source(source) => source,
            Fetched::Cached(reply) => return Ok(reply),
        };
        log.bytes_in = source.bytes.len();
        let etag = etag(&source, &process, negotiated);
        if let Some(reply) = self.not_modified(req.headers, &etag) {
            return Ok(reply);
        }
        let Processed { body, content_type, timings } =
            self.render(store, source.bytes.clone(), plan, turn.deadline).await?;
        log.timings = timings;
        let body = Bytes::from(body);
        if let (Some(c), Some(source_etag)) = (&self.cache, source.etag) {
            let cached = Cached {
                body: body.clone(),
                content_type,
                etag: etag.clone(),
                last_modified: source.last_modified,
                source_etag,
            };
            c.insert(cache_key, Arc::new(cached)).await;
        }
        Ok(self.ok(body, content_type, etag, source.last_modified))
    }

    /// The stored object as it is, typed by its bytes.
    async fn original(&self, store: &dyn Store, key: &str) -> Result<Reply> {
        let obj = store.get(key, self.limits.max_source_bytes).await?;
        let mime = Format::sniff(&obj.bytes).map_or("application/octet-stream", Format::mime);
        let etag = obj.etag.clone().unwrap_or_default();
        Ok(self.ok(obj.bytes, mime, etag, obj.last_modified))
    }

    /// A turn at processing: a place among the admitted requests (past fetch slots + queue
    /// depth the request is refused at once with 503), then a fetch slot, waited for until
    /// the deadline. Only requests holding a slot have their source in memory; the queue
    /// waits without.
    async fn take_turn(&self) -> Result<Turn<'_>> {
        let capacity = FETCH_SLOTS_PER_WORKER * self.options.workers + self.options.queue_depth;
        let admitted = Admission::enter(&self.admitted, capacity)
            .ok_or_else(|| ProcessError::new(503, "SlowDown", "the image handler is busy; retry shortly"))?;
        let deadline = tokio::time::Instant::now() + self.options.deadline;
        let slot = within(deadline, self.fetching.acquire()).await?.map_err(|_| shutting_down())?;
        Ok(Turn { _admitted: admitted, _slot: slot, deadline })
    }

    /// `plan` run over `source`: its watermark images fetched from `store`, then the engine.
    async fn render(
        &self,
        store: &dyn Store,
        source: Bytes,
        plan: Plan,
        deadline: tokio::time::Instant,
    ) -> Result<Processed> {
        let assets = self.fetch_watermarks(store, &plan).await?;
        self.run_engine(source, plan, assets, deadline).await
    }

    /// The source, or the cached result when the source has not changed since it was
    /// made: a cached result is revalidated against the source's ETag, so the store reads
    /// the source again only when it changed.
    async fn fetch(
        &self,
        store: &dyn Store,
        key: &str,
        cache_key: &str,
        headers: &HeaderMap,
        log: &mut RequestLog,
    ) -> Result<Fetched> {
        let max = self.limits.max_source_bytes;
        let hit = match &self.cache {
            Some(c) => c.get(cache_key).await,
            None => None,
        };
        let Some(hit) = hit else {
            return Ok(Fetched::Source(store.get(key, max).await?));
        };
        if let Some(changed) = store.get_if_changed(key, &hit.source_etag, max).await? {
            return Ok(Fetched::Source(changed));
        }
        log.cache_hit = true;
        let reply = self
            .not_modified(headers, &hit.etag)
            .unwrap_or_else(|| self.ok(hit.body.clone(), hit.content_type, hit.etag.clone(), hit.last_modified));
        Ok(Fetched::Cached(reply))
    }

    /// 304 when the client already holds this result.
    fn not_modified(&self, headers: &HeaderMap, etag: &str) -> Option<Reply> {
        let if_none_match = headers.get("if-none-match").and_then(|v| v.to_str().ok())?;
        if !if_none_match.split(',').any(|t| t.trim() == etag) {
            return None;
        }
        let mut reply = Reply { status: 304, headers: vec![("etag", etag.to_string())], body: Bytes::new() };
        self.vary(&mut reply);
        Some(reply)
    }

    /// Runs the engine on the blocking pool.
    async fn run_engine(
        &self,
        source: Bytes,
        plan: Plan,
        assets: HashMap<String, Bytes>,
        deadline: tokio::time::Instant,
    ) -> Result<Processed> {
        let limits = self.limits.clone();
        self.on_pool(deadline, move || {
            let lookup = |k: &str| assets.get(k).map(|b| b.as_ref());
            engine::process(&source, &plan, &limits, &lookup)
        })
        .await
    }

    /// Image work on the blocking pool, at most `workers` at once; the wait and the work end
    /// by `deadline`, and a panic is this request's 500.
    async fn on_pool(
        &self,
        deadline: tokio::time::Instant,
        work: impl FnOnce() -> Result<Processed> + Send + 'static,
    ) -> Result<Processed> {
        let run = async {
            let _permit = self.workers.acquire().await.map_err(|_| shutting_down())?;
            tokio::task::spawn_blocking(move || {
                let _job = crate::alloc::Job::start();
                engine::catch_panics(work)
            })
            .await
            .map_err(|_| ProcessError::internal("the image could not be processed (internal error)"))?
        };
        within(deadline, run).await?
    }

    /// A video snapshot: the parts of the video it needs read in turn, the frame decoded and
    /// encoded on the pool. Not kept in the result cache, and without an ETag (the source's
    /// validators are not read).
    async fn snapshot(&self, store: &dyn Store, key: &str, s: video::Snapshot, log: &mut RequestLog) -> Result<Reply> {
        let turn = self.take_turn().await?;
        let (Processed { body, content_type, timings }, bytes_read) =
            self.render_snapshot(store, key, s, turn.deadline).await?;
        log.bytes_in = bytes_read as usize;
        log.timings = timings;
        Ok(self.ok(Bytes::from(body), content_type, String::new(), None))
    }

    /// A snapshot's parts read, then its frame decoded and encoded on the pool; with the
    /// bytes read.
    async fn render_snapshot(
        &self,
        store: &dyn Store,
        key: &str,
        s: video::Snapshot,
        deadline: tokio::time::Instant,
    ) -> Result<(Processed, u64)> {
        let fetched = within(deadline, video::fetch(store, key, &s, &self.limits)).await??;
        let bytes_read = fetched.bytes_read;
        let limits = self.limits.clone();
        let out = self.on_pool(deadline, move || video::render(&fetched, &s, &limits)).await?;
        Ok((out, bytes_read))
    }

    /// With auto-format on and no `format` action, `Accept` picks AVIF, then WebP for an
    /// image answer (the original and JSON answers do not depend on it).
    fn negotiate(&self, plan: &Plan, headers: &HeaderMap) -> Option<Format> {
        if !self.options.auto_format || plan.output.format.is_some() || plan.answer != Answer::Image {
            return None;
        }
        let accept = headers.get("accept").and_then(|v| v.to_str().ok()).unwrap_or_default();
        [Format::Avif, Format::Webp].into_iter().find(|f| accepts(accept, f.mime()))
    }

    fn bucket_name<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        headers.get(self.options.bucket_header.as_str()).and_then(|v| v.to_str().ok())
    }

    /// The store for the bucket CloudFront names in its origin header; only allow-listed
    /// buckets are served. With one bucket configured, a request naming none gets it.
    fn store_for(&self, headers: &HeaderMap) -> Result<&Arc<dyn Store>> {
        match self.bucket_name(headers) {
            Some(name) => self.stores.get(name).ok_or_else(|| {
                ProcessError::new(403, "AccessDenied", format!("bucket \"{name}\" is not served by this handler"))
            }),
            None if self.stores.len() == 1 => Ok(self.stores.values().next().expect("one store")),
            None => Err(ProcessError::new(
                400,
                "MissingBucket",
                format!("this handler serves several buckets; the {} header must name one", self.options.bucket_header),
            )),
        }
    }

    /// With signing keys, `Expires` and `Signature` must be valid for the request: its
    /// `Expires` then, which bounds how long the answer may be cached.
    fn check_signature(&self, req: &Incoming<'_>) -> Result<Option<u64>> {
        let Some(keys) = &self.options.signing else { return Ok(None) };
        keys.verify(req.path, req.query, unix_now()).map(Some)
    }

    /// Behind a public origin (API Gateway in China), only CloudFront knows the secret header
    /// value.
    fn check_origin_secret(&self, headers: &HeaderMap) -> Result<()> {
        if self.options.origin_secrets.is_empty() {
            return Ok(());
        }
        match guard::secret_header_ok(headers, &self.options.secret_header, &self.options.origin_secrets) {
            Ok(()) => Ok(()),
            Err(guard::Refused::Repeated) => {
                Err(ProcessError::new(403, "AccessDenied", "the origin secret header is repeated"))
            }
            Err(guard::Refused::Wrong) => {
                Err(ProcessError::new(403, "AccessDenied", "requests must come through the distribution"))
            }
        }
    }

    /// Watermark images named by the plan, fetched before the CPU work starts.
    async fn fetch_watermarks(&self, store: &dyn Store, plan: &Plan) -> Result<HashMap<String, Bytes>> {
        let mut assets = HashMap::new();
        for key in plan.watermark_keys() {
            match store.get(key, self.limits.max_source_bytes).await {
                Ok(obj) => {
                    assets.insert(key.to_string(), obj.bytes);
                }
                Err(e) if e.status == 404 => {
                    return Err(ProcessError::invalid(format!("watermark: the image \"{key}\" does not exist")))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(assets)
    }

    fn ok(&self, body: Bytes, content_type: &str, etag: String, last_modified: Option<SystemTime>) -> Reply {
        let mut headers =
            vec![("content-type", content_type.to_string()), ("cache-control", self.options.cache_control.clone())];
        if !etag.is_empty() {
            headers.push(("etag", etag));
        }
        if let Some(t) = last_modified {
            headers.push(("last-modified", httpdate::fmt_http_date(t)));
        }
        let mut reply = Reply { status: 200, headers, body };
        self.vary(&mut reply);
        reply
    }

    fn vary(&self, reply: &mut Reply) {
        if self.options.auto_format {
            reply.headers.push(("vary", "Accept".into()));
        }
    }

    /// An error answer. Refusals (403) and server errors are not cached: a fixed bucket
    /// policy, a new key or a recovered origin take effect at once.
    pub fn error_reply(&self, e: &ProcessError) -> Reply {
        let cache_control = if e.status >= 500 || e.status == 403 {
            "no-store".into()
        } else {
            self.options.error_cache_control.clone()
        };
        let mut headers = vec![("content-type", "application/xml".into()), ("cache-control", cache_control)];
        if e.status == 503 {
            headers.push(("retry-after", "1".into()));
        }
        Reply { status: e.status, headers, body: e.to_xml().into() }
    }
}

/// The pairs of `query` whose name is spelled plainly: no `%` escape and no `+`, so the name
/// read is the name as sent ([`Options::exact_query_names`]).
fn plain_names(query: &str) -> String {
    let pairs = query.split('&').filter(|pair| {
        let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
        !name.contains(['%', '+'])
    });
    pairs.collect::<Vec<_>>().join("&")
}

/// Whether an `Accept` header lists `mime` with a quality above 0 (`image/avif;q=0` is a
/// refusal, RFC 9110 12.4.2). Wildcards do not count: they do not say a format is decoded.
/// The router function reads it the same way.
fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|item| {
        let mut params = item.split(';');
        params.next().is_some_and(|m| m.trim().eq_ignore_ascii_case(mime))
            && params
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .is_none_or(|(_, q)| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0))
    })
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A signed URL's answer is cached (by CloudFront, by browsers) no longer than the URL is
/// valid: each `max-age`/`s-maxage` of its Cache-Control is cut to the seconds left, and one
/// is added if there is none. Without this a URL fetched once before its `Expires` would be
/// served from a cache for as long as the handler's default (a year). `stale-if-error=0`
/// too: "If your origin returns a 5xx status code, CloudFront serves the object even though
/// it has expired" (CloudFront, HTTP 4xx and 5xx status codes), and in China no function
/// refuses the expired URL first.
fn bound_by_expiry(reply: &mut Reply, expires: u64, now: u64) {
    let left = expires.saturating_sub(now);
    for (_, value) in reply.headers.iter_mut().filter(|(k, _)| *k == "cache-control") {
        let mut bounded = false;
        let mut directives: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| match d.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("max-age") || k.eq_ignore_ascii_case("s-maxage") => {
                    bounded = true;
                    format!("{k}={}", v.trim().parse::<u64>().map_or(left, |secs| secs.min(left)))
                }
                _ => d.to_string(),
            })
            .collect();
        if !directives.iter().any(|d| d.eq_ignore_ascii_case("no-store")) {
            if !bounded {
                directives.push(format!("max-age={left}"));
            }
            directives.retain(|d| !d.to_ascii_lowercase().starts_with("stale-"));
            directives.push("stale-if-error=0".into());
        }
        *value = directives.join(", ");
    }
}

/// `f`'s output, or 503 `RequestTimeout` when `deadline` passes first.
async fn within<F: std::future::Future>(deadline: tokio::time::Instant, f: F) -> Result<F::Output> {
    tokio::time::timeout_at(deadline, f)
        .await
        .map_err(|_| ProcessError::new(503, "RequestTimeout", "image processing took longer than the configured limit"))
}

fn shutting_down() -> ProcessError {
    ProcessError::new(503, "SlowDown", "the image handler is shutting down")
}

/// What [`Handler::fetch`] found: the source to process, or a cached result still valid.
enum Fetched {
    Source(Object),
    Cached(Reply),
}

/// The health check: `GET /` (or `HEAD`), the empty key, which no stored object can have (so the
/// route takes no key from the key space). Load balancers and `imgh serve` users call it.
fn is_health_check(req: &Incoming<'_>) -> bool {
    req.path == "/" && matches!(req.method, "GET" | "HEAD") && request::process_param(req.query).is_none()
}

/// A slot among the admitted requests, released on drop.
struct Admission<'a>(&'a AtomicUsize);

impl<'a> Admission<'a> {
    fn enter(counter: &'a AtomicUsize, capacity: usize) -> Option<Self> {
        let mut n = counter.load(Ordering::Relaxed);
        loop {
            if n >= capacity {
                return None;
            }
            match counter.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Self(counter)),
                Err(current) => n = current,
            }
        }
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct RequestLog {
    process: Option<String>,
    bytes_in: usize,
    cache_hit: bool,
    timings: Timings,
}

/// A strong validator for a processed result: the source's ETag, the process and the
/// negotiated format.
fn etag(source: &Object, process: &str, negotiated: Option<Format>) -> String {
    let mut h = Sha256::new();
    h.update(source.etag.as_deref().unwrap_or_default());
    h.update([0]);
    h.update(process);
    h.update([0]);
    h.update(negotiated.map_or("", Format::name));
    if source.etag.is_none() {
        h.update(&source.bytes);
    }
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_a_format_only_with_a_quality_above_zero() {
        assert!(accepts("image/avif,image/webp,*/*;q=0.8", "image/avif"));
        assert!(accepts("image/webp;q=0.5", "image/webp"));
        assert!(!accepts("image/avif;q=0,image/webp", "image/avif"));
        assert!(!accepts("image/avif; q=0.0", "image/avif"));
        assert!(!accepts("image/*,*/*", "image/avif"));
        assert!(!accepts("image/avifx", "image/avif"));
    }

    #[test]
    fn only_plainly_spelled_names_are_kept() {
        assert_eq!(plain_names("x%2Doss%2Dprocess=B&x-oss-process=A&a+b=1&Expires=9"), "x-oss-process=A&Expires=9");
        assert_eq!(plain_names("x-oss-process=image%2Fresize%2Cw_10"), "x-oss-process=image%2Fresize%2Cw_10");
    }

    #[test]
    fn a_signed_answer_is_cached_no_longer_than_its_url_is_valid() {
        let cc = |value: &str, expires: u64| {
            let mut reply = Reply { status: 200, headers: vec![("cache-control", value.into())], body: Bytes::new() };
            bound_by_expiry(&mut reply, expires, 1_000);
            reply.header("cache-control").unwrap().to_string()
        };
        assert_eq!(cc("public, max-age=31536000", 1_600), "public, max-age=600, stale-if-error=0");
        assert_eq!(
            cc("public, max-age=60, s-maxage=86400, stale-while-revalidate=30", 1_600),
            "public, max-age=60, s-maxage=600, stale-if-error=0"
        );
        assert_eq!(cc("public", 1_600), "public, max-age=600, stale-if-error=0");
        assert_eq!(cc("public, max-age=31536000", 900), "public, max-age=0, stale-if-error=0");
        assert_eq!(cc("no-store", 1_600), "no-store");
    }
}
