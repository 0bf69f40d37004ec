//! The trash and the history (G15): a delete moves a project to its owner's
//! trash, where every project route answers 404 for it until a restore gives
//! it back exactly as it was; a purge (or gc after the retention) removes its
//! rows and files and gives its bytes back (S8); a restore racing a purge:
//! exactly one wins. And a version restore: a save whose body is a kept
//! version's, byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::projects::{
    blob_files, etag, ids_of, md5_hex, run_gc, send, tally, unexpected, Reply, User,
};
use tests::server::cubby_command;
use tests::{race, start_processes, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    trash_lifecycle_hides_then_restores_the_same_project,
    a_teacher_may_see_and_restore_a_students_trash,
    a_purge_removes_rows_and_files_and_gives_bytes_back,
    gc_purges_after_the_retention_and_not_before,
    serve_purges_the_trash_periodically,
    version_restore_saves_a_kept_body_byte_for_byte,
    pages_delete_restore_purge_and_restore_a_version,
);
on_backends!(
    processes [1, 2]:
    restore_at_the_quota_is_refused_and_exact_under_racing_creates,
    restore_racing_a_purge_exactly_one_wins,
    restore_racing_gc_exactly_one_wins,
);

const RETENTION_SECS: &str = "CUBBY_TRASH_RETENTION_SECS";

// ---- helpers ---------------------------------------------------------------

async fn trash_list(user: &User, query: &str) -> Reply {
    user.get(&format!("/api/v1/trash{query}")).await
}

async fn restore(user: &User, id: i64) -> Reply {
    send(user.req(Method::POST, &format!("/api/v1/trash/{id}/restore"))).await
}

async fn restore_version(user: &User, id: i64, v: i64, request: Option<&Value>) -> Reply {
    let req = user.req(
        Method::POST,
        &format!("/api/v1/projects/{id}/versions/{v}/restore"),
    );
    send(match request {
        Some(r) => req.json(r),
        None => req,
    })
    .await
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp
/// (`YYYY-MM-DDTHH:MM:SS[.fff]Z` or `+00:00`).
fn epoch(ts: &Value) -> i64 {
    let s = ts
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {ts}"));
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().unwrap_or_else(|_| panic!("{s}")) };
    assert!(s.ends_with('Z') || s.ends_with("+00:00"), "not UTC: {s}");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

/// A user's stored bytes (S8), read from the database.
async fn stored(db: &TestDb, user: &User, bytes: i64) -> bool {
    db.count(
        "users",
        &format!("id = {} AND storage_bytes = {bytes}", user.id),
    )
    .await
        == 1
}

/// A project whose versions 1..=n have distinct, exactly spelled bodies;
/// returns its id and the bytes of each version (index 0 = version 1).
async fn project_with_versions(user: &User, title: &str, n: usize) -> (i64, Vec<Vec<u8>>) {
    let text = |v: usize| format!("{{ \"targets\": [],  \"v\": {v}, \"title\": \"{title}\" }}");
    let first = text(1);
    let created =
        send(user.create_req(format!("{{\"title\": \"{title}\", \"body\": {first}}}"))).await;
    let id = created.expect(StatusCode::CREATED)["id"].as_i64().unwrap();
    let mut bodies = vec![first.into_bytes()];
    for v in 2..=n {
        let body = text(v);
        let saved = send(
            user.req(Method::PUT, &format!("/api/v1/projects/{id}"))
                .header("content-type", "application/json")
                .body(format!("{{\"version\": {}, \"body\": {body}}}", v - 1)),
        )
        .await;
        assert_eq!(saved.expect(StatusCode::OK)["version"], v);
        bodies.push(body.into_bytes());
    }
    (id, bodies)
}

/// Every version body of the project is readable and is exactly `bodies`.
async fn assert_versions_readable(user: &User, id: i64, bodies: &[Vec<u8>]) {
    let current = user.body(id).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text());
    assert_eq!(&current.bytes, bodies.last().unwrap());
    for (i, body) in bodies.iter().enumerate() {
        let v = user.version_body(id, i as i64 + 1).await;
        assert_eq!(v.status, StatusCode::OK, "version {}: {}", i + 1, v.text());
        assert_eq!(&v.bytes, body, "version {}", i + 1);
    }
}

/// Files in the blob dir now that were not in `before`.
fn new_files(db: &TestDb, before: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    blob_files(db)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect()
}

fn files_set(db: &TestDb) -> BTreeSet<PathBuf> {
    blob_files(db).into_iter().collect()
}

/// Every way to reach a project: each must be 404 for a trashed one.
async fn assert_gone_everywhere(users: &[&User], id: i64, group: i64) {
    for user in users {
        for reply in [
            user.project(id).await,
            user.body(id).await,
            user.versions(id, "").await,
            user.version_body(id, 1).await,
            user.save(id, 1, &json!({"late": true})).await,
            user.update(id, &json!({"version": 1, "title": "Renamed"}))
                .await,
            user.copy(id).await,
            user.share(id, &[]).await,
            user.delete(id).await,
            user.get(&format!("/projects/{id}")).await,
            send(
                user.req(Method::PUT, &format!("/projects/{id}"))
                    .body(r#"{"targets": [], "scratch": true}"#),
            )
            .await,
        ] {
            reply.expect_problem(StatusCode::NOT_FOUND, "not_found");
        }
        for list in [
            "/api/v1/projects?scope=mine".to_owned(),
            "/api/v1/projects?scope=shared".to_owned(),
            format!("/api/v1/groups/{group}/projects"),
        ] {
            let items = user.list_all(&list, 100).await;
            assert!(!ids_of(&items).contains(&id), "{list} lists {id}");
        }
    }
}

// ---- the lifecycle ---------------------------------------------------------

/// Delete → 404 on every route and in every list for everyone → in the
/// trash with `deleted_at` and `purge_at` → restore: the same id, slug,
/// version, versions, shares and bodies.
async fn trash_lifecycle_hides_then_restores_the_same_project(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "teacher", &[("7b", "7B")]).await;
    let bob = User::login(&api, "bob", "student", &[("7b", "7B")]).await;
    let group = ann.group("7b");
    let (id, bodies) = project_with_versions(&ann, "Doomed", 3).await;
    ann.share(id, &[group]).await.expect(StatusCode::OK);
    let before = ann.project(id).await.expect(StatusCode::OK);
    let versions_before = ann.versions(id, "").await.expect(StatusCode::OK);
    let bytes: i64 = bodies.iter().map(|b| b.len() as i64).sum();
    assert!(stored(&db, &ann, bytes).await);
    assert!(bob.project(id).await.status == StatusCode::OK);

    let deleted = ann.delete(id).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert_gone_everywhere(&[&ann, &bob], id, group).await;
    // S8: a trashed project's bytes still count.
    assert!(stored(&db, &ann, bytes).await);

    // In the owner's trash, and nobody else's.
    let trash = trash_list(&ann, "").await.expect(StatusCode::OK);
    assert_eq!(trash["next_cursor"], Value::Null);
    let items = trash["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{trash}");
    let item = &items[0];
    for field in [
        "id",
        "owner_id",
        "title",
        "slug",
        "version",
        "parent_id",
        "body_size",
        "body_md5",
        "shared_with",
        "created_at",
        "updated_at",
    ] {
        assert_eq!(item[field], before[field], "{field}");
    }
    let deleted_at = epoch(&item["deleted_at"]);
    assert_eq!(epoch(&item["purge_at"]) - deleted_at, 30 * 86_400);
    assert!(deleted_at >= epoch(&before["updated_at"]));
    let bobs = trash_list(&bob, "").await.expect(StatusCode::OK);
    assert_eq!(bobs, json!({"items": [], "next_cursor": null}));
    trash_list(&bob, &format!("?owner_id={}", ann.id))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    restore(&bob, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    bob.purge(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Restore: exactly what was deleted.
    let restored = restore(&ann, id).await;
    assert_eq!(restored.header("etag"), Some(etag(3).as_str()));
    assert_eq!(restored.expect(StatusCode::OK), before);
    assert_eq!(ann.project(id).await.expect(StatusCode::OK), before);
    assert_eq!(
        ann.versions(id, "").await.expect(StatusCode::OK),
        versions_before
    );
    assert_versions_readable(&ann, id, &bodies).await;
    assert_eq!(bob.body(id).await.bytes, bodies[2], "the share is back");
    let shared = bob
        .list_all(&format!("/api/v1/groups/{group}/projects"), 10)
        .await;
    assert_eq!(ids_of(&shared), vec![id]);
    assert_eq!(
        trash_list(&ann, "").await.expect(StatusCode::OK),
        json!({"items": [], "next_cursor": null})
    );
    // Not in the trash any more: neither restored nor purged again.
    restore(&ann, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.purge(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // And it is a live project again.
    ann.save(id, 3, &json!({"after": "restore"}))
        .await
        .expect(StatusCode::OK);

    // The trash list: most recently deleted first, paginated.
    let mut trashed = Vec::new();
    for n in 0..3 {
        let p = ann.create_ok(&format!("T{n}"), &json!({"n": n})).await;
        let pid = p["id"].as_i64().unwrap();
        assert_eq!(ann.delete(pid).await.status, StatusCode::NO_CONTENT);
        trashed.push(pid);
        // deleted_at has whole seconds: make the order visible.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let listed = ann.list_all("/api/v1/trash", 2).await;
    trashed.reverse();
    assert_eq!(ids_of(&listed), trashed);
    trash_list(&ann, "?limit=0")
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    trash_list(&ann, "?cursor=x")
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    send(api.http.get(api.url("/api/v1/trash")))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    send(
        api.http
            .post(api.url(&format!("/api/v1/trash/{id}/restore"))),
    )
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

/// A teacher of a group the student is in may list and restore the
/// student's trash (but not purge it: 403); another teacher, a classmate or
/// a student naming someone else's trash: 404.
async fn a_teacher_may_see_and_restore_a_students_trash(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let sam = User::login(&api, "sam", "student", &[("7b", "7B")]).await;
    let tess = User::login(&api, "tess", "teacher", &[("7b", "7B"), ("8a", "8A")]).await;
    let olga = User::login(&api, "olga", "teacher", &[("8a", "8A")]).await;
    let carl = User::login(&api, "carl", "student", &[("7b", "7B")]).await;
    let (id, bodies) = project_with_versions(&sam, "Oops", 2).await;
    assert_eq!(sam.delete(id).await.status, StatusCode::NO_CONTENT);

    let seen = trash_list(&tess, &format!("?owner_id={}", sam.id))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids_of(seen["items"].as_array().unwrap()), vec![id]);
    assert_eq!(seen["items"][0]["owner_id"], sam.id);
    // The teacher's own trash is not the student's.
    let own = trash_list(&tess, "").await.expect(StatusCode::OK);
    assert_eq!(own["items"], json!([]));
    for outsider in [&olga, &carl] {
        trash_list(outsider, &format!("?owner_id={}", sam.id))
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
        restore(outsider, id)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
        outsider
            .purge(id)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A student may not see a teacher's trash either, nor an unknown user's.
    trash_list(&sam, &format!("?owner_id={}", tess.id))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    trash_list(&tess, "?owner_id=999999")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // The teacher may restore, not purge.
    tess.purge(id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let restored = restore(&tess, id).await.expect(StatusCode::OK);
    assert_eq!(restored["owner_id"], sam.id);
    assert_eq!(restored["version"], 2);
    assert_versions_readable(&sam, id, &bodies).await;
    assert_eq!(tess.body(id).await.bytes, bodies[1]);
}

/// A purge: rows (versions, shares, project) gone, files gone, bytes given
/// back (S8: not at the delete, at the purge); 404 everywhere afterwards.
async fn a_purge_removes_rows_and_files_and_gives_bytes_back(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "teacher", &[("7b", "7B")]).await;
    let (keep, keep_bodies) = project_with_versions(&ann, "Keep", 2).await;
    let before = files_set(&db);
    let (id, bodies) = project_with_versions(&ann, "Purge me", 3).await;
    ann.share(id, &[ann.group("7b")])
        .await
        .expect(StatusCode::OK);
    let own_files = new_files(&db, &before);
    assert_eq!(own_files.len(), 3);
    let kept: i64 = keep_bodies.iter().map(|b| b.len() as i64).sum();
    let all: i64 = kept + bodies.iter().map(|b| b.len() as i64).sum::<i64>();

    // A live project is not purged: only the trash is.
    ann.purge(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
    assert!(stored(&db, &ann, all).await, "the trash still counts");
    assert!(
        own_files.iter().all(|f| f.exists()),
        "the trash keeps files"
    );

    assert_eq!(ann.purge(id).await.status, StatusCode::NO_CONTENT);
    assert!(
        stored(&db, &ann, kept).await,
        "a purge gives the bytes back"
    );
    assert_eq!(db.count("projects", &format!("id = {id}")).await, 0);
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        0
    );
    assert_eq!(
        db.count("project_shares", &format!("project_id = {id}"))
            .await,
        0
    );
    for f in &own_files {
        assert!(!f.exists(), "{} outlived the purge", f.display());
    }
    assert_eq!(files_set(&db), before);
    ann.purge(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    restore(&ann, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        trash_list(&ann, "").await.expect(StatusCode::OK)["items"],
        json!([])
    );
    assert_gone_everywhere(&[&ann], id, ann.group("7b")).await;
    assert_versions_readable(&ann, keep, &keep_bodies).await;
}

// ---- gc ----------------------------------------------------------------------

/// `cubby gc` purges what has been in the trash longer than the retention,
/// and nothing sooner; `--dry-run` only says what it would purge.
async fn gc_purges_after_the_retention_and_not_before(db: TestDb) {
    const RETENTION: u64 = 3;
    let opts = ServerOptions::default().with(RETENTION_SECS, RETENTION);
    let server = TestServer::spawn(&db, &opts);
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let (keep, keep_bodies) = project_with_versions(&ann, "Keep", 2).await;
    let before = files_set(&db);
    let (id, _) = project_with_versions(&ann, "Old", 2).await;
    let own_files = new_files(&db, &before);
    assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
    let item = &trash_list(&ann, "").await.expect(StatusCode::OK)["items"][0];
    assert_eq!(
        epoch(&item["purge_at"]) - epoch(&item["deleted_at"]),
        RETENTION as i64
    );
    let env = [(RETENTION_SECS, "3")];

    // Too soon: nothing is purged.
    let (_, out) = run_gc(&db, &env, &[]);
    assert!(out.contains("purged 0 trashed projects"), "{out}");
    let (_, out) = run_gc(&db, &env, &["--dry-run"]);
    assert!(out.contains("would purge 0 trashed projects"), "{out}");
    assert_eq!(restore(&ann, id).await.status, StatusCode::OK);
    assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);

    tokio::time::sleep(Duration::from_secs(RETENTION + 2)).await;
    // A dry run names it and purges nothing.
    let (_, out) = run_gc(&db, &env, &["--dry-run"]);
    assert!(out.contains("would purge 1 trashed projects"), "{out}");
    assert!(out.lines().any(|l| l == format!("project {id}")), "{out}");
    assert_eq!(
        ids_of(
            trash_list(&ann, "").await.expect(StatusCode::OK)["items"]
                .as_array()
                .unwrap()
        ),
        vec![id]
    );
    // The default retention (30 days) keeps it too.
    let (_, out) = run_gc(&db, &[], &[]);
    assert!(out.contains("purged 0 trashed projects"), "{out}");

    let (_, out) = run_gc(&db, &env, &[]);
    assert!(out.contains("purged 1 trashed projects"), "{out}");
    assert_eq!(db.count("projects", &format!("id = {id}")).await, 0);
    for f in &own_files {
        assert!(!f.exists(), "{} outlived the purge", f.display());
    }
    let kept: i64 = keep_bodies.iter().map(|b| b.len() as i64).sum();
    assert!(stored(&db, &ann, kept).await);
    restore(&ann, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_versions_readable(&ann, keep, &keep_bodies).await;
    let (_, out) = run_gc(&db, &env, &[]);
    assert!(out.contains("purged 0 trashed projects"), "{out}");
}

/// `serve`'s periodic gc purges the trash too.
async fn serve_purges_the_trash_periodically(db: TestDb) {
    let opts = ServerOptions::default()
        .with(RETENTION_SECS, 1)
        .with("CUBBY_GC_INTERVAL_SECS", 1);
    let server = TestServer::spawn(&db, &opts);
    let ann = User::login(&Client::new(&server.base_url), "ann", "student", &[]).await;
    let id = ann.create_ok("Soon gone", &json!({})).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
    for _ in 0..100 {
        if db.count("projects", &format!("id = {id}")).await == 0 {
            restore(&ann, id)
                .await
                .expect_problem(StatusCode::NOT_FOUND, "not_found");
            assert!(stored(&db, &ann, 0).await);
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the periodic gc never purged project {id}");
}

// ---- the quota -------------------------------------------------------------

const QUOTA: usize = 4;
const QUOTA_CREATORS: usize = 5;

/// A restore counts toward the project quota like a create: at the quota it
/// is 403 `quota_exceeded`; racing creates and a restore stop exactly at it.
async fn restore_at_the_quota_is_refused_and_exact_under_racing_creates(
    db: TestDb,
    processes: usize,
) {
    let opts = ServerOptions::default().with("CUBBY_PROJECT_QUOTA", QUOTA);
    let (_servers, clients) = start_processes(&db, processes, &opts);
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let mut ids = Vec::new();
    for n in 0..QUOTA {
        ids.push(
            ann.create_ok(&format!("P{n}"), &json!({"n": n})).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // The trash does not count: a delete makes room.
    assert_eq!(ann.delete(ids[0]).await.status, StatusCode::NO_CONTENT);
    let extra = ann.create_ok("Extra", &json!({})).await["id"]
        .as_i64()
        .unwrap();
    restore(&ann, ids[0])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
    assert_eq!(ann.delete(extra).await.status, StatusCode::NO_CONTENT);
    assert_eq!(restore(&ann, ids[0]).await.status, StatusCode::OK);

    // Two live places left after deleting two; five creates and a restore race.
    for round in 0..2 {
        assert_eq!(ann.delete(ids[1]).await.status, StatusCode::NO_CONTENT);
        assert_eq!(ann.delete(ids[2]).await.status, StatusCode::NO_CONTENT);
        let trashed = ids[1];
        let results = race(QUOTA_CREATORS + 1, |i| {
            let user = ann.on(&clients[i % processes]);
            async move {
                if i == QUOTA_CREATORS {
                    restore(&user, trashed).await
                } else {
                    user.create(&format!("Racer {round}.{i}"), &json!({"i": i}))
                        .await
                }
            }
        })
        .await;
        let won = results
            .iter()
            .filter(|r| r.status == StatusCode::CREATED || r.status == StatusCode::OK)
            .count();
        assert_eq!(
            (won, results.len() - won),
            (2, QUOTA_CREATORS + 1 - 2),
            "round {round}: {:?} {:?}",
            tally(&results),
            unexpected(&results, &[200, 201, 403])
        );
        for r in results
            .iter()
            .filter(|r| r.status != StatusCode::CREATED && r.status != StatusCode::OK)
        {
            r.expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
        }
        let live = ann.list_all("/api/v1/projects?scope=mine", 100).await;
        assert_eq!(live.len(), QUOTA, "round {round}");
        assert_eq!(
            db.count(
                "projects",
                &format!("owner_id = {} AND deleted_at IS NULL", ann.id)
            )
            .await,
            QUOTA as i64
        );
        let restored = results[QUOTA_CREATORS].status == StatusCode::OK;
        assert_eq!(ids_of(&live).contains(&trashed), restored, "round {round}");
        // Back to a known state for the next round: ids[1] and ids[2] live,
        // the racers' projects purged.
        for r in results.iter().filter(|r| r.status == StatusCode::CREATED) {
            assert_eq!(ann.delete(r.id()).await.status, StatusCode::NO_CONTENT);
            assert_eq!(ann.purge(r.id()).await.status, StatusCode::NO_CONTENT);
        }
        for id in [ids[1], ids[2]] {
            if ann.project(id).await.status == StatusCode::NOT_FOUND {
                assert_eq!(restore(&ann, id).await.status, StatusCode::OK);
            }
        }
    }
}

// ---- G15 -------------------------------------------------------------------

const G15_ROUNDS: usize = 10;

/// A restore racing a purge of the same trashed project: exactly one wins
/// (200 or 204), the other is 404; then either every version is readable,
/// or the project is 404 everywhere and its files are gone.
async fn restore_racing_a_purge_exactly_one_wins(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..G15_ROUNDS {
        let before = files_set(&db);
        let (id, bodies) = project_with_versions(&ann, &format!("Round {round}"), 3).await;
        let own_files = new_files(&db, &before);
        assert_eq!(own_files.len(), 3);
        assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
        // Alternate who is sent first, and from which process.
        let results = race(2, |i| {
            let user = ann.on(&clients[(i + round) % processes]);
            async move {
                if (i + round) % 2 == 0 {
                    restore(&user, id).await
                } else {
                    user.purge(id).await
                }
            }
        })
        .await;
        let (restored, purged) = if round % 2 == 0 {
            (&results[0], &results[1])
        } else {
            (&results[1], &results[0])
        };
        match (restored.status, purged.status) {
            (StatusCode::OK, _) => {
                purged.expect_problem(StatusCode::NOT_FOUND, "not_found");
                *outcomes.entry("restored").or_default() += 1;
                assert_eq!(restored.json()["version"], 3);
                assert_versions_readable(&ann, id, &bodies).await;
                assert!(own_files.iter().all(|f| f.exists()));
                // Clean up for the file accounting of the next round.
                assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
                assert_eq!(ann.purge(id).await.status, StatusCode::NO_CONTENT);
            }
            (_, StatusCode::NO_CONTENT) => {
                restored.expect_problem(StatusCode::NOT_FOUND, "not_found");
                *outcomes.entry("purged").or_default() += 1;
                ann.project(id)
                    .await
                    .expect_problem(StatusCode::NOT_FOUND, "not_found");
                ann.version_body(id, 1)
                    .await
                    .expect_problem(StatusCode::NOT_FOUND, "not_found");
                assert_eq!(db.count("projects", &format!("id = {id}")).await, 0);
            }
            _ => panic!(
                "round {round}: restore {} {}, purge {} {}",
                restored.status,
                restored.text(),
                purged.status,
                purged.text()
            ),
        }
        for f in &own_files {
            assert!(
                !f.exists(),
                "round {round}: {} outlived the purge",
                f.display()
            );
        }
        assert_eq!(files_set(&db), before, "round {round}");
        assert_eq!(
            db.count("project_versions", &format!("project_id = {id}"))
                .await,
            0
        );
    }
    assert!(stored(&db, &ann, 0).await);
    eprintln!("restore vs purge: {outcomes:?}");
}

/// The same race against `cubby gc` (retention 0): the restore is 200 and
/// gc purges nothing, or gc purges it and the restore is 404.
async fn restore_racing_gc_exactly_one_wins(db: TestDb, processes: usize) {
    let opts = ServerOptions::default().with(RETENTION_SECS, 0);
    let (_servers, clients) = start_processes(&db, processes, &opts);
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..5u64 {
        let before = files_set(&db);
        let (id, bodies) = project_with_versions(&ann, &format!("Round {round}"), 2).await;
        let own_files = new_files(&db, &before);
        assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
        let gc = cubby_command(&db)
            .env(RETENTION_SECS, "0")
            .arg("gc")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cubby gc");
        // Start the restore at a different moment of gc's run each round.
        tokio::time::sleep(Duration::from_millis(60 * round)).await;
        let user = ann.on(&clients[round as usize % processes]);
        let restored = restore(&user, id).await;
        let gc = gc.wait_with_output().expect("cubby gc");
        let out = String::from_utf8_lossy(&gc.stdout).into_owned();
        assert!(
            gc.status.success(),
            "cubby gc failed: {out}{}",
            String::from_utf8_lossy(&gc.stderr)
        );
        match restored.status {
            StatusCode::OK => {
                *outcomes.entry("restored").or_default() += 1;
                assert!(out.contains("purged 0 trashed projects"), "{out}");
                assert_versions_readable(&ann, id, &bodies).await;
                assert!(own_files.iter().all(|f| f.exists()));
                assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
                assert_eq!(ann.purge(id).await.status, StatusCode::NO_CONTENT);
            }
            _ => {
                restored.expect_problem(StatusCode::NOT_FOUND, "not_found");
                *outcomes.entry("purged").or_default() += 1;
                assert!(out.contains("purged 1 trashed projects"), "{out}");
                ann.body(id)
                    .await
                    .expect_problem(StatusCode::NOT_FOUND, "not_found");
            }
        }
        for f in &own_files {
            assert!(
                !f.exists(),
                "round {round}: {} outlived the purge",
                f.display()
            );
        }
        assert_eq!(db.count("projects", &format!("id = {id}")).await, 0);
    }
    eprintln!("restore vs gc: {outcomes:?}");
}

// ---- version restore -------------------------------------------------------

/// `POST …/versions/{v}/restore`: version+1 with v's body byte for byte (a
/// save like any other: pruned to the kept number, bytes counted); stale →
/// 409, no version → 428, unknown or pruned v → 404.
async fn version_restore_saves_a_kept_body_byte_for_byte(db: TestDb) {
    let opts = ServerOptions::default().with("CUBBY_KEEP_VERSIONS", 3);
    let server = TestServer::spawn(&db, &opts);
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "teacher", &[("7b", "7B")]).await;
    let bob = User::login(&api, "bob", "student", &[("7b", "7B")]).await;
    let eve = User::login(&api, "eve", "student", &[]).await;
    let (id, mut bodies) = project_with_versions(&ann, "History", 3).await;
    ann.share(id, &[ann.group("7b")])
        .await
        .expect(StatusCode::OK);

    // v1's body as v4 (v1 itself is then pruned: 3 kept).
    let restored = restore_version(&ann, id, 1, Some(&json!({"version": 3}))).await;
    assert_eq!(restored.header("etag"), Some(etag(4).as_str()));
    let p = restored.expect(StatusCode::OK);
    assert_eq!(p["version"], 4);
    assert_eq!(p["body_md5"], md5_hex(&bodies[0]));
    assert_eq!(p["body_size"], bodies[0].len());
    let body = ann.body(id).await;
    assert_eq!(body.bytes, bodies[0], "byte for byte");
    assert_eq!(md5_hex(&body.bytes), md5_hex(&bodies[0]));
    bodies.push(bodies[0].clone());
    let versions = ann.versions(id, "").await.expect(StatusCode::OK);
    let listed: Vec<i64> = versions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![4, 3, 2]);
    assert_eq!(versions["items"][0]["author_id"], ann.id);
    assert_eq!(versions["items"][0]["body_md5"], md5_hex(&bodies[0]));
    let kept: i64 = bodies[1..].iter().map(|b| b.len() as i64).sum();
    assert!(stored(&db, &ann, kept).await, "S8 counts the new version");

    // With If-Match and no body.
    let by_etag = send(
        ann.req(
            Method::POST,
            &format!("/api/v1/projects/{id}/versions/2/restore"),
        )
        .header("if-match", etag(4)),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(by_etag["version"], 5);
    assert_eq!(ann.body(id).await.bytes, bodies[1]);
    assert_eq!(ann.version_body(id, 5).await.bytes, bodies[1]);

    // Stale, missing, disagreeing, pruned, unknown.
    let stale = restore_version(&ann, id, 3, Some(&json!({"version": 4}))).await;
    assert_eq!(
        stale.expect_problem(StatusCode::CONFLICT, "version_conflict")["current_version"],
        5
    );
    restore_version(&ann, id, 3, None)
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "version_required");
    restore_version(&ann, id, 3, Some(&json!({})))
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "version_required");
    send(
        ann.req(
            Method::POST,
            &format!("/api/v1/projects/{id}/versions/3/restore"),
        )
        .header("if-match", etag(4))
        .json(&json!({"version": 5})),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    send(
        ann.req(
            Method::POST,
            &format!("/api/v1/projects/{id}/versions/3/restore"),
        )
        .header("content-type", "text/plain")
        .body(r#"{"version": 5}"#),
    )
    .await
    .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    for pruned_or_unknown in [1, 2, 99, 0] {
        restore_version(&ann, id, pruned_or_unknown, Some(&json!({"version": 5})))
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A reader may not restore (403), a stranger may not know (404).
    restore_version(&bob, id, 3, Some(&json!({"version": 5})))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    restore_version(&eve, id, 3, Some(&json!({"version": 5})))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(ann.project(id).await.version(), 5, "nothing refused landed");

    // A trashed project has no history to restore from.
    assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
    restore_version(&ann, id, 3, Some(&json!({"version": 5})))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(restore(&ann, id).await.expect(StatusCode::OK)["version"], 5);
    let again = restore_version(&ann, id, 3, Some(&json!({"version": 5})))
        .await
        .expect(StatusCode::OK);
    assert_eq!(again["version"], 6);
    assert_eq!(ann.body(id).await.bytes, bodies[2]);
}

// ---- pages -----------------------------------------------------------------

/// The home page's Delete, Trash (Restore, Delete forever) and the project
/// page's "Restore this version", as plain forms answering 303.
async fn pages_delete_restore_purge_and_restore_a_version(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let ann = User::login(&Client::new(&server.base_url), "ann", "student", &[]).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let cookie = format!("cubby_session={}", ann.token);
    let get = |path: String| {
        let req = http.get(server.url(&path)).header("cookie", &cookie);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        }
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let req = http
            .post(server.url(&path))
            .header("cookie", &cookie)
            .form(&form);
        async move {
            let resp = req.send().await.unwrap();
            let location = resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (resp.status(), location)
        }
    };
    let (id, bodies) = project_with_versions(&ann, "Paged", 3).await;

    let (status, home) = get("/".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains(&format!(r#"href="/project/{id}""#)), "{home}");
    assert!(
        home.contains(&format!(r#"action="/home/delete/{id}""#)),
        "{home}"
    );
    assert!(home.contains("The trash is empty."), "{home}");

    // The project page: versions with restore forms and the .sb3 link.
    let (status, page) = get(format!("/project/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Restore this version"), "{page}");
    for v in [1, 2] {
        assert!(
            page.contains(&format!(r#"action="/project/{id}/versions/{v}/restore""#)),
            "{page}"
        );
    }
    assert!(
        page.contains(&format!(r#"href="/api/v1/projects/{id}/sb3""#)),
        "{page}"
    );
    let restored = post(
        format!("/project/{id}/versions/1/restore"),
        vec![("version", "3".into())],
    )
    .await;
    assert_eq!(
        restored,
        (StatusCode::SEE_OTHER, Some(format!("/project/{id}")))
    );
    assert_eq!(ann.project(id).await.version(), 4);
    assert_eq!(ann.body(id).await.bytes, bodies[0]);
    // The same form again is stale now.
    let (status, _) = post(
        format!("/project/{id}/versions/1/restore"),
        vec![("version", "3".into())],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Delete from the home page: into the Trash section.
    let deleted = post(format!("/home/delete/{id}"), vec![]).await;
    assert_eq!(deleted, (StatusCode::SEE_OTHER, Some("/".into())));
    let (_, home) = get("/".into()).await;
    assert!(
        !home.contains(&format!(r#"href="/project/{id}""#)),
        "{home}"
    );
    assert!(
        home.contains("Paged") && home.contains("Days left"),
        "{home}"
    );
    assert!(
        home.contains(&format!(r#"action="/home/trash/{id}/restore""#)),
        "{home}"
    );
    assert!(
        home.contains(&format!(r#"action="/home/trash/{id}/purge""#)),
        "{home}"
    );
    assert!(home.contains("Delete forever"), "{home}");
    let (status, _) = get(format!("/project/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let restored = post(format!("/home/trash/{id}/restore"), vec![]).await;
    assert_eq!(restored, (StatusCode::SEE_OTHER, Some("/".into())));
    assert_eq!(ann.project(id).await.version(), 4);
    assert_eq!(
        post(format!("/home/delete/{id}"), vec![]).await.0,
        StatusCode::SEE_OTHER
    );
    let purged = post(format!("/home/trash/{id}/purge"), vec![]).await;
    assert_eq!(purged, (StatusCode::SEE_OTHER, Some("/".into())));
    assert_eq!(db.count("projects", "").await, 0);
    let (_, home) = get("/".into()).await;
    assert!(home.contains("The trash is empty."), "{home}");
    // Logged out: the forms are 401, the project page sends you home.
    let anonymous = http
        .post(server.url(&format!("/home/delete/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let anonymous = http
        .get(server.url(&format!("/project/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::FOUND);
}
