//! `.sb3` files: the Scratch 3 project archive (a zip of `project.json` and
//! the costumes and sounds it names by `md5ext`), exported and imported.
//!
//! **Export** streams: the zip is written on a blocking thread into a small
//! bounded channel whose other end is the response body, one asset chunk at
//! a time, so memory stays flat whatever the project's size. Assets are
//! *stored* (they are compressed media already), `project.json` deflated. A
//! named asset that is not in the store is left out (and logged): the
//! editor replaces a missing asset by a default one, so the export still
//! opens.
//!
//! **Import** never trusts the archive. The upload is spooled to a temporary
//! file (not memory), at most `max_import_bytes`; then everything is checked
//! before anything is stored: a zip, entry paths without `..` or a root,
//! declared unpacked sizes within the limit, a `project.json` that is one
//! JSON object within the body limit, every asset it names present, of a
//! supported type, and hashing to its name. Inflated bytes are *counted*
//! while inflating and reading stops at the limit, so an archive that lies
//! about its sizes (a zip bomb) is 413 before it fills anything. Only then
//! are the new assets' files written (the assets already stored are only
//! named) and one transaction creates the asset rows through the same
//! deduplication as uploads (G3), charges the caller (S8) and creates the
//! project through the same path as a create (quota G8, slug G10). A
//! refusal or failure at any point deletes every file the import wrote: no
//! project, no asset row, no file (G11).

use std::collections::HashSet;
use std::io::{Read, Seek, Write};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use serde::Deserialize;
use sha2::Sha256;
use tokio::io::AsyncWriteExt;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::assets::{self, AssetName, Prepared};
use crate::auth::User;
use crate::blob::{delete_all, Blobs, ByteStream};
use crate::error::{Code, Error, Result};
use crate::projects::{self, Created};
use crate::Ctx;

/// The content type of an `.sb3` file.
pub const CONTENT_TYPE: &str = "application/x.scratch.sb3";

/// How many bytes the export gathers before handing them to the response.
const CHUNK: usize = 64 * 1024;

/// How many chunks may wait between the zip writer and the response: with
/// [`CHUNK`], the most an export holds in memory besides `project.json`.
pub(crate) const CHANNEL_CHUNKS: usize = 4;

// ---------------------------------------------------------------- names

#[derive(Deserialize)]
struct ProjectRefs {
    #[serde(default)]
    targets: Vec<TargetRefs>,
}

#[derive(Deserialize)]
struct TargetRefs {
    #[serde(default)]
    costumes: Vec<AssetRef>,
    #[serde(default)]
    sounds: Vec<AssetRef>,
}

#[derive(Deserialize)]
struct AssetRef {
    md5ext: Option<String>,
    #[serde(rename = "assetId")]
    asset_id: Option<String>,
    #[serde(rename = "dataFormat")]
    data_format: Option<String>,
}

/// The `md5ext` of every costume and sound of every target, each once, in
/// the order they first appear (`assetId.dataFormat` where `md5ext` is
/// missing, as scratch-vm does). Only the names are read from the JSON.
pub fn asset_names(project_json: &[u8]) -> std::result::Result<Vec<String>, String> {
    let refs: ProjectRefs = serde_json::from_slice(project_json)
        .map_err(|e| format!("project.json's targets are not Scratch 3 targets: {e}"))?;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for target in refs.targets {
        for r in target.costumes.into_iter().chain(target.sounds) {
            let name = match (r.md5ext, r.asset_id, r.data_format) {
                (Some(md5ext), _, _) => md5ext,
                (None, Some(id), Some(format)) => format!("{id}.{format}"),
                _ => return Err("a costume or sound names no md5ext".into()),
            };
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

// ---------------------------------------------------------------- export

/// A project as an `.sb3`: its file name and the streamed zip.
pub struct Export {
    /// `<slug>.sb3`.
    pub file_name: String,
    pub bytes: ByteStream,
}

/// `GET /api/v1/projects/{id}/sb3`: whoever may read the project.
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn export(ctx: &Ctx, caller: &User, id: i64) -> Result<Export> {
    let project = projects::get(ctx, caller, id).await?;
    let (_, body) = projects::body(ctx, caller, id).await?;
    export_body(ctx, body, format!("{}.sb3", project.slug)).await
}

/// The stored assets a project body names, as `(md5ext, blob key)`; a named
/// asset that is not stored is left out (and logged).
pub(crate) async fn asset_entries(ctx: &Ctx, body: &[u8]) -> Result<Vec<(String, String)>> {
    let names = asset_names(body).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "export: no assets read from the project");
        Vec::new()
    });
    let mut entries = Vec::new();
    for name in names {
        let row = match AssetName::parse_any(&name) {
            Ok(parsed) => assets::find_row(&ctx.db, &parsed).await?,
            Err(_) => None,
        };
        match row {
            Some(row) => entries.push((name, row.blob_file)),
            None => {
                tracing::warn!(asset.name = %name, "export: a named asset is not stored; left out")
            }
        }
    }
    Ok(entries)
}

/// `body` (a project's JSON, already read with the caller's access
/// checked) as a streamed `.sb3` named `file_name`.
pub async fn export_body(ctx: &Ctx, body: Vec<u8>, file_name: String) -> Result<Export> {
    let entries = asset_entries(ctx, &body).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_CHUNKS);
    let blobs = ctx.blobs.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter::new(tx.clone());
        if let Err(err) = write_zip(&handle, &blobs, &body, &entries, writer) {
            tracing::warn!(error = %err, "export broke off");
            let _ = tx.blocking_send(Err(err));
        }
    });
    let bytes = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(Export {
        file_name,
        bytes: Box::pin(bytes),
    })
}

/// Writes the zip: `project.json` (deflated), then each asset (stored),
/// reading its blob chunk by chunk.
pub(crate) fn write_zip<W: Write>(
    handle: &tokio::runtime::Handle,
    blobs: &Blobs,
    body: &[u8],
    entries: &[(String, String)],
    writer: W,
) -> std::io::Result<()> {
    let mut zip = ZipWriter::new_stream(writer);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    zip.start_file("project.json", deflated)
        .map_err(std::io::Error::other)?;
    zip.write_all(body)?;
    for (name, key) in entries {
        let mut stream = match handle.block_on(blobs.open(key)) {
            Ok((_, stream)) => stream,
            Err(err) => {
                tracing::warn!(asset.name = %name, error = %err, "export: asset file unreadable; left out");
                continue;
            }
        };
        zip.start_file(name.as_str(), stored)
            .map_err(std::io::Error::other)?;
        while let Some(chunk) = handle.block_on(stream.next()) {
            zip.write_all(&chunk?)?;
        }
    }
    let mut inner = zip.finish().map_err(std::io::Error::other)?;
    inner.flush()
}

/// A `Write` whose bytes go, in chunks of [`CHUNK`], into a bounded channel
/// (blocking while the response is behind). A closed channel (the client
/// went away) is a broken pipe, which stops the export.
pub(crate) struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub(crate) fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

// ---------------------------------------------------------------- import

fn invalid(detail: impl Into<String>) -> Error {
    Error::invalid(Code::InvalidSb3, detail)
}

/// An asset of the archive, checked: its name, hashes and entry.
struct Checked {
    name: AssetName,
    sha256: String,
    size: i64,
    entry: usize,
}

/// The archive, checked: `project.json` and the assets it names.
struct Archive {
    body: Vec<u8>,
    assets: Vec<Checked>,
}

/// `POST /api/v1/projects/import?title=`: the raw `.sb3` bytes.
#[tracing::instrument(skip_all, fields(user.id = caller.id))]
pub async fn import<S>(
    ctx: &Ctx,
    caller: &User,
    title: Option<&str>,
    body: S,
    idem_key: Option<&str>,
) -> Result<Created>
where
    S: Stream<Item = Result<Bytes>>,
{
    if let Some(title) = title {
        projects::rules::check_title(title)?;
    }
    let limit = ctx.settings.max_import_bytes;
    let spool = spool(body, limit).await?;
    let max_body = ctx.settings.max_body_bytes;
    let (spool, archive) = tokio::task::spawn_blocking(move || {
        let mut spool = spool;
        let archive = check_archive(&mut spool, limit, max_body);
        (spool, archive)
    })
    .await
    .map_err(|e| Error::Internal(format!("import task: {e}")))?;
    let archive = archive?;

    // Everything is valid: write the files of the assets not stored yet.
    let mut prepared = Vec::with_capacity(archive.assets.len());
    let written = write_new_assets(ctx, spool, &archive.assets, &mut prepared).await;
    if let Err(err) = written {
        let keys: Vec<String> = prepared.iter().filter_map(|p| p.key.clone()).collect();
        delete_all(&ctx.blobs, &keys).await;
        return Err(err);
    }
    projects::create_imported(ctx, caller, title, &archive.body, &prepared, idem_key).await
}

/// Copies the upload into an anonymous temporary file, at most `limit` bytes.
async fn spool<S>(body: S, limit: u64) -> Result<std::fs::File>
where
    S: Stream<Item = Result<Bytes>>,
{
    let file = tempfile::tempfile().map_err(|e| Error::Storage(e.to_string()))?;
    let mut file = tokio::fs::File::from_std(file);
    let mut size: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await.transpose()? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::TooLarge { limit });
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| Error::Storage(e.to_string()))?;
    }
    file.flush()
        .await
        .map_err(|e| Error::Storage(e.to_string()))?;
    Ok(file.into_std().await)
}

/// Is an entry path one that stays inside the archive?
fn safe_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.starts_with('\\')
        && !name.contains('\0')
        && !name.split(['/', '\\']).any(|part| part == "..")
        && name.get(1..2).is_none_or(|c| c != ":")
}

/// Reads at most `budget` inflated bytes of an entry into `sink`, counting;
/// more than that is `TooLarge` (the archive lied, or is a bomb).
fn inflate_counted(
    entry: &mut impl Read,
    budget: u64,
    limit: u64,
    mut sink: impl FnMut(&[u8]),
) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = entry.read(&mut buf).map_err(|e| {
            if lies_about_its_size(&e) {
                Error::TooLarge { limit }
            } else {
                invalid(format!("an entry cannot be unpacked: {e}"))
            }
        })?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if total > budget {
            return Err(Error::TooLarge { limit });
        }
        sink(&buf[..n]);
    }
}

/// Does this read error say the entry inflates to more than its declared
/// size? The zip reader stops there (so a lying archive never fills
/// anything); it is a zip bomb's signature, answered like one: too large.
fn lies_about_its_size(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::InvalidData
        && err.to_string().contains("larger than its declared")
}

/// Checks the whole archive (blocking: run it off the async workers).
fn check_archive<R: Read + Seek>(spool: &mut R, limit: u64, max_body: u64) -> Result<Archive> {
    spool.rewind().map_err(|e| Error::Storage(e.to_string()))?;
    let mut zip = ZipArchive::new(spool).map_err(|_| invalid("not a zip archive"))?;
    let mut declared: u64 = 0;
    let mut project_entry = None;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| invalid(format!("a zip entry cannot be read: {e}")))?;
        let name = entry
            .name()
            .map_err(|_| invalid("an entry's path is not text"))?
            .into_owned();
        if !safe_path(&name) {
            return Err(invalid(format!("entry path {name:?} leaves the archive")));
        }
        declared = declared.saturating_add(entry.size());
        if name == "project.json" {
            project_entry = Some(i);
        }
    }
    if declared > limit {
        return Err(Error::TooLarge { limit });
    }
    let project_entry = project_entry.ok_or_else(|| invalid("no project.json in the archive"))?;
    // Every inflated byte, of every entry we read, counts toward `limit`.
    let mut budget = limit;

    let mut body = Vec::new();
    {
        let mut entry = zip
            .by_index(project_entry)
            .map_err(|e| invalid(format!("project.json cannot be read: {e}")))?;
        let cap = budget.min(max_body);
        let n = inflate_counted(&mut entry, cap, cap, |b| body.extend_from_slice(b))?;
        budget -= n;
    }
    projects::rules::check_project_json(&body)
        .map_err(|_| invalid("project.json is not a JSON object"))?;
    let names = asset_names(&body).map_err(invalid)?;

    let mut assets = Vec::with_capacity(names.len());
    for file_name in names {
        let name = AssetName::parse_uploadable(&file_name).map_err(|e| {
            invalid(format!(
                "asset {file_name:?}: {}",
                match e.code() {
                    Code::UnsupportedAssetType => "unsupported extension",
                    _ => "not an {md5}.{ext} name",
                }
            ))
        })?;
        let index = zip
            .index_for_name(&file_name)
            .ok_or_else(|| invalid(format!("asset {file_name:?} is not in the archive")))?;
        let mut entry = zip
            .by_index(index)
            .map_err(|e| invalid(format!("asset {file_name:?} cannot be read: {e}")))?;
        let mut md5 = Md5::new();
        let mut sha256 = Sha256::new();
        let n = inflate_counted(&mut entry, budget, limit, |b| {
            md5.update(b);
            sha256.update(b);
        })?;
        budget -= n;
        if hex::encode(md5.finalize()) != name.md5 {
            return Err(invalid(format!(
                "asset {file_name:?}: the md5 of its bytes is not its name"
            )));
        }
        assets.push(Checked {
            name,
            sha256: hex::encode(sha256.finalize()),
            size: n as i64,
            entry: index,
        });
    }
    Ok(Archive { body, assets })
}

/// Writes a new file for each checked asset not stored yet, re-reading it
/// from the spooled archive; pushes one [`Prepared`] per asset (with the
/// key of the file written, if any) so the caller can delete them all.
async fn write_new_assets(
    ctx: &Ctx,
    spool: std::fs::File,
    checked: &[Checked],
    prepared: &mut Vec<Prepared>,
) -> Result<()> {
    let mut spool = Some(spool);
    let mut zip: Option<ZipArchive<std::fs::File>> = None;
    for asset in checked {
        if assets::find_row(&ctx.db, &asset.name).await?.is_some() {
            prepared.push(Prepared {
                name: asset.name.clone(),
                sha256: asset.sha256.clone(),
                size: asset.size,
                key: None,
            });
            continue;
        }
        let archive = match zip.take() {
            Some(z) => z,
            None => {
                let file = spool
                    .take()
                    .ok_or_else(|| Error::Internal("spool gone".into()))?;
                blocking(move || ZipArchive::new(file).map_err(|e| Error::Internal(e.to_string())))
                    .await?
            }
        };
        let writer = ctx.blobs.create().await?;
        let entry = asset.entry;
        let handle = tokio::runtime::Handle::current();
        let (archive, key) = blocking(move || {
            let mut archive = archive;
            let key = copy_entry(&handle, &mut archive, entry, writer);
            Ok((archive, key))
        })
        .await?;
        zip = Some(archive);
        prepared.push(Prepared {
            name: asset.name.clone(),
            sha256: asset.sha256.clone(),
            size: asset.size,
            key: Some(key?),
        });
    }
    Ok(())
}

/// Inflates one entry into a new blob; returns the blob's key.
fn copy_entry(
    handle: &tokio::runtime::Handle,
    archive: &mut ZipArchive<std::fs::File>,
    entry: usize,
    mut writer: Box<dyn crate::blob::BlobWriter>,
) -> Result<String> {
    let mut file = archive
        .by_index(entry)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::Internal(e.to_string()))?;
        if n == 0 {
            break;
        }
        handle.block_on(writer.write(&buf[..n]))?;
    }
    Ok(handle.block_on(writer.finish())?)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_each_costume_and_sound_once() {
        let json = br#"{"targets": [
            {"costumes": [{"md5ext": "a.svg"}, {"assetId": "b", "dataFormat": "png"}],
             "sounds": [{"md5ext": "c.wav"}], "blocks": {}},
            {"costumes": [{"md5ext": "a.svg"}]},
            {"name": "no lists"}
        ], "meta": {}}"#;
        assert_eq!(
            asset_names(json).unwrap(),
            vec!["a.svg".to_owned(), "b.png".to_owned(), "c.wav".to_owned()]
        );
        assert_eq!(asset_names(b"{}").unwrap(), Vec::<String>::new());
        assert!(asset_names(br#"{"targets": 5}"#).is_err());
        assert!(asset_names(br#"{"targets": [{"costumes": [{}]}]}"#).is_err());
    }

    #[test]
    fn entry_paths_stay_inside_the_archive() {
        for ok in ["project.json", "a/b.svg", "x..y.png"] {
            assert!(safe_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "\\x",
            "a\\..\\x",
            "C:x",
            "..",
        ] {
            assert!(!safe_path(bad), "{bad}");
        }
    }
}
