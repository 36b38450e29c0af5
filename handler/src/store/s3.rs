//! S3 as a store: GetObject with a byte cap checked from Content-Length before the body
//! is read, and the object's ETag / Last-Modified passed through.

use super::{Object, Store, StoreFuture};
use crate::error::ProcessError;
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
}

impl Store for S3Store {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
                match e.as_service_error() {
                    Some(GetObjectError::NoSuchKey(_)) => ProcessError::no_such_key(key),
                    // Without s3:ListBucket, S3 answers a missing key with 403.
                    _ if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 403 | 404)) => {
                        ProcessError::no_such_key(key)
                    }
                    _ => {
                        tracing::error!(bucket = %self.bucket, key, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "GetObject failed");
                        ProcessError::new(502, "SourceUnavailable", "the source object could not be read")
                    }
                }
            })?;
            check_source_len(out.content_length().unwrap_or(0).max(0) as u64, max_bytes)?;
            let etag = out.e_tag().map(str::to_string);
            let last_modified = out.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok());
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|_| ProcessError::new(502, "SourceUnavailable", "the source object could not be read"))?
                .into_bytes();
            check_source_len(bytes.len() as u64, max_bytes)?;
            Ok(Object { bytes, etag, last_modified })
        })
    }
}
