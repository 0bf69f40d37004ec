//! G11: body files and rows. A failed file write fails the request and writes
//! no row; a failure just before the commit leaves no file; a crash (kill -9)
//! in a burst of saves leaves at most unreferenced files, which `cubby gc`
//! removes; `gc` never removes a referenced file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::projects::{blob_files, md5_hex, run_gc, send, try_send, Reply, User};
use tests::server::cubby_command;
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    a_failed_blob_write_fails_the_request_and_writes_no_row,
    a_failure_just_before_commit_leaves_no_file_and_no_row,
    a_crash_during_saves_leaves_only_files_gc_removes,
    gc_removes_unreferenced_files_and_never_a_referenced_one,
);

const NO_GRACE: [(&str, &str); 1] = [("CUBBY_GC_GRACE_SECS", "0")];

/// A 500 problem with `code` that shows no file path and no internals.
fn assert_internal_failure(reply: &Reply, code: &str, db: &TestDb) {
    let problem = reply.expect_problem(StatusCode::INTERNAL_SERVER_ERROR, code);
    let text = problem.to_string();
    let data_dir = db.data_dir().display().to_string();
    assert!(
        !text.contains(&data_dir) && !text.contains("blobs/") && !text.contains("injected"),
        "the problem leaks internals: {text}"
    );
}

/// Every project `user` owns, its body and every kept version's body are
/// readable and match their recorded size and md5. Returns how many versions.
async fn assert_all_readable(user: &User) -> usize {
    let mut versions_seen = 0;
    for p in user.list_all("/api/v1/projects?scope=mine", 100).await {
        let id = p["id"].as_i64().unwrap();
        let body = user.body(id).await;
        assert_eq!(body.status, StatusCode::OK, "body of {id}: {}", body.text());
        assert_eq!(p["body_size"], body.bytes.len(), "project {id}");
        assert_eq!(p["body_md5"], md5_hex(&body.bytes), "project {id}");
        let versions = user
            .list_all(&format!("/api/v1/projects/{id}/versions"), 100)
            .await;
        assert_eq!(
            versions[0]["version"], p["version"],
            "the newest version is the project's"
        );
        for v in &versions {
            let n = v["version"].as_i64().unwrap();
            let stored = user.version_body(id, n).await;
            assert_eq!(stored.status, StatusCode::OK, "project {id} version {n}");
            assert_eq!(
                v["body_md5"],
                md5_hex(&stored.bytes),
                "project {id} version {n}"
            );
            assert_eq!(
                v["body_size"],
                stored.bytes.len(),
                "project {id} version {n}"
            );
        }
        versions_seen += versions.len();
    }
    versions_seen
}

async fn a_failed_blob_write_fails_the_request_and_writes_no_row(db: TestDb) {
    let good = TestServer::spawn(&db, &ServerOptions::default());
    let failing = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_TEST_FAIL_BLOB_WRITES", "true"),
    );
    let ann = User::login(&Client::new(&good.base_url), "ann", "student", &[]).await;
    let ann_failing = ann.on(&Client::new(&failing.base_url));
    let body = json!({"targets": [], "n": 0});
    let id = ann.create("Kept", &body).await.id();
    let files = blob_files(&db);
    assert_eq!(files.len(), 1);

    let created = ann_failing.create("Lost", &json!({"n": 1})).await;
    assert_internal_failure(&created, "storage_error", &db);
    let saved = ann_failing.save(id, 1, &json!({"n": 2})).await;
    assert_internal_failure(&saved, "storage_error", &db);
    let keyed = send(
        ann_failing
            .req(Method::POST, "/api/v1/projects")
            .header("idempotency-key", "k1")
            .json(&json!({"title": "Keyed", "body": {}})),
    )
    .await;
    assert_internal_failure(&keyed, "storage_error", &db);

    // No row was written, and no file.
    assert_eq!(db.count("projects", "").await, 1);
    assert_eq!(db.count("project_versions", "").await, 1);
    assert_eq!(blob_files(&db), files);
    for user in [&ann, &ann_failing] {
        let p = user.project(id).await.expect(StatusCode::OK);
        assert_eq!(p["version"], 1);
        assert_eq!(user.body(id).await.json(), body);
    }
    assert_eq!(assert_all_readable(&ann).await, 1);

    // The failures left nothing in the way: the same save and the same key work.
    assert_eq!(ann.save(id, 1, &json!({"n": 2})).await.version(), 2);
    let keyed = send(
        ann.req(Method::POST, "/api/v1/projects")
            .header("idempotency-key", "k1")
            .json(&json!({"title": "Keyed", "body": {}})),
    )
    .await;
    keyed.expect(StatusCode::CREATED);
    assert_eq!(db.count("projects", "").await, 2);
    assert_eq!(blob_files(&db).len(), 3);
}

async fn a_failure_just_before_commit_leaves_no_file_and_no_row(db: TestDb) {
    let good = TestServer::spawn(&db, &ServerOptions::default());
    let failing = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_TEST_FAIL_BEFORE_COMMIT", "true"),
    );
    let ann = User::login(&Client::new(&good.base_url), "ann", "student", &[]).await;
    let ann_failing = ann.on(&Client::new(&failing.base_url));
    let body = json!({"targets": [], "n": 0});
    let id = ann.create("Kept", &body).await.id();
    let files = blob_files(&db);
    assert_eq!(files.len(), 1);

    for n in 1..=3 {
        let created = ann_failing
            .create(&format!("Lost {n}"), &json!({"n": n}))
            .await;
        assert_internal_failure(&created, "internal", &db);
        let saved = ann_failing.save(id, 1, &json!({"n": n})).await;
        assert_internal_failure(&saved, "internal", &db);
    }
    assert_eq!(
        blob_files(&db),
        files,
        "every file written was removed again"
    );
    assert_eq!(db.count("projects", "").await, 1);
    assert_eq!(db.count("project_versions", "").await, 1);
    assert_eq!(ann_failing.project(id).await.version(), 1);
    assert_eq!(ann_failing.body(id).await.json(), body);
    assert_eq!(assert_all_readable(&ann).await, 1);

    // Nothing of the failed transactions is in the way.
    assert_eq!(ann.save(id, 1, &json!({"n": 4})).await.version(), 2);
    ann.create("Lost 1", &json!({}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(blob_files(&db).len(), 3);
}

const CRASH_SAVERS: usize = 8;
const KEEP: i64 = 5;

async fn a_crash_during_saves_leaves_only_files_gc_removes(db: TestDb) {
    let opts = ServerOptions::default().with("CUBBY_KEEP_VERSIONS", KEEP);
    let mut victim = TestServer::spawn(&db, &opts);
    let survivor = TestServer::spawn(&db, &opts);
    let clients = [
        Client::new(&victim.base_url),
        Client::new(&survivor.base_url),
    ];
    let mut users = Vec::new();
    for i in 0..CRASH_SAVERS {
        let user = User::login(&clients[i % 2], &format!("saver-{i}"), "student", &[]).await;
        user.create(&format!("Burst {i}"), &json!({"n": 0}))
            .await
            .id();
        users.push(user);
    }

    // Every user saves its own project as fast as it can, on both servers.
    let stop = Arc::new(AtomicBool::new(false));
    let pad = "x".repeat(64 * 1024);
    let savers: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let (user, stop, pad) = (user.clone(), stop.clone(), pad.clone());
            tokio::spawn(async move {
                let id = user.list_all("/api/v1/projects?scope=mine", 10).await[0]["id"]
                    .as_i64()
                    .unwrap();
                let mut version = 1;
                let (mut saved, mut anomalies) = (0, Vec::new());
                for n in 1.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let req = user
                        .req(Method::PUT, &format!("/api/v1/projects/{id}"))
                        .json(
                            &json!({"version": version, "body": {"saver": i, "n": n, "pad": pad}}),
                        );
                    match try_send(req).await {
                        // The killed server's clients stop at the first broken connection.
                        Err(_) => break,
                        Ok(r) if r.status == StatusCode::OK => {
                            version = r.version();
                            saved += 1;
                        }
                        Ok(r) => {
                            anomalies.push(format!("{} {}", r.status, r.text()));
                            break;
                        }
                    }
                }
                (saved, anomalies)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    victim.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for handle in savers {
        let (saved, anomalies) = handle.await.unwrap();
        assert!(anomalies.is_empty(), "{anomalies:?}");
        total += saved;
    }
    eprintln!("{total} saves answered 200 around the crash");
    assert!(total > 0);

    // A fresh process on the same database and files: everything is readable.
    let restarted = TestServer::spawn(&db, &opts);
    let api = Client::new(&restarted.base_url);
    let users: Vec<User> = users.iter().map(|u| u.on(&api)).collect();
    let mut versions = 0;
    for user in &users {
        versions += assert_all_readable(user).await;
    }
    let rows = db.count("project_versions", "").await;
    assert_eq!(versions as i64, rows);
    let files_before = blob_files(&db).len();
    assert!(
        files_before as i64 >= rows,
        "{files_before} files for {rows} versions: a row points at a missing file"
    );

    let (removed, out) = run_gc(&db, &NO_GRACE, &[]);
    let files_after = blob_files(&db).len();
    eprintln!("{out}");
    assert_eq!(
        files_after as i64, rows,
        "gc leaves exactly the referenced files"
    );
    assert_eq!(removed as usize, files_before - files_after);
    for user in &users {
        assert_all_readable(user).await;
    }

    // And the projects go on: one more save each, pruned to KEEP versions.
    for user in &users {
        let p = &user.list_all("/api/v1/projects?scope=mine", 10).await[0];
        let id = p["id"].as_i64().unwrap();
        let version = p["version"].as_i64().unwrap();
        let saved = user.save(id, version, &json!({"after": "crash"})).await;
        assert_eq!(saved.expect(StatusCode::OK)["version"], version + 1);
        assert_eq!(
            db.count("project_versions", &format!("project_id = {id}"))
                .await,
            (version + 1).min(KEEP)
        );
    }
    assert_eq!(
        blob_files(&db).len() as i64,
        db.count("project_versions", "").await
    );
}

/// A new file name of the same shape as `name`: every hex digit moved on by one.
fn sibling_name(name: &str) -> String {
    name.chars()
        .map(|c| match c.to_digit(16) {
            Some(d) => std::char::from_digit((d + 1) % 16, 16).unwrap(),
            None => c,
        })
        .collect()
}

async fn gc_removes_unreferenced_files_and_never_a_referenced_one(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = ann
            .create(&format!("Kept {n}"), &json!({"n": n}))
            .await
            .id();
        for v in 1..=2 {
            ann.save(id, v, &json!({"n": n, "v": v + 1}))
                .await
                .expect(StatusCode::OK);
        }
        ids.push(id);
    }
    let copy = ann.copy(ids[0]).await.expect(StatusCode::CREATED);
    let doomed = ann.create("Doomed", &json!({"doomed": true})).await.id();
    assert_eq!(ann.delete(doomed).await.status, StatusCode::NO_CONTENT);
    // Deleted for good: out of the trash too (its files go after the commit).
    assert_eq!(ann.purge(doomed).await.status, StatusCode::NO_CONTENT);
    let rows = db.count("project_versions", "").await;
    assert_eq!(rows, 3 * 3 + 1);

    // Two stray files that look like blobs, beside real ones.
    let files = blob_files(&db);
    assert!(files.len() as i64 >= rows);
    let strays: Vec<_> = [&files[0], &files[files.len() - 1]]
        .iter()
        .map(|real| {
            let name = real.file_name().unwrap().to_string_lossy().into_owned();
            real.with_file_name(sibling_name(&name))
        })
        .collect();
    for stray in &strays {
        assert!(!files.contains(stray));
        std::fs::write(stray, br#"{"stray":true}"#).unwrap();
    }
    let with_strays = blob_files(&db);
    assert_eq!(with_strays.len(), files.len() + 2);

    // Within the grace period (default 1 h) nothing is removed; a dry run
    // removes nothing either.
    let (removed, out) = run_gc(&db, &[], &[]);
    assert_eq!(removed, 0, "{out}");
    assert_eq!(blob_files(&db), with_strays);
    let dry = cubby_command(&db)
        .envs(NO_GRACE)
        .args(["gc", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success());
    assert_eq!(blob_files(&db), with_strays, "a dry run removes nothing");

    // Without grace: the strays (and whatever the delete left) go, nothing else.
    let (removed, out) = run_gc(&db, &NO_GRACE, &[]);
    let after = blob_files(&db);
    assert_eq!(removed as usize, with_strays.len() - after.len(), "{out}");
    assert_eq!(after.len() as i64, rows, "{out}");
    for stray in &strays {
        assert!(!stray.exists(), "{} survived gc", stray.display());
    }
    assert_eq!(assert_all_readable(&ann).await as i64, rows);
    let copy_body = ann.body(copy["id"].as_i64().unwrap()).await;
    assert_eq!(copy_body.json(), json!({"n": 0, "v": 3}));

    // A second run finds nothing.
    let (removed, out) = run_gc(&db, &NO_GRACE, &[]);
    assert_eq!(removed, 0, "{out}");
    assert_eq!(blob_files(&db), after);
}
