//! `.sb3` export (`GET /api/v1/projects/{id}/sb3`) and import
//! (`POST /api/v1/projects/import`): an import stores its assets through the
//! upload deduplication (G3) and creates the project like a create; export
//! then import gives back the same project.json bytes and assets; a refused
//! import (400 `invalid_sb3`, 413 `too_large`, also for zip bombs and lying
//! sizes) stores nothing: no project, no asset row, no file (G11).

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::assets::{asset_name, noise, png, svg, upload, wav};
use tests::projects::{blob_files, md5_hex, send, Reply, User};
use tests::projects::{tally, unexpected};
use tests::{race, start_processes, Client, ServerOptions, TestDb, TestServer};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::on_backends;

on_backends!(
    an_import_stores_its_assets_once_and_export_round_trips,
    invalid_archives_are_invalid_sb3_and_store_nothing,
    zip_bombs_lying_sizes_and_big_uploads_are_too_large,
    the_home_page_imports_and_links_thumbnails_and_downloads,
    imports_count_toward_storage_replay_their_key_and_roll_back_whole,
);
on_backends!(
    processes [1, 2]:
    concurrent_imports_of_one_archive_store_each_asset_once,
);

const MIB: usize = 1024 * 1024;

/// A zip of `(name, bytes, deflated?)` entries, built in memory.
fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, deflate) in entries {
        let method = if *deflate {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        zip.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The entries of a zip: name → bytes.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(entry.name().unwrap().into_owned(), data);
    }
    out
}

/// A project.json naming these costumes and sounds (by md5ext).
fn project_json(costumes: &[&str], sounds: &[&str]) -> Vec<u8> {
    let list = |names: &[&str]| -> Vec<serde_json::Value> {
        names
            .iter()
            .map(|n| {
                let (id, ext) = n.split_once('.').unwrap();
                json!({"name": "x", "assetId": id, "md5ext": n, "dataFormat": ext})
            })
            .collect()
    };
    // Odd spacing on purpose: the body must come back byte for byte.
    format!(
        "{{\"targets\":  [{{\"isStage\": true, \"name\": \"Stage\", \"costumes\": {}, \"sounds\": {}}}],\n \"meta\": {{\"semver\": \"3.0.0\"}}}}",
        serde_json::to_string(&list(costumes)).unwrap(),
        serde_json::to_string(&list(sounds)).unwrap()
    )
    .into_bytes()
}

async fn import(user: &User, query: &str, bytes: Vec<u8>) -> Reply {
    send(
        user.req(Method::POST, &format!("/api/v1/projects/import{query}"))
            .header("content-type", "application/x.scratch.sb3")
            .body(bytes),
    )
    .await
}

/// What a refused import must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    projects: i64,
    assets: i64,
    files: usize,
}

async fn stored(db: &TestDb) -> Stored {
    Stored {
        projects: db.count("projects", "1 = 1").await,
        assets: db.count("assets", "1 = 1").await,
        files: blob_files(db).len(),
    }
}

async fn an_import_stores_its_assets_once_and_export_round_trips(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[("7b", "7B")]).await;
    let tess = User::login(&api, "tess", "teacher", &[("7b", "7B")]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;

    let cat = svg("cat");
    let bg = png("backdrop");
    let meow = wav("meow");
    let (cat_n, bg_n, meow_n) = (
        asset_name(&cat, "svg"),
        asset_name(&bg, "png"),
        asset_name(&meow, "wav"),
    );
    // bob stored the cat already: the import finds it (dedup, no new file).
    assert_eq!(
        upload(&bob, &cat_n, cat.clone()).await.status,
        StatusCode::CREATED
    );
    let body = project_json(&[&cat_n, &bg_n, &cat_n], &[&meow_n]);
    let sb3 = zip_of(&[
        ("project.json", &body, true),
        (&cat_n, &cat, false),
        (&bg_n, &bg, true),
        (&meow_n, &meow, false),
        // Not named by project.json: ignored, not stored.
        ("extra.txt", b"hello", false),
    ]);
    let before = stored(&db).await;
    let reply = import(&ann, "?title=Space%20Cat", sb3).await;
    let project = reply.expect(StatusCode::CREATED);
    let id = project["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/projects/{id}").as_str())
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(project["title"], "Space Cat");
    assert_eq!(project["slug"], "space-cat");
    assert_eq!(project["version"], 1);
    assert_eq!(project["owner_id"], ann.id);
    assert_eq!(project["body_md5"], md5_hex(&body));
    assert_eq!(ann.body(id).await.bytes, body, "project.json byte for byte");
    assert_eq!(
        stored(&db).await,
        Stored {
            projects: before.projects + 1,
            assets: before.assets + 2,
            files: before.files + 3, // the body, the backdrop, the sound
        }
    );
    for (name, bytes) in [(&cat_n, &cat), (&bg_n, &bg), (&meow_n, &meow)] {
        let got = ann.get(&format!("/api/v1/assets/{name}")).await;
        assert_eq!(&got.bytes, bytes, "{name}");
    }

    // Export: the same body and exactly the named assets, once each.
    let export = ann.get(&format!("/api/v1/projects/{id}/sb3")).await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(
        export.header("content-type"),
        Some("application/x.scratch.sb3")
    );
    assert_eq!(
        export.header("content-disposition"),
        Some("attachment; filename=\"space-cat.sb3\"")
    );
    let entries = unzip(&export.bytes);
    let mut expected = BTreeMap::new();
    expected.insert("project.json".to_owned(), body.clone());
    expected.insert(cat_n.clone(), cat.clone());
    expected.insert(bg_n.clone(), bg.clone());
    expected.insert(meow_n.clone(), meow.clone());
    assert_eq!(entries, expected);

    // A teacher of the class may export it; a stranger may not see it.
    assert_eq!(
        tess.get(&format!("/api/v1/projects/{id}/sb3")).await.status,
        StatusCode::OK
    );
    bob.get(&format!("/api/v1/projects/{id}/sb3"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Round trip: importing the export gives the same bytes, no new asset.
    let before = stored(&db).await;
    let again = import(&bob, "", export.bytes.clone())
        .await
        .expect(StatusCode::CREATED);
    let again_id = again["id"].as_i64().unwrap();
    assert_eq!(again["title"], "Untitled");
    assert_eq!(bob.body(again_id).await.bytes, body);
    assert_eq!(
        stored(&db).await,
        Stored {
            projects: before.projects + 1,
            assets: before.assets,
            files: before.files + 1, // only the body
        }
    );
    let re_export = bob.get(&format!("/api/v1/projects/{again_id}/sb3")).await;
    let md5s = |e: &BTreeMap<String, Vec<u8>>| -> Vec<(String, String)> {
        e.iter().map(|(k, v)| (k.clone(), md5_hex(v))).collect()
    };
    assert_eq!(md5s(&unzip(&re_export.bytes)), md5s(&entries));

    // A named asset that is not stored is left out; the export still opens.
    let ghost = asset_name(b"never uploaded", "svg");
    let body2 = project_json(&[&ghost, &cat_n], &[]);
    let p2 = ann
        .create_ok("Ghost", &serde_json::from_slice(&body2).unwrap())
        .await;
    let export2 = ann
        .get(&format!(
            "/api/v1/projects/{}/sb3",
            p2["id"].as_i64().unwrap()
        ))
        .await;
    assert_eq!(export2.status, StatusCode::OK);
    let names: Vec<String> = unzip(&export2.bytes).into_keys().collect();
    assert_eq!(names, {
        let mut v = vec!["project.json".to_owned(), cat_n.clone()];
        v.sort();
        v
    });
}

async fn invalid_archives_are_invalid_sb3_and_store_nothing(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let cat = svg("cat");
    let cat_n = asset_name(&cat, "svg");
    let good = project_json(&[&cat_n], &[]);
    let gif = b"GIF89a-not-supported".to_vec();
    let gif_bad_ext = format!("{}.exe", md5_hex(&gif));
    let wrong_name = asset_name(b"other bytes", "svg");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a zip", noise(5000, 3)),
        ("empty", Vec::new()),
        ("no project.json", zip_of(&[(&cat_n, &cat, false)])),
        (
            "project.json is an array",
            zip_of(&[("project.json", b"[1, 2]", true)]),
        ),
        (
            "project.json is not JSON",
            zip_of(&[("project.json", b"{\"targets\": [", true)]),
        ),
        (
            "a path with ..",
            zip_of(&[
                ("project.json", &good, true),
                (&cat_n, &cat, false),
                ("../evil.txt", b"x", false),
            ]),
        ),
        (
            "an absolute path",
            zip_of(&[
                ("project.json", &good, true),
                (&cat_n, &cat, false),
                ("/etc/evil", b"x", false),
            ]),
        ),
        (
            "a named asset missing",
            zip_of(&[("project.json", &good, true)]),
        ),
        (
            "an asset whose md5 is not its name",
            zip_of(&[
                ("project.json", &project_json(&[&wrong_name], &[]), true),
                (&wrong_name, &cat, false),
            ]),
        ),
        (
            "an unsupported extension",
            zip_of(&[
                ("project.json", &project_json(&[&gif_bad_ext], &[]), true),
                (&gif_bad_ext, &gif, false),
            ]),
        ),
    ];
    // A first import of the real assets, so `assets` is not trivially empty.
    assert_eq!(
        import(
            &ann,
            "",
            zip_of(&[("project.json", &good, true), (&cat_n, &cat, false)])
        )
        .await
        .status,
        StatusCode::CREATED
    );
    for (what, bytes) in cases {
        let before = stored(&db).await;
        let reply = import(&ann, "", bytes).await;
        let problem = reply.expect_problem(StatusCode::BAD_REQUEST, "invalid_sb3");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {problem}"
        );
        assert_eq!(stored(&db).await, before, "{what}: nothing stored");
    }
    // A new asset in an archive refused for another reason is not stored.
    let fresh = png("fresh");
    let fresh_n = asset_name(&fresh, "png");
    let before = stored(&db).await;
    import(
        &ann,
        "",
        zip_of(&[
            (
                "project.json",
                &project_json(&[&fresh_n, &wrong_name], &[]),
                true,
            ),
            (&fresh_n, &fresh, false),
        ]),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_sb3");
    assert_eq!(stored(&db).await, before);
    ann.get(&format!("/api/v1/assets/{fresh_n}"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

/// Rewrites the declared uncompressed size of every entry (local headers and
/// central directory) to `size`.
fn lie_about_sizes(mut zip: Vec<u8>, size: u32) -> Vec<u8> {
    let mut i = 0;
    while i + 4 <= zip.len() {
        let offset = match &zip[i..i + 4] {
            b"PK\x03\x04" => Some(22),
            b"PK\x01\x02" => Some(24),
            _ => None,
        };
        if let Some(o) = offset {
            zip[i + o..i + o + 4].copy_from_slice(&size.to_le_bytes());
        }
        i += 1;
    }
    zip
}

async fn zip_bombs_lying_sizes_and_big_uploads_are_too_large(db: TestDb) {
    let limit = MIB;
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_MAX_IMPORT_BYTES", limit)
            .with("CUBBY_MAX_BODY_BYTES", 256 * 1024),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;

    // 2 MiB of zeros deflate to a few KiB: a small upload, a large unpacking.
    let zeros = vec![0u8; 2 * MIB];
    let zeros_n = asset_name(&zeros, "wav");
    let bomb = zip_of(&[
        ("project.json", &project_json(&[], &[&zeros_n]), true),
        (&zeros_n, &zeros, true),
    ]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let liar = lie_about_sizes(bomb.clone(), 100);
    // project.json itself over the body limit (declared small).
    let mut big_json = b"{\"targets\": [], \"pad\": \"".to_vec();
    big_json.extend(std::iter::repeat_n(b'a', 300 * 1024));
    big_json.extend_from_slice(b"\"}");
    let json_liar = lie_about_sizes(zip_of(&[("project.json", &big_json, true)]), 10);
    // Over the limit as uploaded.
    let big_upload = noise(limit + 1, 9);

    for (what, bytes) in [
        ("declared over the limit", bomb),
        ("lying central directory", liar),
        ("project.json over the body limit", json_liar),
        ("upload over the limit", big_upload),
    ] {
        let before = stored(&db).await;
        import(&ann, "", bytes)
            .await
            .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
        assert_eq!(stored(&db).await, before, "{what}: nothing stored");
    }
}

/// A `/proc/<pid>/status` value in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The export streams: exporting a ~108 MiB project (12 assets of 9 MiB of
/// random bytes) raises the server's peak RSS by far less than the project.
/// Linux only (reads `/proc`); the numbers are printed for docs/PERFORMANCE.md.
#[tokio::test]
async fn export_memory_stays_flat_in_the_project_size() {
    let db = TestDb::create(tests::Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let pid = server.pid();
    if proc_kib(pid, "VmHWM:").is_none() {
        eprintln!("no /proc: skipped");
        return;
    }
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let mut names = Vec::new();
    for i in 0..12 {
        let bytes = noise(9 * MIB, 100 + i);
        let name = asset_name(&bytes, "wav");
        assert_eq!(upload(&ann, &name, bytes).await.status, StatusCode::CREATED);
        names.push(name);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let body = project_json(&[], &refs);
    let p = ann
        .create_ok("Big", &serde_json::from_slice(&body).unwrap())
        .await;
    let id = p["id"].as_i64().unwrap();

    let idle = proc_kib(pid, "VmRSS:").unwrap();
    // Reset the peak to the current RSS (own child process), so the peak
    // below is the export's alone.
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let baseline = if reset {
        idle
    } else {
        proc_kib(pid, "VmHWM:").unwrap()
    };
    let started = std::time::Instant::now();
    let mut resp = ann
        .req(Method::GET, &format!("/api/v1/projects/{id}/sb3"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut total = 0usize;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        total += chunk.len();
    }
    let elapsed = started.elapsed();
    let peak = proc_kib(pid, "VmHWM:").unwrap();
    let grew_mib = peak.saturating_sub(baseline) as f64 / 1024.0;
    eprintln!(
        "export of {:.1} MiB in {elapsed:?}: idle RSS {:.1} MiB, peak {:.1} MiB, +{grew_mib:.1} MiB (peak reset: {reset})",
        total as f64 / MIB as f64,
        idle as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(total > 12 * 9 * MIB, "{total}");
    assert!(
        grew_mib < 40.0,
        "the export grew the server by {grew_mib:.1} MiB"
    );
}

/// A `multipart/form-data` body of `(name, file name, bytes)` parts.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, bytes) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n"),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        out.extend_from_slice(disposition.as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

async fn the_home_page_imports_and_links_thumbnails_and_downloads(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let cookie = format!("cubby_session={}", ann.token);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let home = http
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(r#"action="/home/import""#), "{home}");
    assert!(home.contains(r#"enctype="multipart/form-data""#), "{home}");

    let cat = svg("cat");
    let cat_n = asset_name(&cat, "svg");
    let body = project_json(&[&cat_n], &[]);
    let sb3 = zip_of(&[("project.json", &body, true), (&cat_n, &cat, false)]);
    let boundary = "----cubbyboundary7";
    let form = multipart(
        boundary,
        &[
            ("title", None, b"From the form"),
            ("file", Some("cat.sb3"), &sb3),
        ],
    );
    let resp = http
        .post(server.url("/home/import"))
        .header("cookie", &cookie)
        .header("origin", server.base_url.trim_end_matches('/'))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/");
    let mine = ann.list_all("/api/v1/projects?scope=mine", 100).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["title"], "From the form");
    let id = mine[0]["id"].as_i64().unwrap();
    assert_eq!(ann.body(id).await.bytes, body);

    // A broken file through the form stores nothing.
    let before = stored(&db).await;
    let bad = multipart(boundary, &[("file", Some("x.sb3"), b"not a zip")]);
    let resp = http
        .post(server.url("/home/import"))
        .header("cookie", &cookie)
        .header("origin", server.base_url.trim_end_matches('/'))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stored(&db).await, before);

    // The home page shows the project's thumbnail and its download link.
    let home = http
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&format!("/api/v1/projects/{id}/thumbnail")),
        "{home}"
    );
    assert!(
        home.contains(&format!(r#"href="/api/v1/projects/{id}/sb3""#)),
        "{home}"
    );
}

async fn storage_bytes(db: &TestDb, user_id: i64) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            format!("SELECT storage_bytes FROM users WHERE id = {user_id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.ok();
    row.try_get("", "storage_bytes").unwrap()
}

async fn imports_count_toward_storage_replay_their_key_and_roll_back_whole(db: TestDb) {
    let cat = noise(4000, 1);
    let cat_n = asset_name(&cat, "png");
    let dog = noise(3000, 2);
    let dog_n = asset_name(&dog, "wav");
    let body = project_json(&[&cat_n], &[&dog_n]);
    let sb3 = zip_of(&[
        ("project.json", &body, true),
        (&cat_n, &cat, false),
        (&dog_n, &dog, false),
    ]);
    let full = (body.len() + cat.len() + dog.len()) as i64;

    // A failure just before the commit: no project, no asset, no file.
    {
        let server = TestServer::spawn(
            &db,
            &ServerOptions::default().with("CUBBY_TEST_FAIL_BEFORE_COMMIT", "true"),
        );
        let api = Client::new(&server.base_url);
        let ann = User::login(&api, "ann", "student", &[]).await;
        let before = stored(&db).await;
        let reply = import(&ann, "", sb3.clone()).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            stored(&db).await,
            before,
            "G11: the failed import left nothing"
        );
    }

    // The quota: one byte short refuses the whole import.
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_USER_STORAGE_QUOTA_BYTES", full - 1),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let before = stored(&db).await;
    import(&ann, "", sb3.clone())
        .await
        .expect_problem(StatusCode::FORBIDDEN, "storage_quota_exceeded");
    assert_eq!(stored(&db).await, before, "S8: nothing stored");
    assert_eq!(storage_bytes(&db, ann.id).await, 0);
    drop(server);

    // Exactly at the quota it goes through, charged body and new assets.
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_USER_STORAGE_QUOTA_BYTES", full),
    );
    let api = Client::new(&server.base_url);
    let ann = ann.on(&api);
    let key = |req: reqwest::RequestBuilder| req.header("idempotency-key", "import-1");
    let first = send(key(ann
        .req(Method::POST, "/api/v1/projects/import")
        .body(sb3.clone())))
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(storage_bytes(&db, ann.id).await, full);
    // The same key again: the same project, nothing more stored or charged.
    let after = stored(&db).await;
    let replay = send(key(ann
        .req(Method::POST, "/api/v1/projects/import")
        .body(sb3.clone())))
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(stored(&db).await, after);
    assert_eq!(storage_bytes(&db, ann.id).await, full);
}

async fn concurrent_imports_of_one_archive_store_each_asset_once(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let mut users = Vec::new();
    for i in 0..6 {
        let api = &clients[i % clients.len()];
        users.push(User::login(api, &format!("kid{i}"), "student", &[]).await);
    }
    let assets: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            let bytes = noise(200_000 + i * 1000, 40 + i as u64);
            (asset_name(&bytes, "wav"), bytes)
        })
        .collect();
    let names: Vec<&str> = assets.iter().map(|(n, _)| n.as_str()).collect();
    let body = project_json(&[], &names);
    let mut entries: Vec<(&str, &[u8], bool)> = vec![("project.json", &body, true)];
    for (n, b) in &assets {
        entries.push((n.as_str(), b.as_slice(), false));
    }
    let sb3 = zip_of(&entries);
    let replies = race(users.len(), |i| {
        let user = users[i].clone();
        let sb3 = sb3.clone();
        async move { import(&user, "", sb3).await }
    })
    .await;
    assert!(
        unexpected(&replies, &[201]).is_empty(),
        "{:?}",
        unexpected(&replies, &[201])
    );
    assert_eq!(tally(&replies), [(201, users.len())].into_iter().collect());
    assert_eq!(
        db.count("assets", "1 = 1").await,
        3,
        "G3: one row per asset"
    );
    assert_eq!(
        blob_files(&db).len(),
        3 + users.len(),
        "one file per asset and one body per project"
    );
    for (user, reply) in users.iter().zip(&replies) {
        assert_eq!(user.body(reply.id()).await.bytes, body);
    }
    // Exactly one importer was charged for each asset.
    let mut charged = 0;
    for user in &users {
        charged += storage_bytes(&db, user.id).await - body.len() as i64;
    }
    let asset_bytes: usize = assets.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(charged, asset_bytes as i64);
}
