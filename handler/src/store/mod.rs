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
pub type RangeFuture<'a> = Pin<Box<dyn Future<Output = Result<Range>> + Send + 'a>>;

/// Part of an object, and the whole object's size.
#[derive(Debug, Clone)]
pub struct Range {
    pub bytes: Bytes,
    pub total: u64,
}

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

    /// Bytes `start..end` of `key` (fewer past its end), without reading the rest: a
    /// video's index and the samples a snapshot needs. Stores that cannot read a part read
    /// the whole object (up to `u32::MAX` bytes) and slice it.
    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> RangeFuture<'a> {
        Box::pin(async move {
            let obj = self.get(key, u32::MAX as u64).await?;
            let total = obj.bytes.len() as u64;
            let (from, to) = (start.min(total) as usize, end.min(total) as usize);
            Ok(Range { bytes: obj.bytes.slice(from..to.max(from)), total })
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
