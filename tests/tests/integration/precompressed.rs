//! The editor's files with precompressed copies: `cubby editor fetch` on an
//! installed editor adds a brotli and a gzip copy of each compressible file
//! of 1 KiB or more, and the static route serves the copy the client
//! accepts (`Content-Encoding`, `Vary`, the original's content type, the
//! copy's validators) and plain bytes to a client that accepts none.

use std::io::Read;
use std::path::Path;

use reqwest::StatusCode;
use tests::server::cubby_command;
use tests::{Backend, Client, ServerOptions, TestDb, TestServer};

/// Some JavaScript that compresses well but not trivially.
fn javascript(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| {
            format!(
                "function f{i}(a) {{ return a * {} + \"s{i}\"; }}\n",
                i * 7919 % 1000
            )
            .into_bytes()
        })
        .collect()
}

fn brotli_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

struct Answer {
    status: StatusCode,
    encoding: Option<String>,
    vary: Option<String>,
    content_type: String,
    etag: Option<String>,
    last_modified: Option<String>,
    body: Vec<u8>,
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Answer {
    let client = Client::new(&server.base_url);
    let mut req = client.http.get(server.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: resp.status(),
        encoding: h("content-encoding"),
        vary: h("vary"),
        content_type: h("content-type").unwrap_or_default(),
        etag: h("etag"),
        last_modified: h("last-modified"),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

fn fetch(db: &TestDb, dir: &Path) -> String {
    let out = cubby_command(db)
        .args(["editor", "fetch"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn editor_fetch_precompresses_and_the_copies_are_served_by_accept_encoding() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let dir = db.scratch().join("editor");
    std::fs::create_dir_all(dir.join("chunks")).unwrap();
    let bundle = javascript(6000);
    let chunk = javascript(100);
    let picture: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761u32) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("scratch-gui-standalone.js"), &bundle).unwrap();
    std::fs::write(dir.join("chunks/1.abc.js"), &chunk).unwrap();
    std::fs::write(dir.join("tiny.js"), "var t = 1;").unwrap();
    std::fs::write(dir.join("picture.png"), &picture).unwrap();

    // An installed editor without copies gets them (and nothing else changes).
    let out = fetch(&db, &dir);
    assert!(out.contains("already installed"), "{out}");
    assert!(
        out.contains("precompressed 2 files (0 up to date)"),
        "{out}"
    );
    for file in ["scratch-gui-standalone.js", "chunks/1.abc.js"] {
        for suffix in ["br", "gz"] {
            assert!(
                dir.join(format!("{file}.{suffix}")).is_file(),
                "{file}.{suffix}"
            );
        }
    }
    for file in ["tiny.js", "picture.png"] {
        assert!(!dir.join(format!("{file}.br")).exists(), "{file}");
        assert!(!dir.join(format!("{file}.gz")).exists(), "{file}");
    }
    let out = fetch(&db, &dir);
    assert!(
        out.contains("precompressed 0 files (2 up to date)"),
        "{out}"
    );

    let opts = ServerOptions::default().with("CUBBY_EDITOR_DIR", dir.display());
    let server = TestServer::spawn(&db, &opts);
    let js = "text/javascript; charset=utf-8";

    // A browser's header: brotli.
    let br = get(
        &server,
        "/scratch-gui-standalone.js",
        &[("accept-encoding", "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(br.status, StatusCode::OK);
    assert_eq!(br.encoding.as_deref(), Some("br"));
    assert_eq!(br.vary.as_deref(), Some("accept-encoding"));
    assert_eq!(br.content_type, js);
    assert!(
        br.body.len() < bundle.len() / 4,
        "{} of {}",
        br.body.len(),
        bundle.len()
    );
    assert_eq!(brotli_decode(&br.body), bundle);
    let etag = br.etag.clone().expect("an ETag");
    assert!(br.last_modified.is_some());

    // Revalidation: 304 with no body.
    let again = get(
        &server,
        "/scratch-gui-standalone.js",
        &[
            ("accept-encoding", "gzip, deflate, br, zstd"),
            ("if-none-match", &etag),
        ],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let since = br.last_modified.clone().unwrap();
    let again = get(
        &server,
        "/scratch-gui-standalone.js",
        &[("accept-encoding", "br"), ("if-modified-since", &since)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // gzip only, or brotli refused: the gzip copy, with a validator of its own.
    for accept in ["gzip", "br;q=0, gzip", "br;q=0.4, gzip;q=0.9"] {
        let gz = get(
            &server,
            "/scratch-gui-standalone.js",
            &[("accept-encoding", accept)],
        )
        .await;
        assert_eq!(gz.encoding.as_deref(), Some("gzip"), "{accept}");
        assert_eq!(gz.vary.as_deref(), Some("accept-encoding"), "{accept}");
        assert_eq!(gz.content_type, js);
        assert_eq!(gzip_decode(&gz.body), bundle, "{accept}");
        assert_ne!(gz.etag, br.etag, "{accept}");
    }
    // The brotli ETag does not revalidate the gzip answer.
    let gz = get(
        &server,
        "/scratch-gui-standalone.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(gz.status, StatusCode::OK);

    // No encoding accepted: the plain file, still varying by the header.
    for headers in [vec![], vec![("accept-encoding", "identity")]] {
        let plain = get(&server, "/scratch-gui-standalone.js", &headers).await;
        assert_eq!(plain.status, StatusCode::OK);
        assert_eq!(plain.encoding, None, "{headers:?}");
        assert_eq!(plain.vary.as_deref(), Some("accept-encoding"));
        assert_eq!(plain.content_type, js);
        assert_eq!(plain.body, bundle);
    }

    // A chunk too.
    let c = get(&server, "/chunks/1.abc.js", &[("accept-encoding", "br")]).await;
    assert_eq!(c.encoding.as_deref(), Some("br"));
    assert_eq!(brotli_decode(&c.body), chunk);

    // A file without copies (an image) is served as it is, never compressed.
    let p = get(&server, "/picture.png", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.encoding, None);
    assert_eq!(p.content_type, "image/png");
    assert_eq!(p.body, picture);
    let p2 = get(
        &server,
        "/picture.png",
        &[("if-none-match", p.etag.as_deref().unwrap())],
    )
    .await;
    assert_eq!(p2.status, StatusCode::NOT_MODIFIED);

    // JSON API answers are still compressed per request.
    let api = get(
        &server,
        "/api/v1/openapi.json",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(api.encoding.as_deref(), Some("gzip"));
}
