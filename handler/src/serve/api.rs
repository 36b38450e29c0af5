//! The processing API, the seed system's `POST /images`: process a stored image and write
//! the result to a bucket instead of answering it.
//!
//! Allowed only with the client secret header (`X-Client-Authorization`, compared in
//! constant time); results go only to allow-listed target buckets, and never over their own
//! source unless the request says so. Answers and errors are JSON, errors with the OSS code
//! (the handler answers every `POST /images` error this way, the origin secret's too).

use super::{Handler, Incoming, Reply};
use crate::error::{ProcessError, Result};
use crate::guard::{self, Refused};
use crate::process;
use crate::request;
use crate::store::Store;
use crate::video;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The API's route: `POST /images`.
pub const PATH: &str = "/images";
/// The header carrying the client secret, as the seed system names it.
pub const CLIENT_HEADER: &str = "x-client-authorization";
/// The largest request body read: a job is a few hundred bytes of JSON.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Who may call the API, and where it may write.
pub struct ProcessingApi {
    /// Accepted values of [`CLIENT_HEADER`].
    pub client_secrets: Vec<String>,
    /// Buckets results may be written to, by name.
    pub targets: HashMap<String, Arc<dyn Store>>,
}

/// One job, as the seed system's clients send it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Job {
    /// The process: `image/…` or `style/<name>`.
    params: String,
    source_bucket: String,
    source_object: String,
    target_bucket: String,
    target_object: String,
    /// Required to write the result over its own source.
    #[serde(default)]
    overwrite_source: bool,
}

/// Where a result was written.
struct Saved {
    bucket: String,
    key: String,
    content_type: &'static str,
    bytes: usize,
}

impl Handler {
    /// Answers `POST /images`: the job run and its result written, or a JSON error.
    pub(super) async fn process_api(&self, req: &Incoming<'_>) -> Reply {
        match self.run_job(req).await {
            Ok(s) => json_reply(
                200,
                json!({
                    "message": format!("saved result to s3://{}/{}", s.bucket, s.key),
                    "bucket": s.bucket,
                    "object": s.key,
                    "contentType": s.content_type,
                    "size": s.bytes,
                }),
            ),
            Err(e) => error_reply(&e),
        }
    }

    async fn run_job(&self, req: &Incoming<'_>) -> Result<Saved> {
        let api = self.api.as_ref().ok_or_else(|| {
            ProcessError::new(
                404,
                "NotFound",
                "the processing API is off: deploy with --api-target-bucket to turn it on",
            )
        })?;
        match guard::secret_header_ok(req.headers, CLIENT_HEADER, &api.client_secrets) {
            Ok(()) => {}
            Err(Refused::Repeated) => return Err(denied("the X-Client-Authorization header is repeated")),
            Err(Refused::Wrong) => return Err(denied("a valid X-Client-Authorization header is required")),
        }
        if req.body.len() > MAX_BODY_BYTES {
            return Err(body_too_large());
        }
        let job: Job = serde_json::from_slice(req.body).map_err(|e| {
            ProcessError::invalid(format!(
                "the body must be JSON {{\"params\", \"sourceBucket\", \"sourceObject\", \"targetBucket\", \"targetObject\"}}: {e}"
            ))
        })?;
        for (name, value) in [
            ("params", &job.params),
            ("sourceBucket", &job.source_bucket),
            ("sourceObject", &job.source_object),
            ("targetBucket", &job.target_bucket),
            ("targetObject", &job.target_object),
        ] {
            if value.is_empty() {
                return Err(ProcessError::invalid(format!("{name} must not be empty")));
            }
        }
        let store = self
            .stores
            .get(&job.source_bucket)
            .ok_or_else(|| denied(format!("source bucket \"{}\" is not served by this handler", job.source_bucket)))?;
        let target = api
            .targets
            .get(&job.target_bucket)
            .ok_or_else(|| denied(format!("target bucket \"{}\" is not on the API's allow-list", job.target_bucket)))?;
        if job.target_bucket == job.source_bucket && job.target_object == job.source_object && !job.overwrite_source {
            return Err(ProcessError::new(
                409,
                "SourceOverwrite",
                "the target is the source object: set \"overwriteSource\": true to replace it",
            ));
        }
        let process = request::resolve_process(job.params, self.styles.as_ref()).await?;
        let out = match video::Snapshot::parse(&process)? {
            Some(snapshot) => {
                let turn = self.take_turn().await?;
                self.render_snapshot(store.as_ref(), &job.source_object, snapshot, turn.deadline).await?.0
            }
            None => {
                let plan = process::parse(&process)?;
                let turn = self.take_turn().await?;
                let source = store.get(&job.source_object, self.limits.max_source_bytes).await?;
                self.render(store.as_ref(), source.bytes, plan, turn.deadline).await?
            }
        };
        let bytes = out.body.len();
        target.put(&job.target_object, out.body.into(), out.content_type).await?;
        Ok(Saved { bucket: job.target_bucket, key: job.target_object, content_type: out.content_type, bytes })
    }
}

fn denied(message: impl Into<String>) -> ProcessError {
    ProcessError::new(403, "AccessDenied", message)
}

/// Whether `req` is a call of the API: `POST /images`.
pub fn is_api(req: &Incoming<'_>) -> bool {
    req.method == "POST" && req.path == PATH
}

/// The error of a body over [`MAX_BODY_BYTES`].
pub fn body_too_large() -> ProcessError {
    ProcessError::new(413, "EntityTooLarge", format!("the request body is over {MAX_BODY_BYTES} bytes"))
}

/// An API error as JSON: `{"status", "code", "message"}`, never cached.
pub fn error_reply(e: &ProcessError) -> Reply {
    json_reply(e.status, json!({"status": e.status, "code": e.code, "message": e.message}))
}

fn json_reply(status: u16, doc: serde_json::Value) -> Reply {
    let mut headers = vec![("content-type", "application/json".into()), ("cache-control", "no-store".into())];
    if status == 503 {
        headers.push(("retry-after", "1".into()));
    }
    Reply { status, headers, body: doc.to_string().into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Limits;
    use crate::serve::Options;
    use crate::store::MemStore;
    use crate::style::Styles;
    use http::{HeaderMap, HeaderValue};

    fn png() -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([x as u8 * 16, y as u8 * 20, 128]))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    fn handler(api: bool) -> (Handler, MemStore) {
        let src = MemStore::default();
        src.insert("a.png", png());
        let out = MemStore::default();
        let styles = Styles::from_toml("thumb = \"image/resize,w_4\"").unwrap();
        let stores = HashMap::from([("src".to_string(), Arc::new(src) as Arc<dyn Store>)]);
        let h = Handler::new(stores, Arc::new(styles), Limits::default(), Options::default());
        if !api {
            return (h, out);
        }
        let targets = HashMap::from([("out".to_string(), Arc::new(out.clone()) as Arc<dyn Store>)]);
        (h.with_api(ProcessingApi { client_secrets: vec!["k".into()], targets }), out)
    }

    fn post(h: &Handler, auth: &[&str], body: &str) -> (u16, serde_json::Value) {
        let mut headers = HeaderMap::new();
        for a in auth {
            headers.append(CLIENT_HEADER, HeaderValue::from_str(a).unwrap());
        }
        let req = Incoming { method: "POST", path: PATH, query: None, headers: &headers, body: body.as_bytes() };
        let reply =
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(h.handle(&req));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        (reply.status, serde_json::from_slice(&reply.body).unwrap())
    }

    fn job(params: &str, target: &str) -> String {
        format!(
            r#"{{"params":"{params}","sourceBucket":"src","sourceObject":"a.png","targetBucket":"out","targetObject":"{target}"}}"#
        )
    }

    #[test]
    fn styles_and_json_answers_are_written_too() {
        let (h, out) = handler(true);
        assert_eq!(post(&h, &["k"], &job("style/thumb", "t.png")).0, 200);
        let (bytes, content_type) = out.read("t.png").unwrap();
        assert_eq!(content_type, "image/png");
        assert_eq!(crate::codec::probe(&bytes).unwrap().width, 4);
        assert_eq!(post(&h, &["k"], &job("image/info", "i.json")).0, 200);
        let (info, content_type) = out.read("i.json").unwrap();
        assert_eq!(content_type, "application/json");
        assert!(String::from_utf8_lossy(&info).contains("ImageWidth"));
        let (status, doc) = post(&h, &["k"], &job("style/nope", "n.png"));
        assert_eq!((status, doc["code"].as_str()), (400, Some("NoSuchStyle")));
    }

    #[test]
    fn refusals_say_why_and_write_nothing() {
        let (h, out) = handler(true);
        let ok = job("image/resize,w_4", "r.png");
        // Two copies of the header, even with the right one first: refused.
        let (status, doc) = post(&h, &["k", "x"], &ok);
        assert_eq!((status, doc["code"].as_str()), (403, Some("AccessDenied")));
        assert!(doc["message"].as_str().unwrap().contains("repeated"));
        assert_eq!(post(&h, &["x", "k"], &ok).0, 403);
        let unknown = ok.replace(r#""params""#, r#""overwrite":true,"params""#);
        let (status, doc) = post(&h, &["k"], &unknown);
        assert_eq!(status, 400, "an unknown field is a mistake, not ignored: {doc}");
        let (status, doc) = post(&h, &["k"], &ok.replace("a.png", ""));
        assert_eq!((status, doc["message"].as_str()), (400, Some("sourceObject must not be empty")));
        let (status, doc) = post(&h, &["k"], &ok.replace(r#""sourceBucket":"src""#, r#""sourceBucket":"elsewhere""#));
        assert_eq!((status, doc["code"].as_str()), (403, Some("AccessDenied")));
        assert!(out.read("r.png").is_none());
        // Every refusal of a call is JSON, the origin secret's (China) too.
        let options = Options { origin_secrets: vec!["o".into()], ..Options::default() };
        let guarded = Handler::new(HashMap::new(), Arc::new(Styles::default()), Limits::default(), options);
        let (status, doc) = post(&guarded, &["k"], &ok);
        assert_eq!((status, doc["code"].as_str()), (403, Some("AccessDenied")));
        // Without the API configured, the route does not exist.
        let (off, _) = handler(false);
        let (status, doc) = post(&off, &["k"], &ok);
        assert_eq!((status, doc["code"].as_str()), (404, Some("NotFound")));
    }
}
