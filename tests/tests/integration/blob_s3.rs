//! The blob store in S3-compatible object storage (`CUBBY_BLOB_STORE=s3://…`)
//! against a real local S3 server (`moto_server`, see `tests::s3`): bodies
//! and assets round-trip byte for byte; two processes with their own data
//! directories share one database and one bucket; G11 (a failed write leaves
//! no object, a failure before COMMIT removes the object it wrote); `gc`
//! removes unreferenced objects and never a referenced or foreign one; an
//! abandoned multipart upload is aborted; a bad or unreachable store stops
//! start-up with a message that names it and no secret.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tests::assets::{asset_rows, noise, png, raw_http, svg, RawBody};
use tests::projects::{blob_files, md5_hex, run_gc, send, Reply, User};
use tests::s3::{aws_env, Moto, S3Bucket, SECRET_KEY};
use tests::server::{cubby_command, free_loopback_port};
use tests::{Backend, Client, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    projects_and_assets_live_in_the_bucket,
    two_processes_with_their_own_data_dirs_share_one_bucket,
    failed_writes_leave_no_object_in_the_bucket,
    gc_removes_unreferenced_objects_and_keeps_every_referenced_one,
);

const BODY_1: &str =
    r#"{"targets":[{"isStage":true,"name":"Stage"}],"meta":{"semver":"3.0.0"},"n":1}"#;
const BODY_2: &str =
    r#"{"targets":[{"isStage":true,"name":"Stage"}],"meta":{"semver":"3.0.0"},"n":2}"#;
const BODY_3: &str = r#"{"targets":[],"n":3}"#;

/// Larger than one 5 MiB part: stored with a multipart upload.
const LARGE: usize = 7 * 1024 * 1024 + 13;

/// Starts moto and makes a bucket, or `None` when the test skips.
async fn bucket_for(db: &TestDb) -> Option<(Moto, S3Bucket)> {
    let moto = Moto::start(db.scratch()).await?;
    let bucket = moto.bucket().await;
    Some((moto, bucket))
}

/// `POST /api/v1/projects` with the body written out exactly; returns the id.
async fn create_exact(user: &User, title: &str, body: &str) -> i64 {
    let reply = send(user.create_req(format!(r#"{{"title":"{title}","body":{body}}}"#))).await;
    reply.expect(StatusCode::CREATED);
    reply.id()
}

/// `PUT /api/v1/projects/{id}` with the body written out exactly.
async fn save_exact(user: &User, id: i64, version: i64, body: &str) -> Reply {
    send(
        user.req(Method::PUT, &format!("/api/v1/projects/{id}"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"version":{version},"body":{body}}}"#)),
    )
    .await
}

/// `POST /api/v1/assets/{md5}.{ext}`.
async fn upload(user: &User, bytes: &[u8], ext: &str) -> Reply {
    let name = format!("{}.{ext}", md5_hex(bytes));
    send(
        user.req(Method::POST, &format!("/api/v1/assets/{name}"))
            .body(bytes.to_vec()),
    )
    .await
}

/// `GET /api/v1/assets/{md5}.{ext}` (anonymous): status and bytes.
async fn fetch(api: &Client, bytes: &[u8], ext: &str) -> (StatusCode, Vec<u8>) {
    let name = format!("{}.{ext}", md5_hex(bytes));
    let reply = send(api.http.get(api.url(&format!("/api/v1/assets/{name}")))).await;
    (reply.status, reply.bytes)
}

/// Every blob key a row references (project versions and assets), sorted.
async fn referenced_keys(db: &TestDb) -> Vec<String> {
    let conn = db.connect().await;
    let rows = conn
        .query_all_raw(Statement::from_string(
            db.db_backend(),
            "SELECT body_file FROM project_versions",
        ))
        .await
        .unwrap();
    conn.close().await.ok();
    let mut keys: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "body_file").unwrap())
        .chain(asset_rows(db).await.into_iter().map(|a| a.blob_file))
        .collect();
    keys.sort();
    keys
}

/// A 500 problem with `code` that names neither the bucket nor a secret.
fn expect_clean_500(reply: &Reply, code: &str, bucket: &S3Bucket) {
    let text = reply
        .expect_problem(StatusCode::INTERNAL_SERVER_ERROR, code)
        .to_string();
    for leak in [
        SECRET_KEY,
        bucket.name.as_str(),
        tests::s3::PREFIX,
        "injected",
    ] {
        assert!(!text.contains(leak), "the problem leaks {leak:?}: {text}");
    }
}

/// Nothing of the blobs is on the local disk: `<data dir>/blobs` was never made.
fn assert_nothing_local(db: &TestDb, data_dir: &std::path::Path) {
    assert!(
        !data_dir.join("blobs").exists(),
        "{} exists",
        data_dir.join("blobs").display()
    );
    assert_eq!(blob_files(db), Vec::<std::path::PathBuf>::new());
}

async fn projects_and_assets_live_in_the_bucket(db: TestDb) {
    let Some((_moto, bucket)) = bucket_for(&db).await else {
        return;
    };
    let server = TestServer::spawn(&db, &bucket.options());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;

    // A project, saved once: both versions read back byte for byte.
    let id = create_exact(&ann, "Rocket", BODY_1).await;
    assert_eq!(save_exact(&ann, id, 1, BODY_2).await.version(), 2);
    assert_eq!(ann.body(id).await.bytes, BODY_2.as_bytes());
    assert_eq!(ann.version_body(id, 1).await.bytes, BODY_1.as_bytes());
    assert_eq!(ann.version_body(id, 2).await.bytes, BODY_2.as_bytes());

    // A small asset (one PUT) and a large one (a multipart upload).
    let small = svg("rocket");
    let large = noise(LARGE, 1);
    assert_eq!(
        upload(&ann, &small, "svg").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&ann, &large, "png").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        fetch(&api, &small, "svg").await,
        (StatusCode::OK, small.clone())
    );
    assert_eq!(
        fetch(&api, &large, "png").await,
        (StatusCode::OK, large.clone())
    );
    // The same bytes again: the known asset, no second object.
    let again = upload(&ann, &large, "png").await;
    assert_eq!(again.expect(StatusCode::OK)["created"], false);

    // The bucket holds exactly the four blobs the rows name, and nothing else.
    let keys = referenced_keys(&db).await;
    assert_eq!(keys.len(), 4);
    assert_eq!(bucket.blob_keys().await, keys);
    assert_eq!(bucket.objects().await.len(), 4);
    assert_eq!(bucket.unfinished_uploads().await, 0);
    let large_key = asset_rows(&db)
        .await
        .into_iter()
        .find(|a| a.md5 == md5_hex(&large))
        .unwrap()
        .blob_file;
    assert_eq!(
        bucket.get_object(&S3Bucket::object_of(&large_key)).await,
        Some(large)
    );
    assert_nothing_local(&db, &db.data_dir());

    let (status, ready) = api.get("/readyz", None).await;
    assert_eq!(
        (status, ready),
        (StatusCode::OK, json!({"status": "ready"}))
    );
}

async fn two_processes_with_their_own_data_dirs_share_one_bucket(db: TestDb) {
    let Some((_moto, bucket)) = bucket_for(&db).await else {
        return;
    };
    let dir_b = db.scratch().join("data-b");
    let a = TestServer::spawn(&db, &bucket.options());
    let b = TestServer::spawn(
        &db,
        &bucket.options().with("CUBBY_DATA_DIR", dir_b.display()),
    );
    let (api_a, api_b) = (Client::new(&a.base_url), Client::new(&b.base_url));
    let ann_a = User::login(&api_a, "ann", "student", &[]).await;
    let ann_b = ann_a.on(&api_b);

    // Saved on A, read on B; saved on B, read on A.
    let id = create_exact(&ann_a, "Shared", BODY_1).await;
    assert_eq!(save_exact(&ann_a, id, 1, BODY_2).await.version(), 2);
    assert_eq!(ann_b.body(id).await.bytes, BODY_2.as_bytes());
    assert_eq!(ann_b.version_body(id, 1).await.bytes, BODY_1.as_bytes());
    assert_eq!(save_exact(&ann_b, id, 2, BODY_3).await.version(), 3);
    assert_eq!(ann_a.body(id).await.bytes, BODY_3.as_bytes());

    // Uploaded on A, fetched on B (and the other way round).
    let on_a = png("uploaded on A");
    let on_b = noise(LARGE, 2);
    assert_eq!(
        upload(&ann_a, &on_a, "png").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        upload(&ann_b, &on_b, "png").await.status,
        StatusCode::CREATED
    );
    assert_eq!(fetch(&api_b, &on_a, "png").await, (StatusCode::OK, on_a));
    assert_eq!(fetch(&api_a, &on_b, "png").await, (StatusCode::OK, on_b));

    let keys = referenced_keys(&db).await;
    assert_eq!(keys.len(), 3 + 2);
    assert_eq!(bucket.blob_keys().await, keys);
    assert_nothing_local(&db, &db.data_dir());
    assert!(!dir_b.join("blobs").exists());
}

async fn failed_writes_leave_no_object_in_the_bucket(db: TestDb) {
    let Some((_moto, bucket)) = bucket_for(&db).await else {
        return;
    };
    let good = TestServer::spawn(&db, &bucket.options());
    let before_commit = TestServer::spawn(
        &db,
        &bucket
            .options()
            .with("CUBBY_TEST_FAIL_BEFORE_COMMIT", "true"),
    );
    let no_writes = TestServer::spawn(
        &db,
        &bucket.options().with("CUBBY_TEST_FAIL_BLOB_WRITES", "true"),
    );
    let ann = User::login(&Client::new(&good.base_url), "ann", "student", &[]).await;
    let ann_commit = ann.on(&Client::new(&before_commit.base_url));
    let ann_writes = ann.on(&Client::new(&no_writes.base_url));
    let id = create_exact(&ann, "Kept", BODY_1).await;
    let kept = bucket.blob_keys().await;
    assert_eq!(kept.len(), 1);

    // Failing just before COMMIT: the body object was written, then removed.
    for n in 1..=3 {
        let created = ann_commit
            .create(&format!("Lost {n}"), &json!({"n": n}))
            .await;
        expect_clean_500(&created, "internal", &bucket);
        expect_clean_500(
            &save_exact(&ann_commit, id, 1, BODY_2).await,
            "internal",
            &bucket,
        );
    }
    // Failing blob writes (the test hook wraps the S3 store too).
    expect_clean_500(
        &ann_writes.create("Lost", &json!({})).await,
        "storage_error",
        &bucket,
    );
    expect_clean_500(
        &save_exact(&ann_writes, id, 1, BODY_2).await,
        "storage_error",
        &bucket,
    );
    expect_clean_500(
        &upload(&ann_writes, &svg("lost"), "svg").await,
        "storage_error",
        &bucket,
    );

    assert_eq!(bucket.blob_keys().await, kept, "no new object");
    assert_eq!(bucket.unfinished_uploads().await, 0);
    assert_eq!(db.count("projects", "").await, 1);
    assert_eq!(db.count("project_versions", "").await, 1);
    assert_eq!(db.count("assets", "").await, 0);
    for user in [&ann, &ann_commit, &ann_writes] {
        assert_eq!(user.project(id).await.version(), 1);
        assert_eq!(user.body(id).await.bytes, BODY_1.as_bytes());
    }

    // Nothing is in the way of the same save on a healthy server.
    assert_eq!(save_exact(&ann, id, 1, BODY_2).await.version(), 2);
    assert_eq!(bucket.blob_keys().await, referenced_keys(&db).await);
    assert_eq!(bucket.blob_keys().await.len(), 2);
}

/// A key of the same shape as `key`: every hex digit moved on by one.
fn sibling_key(key: &str) -> String {
    key.chars()
        .map(|c| std::char::from_digit((c.to_digit(16).unwrap() + 1) % 16, 16).unwrap())
        .collect()
}

async fn gc_removes_unreferenced_objects_and_keeps_every_referenced_one(db: TestDb) {
    let Some((_moto, bucket)) = bucket_for(&db).await else {
        return;
    };
    let server = TestServer::spawn(&db, &bucket.options());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let first = create_exact(&ann, "First", BODY_1).await;
    assert_eq!(save_exact(&ann, first, 1, BODY_2).await.version(), 2);
    let second = create_exact(&ann, "Second", BODY_3).await;
    let asset = png("kept");
    assert_eq!(
        upload(&ann, &asset, "png").await.status,
        StatusCode::CREATED
    );
    let referenced = referenced_keys(&db).await;
    assert_eq!(referenced.len(), 4);
    assert_eq!(bucket.blob_keys().await, referenced);

    // Two unreferenced blobs (as a crash would leave them) and two foreign
    // objects gc must never touch: one outside the prefix, one inside it
    // that is not a blob name.
    let strays = [sibling_key(&referenced[0]), sibling_key(&referenced[3])];
    for stray in &strays {
        assert!(!referenced.contains(stray));
        bucket
            .put_object(&S3Bucket::object_of(stray), b"{\"stray\":true}".to_vec())
            .await;
    }
    let foreign = ["elsewhere/notes.txt", "cubby/blobs/zz/not-a-blob"];
    for name in foreign {
        bucket.put_object(name, b"foreign".to_vec()).await;
    }
    let everything = bucket.objects().await;
    assert_eq!(everything.len(), 4 + 2 + 2);

    // `cubby gc` gets the same S3 settings as the server.
    let env = bucket.env();
    let default_grace: Vec<(&str, &str)> =
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut no_grace = default_grace.clone();
    no_grace.push(("CUBBY_GC_GRACE_SECS", "0"));

    // Within the grace period (default 1 h) nothing goes; a dry run without
    // grace names the two strays and removes nothing.
    let (removed, out) = run_gc(&db, &default_grace, &[]);
    assert_eq!(removed, 0, "{out}");
    assert_eq!(bucket.objects().await, everything);
    let (would, out) = run_gc(&db, &no_grace, &["--dry-run"]);
    assert_eq!(would, 2, "{out}");
    let mut named: Vec<&str> = out.lines().skip(1).collect();
    named.sort();
    let mut expected: Vec<&str> = strays.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(named, expected, "{out}");
    assert_eq!(
        bucket.objects().await,
        everything,
        "a dry run removes nothing"
    );

    // Without grace: exactly the strays go.
    let (removed, out) = run_gc(&db, &no_grace, &[]);
    assert_eq!(removed, 2, "{out}");
    assert_eq!(bucket.blob_keys().await, referenced);
    for name in foreign {
        assert_eq!(
            bucket.get_object(name).await,
            Some(b"foreign".to_vec()),
            "{name}"
        );
    }
    for stray in &strays {
        assert_eq!(bucket.get_object(&S3Bucket::object_of(stray)).await, None);
    }
    assert_eq!(ann.body(first).await.bytes, BODY_2.as_bytes());
    assert_eq!(ann.version_body(first, 1).await.bytes, BODY_1.as_bytes());
    assert_eq!(ann.body(second).await.bytes, BODY_3.as_bytes());
    assert_eq!(fetch(&api, &asset, "png").await, (StatusCode::OK, asset));

    // A second run finds nothing.
    let (removed, out) = run_gc(&db, &no_grace, &[]);
    assert_eq!(removed, 0, "{out}");
    assert_eq!(bucket.objects().await.len(), 4 + 2);
}

/// An upload that breaks off past the first part (over the size limit)
/// aborts its multipart upload: no object, no unfinished upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_large_upload_is_aborted() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let Some((_moto, bucket)) = bucket_for(&db).await else {
        return;
    };
    let limit = 6 * 1024 * 1024;
    let server = TestServer::spawn(&db, &bucket.options().with("CUBBY_MAX_BODY_BYTES", limit));
    let ann = User::login(&Client::new(&server.base_url), "ann", "student", &[]).await;
    let big = noise(limit + 1024 * 1024, 3);
    let auth = format!("Bearer {}", ann.token);
    // Chunked: no length to refuse up front, so cubby streams past 5 MiB
    // (starting a multipart upload) before it sees the body is too large.
    let reply = raw_http(
        &server.base_url,
        "POST",
        &format!("/api/v1/assets/{}.png", md5_hex(&big)),
        &[("Authorization", &auth)],
        RawBody::Chunked(big.chunks(64 * 1024).map(<[u8]>::to_vec).collect()),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (413, Some("too_large"))
    );

    // The abort runs after the answer: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bucket.unfinished_uploads().await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bucket.unfinished_uploads().await, 0);
    assert_eq!(bucket.objects().await, Vec::<String>::new());
    assert_eq!(db.count("assets", "").await, 0);
}

/// `/readyz` answers 503 once the blob store stops answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_reports_an_unreachable_blob_store() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let Some((moto, bucket)) = bucket_for(&db).await else {
        return;
    };
    let server = TestServer::spawn(&db, &bucket.options());
    let api = Client::new(&server.base_url);
    assert_eq!(api.get("/readyz", None).await.0, StatusCode::OK);
    drop(moto);
    let (status, problem) = api.get("/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(problem["code"], "not_ready");
    assert_eq!(problem["detail"], "the blob store is not reachable");
    assert_eq!(api.get("/healthz", None).await.0, StatusCode::OK);
}

/// Runs `cubby <args>` with the S3 variables pointing at `endpoint` and
/// `CUBBY_BLOB_STORE=store`; asserts exit code 1 and that stderr names the
/// blob store and holds no secret; returns stderr.
fn refused(db: &TestDb, endpoint: &str, store: &str, args: &[&str]) -> String {
    let out = cubby_command(db)
        .envs(aws_env(endpoint))
        .env("CUBBY_BLOB_STORE", store)
        .env("CUBBY_BIND", "127.0.0.1:0")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    assert!(stderr.contains("blob store"), "{stderr}");
    assert!(!stderr.contains(SECRET_KEY), "the secret leaks: {stderr}");
    assert!(!stdout.contains(SECRET_KEY), "the secret leaks: {stdout}");
    stderr
}

/// A bad `CUBBY_BLOB_STORE` and an unreachable bucket stop `serve` (and
/// `gc`) with exit code 1, a message naming the blob store, no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_blob_store_stops_start_up() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    // Nothing listens on this port: the bucket is unreachable.
    let closed = format!("http://127.0.0.1:{}", free_loopback_port());
    let started = Instant::now();
    let stderr = refused(&db, &closed, "s3://cubby-closed/x", &["serve"]);
    assert!(
        stderr.contains("cannot reach the blob store s3://cubby-closed/x"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "start-up gave up late"
    );
    let stderr = refused(&db, &closed, "s3://cubby-closed/x", &["gc"]);
    assert!(
        stderr.contains("cannot reach the blob store s3://cubby-closed/x"),
        "{stderr}"
    );

    for bad in [
        "ftp://x",
        "s3://",
        "s3://Not_A_Bucket",
        "s3://user:pw@bucket",
    ] {
        let stderr = refused(&db, &closed, bad, &["serve"]);
        assert!(
            stderr.contains("invalid blob store (--blob-store / CUBBY_BLOB_STORE)"),
            "{bad}: {stderr}"
        );
        assert!(!stderr.contains("pw@"), "{bad}: {stderr}");
    }
    // Nothing fell back to the local directory.
    assert_eq!(blob_files(&db), Vec::<std::path::PathBuf>::new());
}
