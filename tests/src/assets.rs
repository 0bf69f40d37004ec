//! Helpers for the asset and backpack routes: base64 for backpack bodies, the
//! asset rows beside the blob files they name (G11), and raw HTTP/1.1 for
//! requests `reqwest` will not send as written (`..` in a path, a chunked
//! upload).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};

use crate::db::TestDb;
use crate::projects::{blob_dir, blob_files, md5_hex, send, Reply, User};

/// Standard base64 with padding (RFC 4648), as the editor sends backpack bodies.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Files left in `<data dir>/blobs/tmp` (unfinished writes).
pub fn tmp_files(db: &TestDb) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(blob_dir(db).join("tmp")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

/// One row of `assets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetRow {
    pub md5: String,
    pub asset_type: String,
    pub ext: String,
    pub size: i64,
    pub blob_file: String,
}

/// Every row of `assets`, ordered by `(md5, asset_type)`.
pub async fn asset_rows(db: &TestDb) -> Vec<AssetRow> {
    let conn = db.connect().await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            db.db_backend(),
            "SELECT md5, asset_type, ext, size, blob_file FROM assets ORDER BY md5, asset_type",
        ))
        .await
        .expect("select assets");
    conn.close().await.ok();
    rows.iter()
        .map(|r| AssetRow {
            md5: r.try_get("", "md5").expect("md5"),
            asset_type: r.try_get("", "asset_type").expect("asset_type"),
            ext: r.try_get("", "ext").expect("ext"),
            size: r.try_get("", "size").expect("size"),
            blob_file: r.try_get("", "blob_file").expect("blob_file"),
        })
        .collect()
}

/// The file a blob key names: `blobs/<2 hex>/<30 hex>`.
pub fn blob_path(db: &TestDb, key: &str) -> PathBuf {
    blob_dir(db).join(&key[..2]).join(&key[2..])
}

/// G11 for a database with assets only (no projects): the blob files are
/// exactly the files the asset rows name, one per row, each holding bytes
/// whose md5 and size are the row's; and no unfinished write is left.
/// Returns the rows.
pub async fn assert_files_are_exactly_the_assets(db: &TestDb) -> Vec<AssetRow> {
    let rows = asset_rows(db).await;
    let mut named: Vec<PathBuf> = rows.iter().map(|r| blob_path(db, &r.blob_file)).collect();
    named.sort();
    assert_eq!(
        blob_files(db),
        named,
        "the blob files are exactly the ones the {} asset rows name",
        rows.len()
    );
    for row in &rows {
        let bytes = std::fs::read(blob_path(db, &row.blob_file))
            .unwrap_or_else(|e| panic!("the file of {row:?} is missing: {e}"));
        assert_eq!(md5_hex(&bytes), row.md5, "the bytes of {row:?}");
        assert_eq!(bytes.len() as i64, row.size, "the size of {row:?}");
    }
    assert_eq!(
        tmp_files(db),
        Vec::<PathBuf>::new(),
        "no unfinished write left"
    );
    rows
}

/// A request body for [`raw_http`].
pub enum RawBody {
    None,
    /// Sent with `Content-Length`.
    Fixed(Vec<u8>),
    /// Sent with `Transfer-Encoding: chunked`, one HTTP chunk per element.
    Chunked(Vec<Vec<u8>>),
    /// Sent with `Content-Length`: `first`, then nothing for `pause`, then
    /// `rest` (a slow sender).
    Paused {
        first: Vec<u8>,
        pause: Duration,
        rest: Vec<u8>,
    },
}

/// A whole HTTP/1.1 response read off the socket.
#[derive(Clone, Debug)]
pub struct RawReply {
    pub status: u16,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// The head, headers and (complete) body of `buf`, if it holds a whole
/// response with a `Content-Length`.
fn parse_reply(buf: &[u8]) -> Option<RawReply> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let body = buf.get(end + 4..end + 4 + len)?.to_vec();
    Some(RawReply {
        status,
        headers,
        body,
    })
}

/// Sends `method target` exactly as written (no path normalization) over a
/// fresh connection to `base_url` (`http://host:port`), with `headers` and
/// `body`, and reads the response (which must carry a `Content-Length`).
pub async fn raw_http(
    base_url: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: RawBody,
) -> RawReply {
    let authority = base_url
        .strip_prefix("http://")
        .expect("an http:// base URL")
        .trim_end_matches('/')
        .to_owned();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let mut bytes = Vec::new();
    let mut later: Option<(Duration, Vec<u8>)> = None;
    match body {
        RawBody::None => {
            request.push_str("\r\n");
            bytes.extend_from_slice(request.as_bytes());
        }
        RawBody::Fixed(data) => {
            request.push_str(&format!("Content-Length: {}\r\n\r\n", data.len()));
            bytes.extend_from_slice(request.as_bytes());
            bytes.extend_from_slice(&data);
        }
        RawBody::Chunked(chunks) => {
            request.push_str("Transfer-Encoding: chunked\r\n\r\n");
            bytes.extend_from_slice(request.as_bytes());
            for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                bytes.extend_from_slice(chunk);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
        }
        RawBody::Paused { first, pause, rest } => {
            let len = first.len() + rest.len();
            request.push_str(&format!("Content-Length: {len}\r\n\r\n"));
            bytes.extend_from_slice(request.as_bytes());
            bytes.extend_from_slice(&first);
            later = Some((pause, rest));
        }
    }
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&authority).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        // The server may answer (e.g. 413) before reading all of the body.
        let _ = stream.write_all(&bytes);
        if let Some((pause, rest)) = later {
            std::thread::sleep(pause);
            let _ = stream.write_all(&rest);
        }
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(reply) = parse_reply(&buf) {
                return reply;
            }
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "reading the response failed ({e}) after {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            }
        }
        parse_reply(&buf).unwrap_or_else(|| {
            panic!(
                "not a whole response with Content-Length: {:?}",
                String::from_utf8_lossy(&buf)
            )
        })
    })
    .await
    .expect("raw request task")
}

/// `len` pseudo-random bytes (every byte value occurs), different per `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Small files of each kind: the format's magic bytes, then `tag` (so two
/// tags make two different assets). Enough for cubby, which stores bytes.
pub fn with_magic(magic: &[u8], tag: &str) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

pub fn svg(tag: &str) -> Vec<u8> {
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><text>{tag}</text></svg>").into_bytes()
}

pub fn png(tag: &str) -> Vec<u8> {
    with_magic(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", tag)
}

pub fn jpeg(tag: &str) -> Vec<u8> {
    with_magic(b"\xff\xd8\xff\xe0\0\x10JFIF\0", tag)
}

pub fn wav(tag: &str) -> Vec<u8> {
    with_magic(b"RIFF\x24\0\0\0WAVEfmt ", tag)
}

pub fn mp3(tag: &str) -> Vec<u8> {
    with_magic(b"ID3\x03\0\0\0\0\0\0", tag)
}

pub fn zip(tag: &str) -> Vec<u8> {
    with_magic(b"PK\x03\x04\x14\0\0\0", tag)
}

/// `{md5}.{ext}` of `bytes`: the name an asset of these bytes is stored under.
pub fn asset_name(bytes: &[u8], ext: &str) -> String {
    format!("{}.{ext}", md5_hex(bytes))
}

/// `POST /api/v1/assets/{name}` with these raw bytes.
pub async fn upload(user: &User, name: &str, bytes: Vec<u8>) -> Reply {
    send(
        user.req(reqwest::Method::POST, &format!("/api/v1/assets/{name}"))
            .body(bytes),
    )
    .await
}
