//! The project guarantees under concurrency — G1, G2, G5, G6, G7, G8, G10 and
//! G14 — each with one server process and with two on the same database
//! (clients spread over both). Every race counts the statuses it got, so a
//! 500 (or anything unexpected) fails it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::projects::{md5_hex, send, sorted_ids, tally, unexpected, Reply, User};
use tests::{race, start_processes, ServerOptions, TestDb};

use crate::on_backends;

on_backends!(
    processes [1, 2]:
    same_version_saves_one_wins,
    savers_that_retry_on_conflict_all_succeed,
    concurrent_share_sets_never_duplicate,
    copies_racing_a_delete_are_whole_or_404,
    saves_racing_a_delete_never_land_after_it,
    concurrent_creates_stop_at_the_quota,
    concurrent_creates_with_one_title_get_distinct_slugs,
    one_idempotency_key_makes_one_project,
);

// ---- G1 --------------------------------------------------------------------

const SAME_VERSION_SAVERS: usize = 32;

async fn same_version_saves_one_wins(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let owner = User::login(&clients[0], "ann", "student", &[]).await;

    for round in 0..3 {
        let id = owner
            .create(&format!("Race {round}"), &json!({"targets": []}))
            .await
            .id();
        let results = race(SAME_VERSION_SAVERS, |i| {
            let user = owner.on(&clients[i % processes]);
            async move { user.save(id, 1, &json!({"targets": [], "writer": i})).await }
        })
        .await;

        assert_eq!(
            tally(&results),
            BTreeMap::from([(200, 1), (409, SAME_VERSION_SAVERS - 1)]),
            "round {round}: {:?}",
            unexpected(&results, &[200, 409])
        );
        let winner = results
            .iter()
            .position(|r| r.status == StatusCode::OK)
            .unwrap();
        assert_eq!(results[winner].version(), 2);
        for r in results.iter().filter(|r| r.status == StatusCode::CONFLICT) {
            let problem = r.expect_problem(StatusCode::CONFLICT, "version_conflict");
            assert_eq!(problem["current_version"], 2);
        }
        let winner_body = json!({"targets": [], "writer": winner});
        assert_eq!(
            owner.body(id).await.json(),
            winner_body,
            "the winner's body"
        );
        let p = owner.project(id).await.expect(StatusCode::OK);
        assert_eq!(p["version"], 2);
        assert_eq!(
            p["body_md5"],
            md5_hex(&serde_json::to_vec(&winner_body).unwrap())
        );
        assert_eq!(
            db.count("project_versions", &format!("project_id = {id}"))
                .await,
            2
        );
    }
}

// ---- G2 --------------------------------------------------------------------

const RETRYING_SAVERS: usize = 16;
/// `CUBBY_KEEP_VERSIONS` by default.
const DEFAULT_KEEP: usize = 50;
const SAVES_EACH: usize = 10;
/// A save that has lost this many times in a row is reported, not retried.
const MAX_ATTEMPTS: usize = 500;

/// What one retrying saver saw: the (version, body) of each 200, the number of
/// 409s, and any answer that was neither.
#[derive(Default)]
struct SaverLog {
    won: Vec<(i64, Value)>,
    conflicts: usize,
    failures: Vec<String>,
}

async fn savers_that_retry_on_conflict_all_succeed(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let owner = User::login(&clients[0], "ann", "student", &[]).await;
    let id = owner.create("Busy", &json!({"targets": []})).await.id();

    let logs = race(RETRYING_SAVERS, |i| {
        let user = owner.on(&clients[i % processes]);
        async move {
            let mut log = SaverLog::default();
            'saves: for k in 0..SAVES_EACH {
                for _ in 0..MAX_ATTEMPTS {
                    let current = user.project(id).await;
                    if current.status != StatusCode::OK {
                        log.failures
                            .push(format!("GET: {} {}", current.status, current.text()));
                        break 'saves;
                    }
                    let body = json!({"saver": i, "save": k});
                    let saved = user.save(id, current.version(), &body).await;
                    match saved.status {
                        StatusCode::OK => {
                            log.won.push((saved.version(), body));
                            continue 'saves;
                        }
                        StatusCode::CONFLICT
                            if saved.is_problem(StatusCode::CONFLICT, "version_conflict") =>
                        {
                            log.conflicts += 1;
                        }
                        _ => {
                            log.failures
                                .push(format!("PUT: {} {}", saved.status, saved.text()));
                            break 'saves;
                        }
                    }
                }
                log.failures
                    .push(format!("save {k} lost {MAX_ATTEMPTS} times in a row"));
                break;
            }
            log
        }
    })
    .await;

    let failures: Vec<&String> = logs.iter().flat_map(|l| &l.failures).collect();
    assert!(
        failures.is_empty(),
        "every save must succeed: {failures:#?}"
    );
    let won: Vec<&(i64, Value)> = logs.iter().flat_map(|l| &l.won).collect();
    assert_eq!(won.len(), RETRYING_SAVERS * SAVES_EACH);
    let versions: BTreeSet<i64> = won.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions.len(),
        won.len(),
        "no two 200s with the same version"
    );
    assert_eq!(
        versions,
        (2..=1 + won.len() as i64).collect::<BTreeSet<i64>>()
    );
    let conflicts: usize = logs.iter().map(|l| l.conflicts).sum();
    eprintln!("{} saves, {conflicts} conflicts on the way", won.len());

    let last = 1 + won.len() as i64;
    assert_eq!(last, 161);
    let p = owner.project(id).await.expect(StatusCode::OK);
    assert_eq!(p["version"], last);
    let (_, last_body) = won.iter().find(|(v, _)| *v == last).unwrap();
    assert_eq!(&owner.body(id).await.json(), last_body);

    // The default keeps 50 versions: the newest 50, all readable.
    let kept = owner
        .list_all(&format!("/api/v1/projects/{id}/versions"), 100)
        .await;
    let kept_versions: Vec<i64> = kept
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(kept.len(), (last as usize).min(DEFAULT_KEEP));
    assert_eq!(
        kept_versions,
        (last - 49..=last).rev().collect::<Vec<i64>>()
    );
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        50
    );
    for (v, body) in won.iter().filter(|(v, _)| *v > last - 50) {
        let stored = owner.version_body(id, *v).await;
        assert_eq!(stored.status, StatusCode::OK, "version {v}");
        assert_eq!(&stored.json(), body, "version {v}");
    }
}

// ---- G5 --------------------------------------------------------------------

const SHARERS: usize = 16;

async fn concurrent_share_sets_never_duplicate(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let teacher = User::login(
        &clients[0],
        "ms-lee",
        "teacher",
        &[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")],
    )
    .await;
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|g| teacher.group(g));
    let id = teacher.create("Shared", &json!({})).await.id();
    let sets: Vec<Vec<i64>> = vec![
        vec![a],
        vec![a, b],
        vec![d, c, b],
        vec![a, b, c, d],
        vec![],
        vec![d],
        vec![c, a],
    ];
    let sorted_sets: Vec<Vec<i64>> = sets.iter().map(|s| sorted_ids(&json!(s))).collect();

    for round in 0..4 {
        let results = race(SHARERS, |i| {
            let user = teacher.on(&clients[i % processes]);
            let set = sets[(i + round) % sets.len()].clone();
            async move { user.share(id, &set).await }
        })
        .await;
        assert_eq!(
            tally(&results),
            BTreeMap::from([(200, SHARERS)]),
            "round {round}: {:?}",
            unexpected(&results, &[200])
        );
        for (i, r) in results.iter().enumerate() {
            assert_eq!(
                r.json(),
                json!({"project_id": id, "group_ids": sorted_sets[(i + round) % sets.len()]})
            );
        }

        let shared_with = teacher.project(id).await.json()["shared_with"].clone();
        let final_set = sorted_ids(&shared_with);
        let distinct: BTreeSet<i64> = final_set.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            final_set.len(),
            "duplicates in {shared_with}"
        );
        assert!(
            sorted_sets.contains(&final_set),
            "round {round}: {final_set:?} is none of the requested sets"
        );
        assert_eq!(
            db.count("project_shares", &format!("project_id = {id}"))
                .await,
            final_set.len() as i64
        );
        for g in [a, b, c, d] {
            assert_eq!(
                db.count(
                    "project_shares",
                    &format!("project_id = {id} AND group_id = {g}")
                )
                .await,
                i64::from(final_set.contains(&g)),
                "group {g}"
            );
        }
    }

    // A set that names a group twice is still a set.
    let twice = teacher.share(id, &[a, b, a]).await.expect(StatusCode::OK);
    assert_eq!(
        twice,
        json!({"project_id": id, "group_ids": sorted_ids(&json!([a, b]))})
    );
    assert_eq!(
        db.count("project_shares", &format!("project_id = {id}"))
            .await,
        2
    );
}

// ---- G6 --------------------------------------------------------------------

const COPIERS: usize = 16;

async fn copies_racing_a_delete_are_whole_or_404(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let owner = User::login(&clients[0], "sam", "student", &[("7b", "Class 7B")]).await;
    let teacher = User::login(&clients[0], "ms-lee", "teacher", &[("7b", "Class 7B")]).await;
    let (mut copied, mut missed) = (0, 0);

    for round in 0..4 {
        let body = json!({"targets": [], "round": round, "pad": "x".repeat(4000)});
        let bytes = serde_json::to_vec(&body).unwrap();
        let source = owner.create(&format!("Source {round}"), &body).await.id();
        // The delete leaves in the middle of the pack.
        let deleter = COPIERS / 2;
        let results = race(COPIERS + 1, |i| {
            let client = &clients[i % processes];
            let user = if i % 2 == 0 {
                owner.on(client)
            } else {
                teacher.on(client)
            };
            async move {
                if i == deleter {
                    user.delete(source).await
                } else {
                    user.copy(source).await
                }
            }
        })
        .await;

        assert_eq!(results[deleter].status, StatusCode::NO_CONTENT);
        let copies: Vec<(usize, &Reply)> = results
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != deleter)
            .collect();
        let bad: Vec<String> = copies
            .iter()
            .filter(|(_, r)| {
                r.status != StatusCode::CREATED && !r.is_problem(StatusCode::NOT_FOUND, "not_found")
            })
            .map(|(_, r)| format!("{} {}", r.status, r.text()))
            .collect();
        assert!(
            bad.is_empty(),
            "round {round}: copies must be 201 or 404: {bad:#?}"
        );

        let mut made = 0;
        for (i, r) in copies
            .iter()
            .filter(|(_, r)| r.status == StatusCode::CREATED)
        {
            let copier = if i % 2 == 0 { &owner } else { &teacher };
            let copy = r.json();
            assert_eq!(copy["owner_id"], copier.id);
            assert_eq!(copy["parent_id"], source);
            assert_eq!(copy["version"], 1);
            assert_eq!(copy["body_size"], bytes.len());
            assert_eq!(copy["body_md5"], md5_hex(&bytes));
            let copy_body = copier.body(r.id()).await;
            assert_eq!(copy_body.status, StatusCode::OK, "copy {}", r.id());
            assert_eq!(
                copy_body.bytes,
                bytes,
                "copy {} has the source's body",
                r.id()
            );
            made += 1;
        }
        copied += made;
        missed += COPIERS - made;
        assert_eq!(
            db.count("projects", &format!("parent_id = {source}")).await,
            made as i64
        );
        // In the trash (G15), not purged.
        assert_eq!(
            db.count("projects", &format!("id = {source} AND deleted_at IS NULL"))
                .await,
            0
        );
        owner
            .project(source)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    eprintln!("{copied} copies made, {missed} found the source gone");
}

// ---- G7 --------------------------------------------------------------------

const DELETE_RACE_SAVERS: usize = 8;

/// One request of the G7 race: when it left, when its answer came, the answer.
struct Timed {
    sent: Instant,
    done: Instant,
    reply: Reply,
}

async fn saves_racing_a_delete_never_land_after_it(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let owner = User::login(&clients[0], "ann", "student", &[]).await;

    for round in 0..3 {
        let id = owner
            .create(&format!("Doomed {round}"), &json!({"n": 0}))
            .await
            .id();
        let logs: Vec<Vec<Timed>> = race(DELETE_RACE_SAVERS + 1, |i| {
            let user = owner.on(&clients[i % processes]);
            async move {
                let mut log = Vec::new();
                if i == DELETE_RACE_SAVERS {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let sent = Instant::now();
                    let reply = user.delete(id).await;
                    log.push(Timed {
                        sent,
                        done: Instant::now(),
                        reply,
                    });
                    return log;
                }
                // Save on top of whatever is current until the project is gone.
                let mut version = 1;
                for n in 0..2000 {
                    let sent = Instant::now();
                    let reply = user.save(id, version, &json!({"saver": i, "n": n})).await;
                    let done = Instant::now();
                    let status = reply.status;
                    match status {
                        StatusCode::OK => version = reply.version(),
                        StatusCode::CONFLICT => {
                            version = reply.json()["current_version"].as_i64().unwrap_or(version)
                        }
                        _ => {}
                    }
                    log.push(Timed { sent, done, reply });
                    if status != StatusCode::OK && status != StatusCode::CONFLICT {
                        break;
                    }
                }
                log
            }
        })
        .await;

        let delete = &logs[DELETE_RACE_SAVERS][0];
        assert_eq!(
            delete.reply.status,
            StatusCode::NO_CONTENT,
            "{}",
            delete.reply.text()
        );
        let mut landed = BTreeSet::new();
        let mut saves = 0;
        for (saver, log) in logs[..DELETE_RACE_SAVERS].iter().enumerate() {
            let last = log.last().unwrap();
            assert!(
                last.reply.is_problem(StatusCode::NOT_FOUND, "not_found"),
                "round {round}, saver {saver} ended with {} {}",
                last.reply.status,
                last.reply.text()
            );
            for t in log {
                saves += 1;
                let status = t.reply.status;
                assert!(
                    status == StatusCode::OK
                        || t.reply.is_problem(StatusCode::CONFLICT, "version_conflict")
                        || t.reply.is_problem(StatusCode::NOT_FOUND, "not_found"),
                    "round {round}: {} {}",
                    status,
                    t.reply.text()
                );
                if t.sent > delete.done {
                    assert_eq!(status, StatusCode::NOT_FOUND, "a save sent after the 204");
                }
                if status == StatusCode::OK {
                    assert!(
                        landed.insert(t.reply.version()),
                        "two 200s with version {}",
                        t.reply.version()
                    );
                }
            }
        }
        eprintln!(
            "round {round}: {saves} saves, {} landed before the delete",
            landed.len()
        );

        // Gone, and it stays gone.
        for _ in 0..3 {
            owner
                .project(id)
                .await
                .expect_problem(StatusCode::NOT_FOUND, "not_found");
            let next = landed.last().copied().unwrap_or(1);
            owner
                .save(id, next, &json!({"late": true}))
                .await
                .expect_problem(StatusCode::NOT_FOUND, "not_found");
        }
        // In the trash (G15) at the last version that landed; no version
        // row after it.
        let last = landed.last().copied().unwrap_or(1);
        assert_eq!(
            db.count(
                "projects",
                &format!("id = {id} AND deleted_at IS NOT NULL AND version = {last}")
            )
            .await,
            1
        );
        assert_eq!(
            db.count(
                "project_versions",
                &format!("project_id = {id} AND version > {last}")
            )
            .await,
            0
        );
    }
}

// ---- G8 --------------------------------------------------------------------

const QUOTA: usize = 5;
const CREATORS: usize = 20;

async fn concurrent_creates_stop_at_the_quota(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(
        &db,
        processes,
        &ServerOptions::default().with("CUBBY_PROJECT_QUOTA", QUOTA),
    );
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let results = race(CREATORS, |i| {
        let user = ann.on(&clients[i % processes]);
        async move { user.create(&format!("Quota {i}"), &json!({"i": i})).await }
    })
    .await;
    assert_eq!(
        tally(&results),
        BTreeMap::from([(201, QUOTA), (403, CREATORS - QUOTA)]),
        "{:?}",
        unexpected(&results, &[201, 403])
    );
    for r in results.iter().filter(|r| r.status == StatusCode::FORBIDDEN) {
        r.expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
    }
    assert_eq!(db.count("projects", "").await, QUOTA as i64);
    assert_eq!(db.count("project_versions", "").await, QUOTA as i64);
    let mine = ann.list_all("/api/v1/projects?scope=mine", 100).await;
    assert_eq!(mine.len(), QUOTA);

    // At the quota a copy is refused too; a delete makes room; others have their own.
    let first = results
        .iter()
        .find(|r| r.status == StatusCode::CREATED)
        .unwrap()
        .id();
    ann.create("One more", &json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
    ann.copy(first)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
    assert_eq!(ann.delete(first).await.status, StatusCode::NO_CONTENT);
    ann.create("Room again", &json!({}))
        .await
        .expect(StatusCode::CREATED);
    let bob = User::login(&clients[0], "bob", "student", &[]).await;
    bob.create("Bob's", &json!({}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        db.count(
            "projects",
            &format!("owner_id = {} AND deleted_at IS NULL", ann.id)
        )
        .await,
        QUOTA as i64
    );
}

// ---- G10 -------------------------------------------------------------------

const SAME_TITLE_CREATORS: usize = 32;

async fn concurrent_creates_with_one_title_get_distinct_slugs(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let mut users = Vec::new();
    for name in ["ann", "bob", "cat", "dan"] {
        users.push(User::login(&clients[0], name, "student", &[]).await);
    }
    let results = race(SAME_TITLE_CREATORS, |i| {
        let user = users[i % users.len()].on(&clients[i % processes]);
        async move { user.create("Same Title", &json!({"i": i})).await }
    })
    .await;
    assert_eq!(
        tally(&results),
        BTreeMap::from([(201, SAME_TITLE_CREATORS)]),
        "{:?}",
        unexpected(&results, &[201])
    );
    let slugs: Vec<String> = results
        .iter()
        .map(|r| r.json()["slug"].as_str().unwrap().to_owned())
        .collect();
    let distinct: BTreeSet<&String> = slugs.iter().collect();
    assert_eq!(distinct.len(), SAME_TITLE_CREATORS, "{slugs:?}");
    assert_eq!(
        slugs.iter().filter(|s| *s == "same-title").count(),
        1,
        "{slugs:?}"
    );
    for slug in &slugs {
        assert!(
            slug == "same-title" || slug.starts_with("same-title-"),
            "{slug}"
        );
    }
    assert_eq!(db.count("projects", "").await, SAME_TITLE_CREATORS as i64);
}

// ---- G14 -------------------------------------------------------------------

const REPLAYERS: usize = 16;

/// All replies 201 with byte-identical bodies and the same `Location`.
fn assert_all_the_first(results: &[Reply], what: &str) {
    assert_eq!(
        tally(results),
        BTreeMap::from([(201, results.len())]),
        "{what}: {:?}",
        unexpected(results, &[201])
    );
    for r in results {
        assert_eq!(r.text(), results[0].text(), "{what}: the same body");
        assert_eq!(
            r.header("location"),
            results[0].header("location"),
            "{what}: the same Location"
        );
    }
}

async fn one_idempotency_key_makes_one_project(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let bob = User::login(&clients[0], "bob", "student", &[]).await;
    let create = |user: User| async move {
        send(
            user.req(Method::POST, "/api/v1/projects")
                .header("idempotency-key", "create-once")
                .json(&json!({"title": "Once", "body": {"targets": []}})),
        )
        .await
    };

    let results = race(REPLAYERS, |i| create(ann.on(&clients[i % processes]))).await;
    assert_all_the_first(&results, "create");
    let id = results[0].id();
    assert_eq!(
        db.count("projects", &format!("owner_id = {}", ann.id))
            .await,
        1
    );
    assert_eq!(db.count("project_versions", "").await, 1);
    // Later replays answer the same; another user's same key is their own.
    let again = create(ann.clone()).await;
    assert_eq!(
        (again.status, again.text()),
        (results[0].status, results[0].text())
    );
    let bobs = create(bob.clone()).await;
    assert_eq!(bobs.status, StatusCode::CREATED);
    assert_ne!(bobs.id(), id);
    assert_eq!(db.count("projects", "").await, 2);

    // Copies with one key: one copy.
    let copy = |user: User| async move {
        send(
            user.req(Method::POST, &format!("/api/v1/projects/{id}/copy"))
                .header("idempotency-key", "copy-once")
                .json(&json!({"title": "Copy once"})),
        )
        .await
    };
    let results = race(REPLAYERS, |i| copy(ann.on(&clients[i % processes]))).await;
    assert_all_the_first(&results, "copy");
    let copy_json = results[0].json();
    assert_eq!(copy_json["parent_id"], id);
    assert_eq!(copy_json["title"], "Copy once");
    assert_eq!(db.count("projects", &format!("parent_id = {id}")).await, 1);
    let again = copy(ann.clone()).await;
    assert_eq!(
        (again.status, again.text()),
        (results[0].status, results[0].text())
    );
    assert_eq!(db.count("projects", "").await, 3);
    assert_eq!(
        ann.body(results[0].id()).await.json(),
        json!({"targets": []})
    );
}
