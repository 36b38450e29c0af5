//! Where source images come from. One trait; S3, a folder, and an in-memory set.

mod dir;
mod mem;
mod s3;

pub use dir::DirStore;
pub use mem::MemStore;
pub use s3::S3Store;

use crate::error::Result;
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

/// A fetched object and the validators passed through to the response.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
}

pub type StoreFuture<'a> = Pin<Box<dyn Future<Output = Result<Object>> + Send + 'a>>;
pub type ChangedFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<Object>>> + Send + 'a>>;
pub type PutFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

pub trait Store: Send + Sync {
    /// Fetches `key`; objects over `max_bytes` are refused without reading them whole.
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a>;

    /// Fetches `key` only if its ETag is no longer `etag`; `None` when it still is. A cached
    /// result is then served without reading the source again. Stores that cannot ask
    /// conditionally read the object and compare.
    fn get_if_changed<'a>(&'a self, key: &'a str, etag: &'a str, max_bytes: u64) -> ChangedFuture<'a> {
        Box::pin(async move {
            let obj = self.get(key, max_bytes).await?;
            Ok((obj.etag.as_deref() != Some(etag)).then_some(obj))
        })
    }

    /// Writes `bytes` as `key` with `content_type`, replacing what is there: the processing
    /// API's results. A store that is only read refuses.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, content_type: &'a str) -> PutFuture<'a> {
        let _ = (bytes, content_type);
        Box::pin(async move {
            Err(crate::error::ProcessError::new(
                403,
                "AccessDenied",
                format!("\"{key}\" cannot be written: this store is read-only"),
            ))
        })
    }
}
