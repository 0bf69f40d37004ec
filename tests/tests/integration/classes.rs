//! Classes a teacher makes (`source: "local"`): create, join by code,
//! rotate, members, remove, the last teacher; the login sync leaving local
//! memberships alone; sharing and assignments with a local class; the
//! join-code rate limit;
//! and G20 — N concurrent joins with one code, and joins racing a rotation —
//! with one and two server processes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::projects::{send, tally, unexpected, Reply, User};
use tests::{race, start_processes, Client, ServerOptions, TestDb};

use crate::on_backends;

on_backends!(
    class_lifecycle,
    login_sync_leaves_local_classes_alone,
    sharing_with_a_local_class,
    assignments_in_a_local_class,
    wrong_codes_are_rate_limited_per_user,
    wrong_codes_are_rate_limited_per_address,
    the_home_page_makes_joins_and_shows_classes,
);
on_backends!(
    processes [1, 2]:
    concurrent_joins_with_one_code,
    joins_racing_a_rotation,
    two_last_teachers_leaving_at_once,
);

const ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn assert_code(code: &Value) -> String {
    let code = code.as_str().unwrap_or_else(|| panic!("no code: {code}"));
    assert_eq!(code.len(), 8, "{code}");
    assert!(code.chars().all(|c| ALPHABET.contains(c)), "{code}");
    code.to_owned()
}

async fn create_class(teacher: &User, name: &str) -> Reply {
    send(
        teacher
            .req(Method::POST, "/api/v1/groups")
            .json(&json!({ "name": name })),
    )
    .await
}

async fn join(user: &User, code: &str) -> Reply {
    send(
        user.req(Method::POST, "/api/v1/groups/join")
            .json(&json!({ "code": code })),
    )
    .await
}

async fn rotate(user: &User, group: i64) -> Reply {
    send(user.req(Method::POST, &format!("/api/v1/groups/{group}/join-code"))).await
}

async fn members(user: &User, group: i64) -> Reply {
    user.get(&format!("/api/v1/groups/{group}/members")).await
}

async fn remove(user: &User, group: i64, member: i64) -> Reply {
    send(user.req(
        Method::DELETE,
        &format!("/api/v1/groups/{group}/members/{member}"),
    ))
    .await
}

/// The member ids of `group`, as its teacher `teacher` lists them; asserts
/// no one is listed twice.
async fn member_ids(teacher: &User, group: i64) -> Vec<i64> {
    let list = members(teacher, group).await.expect(StatusCode::OK);
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let distinct: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "a member listed twice: {list}");
    ids
}

/// The caller's groups as `GET /api/v1/me` shows them.
async fn my_groups(user: &User) -> Vec<Value> {
    let me = user.get("/api/v1/me").await.expect(StatusCode::OK);
    me["groups"].as_array().unwrap().clone()
}

async fn class_lifecycle(db: TestDb) {
    let (_servers, clients) = start_processes(&db, 1, &ServerOptions::default());
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[("7b", "7B")]).await;
    let sam = User::login(api, "sam", "student", &[]).await;
    let stranger = User::login(api, "zed", "teacher", &[]).await;

    // Create: 201, the Group shape, the caller its first (teacher) member.
    let reply = create_class(&tess, "Robots club").await;
    let class = reply.expect(StatusCode::CREATED);
    let id = class["id"].as_i64().unwrap();
    assert_eq!(class["source"], "local");
    assert!(class["external_id"].is_null(), "{class}");
    assert_eq!(class["name"], "Robots club");
    let code = assert_code(&class["join_code"]);
    assert_eq!(
        member_ids(&tess, id).await,
        vec![tess.id],
        "the teacher is the first member"
    );
    // Her group list shows it with its code; the idp group has none.
    let listed = tess.get("/api/v1/groups").await.expect(StatusCode::OK);
    let items = listed["items"].as_array().unwrap();
    let local = items.iter().find(|g| g["id"] == id).unwrap();
    assert_eq!(local["join_code"], code.as_str());
    let idp = items.iter().find(|g| g["external_id"] == "7b").unwrap();
    assert_eq!(idp["source"], "idp");
    assert!(idp.get("join_code").is_none(), "{idp}");

    // A student may not make a class; bad names are 400.
    create_class(&sam, "Mine")
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    create_class(&tess, " ")
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_input");

    // Join with the code in lower case: 200 Group, no code for a student.
    let joined = join(&sam, &code.to_lowercase())
        .await
        .expect(StatusCode::OK);
    assert_eq!(joined["id"], id);
    assert_eq!(joined["source"], "local");
    assert!(joined.get("join_code").is_none(), "{joined}");
    // Again: 200, unchanged.
    join(&sam, &code).await.expect(StatusCode::OK);
    assert_eq!(member_ids(&tess, id).await, vec![tess.id, sam.id]);
    let sams = my_groups(&sam).await;
    assert_eq!(sams.len(), 1, "{sams:?}");
    assert!(sams[0]["external_id"].is_null() && sams[0].get("join_code").is_none());
    assert_eq!(
        db.count("memberships", &format!("group_id = {id}")).await,
        2
    );

    // Unknown codes: 404 (well-formed or not).
    for bad in ["ZZZZZZZZ", "nope", ""] {
        join(&stranger, bad)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }

    // Members: teacher members only; a student member 403, a stranger 404.
    members(&sam, id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    members(&stranger, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    members(&tess, id + 1000)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let list = members(&tess, id).await.expect(StatusCode::OK);
    assert_eq!(
        list["items"][1],
        json!({"id": sam.id, "username": "sam", "display_name": "sam", "role": "student"})
    );

    // Rotate: a teacher member; the old code is 404 at once.
    rotate(&sam, id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    rotate(&stranger, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let new_code = assert_code(&rotate(&tess, id).await.expect(StatusCode::OK)["join_code"]);
    assert_ne!(new_code, code);
    join(&stranger, &code)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // A second teacher joins with the new code: a co-teacher, who sees it.
    let co = join(&stranger, &new_code).await.expect(StatusCode::OK);
    assert_eq!(co["join_code"], new_code.as_str());
    assert_eq!(
        member_ids(&stranger, id).await,
        vec![tess.id, sam.id, stranger.id]
    );

    // Remove: a student may not; a teacher takes the student out.
    remove(&sam, id, tess.id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    remove(&tess, id, sam.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    remove(&tess, id, sam.id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(my_groups(&sam).await.is_empty());
    members(&sam, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // Tess leaves (Zed stays); then Zed is the last teacher: 409.
    remove(&tess, id, tess.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    remove(&stranger, id, stranger.id)
        .await
        .expect_problem(StatusCode::CONFLICT, "last_teacher");
    assert_eq!(member_ids(&stranger, id).await, vec![stranger.id]);

    // An idp group's memberships are the provider's: 403.
    let g7b = tess.group("7b");
    remove(&tess, g7b, tess.id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    rotate(&tess, g7b)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // Ids out of range are 404.
    remove(&tess, id, i64::MAX)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let past = send(tess.req(Method::GET, "/api/v1/groups/99999999999999999999/members")).await;
    assert_eq!(past.status, StatusCode::NOT_FOUND, "{}", past.text());
}

async fn login_sync_leaves_local_classes_alone(db: TestDb) {
    let (_servers, clients) = start_processes(&db, 1, &ServerOptions::default());
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[]).await;
    let class = create_class(&tess, "Chess")
        .await
        .expect(StatusCode::CREATED);
    let id = class["id"].as_i64().unwrap();
    let code = assert_code(&class["join_code"]);

    let sam = User::login(api, "sam", "student", &[("7b", "7B")]).await;
    join(&sam, &code).await.expect(StatusCode::OK);
    // Log in again with other idp groups: 7b goes, 8a comes, Chess stays.
    let again = User::login(api, "sam", "student", &[("8a", "8A")]).await;
    let groups = again.info["groups"].as_array().unwrap();
    let summary: BTreeSet<(String, String)> = groups
        .iter()
        .map(|g| {
            (
                g["source"].as_str().unwrap().to_owned(),
                g["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        BTreeSet::from([
            ("idp".to_owned(), "8A".to_owned()),
            ("local".to_owned(), "Chess".to_owned())
        ]),
        "{groups:?}"
    );
    assert_eq!(my_groups(&again).await.len(), 2);
    // And with no groups at all: only the local class is left.
    let bare = User::login(api, "sam", "student", &[]).await;
    let groups = my_groups(&bare).await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["id"], id);
    assert_eq!(member_ids(&tess, id).await, vec![tess.id, sam.id]);
    // The teacher's login keeps her class too, and its code.
    let tess = User::login(api, "tess", "teacher", &[("7b", "7B")]).await;
    let local: Vec<&Value> = tess.info["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["source"] == "local")
        .collect();
    assert_eq!(local.len(), 1);
    assert_eq!(local[0]["join_code"], code.as_str());
    // A claim never names a local group: the local group count is unchanged.
    let groups = format!("{q}groups{q}", q = quote(&db));
    assert_eq!(db.count(&groups, "source = 'local'").await, 1);
}

/// The identifier quote of the backend (`groups` is a reserved word on MariaDB).
fn quote(db: &TestDb) -> String {
    if db.backend == tests::Backend::MariaDb {
        "`".into()
    } else {
        "\"".into()
    }
}

async fn sharing_with_a_local_class(db: TestDb) {
    let (_servers, clients) = start_processes(&db, 1, &ServerOptions::default());
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[]).await;
    let sam = User::login(api, "sam", "student", &[]).await;
    let other = User::login(api, "olga", "student", &[]).await;
    let class = create_class(&tess, "Art").await.expect(StatusCode::CREATED);
    let id = class["id"].as_i64().unwrap();
    join(&sam, class["join_code"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);

    // The teacher shares with her local class; its student sees the project.
    let project = tess.create_ok("Starter", &json!({"targets": []})).await;
    let pid = project["id"].as_i64().unwrap();
    tess.share(pid, &[id]).await.expect(StatusCode::OK);
    let shared = sam.list_all("/api/v1/projects?scope=shared", 20).await;
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0]["id"], pid);
    let in_group = sam
        .list_all(&format!("/api/v1/groups/{id}/projects"), 20)
        .await;
    assert_eq!(in_group.len(), 1);
    sam.project(pid).await.expect(StatusCode::OK);
    sam.copy(pid).await.expect(StatusCode::CREATED);
    // Not a member: nothing.
    assert!(other
        .list_all("/api/v1/projects?scope=shared", 20)
        .await
        .is_empty());
    other
        .project(pid)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    other
        .get(&format!("/api/v1/groups/{id}/projects"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // A student may not share with the class.
    let own = sam.create_ok("Mine", &json!({"targets": []})).await;
    let own_id = own["id"].as_i64().unwrap();
    sam.share(own_id, &[id])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // The teacher reads and copies the work of her class's students.
    tess.project(own_id).await.expect(StatusCode::OK);
    tess.copy(own_id).await.expect(StatusCode::CREATED);
    let olgas = other.create_ok("Olga's", &json!({"targets": []})).await;
    tess.project(olgas["id"].as_i64().unwrap())
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // Once removed from the class, the student sees the share no more.
    remove(&tess, id, sam.id)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(sam
        .list_all("/api/v1/projects?scope=shared", 20)
        .await
        .is_empty());
}

/// An assignment handed out to a local class works as for the provider's
/// groups: its student starts (a copy of the starter), submits, shows up on
/// the roster, and keeps it all across a login that syncs other groups.
async fn assignments_in_a_local_class(db: TestDb) {
    let (_servers, clients) = start_processes(&db, 1, &ServerOptions::default());
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[]).await;
    let sam = User::login(api, "sam", "student", &[]).await;
    let olga = User::login(api, "olga", "student", &[]).await;
    let class = create_class(&tess, "Robots")
        .await
        .expect(StatusCode::CREATED);
    let gid = class["id"].as_i64().unwrap();
    join(&sam, class["join_code"].as_str().unwrap())
        .await
        .expect(StatusCode::OK);
    let starter = tess
        .create_ok("Robot starter", &json!({"targets": [], "starter": true}))
        .await;
    let starter_id = starter["id"].as_i64().unwrap();

    let a = send(
        tess.req(Method::POST, &format!("/api/v1/groups/{gid}/assignments"))
            .json(&json!({"title": "Build a robot", "starter_project_id": starter_id})),
    )
    .await
    .expect(StatusCode::CREATED);
    let aid = a["id"].as_i64().unwrap();
    assert_eq!(a["group_id"], gid);
    let listed = sam
        .list_all(&format!("/api/v1/groups/{gid}/assignments"), 20)
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], aid);
    olga.get(&format!("/api/v1/assignments/{aid}"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let project = send(sam.req(Method::POST, &format!("/api/v1/assignments/{aid}/start")))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(project["parent_id"], starter_id);
    assert_eq!(project["title"], "Build a robot");
    let pid = project["id"].as_i64().unwrap();
    let body = sam.body(pid).await;
    assert_eq!(body.json()["starter"], true);
    sam.save(pid, 1, &json!({"targets": [], "robot": "done"}))
        .await
        .expect(StatusCode::OK);
    let submitted = send(
        sam.req(Method::POST, &format!("/api/v1/assignments/{aid}/submit"))
            .json(&json!({})),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(submitted["version"], 2);
    assert_eq!(submitted["late"], false);

    // A login that syncs provider groups keeps the local class and its work.
    User::login(api, "sam", "student", &[("8c", "8C")]).await;
    let roster = tess
        .list_all(&format!("/api/v1/assignments/{aid}/submissions"), 20)
        .await;
    assert_eq!(roster.len(), 1, "{roster:?}");
    assert_eq!(roster[0]["student"]["id"], sam.id);
    assert_eq!(roster[0]["status"], "submitted");
    assert_eq!(roster[0]["project_id"], pid);
    assert_eq!(roster[0]["count"], 1);
    let mine = sam
        .get(&format!("/api/v1/assignments/{aid}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine["my_project_id"], pid);
    assert_eq!(mine["my_submission"]["id"], submitted["id"]);
}

async fn wrong_codes_are_rate_limited_per_user(db: TestDb) {
    let opts = ServerOptions::default().with("CUBBY_JOIN_FAILURES_PER_USER", 3);
    let (_servers, clients) = start_processes(&db, 1, &opts);
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[]).await;
    let class = create_class(&tess, "Maths")
        .await
        .expect(StatusCode::CREATED);
    let code = class["join_code"].as_str().unwrap().to_owned();
    let mallory = User::login(api, "mallory", "student", &[]).await;
    let sam = User::login(api, "sam", "student", &[]).await;

    for guess in ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC"] {
        join(&mallory, guess)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // Over the limit: every join is 429, the right code too.
    join(&mallory, "DDDDDDDD")
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let limited = join(&mallory, &code).await;
    limited.expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        member_ids(&tess, class["id"].as_i64().unwrap()).await,
        vec![tess.id]
    );
    // Another user (from the same address) is not affected.
    join(&sam, &code).await.expect(StatusCode::OK);
    join(&sam, "EEEEEEEE")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn wrong_codes_are_rate_limited_per_address(db: TestDb) {
    let opts = ServerOptions::default().with("CUBBY_JOIN_FAILURES_PER_IP", 3);
    let (_servers, clients) = start_processes(&db, 1, &opts);
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[]).await;
    let class = create_class(&tess, "Maths")
        .await
        .expect(StatusCode::CREATED);
    let code = class["join_code"].as_str().unwrap().to_owned();
    let users = students(&clients, "kid", 4).await;
    // Right codes never count: many joins from one address all succeed.
    for user in &users[..2] {
        join(user, &code).await.expect(StatusCode::OK);
        join(user, &code).await.expect(StatusCode::OK);
    }
    // Three wrong codes from three accounts on one address…
    for user in &users[..3] {
        join(user, "AAAAAAAA")
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // …and every join from that address is 429, a fresh account's right code too.
    join(&users[3], &code)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
}

// ---- G20 -------------------------------------------------------------------

const JOINERS: usize = 32;

async fn students(clients: &[Client], prefix: &str, n: usize) -> Vec<User> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let api = &clients[i % clients.len()];
        out.push(User::login(api, &format!("{prefix}{i}"), "student", &[]).await);
    }
    out
}

async fn concurrent_joins_with_one_code(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let tess = User::login(&clients[0], "tess", "teacher", &[]).await;
    let class = create_class(&tess, "Year 7")
        .await
        .expect(StatusCode::CREATED);
    let id = class["id"].as_i64().unwrap();
    let code = class["join_code"].as_str().unwrap().to_owned();
    let kids = students(&clients, "kid", JOINERS).await;

    // Every one joins at once, all from one address; then all again.
    for round in 0..2 {
        let results = race(JOINERS, |i| {
            let kid = kids[i].clone();
            let code = if i % 2 == 0 {
                code.clone()
            } else {
                code.to_lowercase()
            };
            async move { join(&kid, &code).await }
        })
        .await;
        assert_eq!(
            tally(&results),
            BTreeMap::from([(200, JOINERS)]),
            "round {round}: {:?}",
            unexpected(&results, &[200])
        );
        assert!(results.iter().all(|r| r.json()["id"] == id));
        let mut expected: Vec<i64> = kids.iter().map(|k| k.id).collect();
        expected.push(tess.id);
        expected.sort_unstable();
        assert_eq!(member_ids(&tess, id).await, expected, "round {round}");
        assert_eq!(
            db.count("memberships", &format!("group_id = {id}")).await,
            i64::try_from(JOINERS + 1).unwrap()
        );
    }
}

const ROTATION_ROUNDS: usize = 4;
const ROTATION_JOINERS: usize = 12;

async fn joins_racing_a_rotation(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let tess = User::login(&clients[0], "tess", "teacher", &[]).await;
    let kids = students(&clients, "kid", ROTATION_JOINERS).await;
    for round in 0..ROTATION_ROUNDS {
        let class = create_class(&tess, &format!("Round {round}"))
            .await
            .expect(StatusCode::CREATED);
        let id = class["id"].as_i64().unwrap();
        let old = class["join_code"].as_str().unwrap().to_owned();
        // Joiners with the old code and one rotation, all at once (the
        // rotation fired in the middle of the burst).
        let results = race(ROTATION_JOINERS + 1, |i| {
            let middle = ROTATION_JOINERS / 2;
            let kid_index = if i > middle { i - 1 } else { i };
            let kid = kids[kid_index % ROTATION_JOINERS].clone();
            let teacher = tess.on(&clients[i % processes]);
            let old = old.clone();
            async move {
                if i == middle {
                    let reply = rotate(&teacher, id).await;
                    // When the rotation's answer (so its commit) was seen.
                    (None, reply, Instant::now())
                } else {
                    // When the join was sent.
                    let sent = Instant::now();
                    (Some(kid_index), join(&kid, &old).await, sent)
                }
            }
        })
        .await;
        let mut kid_of = Vec::new();
        let mut replies = Vec::new();
        let mut rotation = None;
        let mut sent_at = Vec::new();
        let mut rotated_at = None;
        for (kid, reply, at) in results {
            match kid {
                None => {
                    rotation = Some(reply);
                    rotated_at = Some(at);
                }
                Some(k) => {
                    kid_of.push(k);
                    replies.push(reply);
                    sent_at.push(at);
                }
            }
        }
        let rotation = rotation.unwrap();
        let new_code = assert_code(&rotation.expect(StatusCode::OK)["join_code"]);
        assert_ne!(new_code, old);
        assert!(
            unexpected(&replies, &[200, 404]).is_empty(),
            "round {round}: {:?}",
            unexpected(&replies, &[200, 404])
        );
        // Each answer is definite and the roster matches them exactly.
        let mut joined: Vec<i64> = kid_of
            .iter()
            .zip(&replies)
            .filter(|(_, r)| r.status == StatusCode::OK)
            .map(|(k, _)| kids[*k].id)
            .collect();
        for r in replies.iter().filter(|r| r.status == StatusCode::NOT_FOUND) {
            r.expect_problem(StatusCode::NOT_FOUND, "not_found");
        }
        // A join sent after the rotation had committed (its answer was in)
        // cannot have succeeded with the old code.
        let rotated_at = rotated_at.unwrap();
        for (reply, sent) in replies.iter().zip(&sent_at) {
            if *sent > rotated_at {
                assert_eq!(
                    reply.status,
                    StatusCode::NOT_FOUND,
                    "round {round}: a late join succeeded"
                );
            }
        }
        joined.push(tess.id);
        joined.sort_unstable();
        assert_eq!(member_ids(&tess, id).await, joined, "round {round}");
        // After the rotation the old code is dead for everyone.
        join(&kids[0], &old)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
}

async fn two_last_teachers_leaving_at_once(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    for round in 0..4 {
        let a = User::login(&clients[0], &format!("ann{round}"), "teacher", &[]).await;
        let b = User::login(
            &clients[processes - 1],
            &format!("bob{round}"),
            "teacher",
            &[],
        )
        .await;
        let class = create_class(&a, "Both").await.expect(StatusCode::CREATED);
        let id = class["id"].as_i64().unwrap();
        join(&b, class["join_code"].as_str().unwrap())
            .await
            .expect(StatusCode::OK);
        // Each removes themselves: exactly one may go.
        let results = race(2, |i| {
            let who = if i == 0 { a.clone() } else { b.clone() };
            async move { remove(&who, id, who.id).await }
        })
        .await;
        assert_eq!(
            tally(&results),
            BTreeMap::from([(204, 1), (409, 1)]),
            "round {round}: {:?}",
            unexpected(&results, &[204, 409])
        );
        let stayed = if results[0].status == StatusCode::CONFLICT {
            &a
        } else {
            &b
        };
        results
            .iter()
            .find(|r| r.status == StatusCode::CONFLICT)
            .unwrap()
            .expect_problem(StatusCode::CONFLICT, "last_teacher");
        assert_eq!(member_ids(stayed, id).await, vec![stayed.id]);
    }
}

// ---- the home page's forms --------------------------------------------------

/// A form POST with the user's session cookie (no redirects followed).
pub(crate) async fn form(
    user: &User,
    path: &str,
    fields: &[(&str, &str)],
    origin: Option<&str>,
) -> Reply {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = http
        .post(user.api.url(path))
        .header("cookie", format!("cubby_session={}", user.token))
        .form(fields);
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    send(req).await
}

pub(crate) async fn home_html(user: &User, query: &str) -> String {
    let reply = send(
        user.api
            .http
            .get(user.api.url(&format!("/{query}")))
            .header("cookie", format!("cubby_session={}", user.token)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.text()
}

async fn the_home_page_makes_joins_and_shows_classes(db: TestDb) {
    let opts = ServerOptions::default().with("CUBBY_JOIN_FAILURES_PER_USER", 2);
    let (_servers, clients) = start_processes(&db, 1, &opts);
    let api = &clients[0];
    let tess = User::login(api, "tess", "teacher", &[]).await;
    let sam = User::login(api, "sam", "student", &[]).await;

    // A teacher makes a class with the form: 303 back home, with a message.
    let made = form(&tess, "/home/classes", &[("name", "Robots <club>")], None).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text());
    assert_eq!(made.header("location"), Some("/?class_msg=created"));
    let groups = my_groups(&tess).await;
    let id = groups[0]["id"].as_i64().unwrap();
    let code = groups[0]["join_code"].as_str().unwrap().to_owned();
    let html = home_html(&tess, "?class_msg=created").await;
    assert!(html.contains("Class created."), "{html}");
    assert!(
        html.contains("Robots &lt;club&gt;") && html.contains(&code),
        "{html}"
    );
    assert!(html.contains(&format!("/home/classes/{id}/code")), "{html}");
    // A student's page has the join form but no class form.
    let html = home_html(&sam, "").await;
    assert!(html.contains("/home/classes/join") && !html.contains("Create class"));

    // From another site: refused (S2), nothing joined.
    let evil = form(
        &sam,
        "/home/classes/join",
        &[("code", &code)],
        Some("https://evil.example"),
    )
    .await;
    evil.expect_problem(StatusCode::FORBIDDEN, "cross_origin");
    // A wrong code: back home with a readable message, not JSON.
    let wrong = form(&sam, "/home/classes/join", &[("code", "zzzzzzzz")], None).await;
    assert_eq!(wrong.header("location"), Some("/?class_msg=not_found"));
    let html = home_html(&sam, "?class_msg=not_found").await;
    assert!(html.contains("No class has that code"), "{html}");
    // The right code in lower case.
    let joined = form(
        &sam,
        "/home/classes/join",
        &[("code", &code.to_lowercase())],
        None,
    )
    .await;
    assert_eq!(joined.header("location"), Some("/?class_msg=joined"));
    assert_eq!(member_ids(&tess, id).await, vec![tess.id, sam.id]);
    // The teacher sees the member and shares a project with the class.
    assert!(home_html(&tess, "")
        .await
        .contains(&format!("/home/classes/{id}/remove/{}", sam.id)));
    let project = tess.create_ok("Starter", &json!({"targets": []})).await;
    let pid = project["id"].as_i64().unwrap().to_string();
    let shared = form(
        &tess,
        "/home/classes/share",
        &[("project_id", &pid), ("group_id", &id.to_string())],
        None,
    )
    .await;
    assert_eq!(shared.header("location"), Some("/?class_msg=shared"));
    assert_eq!(
        sam.list_all("/api/v1/projects?scope=shared", 20)
            .await
            .len(),
        1
    );
    // New code; remove; the last teacher stays with a message.
    let rotated = form(&tess, &format!("/home/classes/{id}/code"), &[], None).await;
    assert_eq!(rotated.header("location"), Some("/?class_msg=rotated"));
    assert_ne!(my_groups(&tess).await[0]["join_code"], code.as_str());
    let removed = form(
        &tess,
        &format!("/home/classes/{id}/remove/{}", sam.id),
        &[],
        None,
    )
    .await;
    assert_eq!(removed.header("location"), Some("/?class_msg=removed"));
    let last = form(
        &tess,
        &format!("/home/classes/{id}/remove/{}", tess.id),
        &[],
        None,
    )
    .await;
    assert_eq!(last.header("location"), Some("/?class_msg=last_teacher"));
    // Rate limited through the form too (2 wrong codes allowed).
    form(&sam, "/home/classes/join", &[("code", "yyyyyyyy")], None).await;
    let limited = form(&sam, "/home/classes/join", &[("code", "xxxxxxxx")], None).await;
    assert_eq!(
        limited.header("location"),
        Some("/?class_msg=too_many_requests")
    );
    assert!(home_html(&sam, "?class_msg=too_many_requests")
        .await
        .contains("Too many wrong codes"));
    // Not logged in: 401.
    let anon = send(
        reqwest::Client::new()
            .post(api.url("/home/classes/join"))
            .form(&[("code", "x")]),
    )
    .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}
