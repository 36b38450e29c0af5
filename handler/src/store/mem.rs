//! Objects held in memory: the samples embedded in the `imgh` binary, and tests.

use super::{Object, PutFuture, Store, StoreFuture};
use crate::error::ProcessError;
use crate::guard::check_source_len;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Shared on clone: a clone sees what another writes (tests read what the API wrote).
#[derive(Default, Clone)]
pub struct MemStore(Arc<RwLock<HashMap<String, (Bytes, String)>>>);

impl MemStore {
    pub fn insert(&self, key: impl Into<String>, bytes: impl Into<Bytes>) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(key.into(), (bytes.into(), String::new()));
    }

    /// The bytes and content type stored under `key`.
    pub fn read(&self, key: &str) -> Option<(Bytes, String)> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }
}

impl Store for MemStore {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            let (bytes, _) = self.read(key).ok_or_else(|| ProcessError::no_such_key(key))?;
            check_source_len(bytes.len() as u64, max_bytes)?;
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
            Ok(Object { bytes, etag: Some(format!("\"{}\"", hex::encode(&digest[..16]))), last_modified: None })
        })
    }

    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, content_type: &'a str) -> PutFuture<'a> {
        Box::pin(async move {
            let entry = (bytes, content_type.to_string());
            self.0.write().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), entry);
            Ok(())
        })
    }
}
