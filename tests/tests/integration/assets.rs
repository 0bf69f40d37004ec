//! Assets and backpack (docs/API.md "Assets", "Backpack"): G3 (concurrent
//! uploads of the same bytes store one asset), G9 (concurrent backpack posts
//! lose nothing), G14 (one `Idempotency-Key`, one item), G11 (a refused or
//! failed request leaves no file and no row), downloads with their caching
//! headers, and the backpack's pages and deletes. The races run with one
//! server process and with two on one database and one blob directory.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::assets::{
    assert_files_are_exactly_the_assets, asset_name, b64, blob_path, jpeg, mp3, noise, png,
    raw_http, svg, tmp_files, upload, wav, with_magic, zip, RawBody,
};
use tests::projects::{blob_files, md5_hex, send, tally, unexpected, Reply, User};
use tests::{race, start_processes, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    the_same_bytes_under_two_asset_types_are_two_assets,
    uploads_of_an_asset_being_written_here_wait_for_it_within_limits,
    downloads_carry_type_etag_and_immutable_caching,
    bad_asset_names_are_refused_and_store_nothing,
    mismatched_oversized_and_anonymous_uploads_store_nothing,
    a_failed_blob_write_fails_the_request_and_stores_nothing,
    backpack_items_store_body_and_thumbnail_as_assets,
    backpack_lists_newest_first_in_pages_and_deletes_only_own_items,
    backpack_pages_follow_next_cursor,
    bad_backpack_posts_are_refused_and_store_nothing,
);
on_backends!(
    processes [1, 2]:
    concurrent_uploads_of_the_same_bytes_store_one_asset,
    concurrent_backpack_posts_lose_nothing,
    one_idempotency_key_makes_one_backpack_item,
);

const CLIENTS: usize = 32;
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

// ---- test bytes -------------------------------------------------------------

/// `md5` with its first letter uppercased (one wrong digit).
fn one_letter_uppercase(md5: &str) -> String {
    let at = md5
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or_else(|| panic!("{md5} has no letter"));
    format!(
        "{}{}{}",
        &md5[..at],
        md5[at..=at].to_uppercase(),
        &md5[at + 1..]
    )
}

// ---- requests ---------------------------------------------------------------

/// An anonymous request for `/api/v1/assets/{name}`.
async fn fetch(api: &Client, method: Method, name: &str, if_none_match: Option<&str>) -> Reply {
    let mut req = api
        .http
        .request(method, api.url(&format!("/api/v1/assets/{name}")));
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    send(req).await
}

/// Asserts an upload answer: `status` (201 or 200) and exactly
/// `{"md5", "ext", "asset_type", "size", "created"}`.
fn expect_asset(reply: &Reply, status: StatusCode, bytes: &[u8], ext: &str, asset_type: &str) {
    let body = reply.expect(status);
    assert_eq!(
        body,
        json!({
            "md5": md5_hex(bytes),
            "ext": ext,
            "asset_type": asset_type,
            "size": bytes.len(),
            "created": status == StatusCode::CREATED,
        })
    );
}

/// Asserts a problem that names no file path of the test.
fn expect_clean_problem(reply: &Reply, status: StatusCode, code: &str, db: &TestDb) -> Value {
    let problem = reply.expect_problem(status, code);
    let text = problem.to_string();
    let data_dir = db.data_dir().display().to_string();
    assert!(
        !text.contains(&data_dir) && !text.contains("blobs/") && !text.contains("/tmp"),
        "the problem leaks a path: {text}"
    );
    problem
}

/// A backpack item as the editor posts it, and what the answer must be.
#[derive(Clone, Debug)]
struct Piece {
    kind: &'static str,
    mime: &'static str,
    /// The extension of the stored body.
    ext: &'static str,
    name: String,
    body: Vec<u8>,
    thumbnail: Vec<u8>,
}

impl Piece {
    fn new(kind: &'static str, mime: &'static str, ext: &'static str, name: &str) -> Piece {
        let body = match ext {
            "svg" => svg(name),
            "png" => png(name),
            "jpg" => jpeg(name),
            "wav" => wav(name),
            "mp3" => mp3(name),
            "sprite3" => zip(name),
            _ => json!({"blocks": {}, "name": name}).to_string().into_bytes(),
        };
        Piece {
            kind,
            mime,
            ext,
            name: name.to_owned(),
            body,
            thumbnail: jpeg(&format!("thumbnail of {name}")),
        }
    }

    fn costume(name: &str) -> Piece {
        Piece::new("costume", "image/svg+xml", "svg", name)
    }

    fn request(&self) -> Value {
        json!({
            "type": self.kind,
            "mime": self.mime,
            "name": self.name,
            "body": b64(&self.body),
            "thumbnail": b64(&self.thumbnail),
        })
    }

    fn body_name(&self) -> String {
        asset_name(&self.body, self.ext)
    }

    fn thumbnail_name(&self) -> String {
        let ext = if self.thumbnail.starts_with(b"\x89PNG") {
            "png"
        } else {
            "jpg"
        };
        asset_name(&self.thumbnail, ext)
    }

    /// Asserts that `item` is this piece, stored: exactly the seven members.
    fn check(&self, item: &Value) -> i64 {
        let id = item["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id: {item}"));
        assert!(id > 0, "{item}");
        let created_at = item["created_at"].as_str().unwrap_or_default();
        assert!(
            created_at.len() >= 20 && created_at.ends_with('Z') && created_at.contains('T'),
            "created_at is RFC 3339 UTC: {item}"
        );
        assert_eq!(
            item,
            &json!({
                "id": id,
                "type": self.kind,
                "mime": self.mime,
                "name": self.name,
                "body": self.body_name(),
                "thumbnail": self.thumbnail_name(),
                "created_at": created_at,
            })
        );
        id
    }
}

/// `POST /api/v1/backpack`, with an `Idempotency-Key` when given.
async fn post_item(user: &User, request: &Value, key: Option<&str>) -> Reply {
    let mut req = user.req(Method::POST, "/api/v1/backpack").json(request);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    send(req).await
}

/// Posts `piece` (must answer 201); returns the item.
async fn add(user: &User, piece: &Piece) -> Value {
    let item = post_item(user, &piece.request(), None)
        .await
        .expect(StatusCode::CREATED);
    piece.check(&item);
    item
}

/// `GET /api/v1/backpack{query}` (must answer 200): the page.
async fn list(user: &User, query: &str) -> Value {
    let page = user
        .get(&format!("/api/v1/backpack{query}"))
        .await
        .expect(StatusCode::OK);
    assert!(page["items"].is_array(), "{page}");
    assert_eq!(page.as_object().map(|o| o.len()), Some(2), "{page}");
    page
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|i| i["id"].as_i64().unwrap_or_else(|| panic!("no id: {i}")))
        .collect()
}

async fn delete_item(user: &User, id: &str) -> Reply {
    send(user.req(Method::DELETE, &format!("/api/v1/backpack/{id}"))).await
}

// ---- G3 ---------------------------------------------------------------------

async fn concurrent_uploads_of_the_same_bytes_store_one_asset(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy", "dee"] {
        users.push(User::login(&clients[0], name, "student", &[]).await);
    }
    // Small bytes, and bytes of many chunks, under three asset types.
    let rounds = [
        (svg("the cat"), "svg", "ImageVector"),
        (noise(64 * 1024 + 1, 1), "wav", "Sound"),
        (noise(512 * 1024 + 3, 2), "sprite3", "Sprite"),
    ];
    for (round, (bytes, ext, asset_type)) in rounds.iter().enumerate() {
        let name = asset_name(bytes, ext);
        let replies = race(CLIENTS, |i| {
            let user = users[i % users.len()].on(&clients[i % processes]);
            let (name, bytes) = (name.clone(), bytes.clone());
            async move { upload(&user, &name, bytes).await }
        })
        .await;
        assert_eq!(
            tally(&replies),
            BTreeMap::from([(201, 1), (200, CLIENTS - 1)]),
            "round {round}: exactly one 201; unexpected: {:?}",
            unexpected(&replies, &[200, 201])
        );
        let md5 = md5_hex(bytes);
        for reply in &replies {
            let created = reply.status == StatusCode::CREATED;
            assert_eq!(
                reply.json(),
                json!({"md5": md5, "ext": ext, "asset_type": asset_type,
                       "size": bytes.len(), "created": created}),
                "round {round}"
            );
        }
        assert_eq!(db.count("assets", "").await, round as i64 + 1, "one row");
        let rows = assert_files_are_exactly_the_assets(&db).await;
        let row = rows
            .iter()
            .find(|r| r.md5 == md5)
            .expect("the row of this round");
        assert_eq!(
            (row.asset_type.as_str(), row.ext.as_str(), row.size),
            (*asset_type, *ext, bytes.len() as i64)
        );
        assert_eq!(
            &std::fs::read(blob_path(&db, &row.blob_file)).unwrap(),
            bytes,
            "round {round}: the one file holds the uploaded bytes"
        );
        for api in &clients {
            let got = fetch(api, Method::GET, &name, None).await;
            assert_eq!(got.status, StatusCode::OK);
            assert_eq!(&got.bytes, bytes, "round {round}");
        }
    }

    // The same new bytes raced under two types: one asset per type.
    let bytes = png("vector or bitmap");
    let replies = race(CLIENTS, |i| {
        let user = users[i % users.len()].on(&clients[i % processes]);
        let ext = if i % 2 == 0 { "svg" } else { "png" };
        let (name, bytes) = (asset_name(&bytes, ext), bytes.clone());
        async move { upload(&user, &name, bytes).await }
    })
    .await;
    assert_eq!(
        tally(&replies),
        BTreeMap::from([(201, 2), (200, CLIENTS - 2)]),
        "one 201 per type; unexpected: {:?}",
        unexpected(&replies, &[200, 201])
    );
    for (i, reply) in replies.iter().enumerate() {
        let (ext, asset_type) = if i % 2 == 0 {
            ("svg", "ImageVector")
        } else {
            ("png", "ImageBitmap")
        };
        expect_asset(reply, reply.status, &bytes, ext, asset_type);
    }
    let created: BTreeSet<String> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.json()["asset_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        created,
        BTreeSet::from(["ImageBitmap".to_owned(), "ImageVector".to_owned()])
    );
    assert_eq!(db.count("assets", "").await, 5);
    assert_eq!(assert_files_are_exactly_the_assets(&db).await.len(), 5);
}

async fn the_same_bytes_under_two_asset_types_are_two_assets(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bytes = svg("two ways");
    let md5 = md5_hex(&bytes);

    let vector = upload(&ann, &format!("{md5}.svg"), bytes.clone()).await;
    expect_asset(&vector, StatusCode::CREATED, &bytes, "svg", "ImageVector");
    let bitmap = upload(&ann, &format!("{md5}.png"), bytes.clone()).await;
    expect_asset(&bitmap, StatusCode::CREATED, &bytes, "png", "ImageBitmap");
    assert_eq!(db.count("assets", "").await, 2);
    assert_eq!(
        db.count(
            "assets",
            &format!("md5 = '{md5}' AND asset_type = 'ImageVector'")
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "assets",
            &format!("md5 = '{md5}' AND asset_type = 'ImageBitmap'")
        )
        .await,
        1
    );
    // Again under each: nothing new.
    for (ext, asset_type) in [("svg", "ImageVector"), ("png", "ImageBitmap")] {
        let again = upload(&ann, &format!("{md5}.{ext}"), bytes.clone()).await;
        expect_asset(&again, StatusCode::OK, &bytes, ext, asset_type);
    }
    // `jpg` is the same type as `png`: the existing bitmap.
    let jpg = upload(&ann, &format!("{md5}.jpg"), bytes.clone()).await;
    let body = jpg.expect(StatusCode::OK);
    assert_eq!(
        (&body["md5"], &body["asset_type"], &body["created"]),
        (&json!(md5), &json!("ImageBitmap"), &json!(false)),
        "{body}"
    );
    assert_eq!(db.count("assets", "").await, 2);
    let rows = assert_files_are_exactly_the_assets(&db).await;
    assert_ne!(rows[0].blob_file, rows[1].blob_file, "one file per row");

    for (ext, content_type) in [("svg", "image/svg+xml"), ("png", "image/png")] {
        let got = fetch(&api, Method::GET, &format!("{md5}.{ext}"), None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.header("content-type"), Some(content_type));
        assert_eq!(got.bytes, bytes);
    }
}

// ---- downloads --------------------------------------------------------------

async fn downloads_carry_type_etag_and_immutable_caching(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let files = [
        (svg("costume"), "svg", "ImageVector", "image/svg+xml"),
        (png("bitmap"), "png", "ImageBitmap", "image/png"),
        (jpeg("photo"), "jpg", "ImageBitmap", "image/jpeg"),
        (wav("meow"), "wav", "Sound", "audio/wav"),
        (mp3("song"), "mp3", "Sound", "audio/mpeg"),
        (
            noise(3 * 1024 * 1024 + 17, 3),
            "png",
            "ImageBitmap",
            "image/png",
        ),
    ];
    for (bytes, ext, asset_type, content_type) in &files {
        let name = asset_name(bytes, ext);
        let md5 = md5_hex(bytes);
        let etag = format!("\"{md5}\"");
        expect_asset(
            &upload(&ann, &name, bytes.clone()).await,
            StatusCode::CREATED,
            bytes,
            ext,
            asset_type,
        );

        // GET, with no authentication.
        let got = fetch(&api, Method::GET, &name, None).await;
        assert_eq!(got.status, StatusCode::OK, "{name}: {}", got.text());
        assert_eq!(&got.bytes, bytes, "{name}");
        assert_eq!(got.header("content-type"), Some(*content_type), "{name}");
        assert_eq!(got.header("etag"), Some(etag.as_str()), "{name}");
        assert_eq!(got.header("cache-control"), Some(CACHE_CONTROL), "{name}");
        let length = bytes.len().to_string();
        assert_eq!(
            got.header("content-length"),
            Some(length.as_str()),
            "{name}"
        );

        // HEAD: the same headers, no body.
        let head = fetch(&api, Method::HEAD, &name, None).await;
        assert_eq!(head.status, StatusCode::OK, "HEAD {name}");
        assert_eq!(head.header("content-type"), Some(*content_type));
        assert_eq!(head.header("etag"), Some(etag.as_str()));
        assert_eq!(head.header("cache-control"), Some(CACHE_CONTROL));
        assert_eq!(head.header("content-length"), Some(length.as_str()));
        assert!(head.bytes.is_empty(), "HEAD has no body");

        // If-None-Match: the exact tag, a weak one, one in a list, or `*` → 304.
        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"0123\", {etag}"),
            "*".to_owned(),
        ] {
            let cached = fetch(&api, Method::GET, &name, Some(&tag)).await;
            assert_eq!(cached.status, StatusCode::NOT_MODIFIED, "{name} {tag}");
            assert!(cached.bytes.is_empty(), "304 has no body");
            assert_eq!(cached.header("etag"), Some(etag.as_str()));
            assert_eq!(cached.header("cache-control"), Some(CACHE_CONTROL));
        }
        // Another tag: the whole asset again.
        let other = fetch(&api, Method::GET, &name, Some("\"0123\"")).await;
        assert_eq!(other.status, StatusCode::OK);
        assert_eq!(&other.bytes, bytes);
    }

    // Unknown assets: 404, whatever the method or validator.
    let unknown = asset_name(b"never uploaded", "svg");
    for reply in [
        fetch(&api, Method::GET, &unknown, None).await,
        fetch(&api, Method::GET, &unknown, Some("*")).await,
        fetch(
            &api,
            Method::GET,
            &unknown,
            Some(&format!("\"{}\"", md5_hex(b"never uploaded"))),
        )
        .await,
    ] {
        expect_clean_problem(&reply, StatusCode::NOT_FOUND, "not_found", &db);
    }
    let head = fetch(&api, Method::HEAD, &unknown, None).await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    // Known bytes under a type they were never uploaded as.
    let as_sound = asset_name(&files[0].0, "wav");
    expect_clean_problem(
        &fetch(&api, Method::GET, &as_sound, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        &db,
    );
    // Names that are not asset names.
    let md5 = md5_hex(&files[0].0);
    for (name, code) in [
        (format!("{}.svg", md5.to_uppercase()), "invalid_asset_name"),
        (format!("{}.svg", &md5[..31]), "invalid_asset_name"),
        ("..%2f..%2fcubby.db".to_owned(), "invalid_asset_name"),
        (format!("{md5}.exe"), "unsupported_asset_type"),
    ] {
        expect_clean_problem(
            &fetch(&api, Method::GET, &name, None).await,
            StatusCode::BAD_REQUEST,
            code,
            &db,
        );
    }
    assert_eq!(db.count("assets", "").await, files.len() as i64);
    assert_files_are_exactly_the_assets(&db).await;
}

// ---- refusals (G11: nothing stored) -----------------------------------------

async fn bad_asset_names_are_refused_and_store_nothing(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let kept = svg("kept");
    let kept_name = asset_name(&kept, "svg");
    upload(&ann, &kept_name, kept.clone())
        .await
        .expect(StatusCode::CREATED);
    let files = blob_files(&db);
    assert_eq!(files.len(), 1);

    let bytes = svg("refused");
    let md5 = md5_hex(&bytes);
    let bad_names = [
        format!("{}.svg", md5.to_uppercase()),
        format!("{}.svg", one_letter_uppercase(&md5)),
        format!("{}.svg", &md5[..31]),
        format!("{md5}0.svg"),
        format!("{}g.svg", &md5[..31]),
        md5.clone(),
        format!("{md5}."),
        ".svg".to_owned(),
        format!("{md5}.svg.png"),
        format!("{md5}..svg"),
        format!("x/{md5}.svg"),
        format!("{md5}/.svg"),
        format!("{md5}%2f.svg"),
        format!("..%2f{md5}.svg"),
        "..%2f..%2fcubby.db".to_owned(),
        "%2e%2e%2f%2e%2e%2fcubby.db".to_owned(),
        format!("{md5}.sv%2fg"),
    ];
    for name in &bad_names {
        let reply = upload(&ann, name, bytes.clone()).await;
        expect_clean_problem(&reply, StatusCode::BAD_REQUEST, "invalid_asset_name", &db);
    }
    for ext in ["exe", "json", "html", "txt"] {
        let reply = upload(&ann, &format!("{md5}.{ext}"), bytes.clone()).await;
        expect_clean_problem(
            &reply,
            StatusCode::BAD_REQUEST,
            "unsupported_asset_type",
            &db,
        );
    }
    // `..` exactly as sent (reqwest would resolve it before sending).
    let auth = format!("Bearer {}", ann.token);
    for target in [
        "/api/v1/assets/../../cubby.db".to_owned(),
        format!("/api/v1/assets/../assets/{md5}.svg"),
        format!("/api/v1/assets/../../../blobs/{md5}.svg"),
        "/api/v1/assets/..".to_owned(),
        "/api/v1/assets/%2e%2e/%2e%2e/cubby.db".to_owned(),
    ] {
        let reply = raw_http(
            &server.base_url,
            "POST",
            &target,
            &[("Authorization", &auth)],
            RawBody::Fixed(bytes.clone()),
        )
        .await;
        assert_eq!(
            (reply.status, reply.header("content-type")),
            (400, Some("application/problem+json")),
            "POST {target}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.json()["code"], "invalid_asset_name", "POST {target}");
        let got = raw_http(&server.base_url, "GET", &target, &[], RawBody::None).await;
        assert_eq!(
            (got.status, got.json()["code"].as_str()),
            (400, Some("invalid_asset_name")),
            "GET {target}: {:?}",
            String::from_utf8_lossy(&got.body)
        );
    }

    // Nothing stored, nothing touched.
    assert_eq!(db.count("assets", "").await, 1);
    assert_eq!(blob_files(&db), files);
    assert_files_are_exactly_the_assets(&db).await;
    let got = fetch(&api, Method::GET, &kept_name, None).await;
    assert_eq!((got.status, got.bytes), (StatusCode::OK, kept));
    // The right name still works.
    let reply = upload(&ann, &format!("{md5}.svg"), bytes.clone()).await;
    expect_asset(&reply, StatusCode::CREATED, &bytes, "svg", "ImageVector");
}

async fn mismatched_oversized_and_anonymous_uploads_store_nothing(db: TestDb) {
    const LIMIT: usize = 1000;
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_MAX_BODY_BYTES", LIMIT),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;

    // Exactly at the limit, streamed in chunks: stored.
    let kept = noise(LIMIT, 10);
    let kept_name = asset_name(&kept, "png");
    let auth = format!("Bearer {}", ann.token);
    let streamed = raw_http(
        &server.base_url,
        "POST",
        &format!("/api/v1/assets/{kept_name}"),
        &[("Authorization", &auth)],
        RawBody::Chunked(kept.chunks(300).map(<[u8]>::to_vec).collect()),
    )
    .await;
    assert_eq!(
        (streamed.status, streamed.json()),
        (
            201,
            json!({"md5": md5_hex(&kept), "ext": "png", "asset_type": "ImageBitmap",
                   "size": LIMIT, "created": true})
        )
    );
    expect_asset(
        &upload(&ann, &kept_name, kept.clone()).await,
        StatusCode::OK,
        &kept,
        "png",
        "ImageBitmap",
    );
    let files = blob_files(&db);
    assert_eq!(files.len(), 1);

    let fresh = noise(500, 11);
    let fresh_name = asset_name(&fresh, "png");
    // The bytes are not the ones the name promises: a new name, a known name.
    for name in [&fresh_name, &kept_name] {
        let reply = upload(&ann, name, noise(500, 12)).await;
        expect_clean_problem(&reply, StatusCode::BAD_REQUEST, "md5_mismatch", &db);
    }
    let truncated = upload(&ann, &kept_name, kept[..LIMIT - 1].to_vec()).await;
    expect_clean_problem(&truncated, StatusCode::BAD_REQUEST, "md5_mismatch", &db);

    // Over the limit: declared, and streamed without a length.
    let big = noise(LIMIT + 1, 13);
    let big_name = asset_name(&big, "png");
    for name in [&big_name, &kept_name] {
        let reply = upload(&ann, name, big.clone()).await;
        let problem = expect_clean_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large", &db);
        assert_eq!(problem["limit"], LIMIT, "{problem}");
    }
    let chunked = raw_http(
        &server.base_url,
        "POST",
        &format!("/api/v1/assets/{big_name}"),
        &[("Authorization", &auth)],
        RawBody::Chunked(big.chunks(300).map(<[u8]>::to_vec).collect()),
    )
    .await;
    assert_eq!(
        (
            chunked.status,
            chunked.header("content-type"),
            chunked.json()["code"].as_str()
        ),
        (413, Some("application/problem+json"), Some("too_large")),
        "{:?}",
        String::from_utf8_lossy(&chunked.body)
    );

    // No session, or an unknown one.
    let anonymous = send(
        api.http
            .post(api.url(&format!("/api/v1/assets/{fresh_name}")))
            .body(fresh.clone()),
    )
    .await;
    expect_clean_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthenticated", &db);
    let forged = send(
        api.http
            .post(api.url(&format!("/api/v1/assets/{fresh_name}")))
            .bearer_auth("0".repeat(64))
            .body(fresh.clone()),
    )
    .await;
    expect_clean_problem(&forged, StatusCode::UNAUTHORIZED, "unauthenticated", &db);

    // Nothing stored; the kept asset is intact.
    assert_eq!(db.count("assets", "").await, 1);
    assert_eq!(blob_files(&db), files);
    assert_files_are_exactly_the_assets(&db).await;
    for name in [&fresh_name, &big_name] {
        let got = fetch(&api, Method::GET, name, None).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{name}");
    }
    let got = fetch(&api, Method::GET, &kept_name, None).await;
    assert_eq!((got.status, got.bytes), (StatusCode::OK, kept));
    // The refusals left nothing in the way.
    expect_asset(
        &upload(&ann, &fresh_name, fresh.clone()).await,
        StatusCode::CREATED,
        &fresh,
        "png",
        "ImageBitmap",
    );
    assert_files_are_exactly_the_assets(&db).await;
}

async fn a_failed_blob_write_fails_the_request_and_stores_nothing(db: TestDb) {
    let good = TestServer::spawn(&db, &ServerOptions::default());
    let failing = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_TEST_FAIL_BLOB_WRITES", "true"),
    );
    let good_api = Client::new(&good.base_url);
    let failing_api = Client::new(&failing.base_url);
    let ann = User::login(&good_api, "ann", "student", &[]).await;
    let ann_failing = ann.on(&failing_api);

    let piece = Piece::costume("kept");
    let body_name = piece.body_name();
    let thumbnail_name = asset_name(&piece.thumbnail, "jpg");
    upload(&ann, &body_name, piece.body.clone())
        .await
        .expect(StatusCode::CREATED);
    upload(&ann, &thumbnail_name, piece.thumbnail.clone())
        .await
        .expect(StatusCode::CREATED);
    let files = blob_files(&db);
    assert_eq!(files.len(), 2);

    // New bytes need a file: the write fails, and so does the request.
    let fresh = svg("lost");
    let fresh_name = asset_name(&fresh, "svg");
    let reply = upload(&ann_failing, &fresh_name, fresh.clone()).await;
    expect_clean_problem(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        &db,
    );
    let lost = Piece::costume("lost item");
    let reply = post_item(&ann_failing, &lost.request(), Some("k1")).await;
    expect_clean_problem(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        &db,
    );
    assert_eq!(db.count("assets", "").await, 2);
    assert_eq!(db.count("backpack_items", "").await, 0);
    assert_eq!(db.count("idempotency_keys", "").await, 0);
    assert_eq!(blob_files(&db), files);
    assert_files_are_exactly_the_assets(&db).await;
    let got = fetch(&failing_api, Method::GET, &fresh_name, None).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);

    // Known bytes need no file: the failing store is never asked to write.
    expect_asset(
        &upload(&ann_failing, &body_name, piece.body.clone()).await,
        StatusCode::OK,
        &piece.body,
        "svg",
        "ImageVector",
    );
    let item = post_item(&ann_failing, &piece.request(), None)
        .await
        .expect(StatusCode::CREATED);
    piece.check(&item);
    let got = fetch(&failing_api, Method::GET, &body_name, None).await;
    assert_eq!(
        (got.status, got.bytes),
        (StatusCode::OK, piece.body.clone())
    );

    // The failures left nothing in the way: the same upload, item and key work.
    expect_asset(
        &upload(&ann, &fresh_name, fresh.clone()).await,
        StatusCode::CREATED,
        &fresh,
        "svg",
        "ImageVector",
    );
    let item = post_item(&ann, &lost.request(), Some("k1"))
        .await
        .expect(StatusCode::CREATED);
    lost.check(&item);
    assert_eq!(db.count("backpack_items", "").await, 2);
    assert_eq!(assert_files_are_exactly_the_assets(&db).await.len(), 5);
}

// ---- G9 ---------------------------------------------------------------------

async fn concurrent_backpack_posts_lose_nothing(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let bob = User::login(&clients[processes - 1], "bob", "student", &[]).await;
    // Every item its own body; all share one thumbnail (which races too).
    let thumbnail = png("shared thumbnail");
    let pieces: Vec<Piece> = (0..CLIENTS)
        .map(|i| Piece {
            thumbnail: thumbnail.clone(),
            ..Piece::costume(&format!("thing-{i:02}"))
        })
        .collect();

    let replies = race(CLIENTS, |i| {
        let ann = ann.on(&clients[i % processes]);
        let request = pieces[i].request();
        async move { post_item(&ann, &request, None).await }
    })
    .await;
    assert_eq!(
        tally(&replies),
        BTreeMap::from([(201, CLIENTS)]),
        "every post succeeds; unexpected: {:?}",
        unexpected(&replies, &[201])
    );
    let mut posted: BTreeMap<i64, Value> = BTreeMap::new();
    for (piece, reply) in pieces.iter().zip(&replies) {
        let item = reply.json();
        let id = piece.check(&item);
        assert!(posted.insert(id, item).is_none(), "id {id} given twice");
    }

    // All of them listed, newest first, exactly as posted.
    for api in &clients {
        let page = list(&ann.on(api), "?limit=100").await;
        assert_eq!(page["next_cursor"], Value::Null);
        let listed = ids(&page["items"]);
        let mut expected: Vec<i64> = posted.keys().copied().collect();
        expected.reverse();
        assert_eq!(listed, expected, "all {CLIENTS} items, newest first");
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item, &posted[&item["id"].as_i64().unwrap()]);
        }
    }
    assert_eq!(db.count("backpack_items", "").await, CLIENTS as i64);
    assert_eq!(
        db.count("backpack_items", &format!("owner_id = {}", ann.id))
            .await,
        CLIENTS as i64
    );
    // 32 bodies and one thumbnail, each one asset and one file.
    assert_eq!(
        assert_files_are_exactly_the_assets(&db).await.len(),
        CLIENTS + 1
    );
    for piece in pieces.iter().step_by(7) {
        let got = fetch(&clients[0], Method::GET, &piece.body_name(), None).await;
        assert_eq!((got.status, &got.bytes), (StatusCode::OK, &piece.body));
    }

    // Nobody else sees or deletes them.
    let victim = *posted.keys().next().unwrap();
    for api in &clients {
        let bob = bob.on(api);
        let page = list(&bob, "?limit=100").await;
        assert_eq!(page, json!({"items": [], "next_cursor": null}));
        let reply = delete_item(&bob, &victim.to_string()).await;
        expect_clean_problem(&reply, StatusCode::NOT_FOUND, "not_found", &db);
    }
    assert_eq!(db.count("backpack_items", "").await, CLIENTS as i64);
    assert_eq!(ids(&list(&ann, "?limit=100").await["items"]).len(), CLIENTS);
    let reply = delete_item(&ann, &victim.to_string()).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(db.count("backpack_items", "").await, CLIENTS as i64 - 1);
}

// ---- backpack ---------------------------------------------------------------

async fn backpack_items_store_body_and_thumbnail_as_assets(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let pieces = [
        Piece::new("costume", "image/svg+xml", "svg", "vector cat"),
        Piece::new("costume", "image/png", "png", "bitmap cat"),
        Piece::new("sound", "audio/x-wav", "wav", "meow"),
        Piece::new("sound", "audio/mp3", "mp3", "purr"),
        Piece::new("sprite", "application/zip", "sprite3", "whole cat"),
        Piece::new("script", "application/json", "json", "when flag clicked"),
    ];
    let mut expected_assets = BTreeSet::new();
    for (i, piece) in pieces.iter().enumerate() {
        let mut piece = piece.clone();
        if i % 2 == 1 {
            piece.thumbnail = png(&format!("png thumbnail {i}"));
        }
        let item = add(&ann, &piece).await;
        expected_assets.insert(piece.body_name());
        expected_assets.insert(piece.thumbnail_name());
        assert!(
            item["thumbnail"]
                .as_str()
                .unwrap()
                .ends_with(if i % 2 == 1 { ".png" } else { ".jpg" }),
            "{item}"
        );

        // The body and the thumbnail are assets, with the decoded bytes.
        let body = fetch(&api, Method::GET, &piece.body_name(), None).await;
        assert_eq!(body.status, StatusCode::OK, "{}", piece.body_name());
        assert_eq!(body.bytes, piece.body, "{}", piece.name);
        let content_type = match piece.ext {
            "svg" => Some("image/svg+xml"),
            "png" => Some("image/png"),
            "wav" => Some("audio/wav"),
            "mp3" => Some("audio/mpeg"),
            _ => None,
        };
        if let Some(content_type) = content_type {
            assert_eq!(body.header("content-type"), Some(content_type));
        }
        let thumbnail = fetch(&api, Method::GET, &piece.thumbnail_name(), None).await;
        assert_eq!(thumbnail.status, StatusCode::OK);
        assert_eq!(thumbnail.bytes, piece.thumbnail);
        let thumbnail_type = if i % 2 == 1 {
            "image/png"
        } else {
            "image/jpeg"
        };
        assert_eq!(thumbnail.header("content-type"), Some(thumbnail_type));
    }
    let rows = assert_files_are_exactly_the_assets(&db).await;
    let stored: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{}.{}", r.md5, r.ext))
        .collect();
    assert_eq!(stored, expected_assets);

    // The same costume twice: two items, one body asset.
    let again = Piece {
        name: "vector cat again".into(),
        ..pieces[0].clone()
    };
    let first = add(&ann, &again).await;
    let second = add(&ann, &again).await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(first["body"], pieces[0].body_name().as_str());
    assert_eq!(db.count("backpack_items", "").await, 8);
    assert_eq!(
        assert_files_are_exactly_the_assets(&db).await.len(),
        rows.len()
    );

    // A script is stored, but it is not an uploadable asset type.
    let script = &pieces[5];
    let reply = upload(&ann, &script.body_name(), script.body.clone()).await;
    expect_clean_problem(
        &reply,
        StatusCode::BAD_REQUEST,
        "unsupported_asset_type",
        &db,
    );
}

async fn backpack_lists_newest_first_in_pages_and_deletes_only_own_items(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;
    let carol = User::login(&api, "carol", "teacher", &[]).await;
    let mut anns = Vec::new();
    for i in 0..7 {
        anns.push(add(&ann, &Piece::costume(&format!("ann {i}"))).await);
    }
    let bobs = [
        add(&bob, &Piece::costume("bob 0")).await,
        add(&bob, &Piece::costume("bob 1")).await,
    ];
    let newest_first: Vec<Value> = anns.iter().rev().cloned().collect();

    // The default page holds them all, newest first, exactly as posted.
    let page = list(&ann, "").await;
    assert_eq!(page, json!({"items": newest_first, "next_cursor": null}));
    assert_eq!(list(&ann, "?limit=7").await, page);
    assert_eq!(list(&ann, "?limit=100&offset=0").await, page);

    // Pages of three.
    assert_eq!(
        list(&ann, "?limit=3").await,
        json!({"items": newest_first[0..3], "next_cursor": "3"})
    );
    assert_eq!(
        list(&ann, "?limit=3&offset=3").await,
        json!({"items": newest_first[3..6], "next_cursor": "6"})
    );
    assert_eq!(
        list(&ann, "?limit=3&offset=6").await,
        json!({"items": newest_first[6..7], "next_cursor": null})
    );
    assert_eq!(
        list(&ann, "?limit=6").await,
        json!({"items": newest_first[0..6], "next_cursor": "6"})
    );
    assert_eq!(
        list(&ann, "?limit=2&offset=5").await,
        json!({"items": newest_first[5..7], "next_cursor": null})
    );
    for offset in [7, 50] {
        assert_eq!(
            list(&ann, &format!("?offset={offset}")).await,
            json!({"items": [], "next_cursor": null})
        );
    }
    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?offset=-1",
        "?offset=x",
    ] {
        let reply = ann.get(&format!("/api/v1/backpack{query}")).await;
        expect_clean_problem(&reply, StatusCode::BAD_REQUEST, "invalid_query", &db);
    }

    // Everyone sees only their own.
    let bobs_newest_first: Vec<Value> = bobs.iter().rev().cloned().collect();
    assert_eq!(
        list(&bob, "").await,
        json!({"items": bobs_newest_first, "next_cursor": null})
    );
    assert_eq!(
        list(&carol, "").await,
        json!({"items": [], "next_cursor": null})
    );
    let anonymous = send(api.http.get(api.url("/api/v1/backpack"))).await;
    expect_clean_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthenticated", &db);

    // Delete: one's own item, once.
    let middle = anns[3]["id"].to_string();
    let deleted = delete_item(&ann, &middle).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.bytes.is_empty());
    let remaining: Vec<Value> = newest_first
        .iter()
        .filter(|i| i["id"] != anns[3]["id"])
        .cloned()
        .collect();
    assert_eq!(
        list(&ann, "").await,
        json!({"items": remaining, "next_cursor": null})
    );
    assert_eq!(
        list(&ann, "?limit=3&offset=3").await,
        json!({"items": remaining[3..6], "next_cursor": null})
    );
    let again = delete_item(&ann, &middle).await;
    expect_clean_problem(&again, StatusCode::NOT_FOUND, "not_found", &db);

    // Another user's item, or one that never was: 404, and nothing happens.
    let anns_item = anns[4]["id"].to_string();
    for user in [&bob, &carol] {
        let reply = delete_item(user, &anns_item).await;
        expect_clean_problem(&reply, StatusCode::NOT_FOUND, "not_found", &db);
    }
    for id in ["99999999", "0", "-1", "abc"] {
        let reply = delete_item(&ann, id).await;
        expect_clean_problem(&reply, StatusCode::NOT_FOUND, "not_found", &db);
    }
    let anonymous = send(
        api.http
            .delete(api.url(&format!("/api/v1/backpack/{anns_item}"))),
    )
    .await;
    expect_clean_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthenticated", &db);
    assert_eq!(list(&ann, "").await["items"].as_array().unwrap().len(), 6);
    assert_eq!(db.count("backpack_items", "").await, 8);

    // Bob deletes his own.
    let reply = delete_item(&bob, &bobs[0]["id"].to_string()).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        list(&bob, "").await,
        json!({"items": [bobs[1]], "next_cursor": null})
    );
    assert_eq!(db.count("backpack_items", "").await, 7);
    // Deleting items leaves their assets readable (they may be shared).
    let got = fetch(&api, Method::GET, anns[3]["body"].as_str().unwrap(), None).await;
    assert_eq!(got.status, StatusCode::OK);
}

/// The Conventions: a list answers `next_cursor`, and `?cursor=` with it is
/// the next page. The backpack's pages follow their `next_cursor` too.
async fn backpack_pages_follow_next_cursor(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(add(&ann, &Piece::costume(&format!("item {i}"))).await);
    }
    posted.reverse();

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    for _ in 0..10 {
        let page = list(&ann, &query).await;
        seen.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        ids(&Value::Array(seen.clone())),
        ids(&Value::Array(posted.clone())),
        "GET /api/v1/backpack?limit=2, then ?limit=2&cursor=<next_cursor>: every item once"
    );
    assert_eq!(seen, posted);
}

async fn bad_backpack_posts_are_refused_and_store_nothing(db: TestDb) {
    const LIMIT: usize = 1000;
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_MAX_BODY_BYTES", LIMIT),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    // At the limit: accepted.
    let kept = Piece {
        body: with_magic(b"<svg>", &"x".repeat(LIMIT - 5)),
        ..Piece::costume("kept")
    };
    assert_eq!(kept.body.len(), LIMIT);
    add(&ann, &kept).await;
    let files = blob_files(&db);
    assert_eq!(files.len(), 2);

    let good = Piece::costume("refused").request();
    let with = |key: &str, value: Value| {
        let mut request = good.clone();
        request[key] = value;
        request
    };
    let mut over = Piece::costume("too big");
    over.body = noise(LIMIT + 1, 20);
    let mut over_thumbnail = Piece::costume("too big a thumbnail");
    over_thumbnail.thumbnail = with_magic(b"\xff\xd8\xff", &"t".repeat(LIMIT - 2));
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            with("body", json!("not base64!")),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            with("body", json!("YW=J")),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            with("thumbnail", json!("%%%%")),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            with("type", json!("monster")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            with("type", json!("")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            with("mime", json!("audio/mp3")),
            StatusCode::BAD_REQUEST,
            "unsupported_asset_type",
        ),
        (
            with("mime", json!("text/html")),
            StatusCode::BAD_REQUEST,
            "unsupported_asset_type",
        ),
        (
            json!({"type": "sound", "mime": "image/png", "name": "x",
                   "body": b64(&png("x")), "thumbnail": b64(&png("t"))}),
            StatusCode::BAD_REQUEST,
            "unsupported_asset_type",
        ),
        (
            with("thumbnail", json!(b64(b"GIF89a not a jpeg or png"))),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            with("name", json!("n".repeat(256))),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            with("name", json!("bad\u{0}name")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            with("body", json!(42)),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            json!({"type": "costume", "mime": "image/svg+xml", "name": "no body",
                   "thumbnail": b64(&png("t"))}),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
    ];
    for (request, status, code) in &cases {
        let reply = post_item(&ann, request, None).await;
        expect_clean_problem(&reply, *status, code, &db);
    }
    // Over the limit: the decoded body, the decoded thumbnail, the JSON itself.
    for piece in [&over, &over_thumbnail] {
        let reply = post_item(&ann, &piece.request(), None).await;
        let problem = expect_clean_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large", &db);
        assert_eq!(problem["limit"], LIMIT, "{problem}");
    }
    let huge = with("body", json!(b64(&noise(100 * 1024, 21))));
    let reply = post_item(&ann, &huge, None).await;
    expect_clean_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large", &db);
    let broken = send(
        ann.req(Method::POST, "/api/v1/backpack")
            .header("content-type", "application/json")
            .body("{\"type\": \"costume\""),
    )
    .await;
    expect_clean_problem(&broken, StatusCode::BAD_REQUEST, "invalid_json", &db);
    let anonymous = send(api.http.post(api.url("/api/v1/backpack")).json(&good)).await;
    expect_clean_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthenticated", &db);

    // Nothing stored.
    assert_eq!(db.count("backpack_items", "").await, 1);
    assert_eq!(db.count("assets", "").await, 2);
    assert_eq!(blob_files(&db), files);
    assert_eq!(tmp_files(&db).len(), 0);
    assert_files_are_exactly_the_assets(&db).await;
    assert_eq!(list(&ann, "").await["items"].as_array().unwrap().len(), 1);
    // The refused item is fine once its fields are.
    add(&ann, &Piece::costume("refused")).await;
    assert_eq!(db.count("backpack_items", "").await, 2);
}

// ---- G14 --------------------------------------------------------------------

async fn one_idempotency_key_makes_one_backpack_item(db: TestDb, processes: usize) {
    const N: usize = 16;
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let bob = User::login(&clients[processes - 1], "bob", "student", &[]).await;
    let piece = Piece::costume("only once");
    let request = piece.request();

    let replies = race(N, |i| {
        let ann = ann.on(&clients[i % processes]);
        let request = request.clone();
        async move { post_item(&ann, &request, Some("bp-key-1")).await }
    })
    .await;
    assert_eq!(
        tally(&replies),
        BTreeMap::from([(201, N)]),
        "unexpected: {:?}",
        unexpected(&replies, &[201])
    );
    let first = replies[0].json();
    let id = piece.check(&first);
    for reply in &replies {
        assert_eq!(reply.json(), first, "every answer is the first one's");
    }
    assert_eq!(db.count("backpack_items", "").await, 1);
    assert_eq!(db.count("idempotency_keys", "").await, 1);
    assert_eq!(
        list(&ann, "").await,
        json!({"items": [first], "next_cursor": null})
    );
    assert_eq!(assert_files_are_exactly_the_assets(&db).await.len(), 2);

    // A later retry with the key: the same answer, still one item.
    for api in &clients {
        let retry = post_item(&ann.on(api), &request, Some("bp-key-1")).await;
        assert_eq!(retry.expect(StatusCode::CREATED), first);
    }
    assert_eq!(db.count("backpack_items", "").await, 1);

    // Another key is another item; the same key of another user is theirs.
    let other = post_item(&ann, &request, Some("bp-key-2"))
        .await
        .expect(StatusCode::CREATED);
    assert_ne!(piece.check(&other), id);
    let bobs = post_item(&bob, &request, Some("bp-key-1"))
        .await
        .expect(StatusCode::CREATED);
    assert_ne!(piece.check(&bobs), id);
    assert_eq!(
        list(&bob, "").await,
        json!({"items": [bobs], "next_cursor": null})
    );
    assert_eq!(db.count("backpack_items", "").await, 3);
    assert_eq!(
        ids(&list(&ann, "").await["items"]),
        vec![other["id"].as_i64().unwrap(), id]
    );

    // A key is for one kind of request, and must be visible ASCII.
    let project = send(
        ann.req(Method::POST, "/api/v1/projects")
            .header("idempotency-key", "bp-key-1")
            .json(&json!({"title": "Not an item", "body": {"targets": []}})),
    )
    .await;
    expect_clean_problem(
        &project,
        StatusCode::BAD_REQUEST,
        "idempotency_key_reused",
        &db,
    );
    assert_eq!(db.count("projects", "").await, 0);
    let long = post_item(&ann, &request, Some(&"k".repeat(256))).await;
    expect_clean_problem(
        &long,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
        &db,
    );
    assert_eq!(db.count("backpack_items", "").await, 3);
}

/// Uploads of the same new asset in one process: the ones that arrive while
/// another is writing it wait for that one (up to two seconds) and then get
/// its row, `created: false`, without writing a file; when it takes longer,
/// or fails, they store the asset themselves, and the unique constraint
/// still makes exactly one 201 (G3).
async fn uploads_of_an_asset_being_written_here_wait_for_it_within_limits(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let slow = User::login(&api, "slow", "student", &[]).await;
    let fast = User::login(&api, "fast", "student", &[]).await;
    const FAST: usize = 6;
    // (pause of the first sender, its bytes are the name's, who creates)
    let cases = [
        (Duration::from_millis(700), true, "the slow first"),
        (
            Duration::from_millis(3500),
            true,
            "a fast one: the first took too long",
        ),
        (
            Duration::from_millis(700),
            false,
            "a fast one: the first sent other bytes",
        ),
    ];
    for (round, (pause, honest, creator)) in cases.into_iter().enumerate() {
        let bytes = noise(40 * 1024, 100 + round as u64);
        let name = asset_name(&bytes, "wav");
        let mut sent = bytes.clone();
        if !honest {
            sent[0] ^= 0xff;
        }
        let rest = sent.split_off(sent.len() / 2);
        let auth = format!("Bearer {}", slow.token);
        let (base, target) = (server.base_url.clone(), format!("/api/v1/assets/{name}"));
        let first = tokio::spawn(async move {
            let headers = [("Authorization", auth.as_str())];
            let body = RawBody::Paused {
                first: sent,
                pause,
                rest,
            };
            raw_http(&base, "POST", &target, &headers, body).await
        });
        // Let the slow upload claim the name before the others start.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let others = race(FAST, |_| {
            let (user, name, bytes) = (fast.clone(), name.clone(), bytes.clone());
            async move { upload(&user, &name, bytes).await }
        })
        .await;
        let first = first.await.expect("the slow upload");
        let statuses: Vec<u16> = others.iter().map(|r| r.status.as_u16()).collect();
        match (honest, creator) {
            (true, "the slow first") => {
                assert_eq!(first.status, 201, "round {round}: {:?}", first.json());
                assert_eq!(statuses, vec![200; FAST], "round {round}");
            }
            (true, _) => {
                assert_eq!(first.status, 200, "round {round}: {:?}", first.json());
                assert_eq!(first.json()["created"], json!(false), "round {round}");
                assert_eq!(tally(&others), BTreeMap::from([(201, 1), (200, FAST - 1)]));
            }
            (false, _) => {
                assert_eq!(first.status, 400, "round {round}");
                assert_eq!(first.json()["code"], json!("md5_mismatch"));
                assert_eq!(tally(&others), BTreeMap::from([(201, 1), (200, FAST - 1)]));
            }
        }
        for reply in &others {
            expect_asset(reply, reply.status, &bytes, "wav", "Sound");
        }
        assert_eq!(
            db.count("assets", "").await,
            round as i64 + 1,
            "round {round}"
        );
        assert_files_are_exactly_the_assets(&db).await;
    }
}
