//! Serving requests, independent of the entry adapter (HTTP server here; Lambda later):
//! resolve → fetch → process on the bounded pool → a [`Reply`].

pub mod http;

use crate::engine::{self, Processed};
use crate::error::{ProcessError, Result};
use crate::guard::Limits;
use crate::process::{self, Action};
use crate::request::{self, Resolved};
use crate::store::{Object, Store};
use crate::style::StyleSource;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// What a request without a process gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unprocessed {
    /// The original bytes (`imgh serve`).
    Original,
    /// 403, so CloudFront's origin group fails over to the S3 origin (deployed handler).
    Forbidden,
}

/// Everything a request needs, shared by all requests.
pub struct Handler {
    pub store: Arc<dyn Store>,
    pub styles: Arc<dyn StyleSource>,
    pub limits: Limits,
    pub unprocessed: Unprocessed,
    pub cache_control: String,
    /// Bounds concurrent image work to the cores.
    workers: Semaphore,
}

/// An adapter-neutral response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Handler {
    pub fn new(
        store: Arc<dyn Store>,
        styles: Arc<dyn StyleSource>,
        limits: Limits,
        unprocessed: Unprocessed,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            store,
            styles,
            limits,
            unprocessed,
            cache_control: "public, max-age=31536000".into(),
            workers: Semaphore::new(cores),
        }
    }

    /// Answers `GET`/`HEAD` of `path?query`.
    pub async fn handle(
        &self,
        path: &str,
        query: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Reply {
        let started = Instant::now();
        let reply = match self.try_handle(path, query, if_none_match).await {
            Ok(reply) => reply,
            Err(e) => error_reply(&e),
        };
        tracing::info!(
            path,
            query = query.unwrap_or(""),
            status = reply.status,
            bytes_out = reply.body.len(),
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        reply
    }

    async fn try_handle(
        &self,
        path: &str,
        query: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Reply> {
        if path == "/ping" {
            return Ok(Reply {
                status: 200,
                headers: vec![("content-type", "text/plain".into())],
                body: "pong".into(),
            });
        }
        let Resolved { key, process } = request::resolve(path, query, self.styles.as_ref())?;
        let Some(process) = process else {
            return match self.unprocessed {
                Unprocessed::Forbidden => Err(ProcessError::new(
                    403,
                    "AccessDenied",
                    "only processed images are served here; originals come from the bucket",
                )),
                Unprocessed::Original => {
                    let obj = self.store.get(&key, self.limits.max_source_bytes).await?;
                    let mime = crate::codec::Format::sniff(&obj.bytes)
                        .map_or("application/octet-stream", |f| f.mime());
                    Ok(self.ok(obj.bytes.clone(), mime, &obj, ""))
                }
            };
        };
        let actions = process::parse(&process)?;
        let source = self.store.get(&key, self.limits.max_source_bytes).await?;
        let etag = etag(&source, &process);
        if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
            return Ok(Reply {
                status: 304,
                headers: vec![("etag", etag)],
                body: Bytes::new(),
            });
        }
        let assets = self.fetch_watermarks(&actions).await?;
        let _permit = self
            .workers
            .acquire()
            .await
            .map_err(|_| ProcessError::internal("shutting down"))?;
        let limits = self.limits.clone();
        let bytes = source.bytes.clone();
        let Processed { body, content_type } = tokio::task::spawn_blocking(move || {
            engine::catch_panics(|| {
                let lookup = |k: &str| assets.get(k).map(|b| b.as_ref());
                engine::process(&bytes, &actions, &limits, &lookup)
            })
        })
        .await
        .map_err(|_| {
            ProcessError::internal("the image could not be processed (internal error)")
        })??;
        let mut reply = self.ok(body.into(), content_type, &source, "");
        reply.headers.retain(|(k, _)| *k != "etag");
        reply.headers.push(("etag", etag));
        Ok(reply)
    }

    /// Watermark images named by the actions, fetched before the CPU work starts.
    async fn fetch_watermarks(&self, actions: &[Action]) -> Result<HashMap<String, Bytes>> {
        let mut assets = HashMap::new();
        for key in actions.iter().filter_map(|a| match a {
            Action::Watermark(w) => w.image_key(),
            _ => None,
        }) {
            match self.store.get(key, self.limits.max_source_bytes).await {
                Ok(obj) => {
                    assets.insert(key.to_string(), obj.bytes);
                }
                Err(e) if e.status == 404 => {
                    return Err(ProcessError::invalid(format!(
                        "watermark: the image \"{key}\" does not exist"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(assets)
    }

    fn ok(&self, body: Bytes, content_type: &str, source: &Object, _: &str) -> Reply {
        let mut headers = vec![
            ("content-type", content_type.to_string()),
            ("cache-control", self.cache_control.clone()),
        ];
        if let Some(etag) = &source.etag {
            headers.push(("etag", etag.clone()));
        }
        if let Some(t) = source.last_modified {
            headers.push(("last-modified", httpdate::fmt_http_date(t)));
        }
        Reply {
            status: 200,
            headers,
            body,
        }
    }
}

/// A strong validator for a processed result: the source's own ETag plus the process.
fn etag(source: &Object, process: &str) -> String {
    let mut h = Sha256::new();
    h.update(source.etag.as_deref().unwrap_or_default());
    h.update([0]);
    h.update(process);
    if source.etag.is_none() {
        h.update(&source.bytes);
    }
    format!("\"{}\"", hex::encode(&h.finalize()[..16]))
}

pub fn error_reply(e: &ProcessError) -> Reply {
    Reply {
        status: e.status,
        headers: vec![
            ("content-type", "application/xml".into()),
            ("cache-control", "max-age=60".into()),
        ],
        body: e.to_xml().into(),
    }
}
