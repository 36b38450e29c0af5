//! S3 as a store: GetObject with a byte cap checked from Content-Length before the body
//! is read, and the object's ETag / Last-Modified passed through. A cached result is
//! revalidated with If-None-Match, so S3 sends the body only when the object changed.

use super::{ChangedFuture, Object, PutFuture, Range, RangeFuture, Store, StoreFuture};
use crate::error::{ProcessError, Result};
use crate::guard::check_source_len;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::Client;

pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// GetObject, conditional on `if_none_match`: `None` when S3 answers 304 Not Modified.
    async fn fetch(&self, key: &str, if_none_match: Option<&str>, max_bytes: u64) -> Result<Option<Object>> {
        let request = self.client.get_object().bucket(&self.bucket).key(key);
        let out = match request.set_if_none_match(if_none_match.map(str::to_string)).send().await {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => return Ok(None),
            Err(e) => {
                if let Some(GetObjectError::NoSuchKey(_)) = e.as_service_error() {
                    return Err(ProcessError::no_such_key(key));
                }
                if let Some(refused) = self.refused(key, e.raw_response().map(|r| r.status().as_u16())) {
                    return Err(refused);
                }
                tracing::error!(bucket = %self.bucket, key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "GetObject failed");
                return Err(unavailable());
            }
        };
        check_source_len(out.content_length().unwrap_or(0).max(0) as u64, max_bytes)?;
        let etag = out.e_tag().map(str::to_string);
        let last_modified = out.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok());
        let bytes = out.body.collect().await.map_err(|_| unavailable())?.into_bytes();
        check_source_len(bytes.len() as u64, max_bytes)?;
        Ok(Some(Object { bytes, etag, last_modified }))
    }
}

impl S3Store {
    /// What a 404 or 403 from S3 means. With s3:ListBucket (the templates grant it), "Amazon
    /// S3 returns an HTTP status code 404 Not Found error" for a missing key and 403 only for
    /// a refusal (GetObject): a policy, a KMS key or a role that does not let the handler read.
    fn refused(&self, key: &str, status: Option<u16>) -> Option<ProcessError> {
        match status? {
            404 => Some(ProcessError::no_such_key(key)),
            403 => {
                tracing::error!(bucket = %self.bucket, key, "GetObject refused (403): the handler may not read this object");
                Some(ProcessError::new(
                    403,
                    "AccessDenied",
                    format!("the handler may not read \"{key}\" in bucket \"{}\" (its role, the bucket policy or the object's KMS key refuses it)", self.bucket),
                ))
            }
            _ => None,
        }
    }
}

fn unavailable() -> ProcessError {
    ProcessError::new(502, "SourceUnavailable", "the source object could not be read")
}

impl Store for S3Store {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            // Unconditional, so never a 304; treated as unreadable if it ever were.
            self.fetch(key, None, max_bytes).await?.ok_or_else(unavailable)
        })
    }

    fn get_if_changed<'a>(&'a self, key: &'a str, etag: &'a str, max_bytes: u64) -> ChangedFuture<'a> {
        Box::pin(self.fetch(key, Some(etag), max_bytes))
    }

    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> RangeFuture<'a> {
        Box::pin(async move {
            if end <= start {
                return Ok(Range { bytes: bytes::Bytes::new(), total: 0 });
            }
            let request = self.client.get_object().bucket(&self.bucket).key(key);
            let out = match request.range(format!("bytes={start}-{}", end - 1)).send().await {
                Ok(out) => out,
                // A range that starts past the end: nothing there.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                    return Ok(Range { bytes: bytes::Bytes::new(), total: start })
                }
                Err(e) => {
                    if let Some(refused) = self.refused(key, e.raw_response().map(|r| r.status().as_u16())) {
                        return Err(refused);
                    }
                    tracing::error!(bucket = %self.bucket, key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "ranged GetObject failed");
                    return Err(unavailable());
                }
            };
            // `bytes a-b/total`; a store that ignored the range sends the whole object.
            let total = out.content_range().and_then(|r| r.rsplit('/').next()?.parse().ok());
            let bytes = out.body.collect().await.map_err(|_| unavailable())?.into_bytes();
            Ok(match total {
                Some(total) => Range { bytes, total },
                None => {
                    let total = bytes.len() as u64;
                    let (from, to) = (start.min(total) as usize, end.min(total) as usize);
                    Range { bytes: bytes.slice(from..to.max(from)), total }
                }
            })
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: bytes::Bytes, content_type: &'a str) -> PutFuture<'a> {
        Box::pin(async move {
            let request = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type);
            request.body(bytes.into()).send().await.map_err(|e| {
                tracing::error!(bucket = %self.bucket, key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "PutObject failed");
                if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) {
                    ProcessError::new(403, "AccessDenied", format!("the handler may not write to bucket \"{}\"", self.bucket))
                } else {
                    ProcessError::new(502, "TargetUnavailable", "the result could not be written to the target bucket")
                }
            })?;
            Ok(())
        })
    }
}
