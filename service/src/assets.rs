//! Content-addressed assets (costumes, sounds, sprites): streamed uploads,
//! deduplicated by the unique `(md5, asset_type)` constraint (G3).
//!
//! An upload streams the request body into a new blob while hashing it, so
//! no asset is ever held whole in memory. The row insert relies on the unique
//! constraint: of N racing uploads of the same bytes exactly one inserts
//! (201); the others delete the file they wrote and answer 200
//! `created: false`. When the asset already exists, the bytes are only
//! hashed (to check the name), never stored again.
//!
//! S8: the upload whose insert creates the row is charged the asset's size,
//! in the insert's transaction and under the uploader's row lock
//! ([`crate::storage_quota`]); one that would go over the quota rolls its
//! insert back and deletes its file. Dedup answers cost nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use entity::asset;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use sha2::Sha256;
use tokio::sync::watch;

use crate::auth::User;
use crate::blob::{delete_all, BlobWriter, ByteStream};
use crate::error::{Code, Error, Result};
use crate::storage_quota;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// What kind of asset an extension names (scratch-storage's AssetType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetType {
    ImageVector,
    ImageBitmap,
    Sound,
    Sprite,
    /// Backpacked scripts (JSON); stored like assets but not uploadable.
    Script,
}

impl AssetType {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetType::ImageVector => "ImageVector",
            AssetType::ImageBitmap => "ImageBitmap",
            AssetType::Sound => "Sound",
            AssetType::Sprite => "Sprite",
            AssetType::Script => "Script",
        }
    }

    /// The type an extension names, for every extension cubby stores.
    pub fn of_ext(ext: &str) -> Option<AssetType> {
        Some(match ext {
            "svg" => AssetType::ImageVector,
            "png" | "jpg" | "jpeg" | "gif" | "bmp" => AssetType::ImageBitmap,
            "wav" | "mp3" => AssetType::Sound,
            "sprite3" => AssetType::Sprite,
            "json" => AssetType::Script,
            _ => return None,
        })
    }
}

/// The extensions `POST /api/v1/assets/{md5}.{ext}` accepts.
pub const UPLOADABLE_EXTS: &[&str] = &[
    "svg", "png", "jpg", "jpeg", "gif", "bmp", "wav", "mp3", "sprite3",
];

/// `Content-Type` for an extension.
pub fn content_type(ext: &str) -> &'static str {
    match ext {
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "sprite3" => "application/x.scratch.sprite3",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// A checked `{md5}.{ext}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetName {
    pub md5: String,
    pub ext: String,
    pub asset_type: AssetType,
}

fn is_md5(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl AssetName {
    /// Parses an uploadable name: 32 lowercase hex digits, a dot, a known
    /// extension. Anything else (`..`, `/`, encoded slashes, uppercase hex)
    /// is `invalid_asset_name`; an unknown extension `unsupported_asset_type`.
    pub fn parse_uploadable(name: &str) -> Result<AssetName> {
        let parsed = Self::parse_any(name)?;
        if !UPLOADABLE_EXTS.contains(&parsed.ext.as_str()) {
            return Err(unsupported());
        }
        Ok(parsed)
    }

    /// Like [`parse_uploadable`](Self::parse_uploadable) but also accepts
    /// the internal `json` type (backpacked scripts).
    pub fn parse_any(name: &str) -> Result<AssetName> {
        let Some((md5, ext)) = name.split_once('.') else {
            return Err(invalid_name());
        };
        if !is_md5(md5) || ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid_name());
        }
        let ext = ext.to_ascii_lowercase();
        let asset_type = AssetType::of_ext(&ext).ok_or_else(unsupported)?;
        Ok(AssetName {
            md5: md5.to_owned(),
            ext,
            asset_type,
        })
    }

    pub fn file_name(&self) -> String {
        format!("{}.{}", self.md5, self.ext)
    }
}

fn invalid_name() -> Error {
    Error::invalid(
        Code::InvalidAssetName,
        "an asset name is 32 lowercase hex digits (its md5), a dot and an extension",
    )
}

fn unsupported() -> Error {
    Error::invalid(
        Code::UnsupportedAssetType,
        format!("supported extensions: {}", UPLOADABLE_EXTS.join(", ")),
    )
}

/// An asset as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub md5: String,
    pub ext: String,
    pub asset_type: AssetType,
    pub size: i64,
    /// Whether this request stored it (false: it existed already).
    pub created: bool,
}

/// The row of a stored asset, if any.
pub(crate) async fn find_row(
    db: &impl ConnectionTrait,
    name: &AssetName,
) -> Result<Option<asset::Model>> {
    find(db, name).await
}

async fn find(db: &impl ConnectionTrait, name: &AssetName) -> Result<Option<asset::Model>> {
    Ok(asset::Entity::find()
        .filter(asset::Column::Md5.eq(name.md5.clone()))
        .filter(asset::Column::AssetType.eq(name.asset_type.as_str()))
        .one(db)
        .await?)
}

/// Streams `body` into the store under `name`, for `uploader`. The md5 of
/// the bytes must be the name's; at most `max_body_bytes` are accepted.
#[tracing::instrument(skip_all, fields(user.id = uploader.id, asset.name = %name.file_name()))]
pub async fn upload<S>(ctx: &Ctx, uploader: &User, name: &AssetName, body: S) -> Result<Asset>
where
    S: Stream<Item = Result<Bytes>>,
{
    store(
        ctx,
        Some(uploader.id),
        name,
        body,
        ctx.settings.max_body_bytes,
    )
    .await
}

/// The largest library file `cubby library fetch|import` stores (the
/// largest in the stock catalogues is about 2 MB); independent of
/// `max_body_bytes`, which limits what users send.
pub const LIBRARY_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Stores a file of the editor's library (`cubby library fetch|import`):
/// the same path as an upload — md5 checked against the name, deduplicated
/// on `(md5, asset_type)` (G3) — but owned by no user: the row's
/// `created_by` is NULL and nobody's storage (S8) is charged, because the
/// library is the school's, not a student's. A user who later uploads the
/// same bytes gets the dedup answer, which is free as always.
#[tracing::instrument(skip_all, fields(asset.name = %name.file_name()))]
pub async fn store_unowned(ctx: &Ctx, name: &AssetName, bytes: Bytes) -> Result<Asset> {
    let body = futures_util::stream::once(async move { Ok(bytes) });
    store(ctx, None, name, body, LIBRARY_MAX_BYTES).await
}

/// Upload and library store alike: hash (and, for a new asset, write) the
/// body, check its md5, insert or dedup the row; `owner` is charged (S8).
///
/// Uploads of the same new asset that arrive together in this process
/// (a class adding the same costume) do not all write it: the first writes
/// the file and inserts the row, the others wait for it (up to
/// [`FOLLOW_WAIT`]) before reading their bodies, then find the row and only
/// hash their bytes. Across processes the unique constraint still decides
/// (G3); the wait only saves the files and transactions that would lose.
async fn store<S>(
    ctx: &Ctx,
    owner: Option<i64>,
    name: &AssetName,
    body: S,
    limit: u64,
) -> Result<Asset>
where
    S: Stream<Item = Result<Bytes>>,
{
    let mut existing = find(&ctx.db, name).await?;
    // Held until this upload is done: the others of the same name wait on it.
    let mut _first = None;
    if existing.is_none() {
        match ctx.uploads.claim(name) {
            Turn::First(first) => _first = Some(first),
            Turn::Behind(first_done) => {
                wait_for_first(first_done).await;
                existing = find(&ctx.db, name).await?;
            }
        }
    }
    // Only write a file when the asset is new; a re-upload is only hashed.
    let writer = match existing {
        Some(_) => None,
        None => Some(ctx.blobs.create().await?),
    };
    let consumed = consume(body, writer, limit).await?;
    if consumed.md5 != name.md5 {
        return Err(Error::invalid(
            Code::Md5Mismatch,
            "the md5 of the bytes is not the one in the name",
        ));
    }
    let Some((writer, sha256)) = consumed.written else {
        let row = existing.ok_or_else(|| Error::Internal("asset row vanished".into()))?;
        return Ok(to_asset(row, false));
    };
    let key = writer.finish().await?;
    let file = NewFile {
        key: &key,
        sha256: &sha256,
        size: consumed.size,
    };
    insert_or_dedup(ctx, owner, name, &file).await
}

/// How long an upload waits for another upload of the same new asset in
/// this process before it writes the asset itself: long enough for a
/// normal upload to finish, short enough that a slow sender holds nobody
/// up for long.
pub const FOLLOW_WAIT: Duration = Duration::from_secs(2);

async fn wait_for_first(mut first_done: watch::Receiver<()>) {
    // Nothing is ever sent: `changed` returns when the first upload drops
    // its sender, i.e. when it is done, whatever its outcome.
    let _ = tokio::time::timeout(FOLLOW_WAIT, first_done.changed()).await;
}

/// The new assets this process is writing now, by name: the registry that
/// lets uploads of the same new asset wait for the first (see [`upload`]).
/// One per process, shared by every [`Ctx`] clone.
#[derive(Clone, Debug, Default)]
pub struct UploadsInFlight(Arc<Mutex<HashMap<String, watch::Receiver<()>>>>);

/// An upload's place among the uploads of the same asset.
enum Turn {
    /// Nobody here is writing it: this upload does, holding the turn.
    First(FirstUpload),
    /// Another upload is writing it; this one waits for that to end.
    Behind(watch::Receiver<()>),
}

/// The first upload's turn: dropping it (done, failed or cancelled) takes
/// the name out of the registry and wakes the ones behind.
struct FirstUpload {
    registry: UploadsInFlight,
    key: String,
    _done: watch::Sender<()>,
}

impl UploadsInFlight {
    fn claim(&self, name: &AssetName) -> Turn {
        let key = name.file_name();
        let mut names = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(first_done) = names.get(&key) {
            return Turn::Behind(first_done.clone());
        }
        let (done, first_done) = watch::channel(());
        names.insert(key.clone(), first_done);
        Turn::First(FirstUpload {
            registry: self.clone(),
            key,
            _done: done,
        })
    }
}

impl Drop for FirstUpload {
    fn drop(&mut self) {
        let mut names = self
            .registry
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        names.remove(&self.key);
        // `_done` drops after this, waking the uploads behind.
    }
}

/// How many bytes are gathered before they are hashed and written: the
/// network delivers a body in pieces of a few KiB, and a trip to the
/// blocking pool and a write per piece would cost more than the work.
const BATCH_BYTES: usize = 64 * 1024;

/// A batch up to this size is hashed on the async worker itself: md5 and
/// sha256 of 16 KiB take some tens of microseconds, less than the trip to
/// the blocking pool and back.
const INLINE_HASH_BYTES: usize = 16 * 1024;

/// What [`consume`] read: the md5 and size of the whole body, and when it
/// wrote the body, the writer (to finish) and the body's sha256.
struct Consumed {
    md5: String,
    size: i64,
    written: Option<(Box<dyn BlobWriter>, String)>,
}

/// Reads the whole body, hashing and (when `writer` is given) writing it in
/// batches of at least [`BATCH_BYTES`] (the last may be smaller). Only a
/// written body gets a sha256 (the row of a stored asset has it). A broken
/// or late body arrives as the error its reader chose (`incomplete_body`,
/// `request_timeout`).
async fn consume<S>(
    body: S,
    mut writer: Option<Box<dyn BlobWriter>>,
    limit: u64,
) -> Result<Consumed>
where
    S: Stream<Item = Result<Bytes>>,
{
    let mut hashes = Hashes {
        md5: Md5::new(),
        sha256: writer.is_some().then(Sha256::new),
    };
    let mut size: u64 = 0;
    let mut body = std::pin::pin!(body);
    let mut batch = BytesMut::new();
    loop {
        // On any early return the writer is dropped, which discards its file.
        let next = body.next().await.transpose()?;
        let finished = next.is_none();
        if let Some(chunk) = next {
            size += chunk.len() as u64;
            if size > limit {
                return Err(Error::TooLarge { limit });
            }
            batch.extend_from_slice(&chunk);
        }
        if batch.len() >= BATCH_BYTES || (finished && !batch.is_empty()) {
            let bytes = batch.split().freeze();
            let bytes = if bytes.len() <= INLINE_HASH_BYTES {
                hashes.update(&bytes);
                bytes
            } else {
                // On the blocking pool: a worker thread busy hashing would
                // stall every request it serves, including transactions
                // holding locks.
                let hashed = tokio::task::spawn_blocking(move || {
                    hashes.update(&bytes);
                    (hashes, bytes)
                })
                .await
                .map_err(|e| Error::Internal(format!("hashing task: {e}")))?;
                let bytes;
                (hashes, bytes) = hashed;
                bytes
            };
            if let Some(w) = writer.as_mut() {
                w.write(&bytes).await?;
            }
        }
        if finished {
            break;
        }
    }
    let sha256 = hashes.sha256.map(|h| hex::encode(h.finalize()));
    Ok(Consumed {
        md5: hex::encode(hashes.md5.finalize()),
        size: size as i64,
        written: writer.zip(sha256),
    })
}

/// The running hashes of a body: always md5 (it must match the name), and
/// sha256 when the body is being stored.
struct Hashes {
    md5: Md5,
    sha256: Option<Sha256>,
}

impl Hashes {
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        if let Some(sha256) = self.sha256.as_mut() {
            sha256.update(bytes);
        }
    }
}

/// A freshly written file of a new asset: its blob key, sha256 and size.
pub(crate) struct NewFile<'a> {
    pub key: &'a str,
    pub sha256: &'a str,
    pub size: i64,
}

/// Inserts the row for a freshly written file and charges the uploader for
/// it (nobody when `uploader_id` is `None`: a library file); if another
/// upload of the same asset won the race, deletes our file and reports
/// theirs (free). Over the quota: nothing stays.
async fn insert_or_dedup(
    ctx: &Ctx,
    uploader_id: Option<i64>,
    name: &AssetName,
    file: &NewFile<'_>,
) -> Result<Asset> {
    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "asset.create",
        Kind::Edit,
        async |txn| {
            // The uploader's row first (S8: uploads of one user take turns
            // on it), then the asset's unique key.
            let mut usage = match uploader_id {
                Some(id) => Some(storage_quota::lock(txn, id).await?),
                None => None,
            };
            let (row, created) = insert_row(txn, name, file, uploader_id).await?;
            if let (true, Some(usage)) = (created, usage.as_mut()) {
                usage.charge(ctx, txn, file.size).await?;
            }
            Ok(to_asset(row, created))
        },
    )
    .await;
    if !matches!(&result, Ok(a) if a.created) {
        // Lost the race, went over the quota, or failed: this file is nobody's.
        delete_all(&ctx.blobs, &[file.key.to_owned()]).await;
    }
    result
}

/// Inside a transaction: inserts the asset's row naming `file`, unless the
/// asset exists (the unique `(md5, asset_type)` decides, G3). Returns the
/// row and whether this insert created it. A racing insert of the same
/// asset waits here for the other transaction to end.
pub(crate) async fn insert_row(
    txn: &DatabaseTransaction,
    name: &AssetName,
    file: &NewFile<'_>,
    created_by: Option<i64>,
) -> Result<(asset::Model, bool)> {
    asset::Entity::insert(asset::ActiveModel {
        md5: Set(name.md5.clone()),
        asset_type: Set(name.asset_type.as_str().to_owned()),
        ext: Set(name.ext.clone()),
        sha256: Set(file.sha256.to_owned()),
        size: Set(file.size),
        blob_file: Set(file.key.to_owned()),
        created_at: Set(now()),
        created_by: Set(created_by),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([asset::Column::Md5, asset::Column::AssetType])
    .exec_without_returning(txn)
    .await?;
    let row = find(txn, name)
        .await?
        .ok_or_else(|| Error::Internal("asset row missing after insert".into()))?;
    // Did our insert win? Judged by whose file the row names, not by the
    // affected-row count (MariaDB counts a duplicate as affected).
    let created = row.blob_file == file.key;
    Ok((row, created))
}

fn to_asset(row: asset::Model, created: bool) -> Asset {
    Asset {
        asset_type: AssetType::of_ext(&row.ext).unwrap_or(AssetType::ImageBitmap),
        md5: row.md5,
        ext: row.ext,
        size: row.size,
        created,
    }
}

/// Bytes already in memory (a backpack body or thumbnail), hashed and, when
/// the asset is not stored yet, written to a new file; the row is inserted
/// later, in the caller's transaction ([`insert_row`]).
pub(crate) struct Prepared {
    pub name: AssetName,
    pub sha256: String,
    pub size: i64,
    /// The file written for it; `None` when the asset was stored already.
    pub key: Option<String>,
}

impl Prepared {
    pub fn new_file(&self) -> Option<NewFile<'_>> {
        self.key.as_deref().map(|key| NewFile {
            key,
            sha256: &self.sha256,
            size: self.size,
        })
    }
}

/// Hashes `bytes` (off the async workers) as `{md5}.{ext}` and writes them
/// to a new file unless that asset exists.
pub(crate) async fn prepare_bytes(ctx: &Ctx, ext: &str, bytes: Bytes) -> Result<Prepared> {
    let (md5, sha256, bytes) = tokio::task::spawn_blocking(move || {
        let md5 = hex::encode(Md5::digest(&bytes));
        let sha256 = hex::encode(Sha256::digest(&bytes));
        (md5, sha256, bytes)
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task: {e}")))?;
    let name = AssetName::parse_any(&format!("{md5}.{ext}"))?;
    let key = match find(&ctx.db, &name).await? {
        Some(_) => None,
        None => Some(ctx.blobs.put(&bytes).await?),
    };
    Ok(Prepared {
        name,
        sha256,
        size: bytes.len() as i64,
        key,
    })
}

/// An asset's row and its bytes, for download.
pub async fn open(ctx: &Ctx, name: &AssetName) -> Result<(Asset, ByteStream)> {
    let row = find(&ctx.db, name).await?.ok_or(Error::NotFound)?;
    let (_, stream) = ctx.blobs.open(&row.blob_file).await?;
    Ok((to_asset(row, false), stream))
}

/// Whether an asset exists (for `If-None-Match` without opening the file).
pub async fn exists(ctx: &Ctx, name: &AssetName) -> Result<bool> {
    Ok(find(&ctx.db, name).await?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn uploadable_names_are_md5_dot_known_extension() {
        let ok = [
            ("svg", AssetType::ImageVector),
            ("png", AssetType::ImageBitmap),
            ("JPG", AssetType::ImageBitmap),
            ("wav", AssetType::Sound),
            ("mp3", AssetType::Sound),
            ("sprite3", AssetType::Sprite),
        ];
        for (ext, kind) in ok {
            let name = AssetName::parse_uploadable(&format!("{MD5}.{ext}")).unwrap();
            assert_eq!(name.asset_type, kind, "{ext}");
            assert_eq!(name.ext, ext.to_ascii_lowercase());
            assert_eq!(
                name.file_name(),
                format!("{MD5}.{}", ext.to_ascii_lowercase())
            );
        }
    }

    #[test]
    fn hostile_names_are_invalid_asset_names() {
        let upper = MD5.to_uppercase();
        let bad = [
            String::new(),
            MD5.to_owned(),
            format!("{MD5}."),
            format!("{upper}.png"),
            format!("{}.png", &MD5[1..]),
            format!("{MD5}0.png"),
            format!("../{MD5}.png"),
            format!("{MD5}.png/.."),
            format!("{MD5}/../x.png"),
            format!("{MD5}%2f.png"),
            format!("{MD5}.png%00"),
            format!("{MD5}.p ng"),
            format!("{MD5}.tar.gz"),
            format!("{MD5}.png\n"),
            "ghijklmnopqrstuvwxyzghijklmnopqr.png".to_owned(),
        ];
        for name in &bad {
            let err = AssetName::parse_any(name).unwrap_err();
            assert_eq!(err.code(), Code::InvalidAssetName, "{name:?}");
        }
    }

    #[test]
    fn unknown_extensions_are_unsupported_and_json_is_not_uploadable() {
        for ext in ["exe", "html", "js", "svgz"] {
            let err = AssetName::parse_uploadable(&format!("{MD5}.{ext}")).unwrap_err();
            assert_eq!(err.code(), Code::UnsupportedAssetType, "{ext}");
        }
        let json = format!("{MD5}.json");
        assert_eq!(
            AssetName::parse_any(&json).map(|n| n.asset_type).ok(),
            Some(AssetType::Script)
        );
        let err = AssetName::parse_uploadable(&json).unwrap_err();
        assert_eq!(err.code(), Code::UnsupportedAssetType);
    }
}
