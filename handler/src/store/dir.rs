//! A local folder as a store, for `imgh serve`. Keys cannot leave the root: absolute
//! keys, `..` and symlinks pointing outside are all "no such key".

use super::{ChangedFuture, Object, Range, RangeFuture, Store, StoreFuture};
use crate::error::{ProcessError, Result};
use crate::guard::check_source_len;
use std::path::{Component, Path, PathBuf};

pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self { root: root.as_ref().canonicalize()? })
    }

    /// The file for `key`, only when it is a regular file under the root.
    fn path_of(&self, key: &str) -> Option<PathBuf> {
        let rel = Path::new(key);
        if key.is_empty() || key.contains('\0') || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        let path = self.root.join(rel).canonicalize().ok()?;
        (path.starts_with(&self.root) && path.is_file()).then_some(path)
    }

    /// Reads `key` unless its ETag (size and modification time) is `unless_etag`.
    async fn read(&self, key: &str, unless_etag: Option<&str>, max_bytes: u64) -> Result<Option<Object>> {
        let path = self.path_of(key).ok_or_else(|| ProcessError::no_such_key(key))?;
        let meta = tokio::fs::metadata(&path).await.map_err(|_| ProcessError::no_such_key(key))?;
        let modified = meta.modified().ok();
        let stamp = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
        let etag = format!("\"{:x}-{:x}\"", meta.len(), stamp);
        if unless_etag == Some(etag.as_str()) {
            return Ok(None);
        }
        check_source_len(meta.len(), max_bytes)?;
        let bytes = tokio::fs::read(&path).await.map_err(|_| ProcessError::no_such_key(key))?;
        Ok(Some(Object { etag: Some(etag), last_modified: modified, bytes: bytes.into() }))
    }
}

impl Store for DirStore {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            // Without an ETag to match, a read always returns the object.
            self.read(key, None, max_bytes)
                .await?
                .ok_or_else(|| ProcessError::internal("an unconditional read returned nothing"))
        })
    }

    fn get_if_changed<'a>(&'a self, key: &'a str, etag: &'a str, max_bytes: u64) -> ChangedFuture<'a> {
        Box::pin(self.read(key, Some(etag), max_bytes))
    }

    fn get_range<'a>(&'a self, key: &'a str, start: u64, end: u64) -> RangeFuture<'a> {
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let path = self.path_of(key).ok_or_else(|| ProcessError::no_such_key(key))?;
            let mut file = tokio::fs::File::open(&path).await.map_err(|_| ProcessError::no_such_key(key))?;
            let total = file.metadata().await.map_err(|_| ProcessError::no_such_key(key))?.len();
            let (from, to) = (start.min(total), end.min(total).max(start.min(total)));
            let mut bytes = vec![0; (to - from) as usize];
            file.seek(std::io::SeekFrom::Start(from)).await.map_err(|_| ProcessError::no_such_key(key))?;
            file.read_exact(&mut bytes).await.map_err(|_| ProcessError::no_such_key(key))?;
            Ok(Range { bytes: bytes.into(), total })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        let tmp = std::env::temp_dir().join(format!("imgh-dir-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("root/sub")).unwrap();
        std::fs::write(tmp.join("secret.txt"), b"x").unwrap();
        std::fs::write(tmp.join("root/sub/a.jpg"), b"x").unwrap();
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink(tmp.join("secret.txt"), tmp.join("root/link"));
        let s = DirStore::new(tmp.join("root")).unwrap();
        assert!(s.path_of("sub/a.jpg").is_some());
        for bad in ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", "link", "", "sub", "./sub/a.jpg"] {
            assert!(s.path_of(bad).is_none(), "{bad} escaped");
        }
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[tokio::test]
    async fn a_conditional_read_skips_an_unchanged_file() {
        let tmp = std::env::temp_dir().join(format!("imgh-dir-etag-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("a.jpg"), b"one").unwrap();
        let s = DirStore::new(&tmp).unwrap();
        let etag = s.get("a.jpg", 100).await.unwrap().etag.unwrap();
        assert!(s.get_if_changed("a.jpg", &etag, 100).await.unwrap().is_none());
        std::fs::write(tmp.join("a.jpg"), b"three").unwrap();
        let changed = s.get_if_changed("a.jpg", &etag, 100).await.unwrap().expect("a changed file is read");
        assert_eq!(&changed.bytes[..], b"three");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
