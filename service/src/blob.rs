//! The blob store: where project bodies and asset bytes live, behind a small
//! trait so that a directory today and object storage at scale are
//! interchangeable.
//!
//! Rules that make G11 hold (see DESIGN.md "Files"):
//! * every write creates a new file with a fresh random key (temp name,
//!   fsync, rename); no file is ever overwritten or shared between rows;
//! * a file is written *before* the COMMIT that references it, and deleted by
//!   the caller if that transaction fails (the filesystem rollback);
//! * a file is deleted only *after* the commit that unreferenced it;
//! * whatever a crash leaves is unreferenced, and `gc` removes it once it is
//!   older than a grace period.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rand::RngCore;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("blob storage failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored file, as `gc` sees it.
#[derive(Clone, Debug)]
pub struct BlobInfo {
    pub key: String,
    pub modified: SystemTime,
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` durably under a new unique key and returns the key.
    async fn put(&self, bytes: &[u8]) -> Result<String, BlobError>;
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError>;
    /// Removes a blob; removing a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Every stored blob (not temp files), for garbage collection.
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError>;
}

pub type Blobs = Arc<dyn BlobStore>;

/// Deletes blobs after a commit (or after a failed transaction), logging
/// rather than failing: a leftover file is garbage for `gc`, not an error
/// for the client whose request already succeeded or failed.
pub async fn delete_all(blobs: &Blobs, keys: &[String]) {
    for key in keys {
        if let Err(err) = blobs.delete(key).await {
            tracing::warn!(blob.key = %key, error = %err, "could not delete blob; gc will");
        }
    }
}

/// Blobs as files under a directory: `<root>/<2 hex>/<30 hex>`, temp files
/// in `<root>/tmp`.
#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root })
    }

    /// Keys are exactly 32 lowercase hex digits: nothing a client sends
    /// becomes a path.
    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        let valid = key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(BlobError::NotFound);
        }
        Ok(self.root.join(&key[..2]).join(&key[2..]))
    }
}

fn random_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    // Make the rename itself durable.
    tokio::fs::File::open(dir).await?.sync_all().await
}

#[async_trait::async_trait]
impl BlobStore for LocalDir {
    async fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let key = random_key();
        let final_path = self.path_of(&key)?;
        let temp_path = self.root.join("tmp").join(format!("{key}.tmp"));
        let written = async {
            let mut file = tokio::fs::File::create(&temp_path).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            drop(file);
            let dir = final_path.parent().unwrap_or(&self.root).to_path_buf();
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::rename(&temp_path, &final_path).await?;
            fsync_dir(&dir).await
        }
        .await;
        if let Err(err) = written {
            let _ = tokio::fs::remove_file(&temp_path).await;
            let _ = tokio::fs::remove_file(&final_path).await;
            return Err(err.into());
        }
        Ok(key)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let mut found = Vec::new();
        let mut dirs = tokio::fs::read_dir(&self.root).await?;
        while let Some(dir) = dirs.next_entry().await? {
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !dir.file_type().await?.is_dir() {
                continue; // `tmp` and anything foreign
            }
            let mut files = tokio::fs::read_dir(dir.path()).await?;
            while let Some(file) = files.next_entry().await? {
                let key = format!("{prefix}{}", file.file_name().to_string_lossy());
                if self.path_of(&key).is_err() {
                    continue;
                }
                let modified = file.metadata().await?.modified()?;
                found.push(BlobInfo { key, modified });
            }
        }
        Ok(found)
    }
}

/// Test hook (`CUBBY_TEST_FAIL_BLOB_WRITES`): a store whose writes all fail,
/// to show that a failed file write fails the request and writes no row.
#[derive(Debug)]
pub struct FailingWrites(pub Blobs);

#[async_trait::async_trait]
impl BlobStore for FailingWrites {
    async fn put(&self, _bytes: &[u8]) -> Result<String, BlobError> {
        Err(BlobError::Io(std::io::Error::other(
            "injected write failure",
        )))
    }
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        self.0.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.0.delete(key).await
    }
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        self.0.list().await
    }
}
