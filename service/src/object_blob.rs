//! Blobs in S3-compatible object storage, so that several machines can serve
//! one deployment (one database, one bucket).
//!
//! The G11 rules of [`crate::blob`] hold here as they do for a directory:
//! * keys are fresh random 32-hex-digit names (the same rules as
//!   [`LocalDir`](crate::blob::LocalDir)); an object is stored under
//!   `<prefix>/<2 hex>/<30 hex>` and never overwritten;
//! * a write becomes visible only when it finishes: small blobs are one PUT
//!   at `finish`, large ones a multipart upload completed at `finish`;
//! * an abandoned writer aborts its multipart upload. Should that abort
//!   itself be lost (a crash, a cancelled `finish`), the unfinished upload is
//!   invisible to readers and to `list`; give the bucket a lifecycle rule
//!   (`AbortIncompleteMultipartUpload`, e.g. after one day) as the backstop.
//!   That is why [`BlobStore::purge_unfinished`] keeps its default (0).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use tokio::io::AsyncWriteExt;

use crate::blob::{
    is_valid_key, random_key, BlobError, BlobInfo, BlobStore, BlobWriter, ByteStream,
};

/// Bytes buffered per write before it turns into a multipart upload, and the
/// size of each part. 5 MiB is the smallest part S3 accepts; with at most
/// [`PARTS_IN_FLIGHT`] parts uploading, one write holds a bounded amount of
/// memory however large the asset.
const PART_SIZE: usize = 5 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

/// Where the blobs of a deployment live in object storage, as configured by
/// `CUBBY_BLOB_STORE=s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Slash-separated, no leading or trailing slash; empty for the bucket root.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://BUCKET[/PREFIX]`. The error never repeats the value
    /// (someone may have pasted credentials into it).
    pub fn parse(value: &str) -> Result<Self, String> {
        let rest = value
            .strip_prefix("s3://")
            .ok_or_else(|| "expected `local` or `s3://BUCKET[/PREFIX]`".to_owned())?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_bucket_name(bucket) {
            return Err(
                "the bucket name must be 3 to 63 lowercase letters, digits, `.` or `-` \
                 (s3://BUCKET[/PREFIX])"
                    .to_owned(),
            );
        }
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty() && Path::parse(prefix).is_err() {
            return Err(
                "the prefix must be a plain path like `cubby` or `school/cubby`".to_owned(),
            );
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// S3's bucket naming rules (the subset that matters for a URL: no
/// credentials, ports or paths can hide in a valid name).
fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Blobs as objects under a prefix of one bucket.
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// For logs and messages: the location, never the credentials.
    label: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the store's own Debug: this one is guaranteed free of secrets.
        f.debug_struct("ObjectBlobs")
            .field("location", &self.label)
            .finish()
    }
}

/// `object_store` errors as the blob store's: a missing object is
/// `NotFound`, anything else an I/O failure.
fn blob_err(err: object_store::Error) -> BlobError {
    match err {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Io(std::io::Error::from(other)),
    }
}

impl ObjectBlobs {
    /// Blobs in `store` under `prefix` (may be empty: the bucket root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, label: String) -> Result<Self, String> {
        let prefix = if prefix.is_empty() {
            Path::default()
        } else {
            Path::parse(prefix).map_err(|_| format!("invalid prefix for {label}"))?
        };
        Ok(Self {
            store,
            prefix,
            label,
        })
    }

    /// An S3 (or S3-compatible) bucket, connected with the standard
    /// `AWS_*` variables (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …). Builds
    /// the client only; [`BlobStore::check`] is what talks to the server.
    pub fn s3_from_env(location: &S3Location) -> Result<Self, String> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            // object_store retries for up to 3 minutes by default: far longer
            // than a client waits for a save. Fail within seconds instead.
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            });
        let connect_timeout = AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout);
        if builder.get_config_value(&connect_timeout).is_none() {
            builder = builder.with_config(connect_timeout, "5s");
        }
        let store = builder
            .build()
            .map_err(|e| format!("cannot configure {location}: {e}"))?;
        Self::new(Arc::new(store), &location.prefix, location.to_string())
    }

    /// `<prefix>/<2 hex>/<30 hex>`, for a valid key only.
    fn path_of(&self, key: &str) -> Result<Path, BlobError> {
        if !is_valid_key(key) {
            return Err(BlobError::NotFound);
        }
        Ok(self.prefix.child(&key[..2]).child(&key[2..]))
    }

    /// The key an object's location names, if it is one of ours: exactly
    /// `<prefix>/<2 hex>/<30 hex>` (anything else in the bucket is ignored,
    /// so gc never touches a foreign object).
    fn key_of(&self, location: &Path) -> Option<String> {
        let parts: Vec<String> = location
            .prefix_match(&self.prefix)?
            .map(|p| p.as_ref().to_owned())
            .collect();
        let [dir, name] = parts.as_slice() else {
            return None;
        };
        let key = format!("{dir}{name}");
        (dir.len() == 2 && is_valid_key(&key)).then_some(key)
    }

    /// The prefix to list under, `None` for the bucket root.
    fn list_prefix(&self) -> Option<&Path> {
        (!self.prefix.as_ref().is_empty()).then_some(&self.prefix)
    }
}

/// One write in progress. Holds the buffered writer until `finish`; if it is
/// dropped before that, the multipart upload (if one was started) is aborted.
struct ObjectWriter {
    writer: Option<BufWriter>,
    store: Arc<dyn ObjectStore>,
    path: Path,
    key: String,
}

#[async_trait::async_trait]
impl BlobWriter for ObjectWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| BlobError::Io(std::io::Error::other("writer already finished")))?;
        writer
            .put(Bytes::copy_from_slice(chunk))
            .await
            .map_err(blob_err)
    }

    async fn finish(mut self: Box<Self>) -> Result<String, BlobError> {
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| BlobError::Io(std::io::Error::other("writer already finished")))?;
        // `shutdown` sends the single PUT, or the last part and the
        // completion of a multipart upload: only now is the object visible.
        match writer.shutdown().await {
            Ok(()) => Ok(self.key.clone()),
            Err(err) => {
                // The object may exist after all (e.g. the answer was lost):
                // like the directory store, remove it so no half-known blob
                // stays. Unreferenced anyway, so gc would get it too.
                let _ = self.store.delete(&self.path).await;
                Err(BlobError::Io(err))
            }
        }
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        let Some(mut writer) = self.writer.take() else {
            return; // finished (or finishing): nothing to abort
        };
        // Abandoned (error, too large, client gone): abort the multipart
        // upload so the bucket keeps no parts. Drop cannot await, so the
        // abort runs as a task; without a runtime the lifecycle rule is the
        // backstop.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let path = self.path.clone();
            runtime.spawn(async move {
                if let Err(err) = writer.abort().await {
                    tracing::warn!(blob.path = %path, error = %err, "could not abort an unfinished upload");
                }
            });
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for ObjectBlobs {
    async fn create(&self) -> Result<Box<dyn BlobWriter>, BlobError> {
        let key = random_key();
        let path = self.path_of(&key)?;
        let writer = BufWriter::with_capacity(Arc::clone(&self.store), path.clone(), PART_SIZE)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        Ok(Box::new(ObjectWriter {
            writer: Some(writer),
            store: Arc::clone(&self.store),
            path,
            key,
        }))
    }

    async fn open(&self, key: &str) -> Result<(u64, ByteStream), BlobError> {
        let found = self
            .store
            .get(&self.path_of(key)?)
            .await
            .map_err(blob_err)?;
        let size = found.meta.size;
        let stream = found.into_stream().map_err(std::io::Error::from);
        Ok((size, Box::pin(stream)))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&self.path_of(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(blob_err(err)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let mut objects = self.store.list(self.list_prefix());
        let mut found = Vec::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(blob_err)?;
            if let Some(key) = self.key_of(&meta.location) {
                found.push(BlobInfo {
                    key,
                    modified: SystemTime::from(meta.last_modified),
                });
            }
        }
        Ok(found)
    }

    /// One LIST request under the prefix: proves the endpoint answers, the
    /// bucket exists and the credentials may read it.
    async fn check(&self) -> Result<(), BlobError> {
        self.store
            .list_with_delimiter(self.list_prefix())
            .await
            .map(|_| ())
            .map_err(|e| BlobError::Io(std::io::Error::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        assert_eq!(
            S3Location::parse("s3://my-bucket"),
            Ok(S3Location {
                bucket: "my-bucket".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            S3Location::parse("s3://my.bucket/school/cubby/"),
            Ok(S3Location {
                bucket: "my.bucket".into(),
                prefix: "school/cubby".into()
            })
        );
    }

    #[test]
    fn refuses_what_is_not_a_plain_bucket_url() {
        for bad in [
            "ftp://bucket",
            "s3://",
            "s3://x",
            "s3://Bucket",
            "s3://key:secret@bucket",
            "s3://bucket/a//b",
            "s3://bucket/../up",
        ] {
            let err = S3Location::parse(bad).expect_err(bad);
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn keys_map_to_paths_and_back() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let blobs = ObjectBlobs::new(store, "a/b", "test".into()).expect("prefix");
        let key = "0123456789abcdef0123456789abcdef";
        let path = blobs.path_of(key).expect("valid key");
        assert_eq!(path.as_ref(), "a/b/01/23456789abcdef0123456789abcdef");
        assert_eq!(blobs.key_of(&path).as_deref(), Some(key));
        assert!(blobs.path_of("../../etc/passwd").is_err());
        assert_eq!(blobs.key_of(&Path::from("a/b/01/x")), None);
        assert_eq!(
            blobs.key_of(&Path::from("a/c/01/23456789abcdef0123456789abcdef")),
            None
        );
    }

    #[tokio::test]
    async fn writes_reads_lists_and_deletes() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let blobs = ObjectBlobs::new(store, "p", "test".into()).expect("prefix");
        let key = blobs.put(b"hello").await.expect("put");
        assert_eq!(blobs.get(&key).await.expect("get"), b"hello");
        let listed: Vec<String> = blobs
            .list()
            .await
            .expect("list")
            .into_iter()
            .map(|b| b.key)
            .collect();
        assert_eq!(listed, vec![key.clone()]);
        blobs.delete(&key).await.expect("delete");
        blobs
            .delete(&key)
            .await
            .expect("deleting a missing blob is fine");
        assert!(matches!(blobs.get(&key).await, Err(BlobError::NotFound)));
        blobs.check().await.expect("check");

        // An unfinished write is invisible.
        let mut writer = blobs.create().await.expect("create");
        writer.write(b"partial").await.expect("write");
        assert!(blobs.list().await.expect("list").is_empty());
        drop(writer);
        assert!(blobs.list().await.expect("list").is_empty());
    }
}
