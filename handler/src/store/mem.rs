//! Objects held in memory: the samples embedded in the `imgh` binary, and tests.

use super::{Object, Store, StoreFuture};
use crate::error::ProcessError;
use crate::guard::check_source_len;
use bytes::Bytes;
use std::collections::HashMap;

#[derive(Default, Clone)]
pub struct MemStore(HashMap<String, Bytes>);

impl MemStore {
    pub fn insert(&mut self, key: impl Into<String>, bytes: impl Into<Bytes>) {
        self.0.insert(key.into(), bytes.into());
    }
}

impl Store for MemStore {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            let bytes = self.0.get(key).ok_or_else(|| ProcessError::no_such_key(key))?;
            check_source_len(bytes.len() as u64, max_bytes)?;
            let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
            Ok(Object {
                bytes: bytes.clone(),
                etag: Some(format!("\"{}\"", hex::encode(&digest[..16]))),
                last_modified: None,
            })
        })
    }
}
