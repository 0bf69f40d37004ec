//! The blob store: where project bodies and asset bytes live, behind a small
//! trait so that a local directory ([`LocalDir`]) and S3-compatible object
//! storage ([`crate::object_blob::ObjectBlobs`]) are interchangeable.
//!
//! Rules that make G11 hold (docs/ARCHITECTURE.md, "Invariants"):
//! * every write creates a new file with a fresh random key (temp name,
//!   fsync, rename); no file is ever overwritten or shared between rows;
//! * a file is written *before* the COMMIT that references it, and deleted by
//!   the caller if that transaction fails (the filesystem rollback);
//! * a file is deleted only *after* the commit that unreferenced it;
//! * whatever a crash leaves is unreferenced, and `gc` removes it once it is
//!   older than a grace period.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;
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

/// The bytes of a blob, read in chunks (an asset may be far larger than
/// what a request should hold in memory).
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A blob being written. Nothing is visible under a key until `finish`;
/// dropping an unfinished writer discards what was written.
#[async_trait::async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError>;
    /// Makes the blob durable and returns its new key.
    async fn finish(self: Box<Self>) -> Result<String, BlobError>;
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Starts a new blob.
    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError>;
    /// Opens a blob for reading: its size and its bytes.
    async fn open(&self, key: &str) -> Result<(u64, ByteStream), BlobError>;
    /// Removes a blob; removing a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Every stored blob (not unfinished writes), for garbage collection.
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError>;

    /// Answers whether the store is reachable (start-up and `/readyz`).
    /// Cheap: one request at most. A local directory is always there once
    /// created, hence the default.
    async fn check(&self) -> Result<(), BlobError> {
        Ok(())
    }

    /// Removes unfinished writes (left by a crash) started before `cutoff`;
    /// returns how many.
    async fn purge_unfinished(&self, _cutoff: SystemTime) -> Result<usize, BlobError> {
        Ok(0)
    }

    /// Stores `bytes` durably under a new unique key and returns the key.
    async fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let mut writer = self.create().await?;
        writer.write(bytes).await?;
        writer.finish().await
    }

    /// A whole blob in memory (project bodies, which are bounded by the body limit).
    async fn get(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        use futures_util::StreamExt;
        let (size, mut stream) = self.open(key).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    }
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

/// Blobs as files under a directory: `<root>/<2 hex>/<30 hex>`, unfinished
/// writes in `<root>/tmp`.
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

    fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        if !is_valid_key(key) {
            return Err(BlobError::NotFound);
        }
        Ok(self.root.join(&key[..2]).join(&key[2..]))
    }
}

/// Keys are exactly 32 lowercase hex digits: nothing a client sends becomes
/// a path (or an object name). Every store checks a key with this before
/// touching storage; an invalid key is simply not found.
pub(crate) fn is_valid_key(key: &str) -> bool {
    key.len() == 32
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh random key (128 bits): no two writes ever share a name.
pub(crate) fn random_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    // Make the rename itself durable.
    tokio::fs::File::open(dir).await?.sync_all().await
}

struct LocalWriter {
    file: Option<tokio::fs::File>,
    temp_path: PathBuf,
    final_path: PathBuf,
    key: String,
    done: bool,
}

impl LocalWriter {
    async fn complete(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
            file.sync_all().await?;
        }
        let dir = self
            .final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::rename(&self.temp_path, &self.final_path).await?;
        fsync_dir(&dir).await
    }
}

#[async_trait::async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| BlobError::Io(std::io::Error::other("writer already finished")))?;
        file.write_all(chunk).await?;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<String, BlobError> {
        match self.complete().await {
            Ok(()) => {
                self.done = true;
                Ok(self.key.clone())
            }
            Err(err) => {
                let _ = tokio::fs::remove_file(&self.final_path).await;
                Err(err.into())
            }
        }
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if !self.done {
            // Abandoned (error, too large, client gone): discard the temp file.
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalDir {
    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        let key = random_key();
        let final_path = self.path_of(&key)?;
        let temp_path = self.root.join("tmp").join(format!("{key}.tmp"));
        let file = tokio::fs::File::create(&temp_path).await?;
        Ok(Box::new(LocalWriter {
            file: Some(file),
            temp_path,
            final_path,
            key,
            done: false,
        }))
    }

    async fn open(&self, key: &str) -> Result<(u64, ByteStream), BlobError> {
        let file = match tokio::fs::File::open(self.path_of(key)?).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
        Ok((size, Box::pin(stream)))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn purge_unfinished(&self, cutoff: SystemTime) -> Result<usize, BlobError> {
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(self.root.join("tmp")).await?;
        while let Some(entry) = entries.next_entry().await? {
            if entry.metadata().await?.modified()? <= cutoff
                && tokio::fs::remove_file(entry.path()).await.is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
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
    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        Err(BlobError::Io(std::io::Error::other(
            "injected write failure",
        )))
    }
    async fn open(&self, key: &str) -> Result<(u64, ByteStream), BlobError> {
        self.0.open(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.0.delete(key).await
    }
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        self.0.list().await
    }
    async fn purge_unfinished(&self, cutoff: SystemTime) -> Result<usize, BlobError> {
        self.0.purge_unfinished(cutoff).await
    }
    async fn check(&self) -> Result<(), BlobError> {
        self.0.check().await
    }
}
