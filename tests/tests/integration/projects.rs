//! Projects: the CRUD round trip with bodies byte for byte, versions and their
//! pruning, preconditions (`If-Match`, 409, 428), lists and pagination, group
//! projects, limits and validation, slugs, and who may do what.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::projects::{etag, ids_of, md5_hex, send, sorted_ids, Reply, User};
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    create_read_update_delete_round_trip,
    versions_are_listed_newest_first_and_pruned_to_the_kept_number,
    saves_need_the_current_version_by_body_or_if_match,
    lists_of_mine_and_shared_are_paginated_newest_first,
    group_projects_are_listed_to_members_only,
    oversized_bodies_are_413_and_invalid_input_400,
    slugs_are_made_from_titles_and_unique,
    who_may_do_what,
);

/// Project JSON with its keys in no sorted order, no whitespace, and text
/// outside ASCII: the server must hand back exactly these bytes.
const BODY_1: &str = r#"{"targets":[{"isStage":true,"name":"Stage","variables":{"v1":["score",0.5]}}],"monitors":[],"extensions":["pen"],"meta":{"semver":"3.0.0","vm":"0.2.0","agent":"cubby-tests Bühne ☃"}}"#;
const BODY_2: &str = r#"{"targets":[{"name":"Stage","isStage":true}],"meta":{"vm":"0.2.0","semver":"3.0.0"},"monitors":[],"extensions":[]}"#;

const PROJECT_KEYS: [&str; 11] = [
    "body_md5",
    "body_size",
    "created_at",
    "id",
    "owner_id",
    "parent_id",
    "shared_with",
    "slug",
    "title",
    "updated_at",
    "version",
];

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// An RFC 3339 timestamp in UTC.
fn assert_timestamp(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    assert!(
        s.len() >= 20
            && s.as_bytes()[4] == b'-'
            && s.as_bytes()[10] == b'T'
            && (s.ends_with('Z') || s.ends_with("+00:00")),
        "not an RFC 3339 UTC timestamp: {s}"
    );
}

fn body_bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap()
}

async fn create_read_update_delete_round_trip(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[("7b", "Class 7B")]).await;

    // Create, with the request written out byte for byte.
    let created = send(ann.create_req(format!(r#"{{"title":"My Game","body":{BODY_1}}}"#))).await;
    let p = created.expect(StatusCode::CREATED);
    let id = created.id();
    assert!(id > 0);
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/projects/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some(etag(1).as_str()));
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(keys(&p), PROJECT_KEYS);
    assert_eq!(p["owner_id"], ann.id);
    assert_eq!(p["title"], "My Game");
    assert_eq!(p["slug"], "my-game");
    assert_eq!(p["version"], 1);
    assert_eq!(p["parent_id"], Value::Null);
    assert_eq!(p["body_size"], BODY_1.len());
    assert_eq!(p["body_md5"], md5_hex(BODY_1.as_bytes()));
    assert_eq!(p["shared_with"], json!([]));
    assert_timestamp(&p["created_at"]);
    assert_eq!(p["updated_at"], p["created_at"]);
    assert_eq!(db.count("projects", "").await, 1);
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        1
    );

    // Read: the same Project, and the body exactly as sent.
    let got = ann.project(id).await;
    assert_eq!(got.expect(StatusCode::OK), p);
    assert_eq!(got.header("etag"), Some(etag(1).as_str()));
    let body = ann.body(id).await;
    assert_eq!(body.status, StatusCode::OK);
    assert!(
        body.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        body.header("content-type")
    );
    assert_eq!(body.text(), BODY_1, "the body byte for byte");

    // Update title and body.
    let saved = send(
        ann.req(Method::PUT, &format!("/api/v1/projects/{id}"))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"version":1,"title":"My Game 2","body":{BODY_2}}}"#
            )),
    )
    .await;
    let v2 = saved.expect(StatusCode::OK);
    assert_eq!(saved.header("etag"), Some(etag(2).as_str()));
    assert_eq!(keys(&v2), PROJECT_KEYS);
    for key in ["id", "owner_id", "parent_id", "created_at", "shared_with"] {
        assert_eq!(v2[key], p[key], "{key} must not change on a save");
    }
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["title"], "My Game 2");
    assert_eq!(v2["body_size"], BODY_2.len());
    assert_eq!(v2["body_md5"], md5_hex(BODY_2.as_bytes()));
    assert_timestamp(&v2["updated_at"]);
    assert!(v2["updated_at"].as_str() >= p["updated_at"].as_str());
    assert_eq!(ann.body(id).await.text(), BODY_2);
    let got = ann.project(id).await;
    assert_eq!(got.expect(StatusCode::OK), v2);
    assert_eq!(got.header("etag"), Some(etag(2).as_str()));

    // Update the title only: the body stays, the version still moves on.
    let v3 = ann
        .update(id, &json!({"version": 2, "title": "Renamed"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(v3["version"], 3);
    assert_eq!(v3["title"], "Renamed");
    assert_eq!(v3["body_md5"], md5_hex(BODY_2.as_bytes()));
    assert_eq!(v3["body_size"], BODY_2.len());
    assert_eq!(ann.body(id).await.text(), BODY_2);
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        3
    );

    // Unknown ids and missing authentication.
    ann.project(id + 1000)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    send(api.http.get(api.url("/api/v1/projects")))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    send(api.http.get(api.url(&format!("/api/v1/projects/{id}"))))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Delete: 204, then 404 for everything, and no rows left.
    let deleted = ann.delete(id).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text());
    assert!(deleted.bytes.is_empty());
    ann.project(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.body(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.versions(id, "")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.version_body(id, 3)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.save(id, 3, &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.delete(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    ann.copy(id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // The delete moved it to the trash: its rows stay until a purge.
    assert_eq!(
        db.count("projects", &format!("id = {id} AND deleted_at IS NOT NULL"))
            .await,
        1
    );
    assert_eq!(ann.purge(id).await.status, StatusCode::NO_CONTENT);
    assert_eq!(db.count("projects", "").await, 0);
    assert_eq!(db.count("project_versions", "").await, 0);
    let mine = ann
        .get("/api/v1/projects?scope=mine")
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine, json!({"items": [], "next_cursor": null}));
}

async fn versions_are_listed_newest_first_and_pruned_to_the_kept_number(db: TestDb) {
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_KEEP_VERSIONS", 3),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bodies: Vec<Value> = (1..=5)
        .map(|n| json!({"targets": [], "meta": {"semver": "3.0.0"}, "n": n}))
        .collect();

    let id = ann.create("Versions", &bodies[0]).await.id();
    for v in 1..5 {
        let saved = ann.save(id, v, &bodies[v as usize]).await;
        assert_eq!(saved.expect(StatusCode::OK)["version"], v + 1);
    }

    let list = ann.versions(id, "").await.expect(StatusCode::OK);
    assert_eq!(list["next_cursor"], Value::Null);
    let items = list["items"].as_array().unwrap();
    let listed: Vec<i64> = items
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [5, 4, 3], "newest first, only the kept three");
    for item in items {
        assert_eq!(
            keys(item),
            [
                "author_id",
                "body_md5",
                "body_size",
                "created_at",
                "version"
            ]
        );
        let v = item["version"].as_i64().unwrap();
        let expected = body_bytes(&bodies[v as usize - 1]);
        assert_eq!(item["author_id"], ann.id);
        assert_eq!(item["body_size"], expected.len());
        assert_eq!(item["body_md5"], md5_hex(&expected));
        assert_timestamp(&item["created_at"]);
        let body = ann.version_body(id, v).await;
        assert_eq!(body.status, StatusCode::OK, "version {v}");
        assert_eq!(body.bytes, expected, "version {v}");
    }
    for v in [1, 2, 6] {
        ann.version_body(id, v)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        3
    );

    // Paginated, one or two at a time.
    let page = ann.versions(id, "?limit=2").await.expect(StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string(), "{page}");
    let all = ann
        .list_all(&format!("/api/v1/projects/{id}/versions"), 2)
        .await;
    assert_eq!(&all[..], &items[..]);
    let all = ann
        .list_all(&format!("/api/v1/projects/{id}/versions"), 1)
        .await;
    assert_eq!(&all[..], &items[..]);

    // One more save prunes one more.
    ann.save(id, 5, &json!({"n": 6}))
        .await
        .expect(StatusCode::OK);
    ann.version_body(id, 3)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let listed: Vec<i64> = ann.versions(id, "").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [6, 5, 4]);
}

async fn saves_need_the_current_version_by_body_or_if_match(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let id = ann.create("Preconditions", &json!({"n": 0})).await.id();
    let path = format!("/api/v1/projects/{id}");
    let put_if_match = |tag: &str, request: Value| {
        send(
            ann.req(Method::PUT, &path)
                .header("if-match", tag)
                .json(&request),
        )
    };

    // If-Match instead of a version in the body.
    let saved = put_if_match(&etag(1), json!({"body": {"n": 1}})).await;
    assert_eq!(saved.expect(StatusCode::OK)["version"], 2);
    assert_eq!(saved.header("etag"), Some(etag(2).as_str()));

    // Stale, by header and by body; a version from the future is stale too.
    let stale = put_if_match(&etag(1), json!({"body": {"n": 99}})).await;
    let problem = stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    assert_eq!(problem["current_version"], 2);
    for version in [1, 7] {
        let problem = ann
            .save(id, version, &json!({"n": 99}))
            .await
            .expect_problem(StatusCode::CONFLICT, "version_conflict");
        assert_eq!(problem["current_version"], 2, "sent version {version}");
    }

    // Neither a version nor If-Match: 428.
    ann.update(id, &json!({"body": {"n": 99}}))
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "version_required");
    ann.update(id, &json!({"title": "No version"}))
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "version_required");

    // Nothing of the refused saves landed.
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(p["version"], 2);
    assert_eq!(p["title"], "Preconditions");
    assert_eq!(ann.body(id).await.json(), json!({"n": 1}));
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        2
    );

    // The version in the body works, and a GET's ETag is a good If-Match.
    let saved = ann.save(id, 2, &json!({"n": 2})).await;
    assert_eq!(saved.expect(StatusCode::OK)["version"], 3);
    assert_eq!(saved.header("etag"), Some(etag(3).as_str()));
    let tag = ann.project(id).await.header("etag").unwrap().to_owned();
    assert_eq!(tag, etag(3));
    let saved = put_if_match(&tag, json!({"title": "By ETag"})).await;
    let p = saved.expect(StatusCode::OK);
    assert_eq!(
        (p["version"].as_i64(), p["title"].as_str()),
        (Some(4), Some("By ETag"))
    );
    assert_eq!(ann.body(id).await.json(), json!({"n": 2}));
}

async fn lists_of_mine_and_shared_are_paginated_newest_first(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let teacher = User::login(&api, "ms-lee", "teacher", &[("7b", "Class 7B")]).await;
    let student = User::login(&api, "sam", "student", &[("7b", "Class 7B")]).await;
    let outsider = User::login(&api, "otto", "student", &[("8a", "Class 8A")]).await;
    let g7b = teacher.group("7b");

    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(
            teacher
                .create(&format!("Lesson {n}"), &json!({"n": n}))
                .await
                .id(),
        );
    }
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();

    // Mine, two per page.
    let page1 = teacher
        .get("/api/v1/projects?scope=mine&limit=2")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        ids_of(page1["items"].as_array().unwrap()),
        newest_first[..2]
    );
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = teacher
        .get(&format!(
            "/api/v1/projects?scope=mine&limit=2&cursor={cursor}"
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        ids_of(page2["items"].as_array().unwrap()),
        newest_first[2..4]
    );
    let cursor = page2["next_cursor"].as_str().unwrap();
    let page3 = teacher
        .get(&format!(
            "/api/v1/projects?scope=mine&limit=2&cursor={cursor}"
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        ids_of(page3["items"].as_array().unwrap()),
        newest_first[4..]
    );
    assert_eq!(page3["next_cursor"], Value::Null);
    let mine = teacher.list_all("/api/v1/projects?scope=mine", 2).await;
    assert_eq!(ids_of(&mine), newest_first);
    for item in &mine {
        let id = item["id"].as_i64().unwrap();
        assert_eq!(item, &teacher.project(id).await.expect(StatusCode::OK));
    }
    let mine = teacher.list_all("/api/v1/projects?scope=mine", 100).await;
    assert_eq!(ids_of(&mine), newest_first);

    // Shared: lessons 2, 4 and 5 with class 7B.
    for i in [1, 3, 4] {
        let shared = teacher.share(ids[i], &[g7b]).await.expect(StatusCode::OK);
        assert_eq!(shared, json!({"project_id": ids[i], "group_ids": [g7b]}));
    }
    let shared = student.list_all("/api/v1/projects?scope=shared", 2).await;
    assert_eq!(ids_of(&shared), [ids[4], ids[3], ids[1]]);
    for item in &shared {
        assert_eq!(item["shared_with"], json!([g7b]));
        assert_eq!(item["owner_id"], teacher.id);
    }
    let page = student
        .get("/api/v1/projects?scope=shared&limit=2")
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids_of(page["items"].as_array().unwrap()), [ids[4], ids[3]]);
    assert!(page["next_cursor"].is_string());
    assert_eq!(
        student
            .get("/api/v1/projects?scope=mine")
            .await
            .expect(StatusCode::OK),
        json!({"items": [], "next_cursor": null})
    );
    assert_eq!(
        outsider
            .get("/api/v1/projects?scope=shared")
            .await
            .expect(StatusCode::OK),
        json!({"items": [], "next_cursor": null})
    );

    // A student's own project is in "mine", not in "shared".
    let own = student.create("Mine", &json!({})).await.id();
    assert_eq!(
        ids_of(&student.list_all("/api/v1/projects?scope=mine", 20).await),
        [own]
    );
    assert_eq!(
        ids_of(&student.list_all("/api/v1/projects?scope=shared", 20).await),
        [ids[4], ids[3], ids[1]]
    );

    // Bad queries.
    for query in [
        "scope=everything",
        "scope=mine&limit=0",
        "scope=mine&limit=101",
        "scope=mine&limit=abc",
        "scope=shared&limit=-1",
    ] {
        let reply = teacher.get(&format!("/api/v1/projects?{query}")).await;
        assert!(
            reply.is_problem(StatusCode::BAD_REQUEST, "invalid_query"),
            "{query}: {} {}",
            reply.status,
            reply.text()
        );
    }
    teacher
        .get("/api/v1/projects?scope=mine&limit=100")
        .await
        .expect(StatusCode::OK);
}

async fn group_projects_are_listed_to_members_only(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let teacher = User::login(
        &api,
        "ms-lee",
        "teacher",
        &[("7b", "Class 7B"), ("9c", "Class 9C")],
    )
    .await;
    let student = User::login(&api, "sam", "student", &[("7b", "Class 7B")]).await;
    let outsider = User::login(&api, "otto", "student", &[("8a", "Class 8A")]).await;
    let (g7b, g9c) = (teacher.group("7b"), teacher.group("9c"));

    let a = teacher.create("A", &json!({})).await.id();
    let b = teacher.create("B", &json!({})).await.id();
    let c = teacher.create("C", &json!({})).await.id();
    teacher.share(a, &[g7b]).await.expect(StatusCode::OK);
    let both = teacher.share(b, &[g9c, g7b]).await.expect(StatusCode::OK);
    assert_eq!(
        both,
        json!({"project_id": b, "group_ids": sorted_ids(&json!([g7b, g9c]))})
    );
    teacher.share(c, &[g9c]).await.expect(StatusCode::OK);

    let path_7b = format!("/api/v1/groups/{g7b}/projects");
    let path_9c = format!("/api/v1/groups/{g9c}/projects");
    let listed = student.get(&path_7b).await.expect(StatusCode::OK);
    assert_eq!(listed["next_cursor"], Value::Null);
    assert_eq!(ids_of(listed["items"].as_array().unwrap()), [b, a]);
    assert_eq!(listed["items"][0], student.project(b).await.json());
    assert_eq!(ids_of(&teacher.list_all(&path_7b, 20).await), [b, a]);
    assert_eq!(ids_of(&teacher.list_all(&path_9c, 20).await), [c, b]);
    assert_eq!(ids_of(&student.list_all(&path_7b, 1).await), [b, a]);

    // Not a member, or no such group: 404.
    for (user, path) in [
        (&outsider, path_7b.clone()),
        (&student, path_9c.clone()),
        (&student, "/api/v1/groups/999999/projects".to_owned()),
    ] {
        user.get(&path)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }

    // Unsharing takes the project out of the group's list and out of reach.
    let unshared = teacher.share(a, &[]).await.expect(StatusCode::OK);
    assert_eq!(unshared, json!({"project_id": a, "group_ids": []}));
    assert_eq!(ids_of(&student.list_all(&path_7b, 20).await), [b]);
    student
        .project(a)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(teacher.project(a).await.json()["shared_with"], json!([]));
}

async fn oversized_bodies_are_413_and_invalid_input_400(db: TestDb) {
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_MAX_BODY_BYTES", 2000),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let small = json!({"targets": [], "pad": "x".repeat(500)});
    let big = json!({"targets": [], "pad": "x".repeat(3000)});
    let huge = json!({"targets": [], "pad": "x".repeat(200_000)});

    for body in [&big, &huge] {
        ann.create("Too big", body)
            .await
            .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    }
    assert_eq!(db.count("projects", "").await, 0);

    let id = ann.create("Fits", &small).await.id();
    ann.save(id, 1, &big)
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(ann.project(id).await.version(), 1);
    assert_eq!(ann.body(id).await.bytes, body_bytes(&small));

    // Invalid create requests.
    let title_201 = "t".repeat(201);
    for request in [
        r#"{"title":"No body"}"#.to_owned(),
        r#"{"title":"Array","body":[]}"#.to_owned(),
        r#"{"title":"String","body":"x"}"#.to_owned(),
        r#"{"title":"Null","body":null}"#.to_owned(),
        r#"{"title":"","body":{}}"#.to_owned(),
        r#"{"title":5,"body":{}}"#.to_owned(),
        r#"{"title":null,"body":{}}"#.to_owned(),
        r#"{"body":{}}"#.to_owned(),
        format!(r#"{{"title":"{title_201}","body":{{}}}}"#),
    ] {
        let reply = send(ann.create_req(request.clone())).await;
        assert!(
            reply.is_problem(StatusCode::BAD_REQUEST, "invalid_input"),
            "{request}: {} {}",
            reply.status,
            reply.text()
        );
    }
    send(ann.create_req(r#"{"title":"x","body":{}"#.to_owned()))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_json");
    // Invalid saves.
    for request in [
        json!({"version": 1, "body": []}),
        json!({"version": 1, "body": "x"}),
        json!({"version": 1, "title": ""}),
        json!({"version": 1, "title": title_201}),
    ] {
        let reply = ann.update(id, &request).await;
        assert!(
            reply.is_problem(StatusCode::BAD_REQUEST, "invalid_input"),
            "{request}: {} {}",
            reply.status,
            reply.text()
        );
    }
    assert_eq!(ann.project(id).await.version(), 1);
    assert_eq!(db.count("projects", "").await, 1);

    // The edges that are fine: a 200-character title, one padded by spaces.
    let title_200 = "t".repeat(200);
    let p = ann.create(&title_200, &json!({})).await;
    assert_eq!(p.expect(StatusCode::CREATED)["title"], title_200);
    let padded = send(ann.create_req(r#"{"title":"  Pong ","body":{}}"#.to_owned())).await;
    assert_eq!(padded.expect(StatusCode::CREATED)["title"], "Pong");
    assert_eq!(db.count("projects", "").await, 3);
}

fn assert_slug_shape(slug: &str) {
    assert!(
        !slug.is_empty()
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "slug {slug:?}"
    );
}

async fn slugs_are_made_from_titles_and_unique(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;
    let body = json!({"targets": []});

    let first = ann.create_ok("My Game", &body).await;
    assert_eq!(first["slug"], "my-game");
    let second = bob.create_ok("My Game", &body).await;
    let third = ann.create_ok("my game", &body).await;
    let mut slugs = vec!["my-game".to_owned()];
    for p in [&second, &third] {
        let slug = p["slug"].as_str().unwrap().to_owned();
        assert_slug_shape(&slug);
        assert!(
            slug.starts_with("my-game-") && slug.len() > "my-game-".len(),
            "{slug}"
        );
        assert!(!slugs.contains(&slug), "{slug} taken twice");
        slugs.push(slug);
    }
    assert_eq!(
        ann.create_ok("Hello, World!", &body).await["slug"],
        "hello-world"
    );
    let untitled = send(ann.create_req(r#"{"title":"Untitled","body":{}}"#.to_owned())).await;
    assert_eq!(untitled.expect(StatusCode::CREATED)["slug"], "untitled");
    let symbols = send(ann.create_req(r#"{"title":"!!!","body":{}}"#.to_owned())).await;
    assert_eq!(symbols.expect(StatusCode::CREATED)["slug"], "project");
    // A slug stays taken by its project: the next "My Game" is suffixed too.
    let fourth = bob.create_ok("My Game", &body).await;
    let slug = fourth["slug"].as_str().unwrap().to_owned();
    assert!(
        slug.starts_with("my-game-") && !slugs.contains(&slug),
        "{slug}"
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Read,
    Save,
    Delete,
    Copy,
    Share,
}

/// Who, as whom, on whose project, which project, share target, expected statuses.
type Row<'a> = (&'a str, &'a User, &'a User, i64, i64, [u16; 5]);

const ACTS: [Act; 5] = [Act::Read, Act::Save, Act::Delete, Act::Copy, Act::Share];

/// Tries `act` on project `id` as `user`; returns the status after checking
/// the shape of the answer (`forbidden`/`not_found` problems; a copy's owner
/// and parent; reads of body and versions agree with the project read).
async fn attempt(user: &User, owner: &User, id: i64, act: Act, share_to: &[i64]) -> StatusCode {
    let reply: Reply = match act {
        Act::Read => {
            let reply = user.project(id).await;
            let body = user.body(id).await;
            let versions = user.versions(id, "").await;
            assert_eq!(
                (body.status, versions.status),
                (reply.status, reply.status),
                "reads of project, body and versions disagree"
            );
            reply
        }
        Act::Save => {
            let version = owner.project(id).await.version();
            user.save(id, version, &json!({"saved_by": user.id})).await
        }
        Act::Delete => user.delete(id).await,
        Act::Copy => {
            let reply = user.copy(id).await;
            if reply.status == StatusCode::CREATED {
                let copy = reply.json();
                assert_eq!(copy["owner_id"], user.id, "a copy belongs to the caller");
                assert_eq!(copy["parent_id"], id);
                assert_eq!(copy["version"], 1);
                let copy_body = user.body(reply.id()).await;
                assert_eq!(copy_body.status, StatusCode::OK);
                assert_eq!(copy_body.bytes, owner.body(id).await.bytes);
            }
            reply
        }
        Act::Share => user.share(id, share_to).await,
    };
    match reply.status {
        StatusCode::FORBIDDEN => {
            reply.expect_problem(StatusCode::FORBIDDEN, "forbidden");
        }
        StatusCode::NOT_FOUND => {
            reply.expect_problem(StatusCode::NOT_FOUND, "not_found");
        }
        _ => {}
    }
    reply.status
}

async fn who_may_do_what(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let owner = User::login(&api, "sam", "student", &[("7b", "Class 7B")]).await;
    let classmate = User::login(&api, "sue", "student", &[("7b", "Class 7B")]).await;
    let teacher = User::login(
        &api,
        "ms-lee",
        "teacher",
        &[("7b", "Class 7B"), ("9c", "Class 9C")],
    )
    .await;
    let colleague = User::login(&api, "ms-ash", "teacher", &[("7b", "Class 7B")]).await;
    let other_teacher = User::login(&api, "mr-oak", "teacher", &[("8a", "Class 8A")]).await;
    let member = User::login(&api, "max", "student", &[("9c", "Class 9C")]).await;
    let (g7b, g9c, g8a) = (
        teacher.group("7b"),
        teacher.group("9c"),
        other_teacher.group("8a"),
    );

    // A student's project, shared with nobody.
    let by_student = owner.create("Sam's game", &json!({"by": "sam"})).await.id();
    // A teacher's project, shared with class 9C.
    let by_teacher = teacher
        .create("Lee's lesson", &json!({"by": "lee"}))
        .await
        .id();
    teacher
        .share(by_teacher, &[g9c])
        .await
        .expect(StatusCode::OK);

    // Expected statuses for read, save, delete, copy, share. The owners'
    // deletes (0 here) come last.
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("student owner",                        &owner,         &owner,   by_student, g7b, [200, 200, 0, 201, 403]),
        ("classmate",                            &classmate,     &owner,   by_student, g7b, [404; 5]),
        ("the student's teacher",                &teacher,       &owner,   by_student, g7b, [200, 403, 403, 201, 403]),
        ("another teacher of the class",         &colleague,     &owner,   by_student, g7b, [200, 403, 403, 201, 403]),
        ("a teacher of another class",           &other_teacher, &owner,   by_student, g8a, [404; 5]),
        ("a student of another class",           &member,        &owner,   by_student, g9c, [404; 5]),
        ("teacher owner",                        &teacher,       &teacher, by_teacher, g9c, [200, 200, 0, 201, 200]),
        ("member of the shared group",           &member,        &teacher, by_teacher, g9c, [200, 403, 403, 201, 403]),
        ("a student of the owner's other class", &owner,         &teacher, by_teacher, g7b, [404; 5]),
        ("a fellow teacher of the owner",        &colleague,     &teacher, by_teacher, g7b, [404; 5]),
        ("a teacher of another class",           &other_teacher, &teacher, by_teacher, g8a, [404; 5]),
    ];
    let mut mismatches = Vec::new();
    for (who, user, project_owner, id, share_to, expected) in &rows {
        for (act, want) in ACTS.iter().zip(expected) {
            if *want == 0 {
                continue;
            }
            let got = attempt(user, project_owner, *id, *act, &[*share_to]).await;
            if got.as_u16() != *want {
                mismatches.push(format!(
                    "{who} {act:?} project {id}: {got}, expected {want}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");

    // Teachers share only with their own groups.
    teacher
        .share(by_teacher, &[g8a])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    teacher
        .share(by_teacher, &[g9c, g8a])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        teacher.project(by_teacher).await.json()["shared_with"],
        json!([g9c])
    );

    // Access follows memberships: a student who left the class is out of
    // the teacher's reach; an unshared project is out of the member's.
    let owner_left = User::login(&api, "sam", "student", &[]).await;
    assert_eq!(owner_left.id, owner.id);
    assert_eq!(
        attempt(&teacher, &owner, by_student, Act::Read, &[]).await,
        StatusCode::NOT_FOUND
    );
    teacher.share(by_teacher, &[]).await.expect(StatusCode::OK);
    assert_eq!(
        attempt(&member, &teacher, by_teacher, Act::Read, &[]).await,
        StatusCode::NOT_FOUND
    );

    // The owners delete; then nobody sees anything.
    for (project_owner, id) in [(&owner, by_student), (&teacher, by_teacher)] {
        assert_eq!(
            project_owner.delete(id).await.status,
            StatusCode::NO_CONTENT
        );
        for user in [
            &owner,
            &classmate,
            &teacher,
            &colleague,
            &other_teacher,
            &member,
        ] {
            user.project(id)
                .await
                .expect_problem(StatusCode::NOT_FOUND, "not_found");
        }
    }
}
