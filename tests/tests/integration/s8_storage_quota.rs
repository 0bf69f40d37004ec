//! S8: the per-user storage quota (`CUBBY_USER_STORAGE_QUOTA_BYTES`). New
//! assets, backpack files and every kept project version count toward the
//! bytes of the user who made cubby store them; an asset someone already
//! stored costs nothing; pruned versions and deleted projects give their
//! bytes back. A write that would go over is 403 `storage_quota_exceeded`
//! and stores nothing (no row, no file), exactly under concurrent uploads.
//!
//! The count is read from `users.storage_bytes` and checked against what the
//! rows say (the kept versions of the user's projects, the assets the user
//! was charged for) at every step.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tests::assets::{
    assert_files_are_exactly_the_assets, asset_name, b64, jpeg, noise, png, svg, upload,
};
use tests::projects::{blob_files, md5_hex, send, tally, unexpected, Reply, User};
use tests::server::run_cubby;
use tests::{race, start_processes, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    saves_count_every_kept_version_and_pruning_gives_bytes_back,
    deleting_a_project_gives_back_all_its_versions,
    backpack_files_count_like_assets_only_when_new,
    a_copy_charges_the_copier,
    zero_turns_the_storage_quota_off,
    the_migration_counts_existing_versions_and_rolls_back,
);
on_backends!(
    processes [1, 2]:
    concurrent_distinct_uploads_stop_exactly_at_the_quota,
    racing_uploads_of_one_new_asset_charge_only_its_creator,
);

const KIB: usize = 1024;
const QUOTA_VAR: &str = "CUBBY_USER_STORAGE_QUOTA_BYTES";

// ---- reading the count ------------------------------------------------------

/// `users.storage_bytes` of one user.
async fn stored_bytes(db: &TestDb, user_id: i64) -> i64 {
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            format!("SELECT storage_bytes FROM users WHERE id = {user_id}"),
        ))
        .await
        .expect("select storage_bytes")
        .expect("the user's row");
    conn.close().await.ok();
    row.try_get("", "storage_bytes").expect("storage_bytes")
}

/// The sizes of one column's values over a query (summed here, not in SQL:
/// PostgreSQL's `SUM(bigint)` is a `numeric`).
async fn sum_of(db: &TestDb, sql: String) -> i64 {
    let conn = db.connect().await;
    let rows = conn
        .query_all_raw(Statement::from_string(db.db_backend(), sql))
        .await
        .expect("select sizes");
    conn.close().await.ok();
    rows.iter()
        .map(|r| r.try_get::<i64>("", "s").expect("size"))
        .sum()
}

/// The bytes of every kept version of the user's projects.
async fn kept_version_bytes(db: &TestDb, user_id: i64) -> i64 {
    sum_of(
        db,
        format!(
            "SELECT v.body_size AS s FROM project_versions v \
             JOIN projects p ON p.id = v.project_id WHERE p.owner_id = {user_id}"
        ),
    )
    .await
}

/// The bytes of the assets the user was charged for.
async fn charged_asset_bytes(db: &TestDb, user_id: i64) -> i64 {
    sum_of(
        db,
        format!("SELECT size AS s FROM assets WHERE created_by = {user_id}"),
    )
    .await
}

/// `created_by` of the asset `md5` (`None`: NULL).
async fn created_by(db: &TestDb, md5: &str) -> Option<i64> {
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            format!("SELECT created_by FROM assets WHERE md5 = '{md5}'"),
        ))
        .await
        .expect("select created_by")
        .unwrap_or_else(|| panic!("no asset {md5}"));
    conn.close().await.ok();
    row.try_get("", "created_by").expect("created_by")
}

/// Asserts the user's count is `expected` and is what the rows say.
async fn expect_stored(db: &TestDb, user: &User, expected: usize, when: &str) {
    let stored = stored_bytes(db, user.id).await;
    assert_eq!(stored, expected as i64, "{user:?} {when}");
    let from_rows = kept_version_bytes(db, user.id).await + charged_asset_bytes(db, user.id).await;
    assert_eq!(
        stored, from_rows,
        "{user:?} {when}: the count is the rows' sum"
    );
}

// ---- requests ---------------------------------------------------------------

/// Asserts 403 `storage_quota_exceeded` with the quota in bytes.
fn expect_over(reply: &Reply, quota: usize) {
    let body = reply.expect_problem(StatusCode::FORBIDDEN, "storage_quota_exceeded");
    assert_eq!(body["quota"], quota, "{body}");
}

/// A project body of exactly `size` bytes as the server stores it
/// (`{"pad":"xx…"}`, compact JSON).
fn body_of(size: usize) -> Value {
    let pad = size.checked_sub(10).expect("at least 10 bytes");
    let body = json!({"pad": "x".repeat(pad)});
    assert_eq!(body.to_string().len(), size);
    body
}

/// A backpack item request: an SVG costume with a JPEG thumbnail.
fn costume(body: &[u8], thumbnail: &[u8]) -> Value {
    json!({
        "type": "costume",
        "mime": "image/svg+xml",
        "name": "cat",
        "body": b64(body),
        "thumbnail": b64(thumbnail),
    })
}

async fn post_item(user: &User, request: &Value) -> Reply {
    send(user.req(Method::POST, "/api/v1/backpack").json(request)).await
}

/// Every blob file, for "nothing was written" checks.
fn files(db: &TestDb) -> Vec<std::path::PathBuf> {
    blob_files(db)
}

// ---- concurrent uploads -----------------------------------------------------

const UPLOADERS: usize = 16;
const UPLOAD_QUOTA: usize = 10 * KIB;

/// 16 distinct 1 KiB assets at once under a 10 KiB quota: exactly 10 are
/// stored, 6 refused, and nothing of the refused ones is left.
async fn concurrent_distinct_uploads_stop_exactly_at_the_quota(db: TestDb, processes: usize) {
    let opts = ServerOptions::default().with(QUOTA_VAR, UPLOAD_QUOTA);
    let (_servers, clients) = start_processes(&db, processes, &opts);
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let bob = User::login(&clients[0], "bob", "student", &[]).await;
    let sounds: Vec<Vec<u8>> = (0..UPLOADERS).map(|i| noise(KIB, 100 + i as u64)).collect();
    let replies = race(UPLOADERS, |i| {
        let user = ann.on(&clients[i % processes]);
        let bytes = sounds[i].clone();
        async move { upload(&user, &asset_name(&bytes, "wav"), bytes).await }
    })
    .await;
    assert_eq!(
        tally(&replies),
        BTreeMap::from([(201, 10), (403, 6)]),
        "{:?}",
        unexpected(&replies, &[201, 403])
    );
    let (mut stored, mut refused) = (Vec::new(), Vec::new());
    for (i, reply) in replies.iter().enumerate() {
        if reply.status == StatusCode::CREATED {
            assert_eq!(reply.json()["created"], true, "{}", reply.text());
            stored.push(i);
        } else {
            expect_over(reply, UPLOAD_QUOTA);
            refused.push(i);
        }
    }
    // Exactly the accepted assets have a row and a file; the refused left none.
    let rows = assert_files_are_exactly_the_assets(&db).await;
    let md5s: BTreeSet<String> = rows.iter().map(|r| r.md5.clone()).collect();
    let accepted: BTreeSet<String> = stored.iter().map(|&i| md5_hex(&sounds[i])).collect();
    assert_eq!(md5s, accepted);
    expect_stored(&db, &ann, UPLOAD_QUOTA, "after the race").await;
    for &i in &refused {
        let (status, _) = clients[0]
            .get(
                &format!("/api/v1/assets/{}", asset_name(&sounds[i], "wav")),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "refused asset {i}");
    }

    // At the quota: a re-upload of a stored asset costs nothing; a new one
    // is refused, on the Scratch route too.
    let kept = &sounds[stored[0]];
    let again = upload(&ann, &asset_name(kept, "wav"), kept.clone()).await;
    assert_eq!(again.expect(StatusCode::OK)["created"], false);
    let first_refused = &sounds[refused[0]];
    let name = asset_name(first_refused, "wav");
    expect_over(
        &upload(&ann, &name, first_refused.clone()).await,
        UPLOAD_QUOTA,
    );
    let scratch = send(
        ann.req(Method::POST, &format!("/assets/{name}"))
            .body(first_refused.clone()),
    )
    .await;
    expect_over(&scratch, UPLOAD_QUOTA);
    expect_stored(&db, &ann, UPLOAD_QUOTA, "after the refusals").await;

    // Once someone else stored it, it costs ann nothing either.
    upload(&bob, &name, first_refused.clone())
        .await
        .expect(StatusCode::CREATED);
    let free = upload(&ann, &name, first_refused.clone()).await;
    assert_eq!(free.expect(StatusCode::OK)["created"], false);
    assert_eq!(created_by(&db, &md5_hex(first_refused)).await, Some(bob.id));
    expect_stored(&db, &ann, UPLOAD_QUOTA, "after bob stored one").await;
    expect_stored(&db, &bob, KIB, "after storing one").await;
    assert_eq!(assert_files_are_exactly_the_assets(&db).await.len(), 11);
}

const SAME_ASSET_UPLOADS: usize = 32;
const CROWDED_QUOTA: usize = 4 * KIB;

/// Many users upload one new asset at once: only the one whose insert made
/// the row pays. Ann, who has no room for it, either is refused (before the
/// row exists) or gets it free (after); her refusal never blocks the others.
async fn racing_uploads_of_one_new_asset_charge_only_its_creator(db: TestDb, processes: usize) {
    let opts = ServerOptions::default().with(QUOTA_VAR, CROWDED_QUOTA);
    let (_servers, clients) = start_processes(&db, processes, &opts);
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy", "dee"] {
        users.push(User::login(&clients[0], name, "student", &[]).await);
    }
    // Ann fills 3.5 KiB of her 4 KiB: a new 1 KiB asset does not fit.
    let filler = noise(3 * KIB + KIB / 2, 7);
    upload(&users[0], &asset_name(&filler, "wav"), filler.clone())
        .await
        .expect(StatusCode::CREATED);

    let bytes = noise(KIB, 8);
    let name = asset_name(&bytes, "wav");
    let replies = race(SAME_ASSET_UPLOADS, |i| {
        let user = users[i % users.len()].on(&clients[i % processes]);
        let (name, bytes) = (name.clone(), bytes.clone());
        async move { upload(&user, &name, bytes).await }
    })
    .await;
    let created: Vec<usize> = (0..SAME_ASSET_UPLOADS)
        .filter(|&i| replies[i].status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "one 201: {:?}",
        unexpected(&replies, &[200, 403])
    );
    let creator = &users[created[0] % users.len()];
    assert_ne!(creator.id, users[0].id, "ann has no room for it");
    for (i, reply) in replies.iter().enumerate() {
        let user = &users[i % users.len()];
        match reply.status.as_u16() {
            201 => {}
            200 => assert_eq!(reply.json()["created"], false, "{}", reply.text()),
            403 if user.id == users[0].id => expect_over(reply, CROWDED_QUOTA),
            _ => panic!("{user:?}: {} {}", reply.status, reply.text()),
        }
    }
    assert_eq!(created_by(&db, &md5_hex(&bytes)).await, Some(creator.id));
    for user in &users {
        let expected = if user.id == users[0].id {
            filler.len()
        } else if user.id == creator.id {
            KIB
        } else {
            0
        };
        expect_stored(&db, user, expected, "after the race").await;
    }
    assert_eq!(assert_files_are_exactly_the_assets(&db).await.len(), 2);
}

// ---- project bodies ---------------------------------------------------------

const PROJECT_QUOTA: usize = 1000;

/// Saves add their body's size, pruning gives the pruned version's back, in
/// the same save; a create, save or rename that would go over is refused and
/// stores nothing.
async fn saves_count_every_kept_version_and_pruning_gives_bytes_back(db: TestDb) {
    let opts = ServerOptions::default()
        .with(QUOTA_VAR, PROJECT_QUOTA)
        .with("CUBBY_KEEP_VERSIONS", 3);
    let server = TestServer::spawn(&db, &opts);
    let ann = User::login(&Client::new(&server.base_url), "ann", "student", &[]).await;

    let p = ann.create_ok("Quota", &body_of(100)).await;
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["body_size"], 100);
    expect_stored(&db, &ann, 100, "after the create").await;
    // v2 and v3: every kept version counts.
    ann.save(id, 1, &body_of(200)).await.expect(StatusCode::OK);
    expect_stored(&db, &ann, 300, "after v2").await;
    ann.save(id, 2, &body_of(300)).await.expect(StatusCode::OK);
    expect_stored(&db, &ann, 600, "after v3").await;
    // v4 prunes v1: 200 + 300 + 150.
    ann.save(id, 3, &body_of(150)).await.expect(StatusCode::OK);
    expect_stored(&db, &ann, 650, "after v4 pruned v1").await;

    // 650 + 600 would be over even after v2 (200) is pruned: refused, and
    // the project, its versions and the files are as they were.
    let files_before = files(&db);
    let over = ann.save(id, 4, &body_of(600)).await;
    expect_over(&over, PROJECT_QUOTA);
    expect_stored(&db, &ann, 650, "after a refused save").await;
    assert_eq!(ann.project(id).await.version(), 4);
    let versions = ann.versions(id, "").await.expect(StatusCode::OK);
    let kept: Vec<i64> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, vec![4, 3, 2]);
    assert_eq!(files(&db), files_before, "a refused save writes no file");

    // 650 + 500 is over the quota, but the same save prunes v2 (200):
    // 300 + 150 + 500 = 950 fits.
    ann.save(id, 4, &body_of(500)).await.expect(StatusCode::OK);
    expect_stored(&db, &ann, 950, "after v5 pruned v2").await;

    // A rename copies the body into a new version: 150 + 500 + 500 is over.
    let files_before = files(&db);
    let rename = ann
        .update(id, &json!({"version": 5, "title": "Renamed"}))
        .await;
    expect_over(&rename, PROJECT_QUOTA);
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(
        (p["title"].as_str(), p["version"].as_i64()),
        (Some("Quota"), Some(5))
    );
    assert_eq!(files(&db), files_before, "a refused rename writes no file");
    // So is a new project that does not fit; one that does is made.
    let projects_before = db.count("projects", "").await;
    expect_over(&ann.create("Too big", &body_of(51)).await, PROJECT_QUOTA);
    let scratch = send(
        ann.req(Method::POST, "/projects/?title=Scratch")
            .body(body_of(51).to_string()),
    )
    .await;
    expect_over(&scratch, PROJECT_QUOTA);
    assert_eq!(db.count("projects", "").await, projects_before);
    assert_eq!(files(&db), files_before, "a refused create leaves no file");
    ann.create_ok("Fits", &body_of(50)).await;
    expect_stored(&db, &ann, PROJECT_QUOTA, "exactly at the quota").await;
}

/// Purging a project (a delete moves it to the trash, where its bytes still
/// count) gives back the bytes of every version it kept.
async fn deleting_a_project_gives_back_all_its_versions(db: TestDb) {
    let opts = ServerOptions::default().with(QUOTA_VAR, PROJECT_QUOTA);
    let server = TestServer::spawn(&db, &opts);
    let ann = User::login(&Client::new(&server.base_url), "ann", "student", &[]).await;
    let first = ann.create_ok("First", &body_of(300)).await["id"]
        .as_i64()
        .unwrap();
    ann.save(first, 1, &body_of(200))
        .await
        .expect(StatusCode::OK);
    ann.save(first, 2, &body_of(100))
        .await
        .expect(StatusCode::OK);
    let second = ann.create_ok("Second", &body_of(250)).await["id"]
        .as_i64()
        .unwrap();
    expect_stored(&db, &ann, 850, "with two projects").await;
    expect_over(&ann.create("Third", &body_of(400)).await, PROJECT_QUOTA);

    // To the trash: the bytes still count (a restore gives it all back)...
    assert_eq!(ann.delete(first).await.status, StatusCode::NO_CONTENT);
    expect_stored(&db, &ann, 850, "with the first in the trash").await;
    assert_eq!(files(&db).len(), 4, "the trash keeps the files");
    // ...only a purge gives them back.
    assert_eq!(ann.purge(first).await.status, StatusCode::NO_CONTENT);
    expect_stored(&db, &ann, 250, "after purging the first").await;
    assert_eq!(
        files(&db).len(),
        1,
        "only the second project's file is left"
    );
    ann.create_ok("Third", &body_of(400)).await;
    expect_stored(&db, &ann, 650, "after the third").await;
    assert_eq!(ann.delete(second).await.status, StatusCode::NO_CONTENT);
    expect_stored(&db, &ann, 650, "with the second in the trash").await;
    assert_eq!(ann.purge(second).await.status, StatusCode::NO_CONTENT);
    expect_stored(&db, &ann, 400, "after purging the second").await;
}

/// A copy is the copier's: its body counts toward the copier's bytes.
async fn a_copy_charges_the_copier(db: TestDb) {
    let opts = ServerOptions::default().with(QUOTA_VAR, PROJECT_QUOTA);
    let server = TestServer::spawn(&db, &opts);
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "teacher", &[("7b", "7B")]).await;
    let bob = User::login(&api, "bob", "student", &[("7b", "7B")]).await;
    let p = ann.create_ok("Shared", &body_of(600)).await;
    let id = p["id"].as_i64().unwrap();
    ann.share(id, &[ann.group("7b")])
        .await
        .expect(StatusCode::OK);

    let copy = bob.copy(id).await.expect(StatusCode::CREATED);
    assert_eq!(copy["owner_id"], bob.id);
    expect_stored(&db, &bob, 600, "after the copy").await;
    expect_stored(&db, &ann, 600, "after bob's copy").await;
    // A second copy would take bob to 1200: refused, nothing made.
    let projects_before = db.count("projects", "").await;
    let files_before = files(&db);
    expect_over(&bob.copy(id).await, PROJECT_QUOTA);
    assert_eq!(db.count("projects", "").await, projects_before);
    assert_eq!(files(&db), files_before);
    expect_stored(&db, &bob, 600, "after a refused copy").await;
    // Ann copies her own: 1200 is over for her too.
    expect_over(&ann.copy(id).await, PROJECT_QUOTA);
    expect_stored(&db, &ann, 600, "after her refused copy").await;
}

// ---- backpack ---------------------------------------------------------------

const BACKPACK_QUOTA: usize = 2 * KIB;

/// Backpack bodies and thumbnails are assets: they count once, when new; an
/// item that would go over stores neither its row nor its files.
async fn backpack_files_count_like_assets_only_when_new(db: TestDb) {
    let opts = ServerOptions::default().with(QUOTA_VAR, BACKPACK_QUOTA);
    let server = TestServer::spawn(&db, &opts);
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;

    let (body, thumbnail) = (svg("backpacked cat"), jpeg("a small cat"));
    post_item(&ann, &costume(&body, &thumbnail))
        .await
        .expect(StatusCode::CREATED);
    let one_item = body.len() + thumbnail.len();
    expect_stored(&db, &ann, one_item, "after one item").await;
    // The same files again: a second item, no new bytes.
    post_item(&ann, &costume(&body, &thumbnail))
        .await
        .expect(StatusCode::CREATED);
    expect_stored(&db, &ann, one_item, "after the same item again").await;
    // Bob backpacks ann's files: stored already, free for him.
    post_item(&bob, &costume(&body, &thumbnail))
        .await
        .expect(StatusCode::CREATED);
    expect_stored(&db, &bob, 0, "after backpacking stored files").await;

    // A body that fits with a thumbnail that does not: the whole item is
    // refused, neither asset is stored.
    let big = svg(&"x".repeat(BACKPACK_QUOTA - one_item - 100));
    let big_thumbnail = png(&"y".repeat(200));
    let items_before = db.count("backpack_items", "").await;
    let rows_before = assert_files_are_exactly_the_assets(&db).await;
    expect_over(
        &post_item(&ann, &costume(&big, &big_thumbnail)).await,
        BACKPACK_QUOTA,
    );
    let scratch = send(
        ann.req(Method::POST, "/backpack/ann")
            .json(&costume(&big, &big_thumbnail)),
    )
    .await;
    expect_over(&scratch, BACKPACK_QUOTA);
    assert_eq!(db.count("backpack_items", "").await, items_before);
    assert_eq!(assert_files_are_exactly_the_assets(&db).await, rows_before);
    expect_stored(&db, &ann, one_item, "after the refused item").await;

    // With the stored thumbnail it fits.
    post_item(&ann, &costume(&big, &thumbnail))
        .await
        .expect(StatusCode::CREATED);
    expect_stored(&db, &ann, one_item + big.len(), "after the big item").await;
    // Deleting an item gives nothing back: its files stay stored (anyone
    // may use them), and they were charged once.
    let items = ann.get("/api/v1/backpack").await.expect(StatusCode::OK);
    let id = items["items"][0]["id"].as_i64().unwrap();
    let gone = send(ann.req(Method::DELETE, &format!("/api/v1/backpack/{id}"))).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    expect_stored(&db, &ann, one_item + big.len(), "after a delete").await;
}

// ---- settings and migration -------------------------------------------------

/// `0` turns the quota off; the count is still kept.
async fn zero_turns_the_storage_quota_off(db: TestDb) {
    let opts = ServerOptions::default().with(QUOTA_VAR, 0);
    let server = TestServer::spawn(&db, &opts);
    let ann = User::login(&Client::new(&server.base_url), "ann", "student", &[]).await;
    for seed in 0..3 {
        let bytes = noise(KIB, seed);
        upload(&ann, &asset_name(&bytes, "wav"), bytes)
            .await
            .expect(StatusCode::CREATED);
    }
    ann.create_ok("Unlimited", &body_of(500)).await;
    expect_stored(&db, &ann, 3 * KIB + 500, "with no quota").await;
}

/// The migration that adds the count fills it from the versions already
/// kept; assets stored before it charge nobody (their uploader was never
/// recorded). Its `down` removes both columns and keeps every row.
async fn the_migration_counts_existing_versions_and_rolls_back(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;
    let cy = User::login(&api, "cy", "student", &[]).await;
    let p = ann.create_ok("Ann's", &body_of(100)).await["id"]
        .as_i64()
        .unwrap();
    ann.save(p, 1, &body_of(120)).await.expect(StatusCode::OK);
    ann.create_ok("Ann's second", &body_of(30)).await;
    bob.create_ok("Bob's", &body_of(77)).await;
    let sound = noise(KIB, 3);
    upload(&cy, &asset_name(&sound, "wav"), sound.clone())
        .await
        .expect(StatusCode::CREATED);
    drop(server);

    // Down to just before this migration (past any later one): the columns
    // go, every row stays.
    let status = run_cubby(&db, &["migrate", "status"]);
    let lines: Vec<&str> = status.lines().filter(|l| !l.trim().is_empty()).collect();
    let at = lines
        .iter()
        .position(|l| l.contains("_storage_quota"))
        .unwrap_or_else(|| panic!("no storage_quota migration in {status}"));
    let steps = (lines.len() - at).to_string();
    run_cubby(&db, &["migrate", "down", &steps]);
    let conn = db.connect().await;
    for (table, column) in [("users", "storage_bytes"), ("assets", "created_by")] {
        let gone = conn
            .execute_unprepared(&format!("SELECT {column} FROM {table}"))
            .await;
        assert!(gone.is_err(), "{table}.{column} is gone after down");
    }
    conn.close().await.ok();
    assert_eq!(db.count("users", "").await, 3);
    assert_eq!(db.count("project_versions", "").await, 4);
    assert_eq!(db.count("assets", "").await, 1);

    // Up again: the kept versions are counted; the asset charges nobody.
    run_cubby(&db, &["migrate", "up"]);
    assert_eq!(stored_bytes(&db, ann.id).await, 250);
    assert_eq!(stored_bytes(&db, bob.id).await, 77);
    assert_eq!(stored_bytes(&db, cy.id).await, 0);
    assert_eq!(created_by(&db, &md5_hex(&sound)).await, None);
}
