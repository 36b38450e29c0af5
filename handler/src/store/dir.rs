//! A local folder as a store, for `imgh serve`. Keys cannot leave the root: absolute
//! keys, `..` and symlinks pointing outside are all "no such key".

use super::{Object, Store, StoreFuture};
use crate::error::ProcessError;
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
}

impl Store for DirStore {
    fn get<'a>(&'a self, key: &'a str, max_bytes: u64) -> StoreFuture<'a> {
        Box::pin(async move {
            let path = self.path_of(key).ok_or_else(|| ProcessError::no_such_key(key))?;
            let meta = tokio::fs::metadata(&path).await.map_err(|_| ProcessError::no_such_key(key))?;
            check_source_len(meta.len(), max_bytes)?;
            let bytes = tokio::fs::read(&path).await.map_err(|_| ProcessError::no_such_key(key))?;
            let modified = meta.modified().ok();
            let stamp = modified.and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            Ok(Object {
                etag: Some(format!("\"{:x}-{:x}\"", meta.len(), stamp)),
                last_modified: modified,
                bytes: bytes.into(),
            })
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
}
