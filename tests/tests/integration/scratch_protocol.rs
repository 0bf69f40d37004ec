//! The Scratch 3 protocol (docs/API.md "Scratch editor routes";
//! docs/SCRATCH.md): the editor's own requests in its own
//! shapes — the session cookie with an empty `x-token:` beside it (the stock
//! editor), `x-token: <token>` alone (its backpack) and Bearer (a custom
//! `readAuth`) — on `/projects`, `/assets` and `/backpack`, with the exact
//! statuses the editor checks (`=== 200`), and what they leave behind in
//! `/api/v1`. The race of unversioned editor saves runs with one server
//! process and with two on one database.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tests::assets::{b64, jpeg, mp3, png, raw_http, svg, wav, zip, RawBody};
use tests::projects::{etag, md5_hex, send, Reply, User};
use tests::{race, start_processes, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    the_editor_loads_a_project_only_where_the_caller_may_read,
    the_editor_creates_a_project_with_exactly_200,
    the_editor_copies_and_remixes_with_the_original_as_parent,
    the_editor_saves_on_top_of_the_latest_version_and_loses_nothing,
    editor_saves_with_a_version_or_if_match_are_conditional,
    an_editor_save_may_carry_a_new_title,
    every_editor_body_comes_with_its_version_in_etag,
    only_the_owner_saves_from_the_editor,
    the_editor_uploads_assets_without_content_type_and_loads_them,
    the_editor_backpack_answers_exactly_200,
    the_editor_backpack_pages_by_offset,
    another_users_backpack_is_refused,
);
on_backends!(processes [1, 2]: concurrent_editor_saves_lose_nothing);

/// Project JSON as `vm.toJSON()` writes it (no whitespace), with its keys in
/// no sorted order and text outside ASCII: loads must give these bytes back.
const BODY_1: &str = r#"{"targets":[{"isStage":true,"name":"Stage","variables":{"v1":["score",0.5]},"costumes":[{"name":"backdrop1","assetId":"cd21514d0531fdffb22204e0ec5ed84a","md5ext":"cd21514d0531fdffb22204e0ec5ed84a.svg","dataFormat":"svg"}]}],"monitors":[],"extensions":["pen"],"meta":{"semver":"3.0.0","vm":"5.0.300","agent":"Mozilla/5.0 Bühne ☃"}}"#;
const BODY_2: &str = r#"{"targets":[{"name":"Stage","isStage":true}],"meta":{"vm":"5.0.300","semver":"3.0.0"},"monitors":[],"extensions":[]}"#;

/// A distinct project JSON text per `tag`, with some whitespace kept.
fn project_text(tag: &str) -> String {
    format!(
        r#"{{"targets": [{{"isStage":true,"name":"Stage"}}],"monitors":[],"meta":{{"semver":"3.0.0","vm":"5.0.300"}},"tag":"{tag}"}}"#
    )
}

/// Project JSON of exactly `len` bytes.
fn padded(len: usize) -> String {
    let text = format!(r#"{{"targets":[],"pad":"{}"}}"#, "x".repeat(len - 23));
    assert_eq!(text.len(), len);
    text
}

// ---- the editor's requests -------------------------------------------------------

/// How an editor request authenticates.
#[derive(Clone, Copy, Debug)]
enum Auth {
    /// The stock editor: the session cookie, and an empty `x-token:` beside it.
    Cookie,
    /// `x-token: <token>` alone (the editor's backpack).
    XToken,
    /// `Authorization: Bearer <token>` (a custom `readAuth`).
    Bearer,
}

const AUTHS: [Auth; 3] = [Auth::Cookie, Auth::XToken, Auth::Bearer];

/// A request as the editor sends it for `user`, authenticated by `auth`.
fn editor(user: &User, auth: Auth, method: Method, path: &str) -> RequestBuilder {
    let req = user.api.http.request(method, user.api.url(path));
    match auth {
        Auth::Cookie => req
            .header("cookie", format!("cubby_session={}", user.token))
            .header("x-token", ""),
        Auth::XToken => req.header("x-token", &user.token),
        Auth::Bearer => req.bearer_auth(&user.token),
    }
}

/// Unauthenticated requests: none at all, an empty `x-token:` only, an
/// unknown token in the cookie.
fn unauthenticated(
    api: &Client,
    method: Method,
    path: &str,
) -> Vec<(&'static str, RequestBuilder)> {
    let req = || api.http.request(method.clone(), api.url(path));
    vec![
        ("no credentials", req()),
        ("an empty x-token only", req().header("x-token", "")),
        (
            "an unknown session cookie",
            req()
                .header("cookie", "cubby_session=not-a-session")
                .header("x-token", ""),
        ),
    ]
}

/// The project JSON as the body of an editor request.
fn with_project(req: RequestBuilder, body: &str) -> RequestBuilder {
    req.header("content-type", "application/json")
        .body(body.to_owned())
}

/// `GET /projects/{id}` (`id` as written in the path).
async fn load(user: &User, auth: Auth, id: impl std::fmt::Display) -> Reply {
    send(editor(user, auth, Method::GET, &format!("/projects/{id}"))).await
}

/// `POST /projects/{query}` with the project JSON text.
async fn create(user: &User, auth: Auth, query: &str, body: &str) -> Reply {
    send(with_project(
        editor(user, auth, Method::POST, &format!("/projects/{query}")),
        body,
    ))
    .await
}

/// `PUT /projects/{target}` (`target` = `{id}` plus any query) with the
/// project JSON text.
async fn save(user: &User, auth: Auth, target: &str, body: &str) -> Reply {
    send(with_project(
        editor(user, auth, Method::PUT, &format!("/projects/{target}")),
        body,
    ))
    .await
}

/// Asserts a load: exactly 200, JSON, the project text byte for byte.
fn expect_loaded(reply: &Reply, body: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text(), body, "the project JSON byte for byte");
}

/// Asserts a create: exactly 200 (the editor rejects a 201) and exactly
/// `{"status": "ok", "content-name": "<id>", "content-title": <title>}`;
/// returns the new id and the title.
fn expect_created(reply: &Reply) -> (i64, Value) {
    let answer = reply.expect(StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let name = answer["content-name"]
        .as_str()
        .unwrap_or_else(|| panic!("content-name must be a string: {answer}"));
    let id: i64 = name
        .parse()
        .unwrap_or_else(|_| panic!("content-name must be the id: {answer}"));
    assert!(id > 0, "{answer}");
    let title = answer["content-title"].clone();
    assert!(title.is_string(), "content-title: {answer}");
    assert_eq!(
        answer,
        json!({"status": "ok", "content-name": id.to_string(), "content-title": title})
    );
    (id, title)
}

/// Asserts a save: exactly 200 and `{"status": "ok", "content-name": "<id>"}`.
/// A `version` member beside them (not in the contract) must be the new
/// version, `expected` when given; returns it.
fn expect_saved(reply: &Reply, id: i64, expected: Option<i64>) -> Option<i64> {
    let mut answer = reply.expect(StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let version = answer
        .as_object_mut()
        .and_then(|o| o.remove("version"))
        .map(|v| {
            v.as_i64()
                .unwrap_or_else(|| panic!("version must be an integer: {}", reply.text()))
        });
    if let (Some(got), Some(want)) = (version, expected) {
        assert_eq!(got, want, "the version in {}", reply.text());
    }
    // The editor page reads the new version from the header.
    let tag = reply.header("etag").map(str::to_owned);
    if let Some(v) = version {
        assert_eq!(tag, Some(etag(v)), "ETag of {}", reply.text());
    }
    assert_eq!(
        answer,
        json!({"status": "ok", "content-name": id.to_string()}),
        "{}",
        reply.text()
    );
    version
}

/// Creates a project through `/api/v1` with this exact body text; returns its id.
async fn create_via_api(user: &User, title: &str, body: &str) -> i64 {
    let reply = send(user.create_req(format!(r#"{{"title":"{title}","body":{body}}}"#))).await;
    reply.expect(StatusCode::CREATED);
    reply.id()
}

/// The versions `/api/v1` lists for `id` (newest first), each checked
/// against the body it had: `bodies[v - 1]` for version `v`, by `author`.
async fn expect_versions(user: &User, id: i64, author: i64, bodies: &[String]) {
    let listed = user
        .list_all(&format!("/api/v1/projects/{id}/versions"), 100)
        .await;
    let versions: Vec<i64> = listed
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (1..=bodies.len() as i64).rev().collect::<Vec<i64>>(),
        "every version kept, newest first"
    );
    for v in &listed {
        let n = v["version"].as_i64().unwrap();
        let body = &bodies[n as usize - 1];
        assert_eq!(v["author_id"], author, "{v}");
        assert_eq!(v["body_size"], body.len(), "{v}");
        assert_eq!(v["body_md5"], md5_hex(body.as_bytes()), "{v}");
        let stored = user.version_body(id, n).await;
        assert_eq!(stored.status, StatusCode::OK, "version {n}");
        assert_eq!(&stored.text(), body, "the body of version {n}");
    }
}

// ---- test bytes -------------------------------------------------------------------

/// `{md5}.{ext}` of `bytes`.
fn asset_name(bytes: &[u8], ext: &str) -> String {
    format!("{}.{ext}", md5_hex(bytes))
}

// ---- the backpack's requests --------------------------------------------------------

/// A backpack item as the editor posts it.
#[derive(Clone, Debug)]
struct Piece {
    kind: &'static str,
    mime: &'static str,
    name: String,
    body: Vec<u8>,
    /// A 96-px JPEG in the real editor.
    thumbnail: Vec<u8>,
}

impl Piece {
    fn new(kind: &'static str, mime: &'static str, name: &str) -> Piece {
        let body = match mime {
            "image/svg+xml" => svg(name),
            "image/png" => png(name),
            "audio/x-wav" => wav(name),
            "audio/mp3" => mp3(name),
            "application/zip" => zip(name),
            _ => json!([{"opcode": "event_whenflagclicked", "name": name}])
                .to_string()
                .into_bytes(),
        };
        Piece {
            kind,
            mime,
            name: name.to_owned(),
            body,
            thumbnail: jpeg(&format!("thumbnail of {name}")),
        }
    }

    fn costume(name: &str) -> Piece {
        Piece::new("costume", "image/svg+xml", name)
    }

    /// Every kind the editor backpacks (docs/SCRATCH.md, "Backpack payloads").
    fn all_kinds() -> Vec<Piece> {
        vec![
            Piece::new("costume", "image/svg+xml", "vector cat"),
            Piece::new("costume", "image/png", "bitmap cat"),
            Piece::new("sound", "audio/x-wav", "meow"),
            Piece::new("sound", "audio/mp3", "purr"),
            Piece::new("sprite", "application/zip", "whole cat"),
            Piece::new("script", "application/json", "code"),
        ]
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

    /// The costume's or sound's `{md5}.{ext}`, which the editor loads by.
    fn asset_body_name(&self) -> Option<String> {
        let ext = match self.mime {
            "image/svg+xml" => "svg",
            "image/png" => "png",
            "audio/x-wav" => "wav",
            "audio/mp3" => "mp3",
            _ => return None,
        };
        Some(asset_name(&self.body, ext))
    }

    /// Asserts that `item` is this piece: exactly the six members, the
    /// costume or sound body named `{md5}.{ext}` of the decoded bytes, any
    /// other body named after its md5, the thumbnail `{md5}.jpg`.
    fn check(&self, item: &Value) -> i64 {
        let id = item["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id: {item}"));
        assert!(id > 0, "{item}");
        let body = item["body"].as_str().unwrap_or_default().to_owned();
        match self.asset_body_name() {
            Some(name) => assert_eq!(body, name, "{item}"),
            None => assert!(
                body.starts_with(&format!("{}.", md5_hex(&self.body))),
                "{item}"
            ),
        }
        assert_eq!(
            item,
            &json!({
                "id": id,
                "type": self.kind,
                "mime": self.mime,
                "name": self.name,
                "body": body,
                "thumbnail": asset_name(&self.thumbnail, "jpg"),
            })
        );
        id
    }
}

/// `GET /backpack/{username}{query}`.
async fn bp_list(user: &User, auth: Auth, username: &str, query: &str) -> Reply {
    send(editor(
        user,
        auth,
        Method::GET,
        &format!("/backpack/{username}{query}"),
    ))
    .await
}

/// Lists `user`'s own backpack: exactly 200 and a JSON array.
async fn bp_items(user: &User, auth: Auth, query: &str) -> Vec<Value> {
    let username = user.info["username"].as_str().unwrap().to_owned();
    let reply = bp_list(user, auth, &username, query).await;
    let items = reply.expect(StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    items
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {items}"))
        .clone()
}

/// `POST /backpack/{username}` with this JSON.
async fn bp_post(user: &User, auth: Auth, username: &str, request: &Value) -> Reply {
    send(editor(user, auth, Method::POST, &format!("/backpack/{username}")).json(request)).await
}

/// Posts `piece` to `user`'s own backpack: exactly 200 and the item.
async fn bp_add(user: &User, auth: Auth, piece: &Piece) -> Value {
    let username = user.info["username"].as_str().unwrap().to_owned();
    let reply = bp_post(user, auth, &username, &piece.request()).await;
    let item = reply.expect(StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    piece.check(&item);
    item
}

/// `DELETE /backpack/{username}/{id}`.
async fn bp_delete(user: &User, auth: Auth, username: &str, id: &Value) -> Reply {
    send(editor(
        user,
        auth,
        Method::DELETE,
        &format!("/backpack/{username}/{id}"),
    ))
    .await
}

/// Asserts that `GET {path}` answers 200 with exactly `bytes`.
async fn expect_bytes(user: &User, path: &str, bytes: &[u8]) -> Reply {
    let reply = send(editor(user, Auth::Cookie, Method::GET, path)).await;
    assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.text());
    assert!(reply.bytes == bytes, "GET {path}: the bytes as stored");
    reply
}

fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|i| i["id"].as_i64().unwrap_or_else(|| panic!("no id: {i}")))
        .collect()
}

// ---- loading ------------------------------------------------------------------------

async fn the_editor_loads_a_project_only_where_the_caller_may_read(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let tess = User::login(&api, "tess", "teacher", &[("7b", "Class 7B")]).await;
    let ann = User::login(&api, "ann", "student", &[("7b", "Class 7B")]).await;
    let carol = User::login(&api, "carol", "student", &[("8c", "Class 8C")]).await;

    // The owner loads the JSON exactly as saved, however she authenticates.
    let id = create_via_api(&ann, "Cat game", BODY_1).await;
    for auth in AUTHS {
        expect_loaded(&load(&ann, auth, id).await, BODY_1);
    }
    // An empty `Authorization` counts as absent too: the cookie decides.
    let reply = send(
        api.http
            .get(api.url(&format!("/projects/{id}")))
            .header("cookie", format!("cubby_session={}", ann.token))
            .header("authorization", "")
            .header("x-token", ""),
    )
    .await;
    expect_loaded(&reply, BODY_1);
    // After a save, the latest body.
    let saved = send(
        ann.req(Method::PUT, &format!("/api/v1/projects/{id}"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"version":1,"body":{BODY_2}}}"#)),
    )
    .await;
    saved.expect(StatusCode::OK);
    for auth in AUTHS {
        expect_loaded(&load(&ann, auth, id).await, BODY_2);
    }

    // Readers: the teacher of the owner's class; the members of a class a
    // project is shared with.
    expect_loaded(&load(&tess, Auth::Cookie, id).await, BODY_2);
    let shared = create_via_api(&tess, "Class example", BODY_1).await;
    tess.share(shared, &[tess.group("7b")])
        .await
        .expect(StatusCode::OK);
    for auth in AUTHS {
        expect_loaded(&load(&ann, auth, shared).await, BODY_1);
    }

    // Strangers, unknown ids and deleted projects: 404, revealing nothing.
    for auth in AUTHS {
        load(&carol, auth, id)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
        load(&carol, auth, shared)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let gone = create_via_api(&ann, "Gone", BODY_2).await;
    assert_eq!(ann.delete(gone).await.status, StatusCode::NO_CONTENT);
    for unknown in [
        gone.to_string(),
        "99999999".into(),
        "0".into(),
        "abc".into(),
    ] {
        load(&ann, Auth::Cookie, &unknown)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }

    // No session, or one that has ended: 401.
    for (what, req) in unauthenticated(&api, Method::GET, &format!("/projects/{id}")) {
        let reply = send(req).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let second = User::login(&api, "ann", "student", &[("7b", "Class 7B")]).await;
    expect_loaded(&load(&second, Auth::Cookie, id).await, BODY_2);
    let out = send(second.req(Method::POST, "/auth/logout")).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    for auth in AUTHS {
        load(&second, auth, id)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    expect_loaded(&load(&ann, Auth::Cookie, id).await, BODY_2);
}

// ---- creating, copying, remixing ----------------------------------------------------

async fn the_editor_creates_a_project_with_exactly_200(db: TestDb) {
    const QUOTA: usize = 4;
    const LIMIT: usize = 1000;
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_PROJECT_QUOTA", QUOTA)
            .with("CUBBY_MAX_BODY_BYTES", LIMIT),
    );
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;

    let mut created = BTreeSet::new();
    for (i, auth) in AUTHS.into_iter().enumerate() {
        // A create-new sends no query (docs/SCRATCH.md).
        let body = if i == 0 {
            BODY_1.to_owned()
        } else {
            project_text(&format!("new {i}"))
        };
        let (id, title) = expect_created(&create(&ann, auth, "", &body).await);
        assert!(created.insert(id), "a new id each time: {id}");

        let p = ann.project(id).await.expect(StatusCode::OK);
        assert_eq!(p["id"], id);
        assert_eq!(p["owner_id"], ann.id);
        assert_eq!(p["title"], title, "content-title is the project's title");
        assert_eq!(p["version"], 1);
        assert_eq!(p["parent_id"], Value::Null);
        assert_eq!(p["body_size"], body.len());
        assert_eq!(p["body_md5"], md5_hex(body.as_bytes()));
        assert_eq!(p["shared_with"], json!([]));
        assert_eq!(ann.body(id).await.text(), body, "the body byte for byte");
        expect_versions(&ann, id, ann.id, std::slice::from_ref(&body)).await;
        expect_loaded(&load(&ann, auth, id).await, &body);
    }
    assert_eq!(db.count("projects", "").await, 3);
    let mine = ann.list_all("/api/v1/projects?scope=mine", 100).await;
    assert_eq!(
        mine.iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect::<BTreeSet<i64>>(),
        created
    );

    // Refused: no session, or a body that is not project JSON. Nothing is made.
    for (what, req) in unauthenticated(&api, Method::POST, "/projects/") {
        let reply = send(with_project(req, BODY_1)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    for bad in ["", "not json", "[1, 2]", "\"text\"", r#"{"targets": ["#] {
        create(&ann, Auth::Cookie, "", bad)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    }
    let too_large = padded(LIMIT + 1);
    create(&ann, Auth::Cookie, "", &too_large)
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(db.count("projects", "").await, 3);
    assert_eq!(db.count("project_versions", "").await, 3);

    // At the body limit: made. At the quota: 403, for a copy too.
    let at_limit = padded(LIMIT);
    let (id, _) = expect_created(&create(&ann, Auth::Cookie, "", &at_limit).await);
    expect_loaded(&load(&ann, Auth::Cookie, id).await, &at_limit);
    for query in [
        "".to_owned(),
        format!("?is_copy=1&original_id={id}&title=One%20more"),
    ] {
        create(&ann, Auth::Cookie, &query, BODY_2)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
    }
    assert_eq!(db.count("projects", "").await, QUOTA as i64);

    // A save over the limit: 413, and the version stays.
    save(&ann, Auth::Cookie, &id.to_string(), &too_large)
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(ann.project(id).await.version(), 1);
}

async fn the_editor_copies_and_remixes_with_the_original_as_parent(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let tess = User::login(&api, "tess", "teacher", &[("7b", "Class 7B")]).await;
    let ann = User::login(&api, "ann", "student", &[("7b", "Class 7B")]).await;
    let bob = User::login(&api, "bob", "student", &[("7b", "Class 7B")]).await;
    let carol = User::login(&api, "carol", "student", &[("8c", "Class 8C")]).await;
    let original = create_via_api(&ann, "Original", BODY_1).await;

    /// Asserts the derived project: the caller's, version 1, `parent_id`,
    /// the title of the query, the body the editor sent.
    async fn check_derived(user: &User, id: i64, parent: i64, title: &str, body: &str) {
        let p = user.project(id).await.expect(StatusCode::OK);
        assert_eq!(p["owner_id"], user.id, "{p}");
        assert_eq!(p["parent_id"], parent, "{p}");
        assert_eq!(p["title"], title, "{p}");
        assert_eq!(p["version"], 1, "{p}");
        assert_eq!(p["body_md5"], md5_hex(body.as_bytes()), "{p}");
        assert_eq!(user.body(id).await.text(), body);
        expect_loaded(&load(user, Auth::Cookie, id).await, body);
    }

    // "Save as a copy": the owner's PUT, then the POST with the query the
    // editor builds (keys sorted, the title percent-encoded).
    let copied = project_text("copied");
    let saved = save(&ann, Auth::Cookie, &original.to_string(), &copied).await;
    expect_saved(&saved, original, Some(2));
    let mut made = Vec::new();
    for (i, auth) in AUTHS.into_iter().enumerate() {
        let query = format!("?is_copy=1&original_id={original}&title=My%20copy%20{i}");
        let (id, title) = expect_created(&create(&ann, auth, &query, &copied).await);
        assert_eq!(title, format!("My copy {i}"));
        check_derived(&ann, id, original, &format!("My copy {i}"), &copied).await;
        made.push(id);
    }
    // The original is untouched.
    let p = ann.project(original).await.expect(StatusCode::OK);
    assert_eq!(p["version"], 2);
    assert_eq!(p["title"], "Original");
    assert_eq!(ann.body(original).await.text(), copied);

    // A remix by the teacher, who reads her student's projects; a title
    // outside ASCII.
    let query = format!("?is_remix=1&original_id={original}&title=K%C3%A4se%20%26%20Brot");
    let (remix, title) = expect_created(&create(&tess, Auth::Cookie, &query, BODY_2).await);
    assert_eq!(title, "Käse & Brot");
    check_derived(&tess, remix, original, "Käse & Brot", BODY_2).await;
    made.push(remix);

    // A remix of a project shared with a class, by a member; a remix of a copy.
    let shared = create_via_api(&tess, "Class example", BODY_2).await;
    tess.share(shared, &[tess.group("7b")])
        .await
        .expect(StatusCode::OK);
    for auth in AUTHS {
        let query = format!("?is_remix=1&original_id={shared}&title=Bob%27s%20remix");
        let (id, _) = expect_created(&create(&bob, auth, &query, BODY_1).await);
        check_derived(&bob, id, shared, "Bob's remix", BODY_1).await;
        made.push(id);
    }
    let query = format!(
        "?is_copy=1&original_id={}&title=Copy%20of%20a%20copy",
        made[0]
    );
    let (id, _) = expect_created(&create(&ann, Auth::XToken, &query, BODY_2).await);
    check_derived(&ann, id, made[0], "Copy of a copy", BODY_2).await;
    made.push(id);
    let distinct: BTreeSet<i64> = made.iter().copied().collect();
    assert_eq!(distinct.len(), made.len(), "new ids: {made:?}");

    // The original must be readable by the caller: else 404, and nothing is made.
    let projects = db.count("projects", "").await;
    let refused = [
        (&carol, original),
        (&carol, shared),
        (&bob, original),
        (&ann, 99_999_999),
    ];
    for (user, source) in refused {
        for flag in ["is_copy", "is_remix"] {
            let query = format!("?{flag}=1&original_id={source}&title=Mine%20now");
            create(user, Auth::Cookie, &query, BODY_1)
                .await
                .expect_problem(StatusCode::NOT_FOUND, "not_found");
        }
    }
    assert_eq!(db.count("projects", "").await, projects);
    let gone = create_via_api(&ann, "Gone", BODY_2).await;
    assert_eq!(ann.delete(gone).await.status, StatusCode::NO_CONTENT);
    let projects = db.count("projects", "").await;
    let query = format!("?is_copy=1&original_id={gone}&title=Too%20late");
    create(&ann, Auth::Cookie, &query, BODY_2)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // A malformed `original_id` is refused also when the request copies
    // nothing: what a query may hold does not depend on its other members.
    for query in [
        "?original_id=abc",
        "?is_copy=0&original_id=1.5",
        "?is_remix=1&original_id=",
    ] {
        create(&ann, Auth::Cookie, query, BODY_2)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    }
    for (what, req) in unauthenticated(
        &api,
        Method::POST,
        &format!("/projects/?is_copy=1&original_id={original}&title=x"),
    ) {
        let reply = send(with_project(req, BODY_1)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert_eq!(db.count("projects", "").await, projects);
    assert_eq!(
        db.count("projects", &format!("owner_id = {}", carol.id))
            .await,
        0
    );
}

// ---- saving -------------------------------------------------------------------------

async fn the_editor_saves_on_top_of_the_latest_version_and_loses_nothing(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let id = create_via_api(&ann, "Saved game", BODY_1).await;

    // "Save now" and autosave: PUT with no version, each on top of the last.
    let mut bodies = vec![BODY_1.to_owned()];
    for (i, auth) in AUTHS.into_iter().enumerate() {
        let body = if i == 0 {
            BODY_2.to_owned()
        } else {
            project_text(&format!("save {i}"))
        };
        let reply = save(&ann, auth, &id.to_string(), &body).await;
        expect_saved(&reply, id, Some(2 + i as i64));
        bodies.push(body);
        let p = ann.project(id).await.expect(StatusCode::OK);
        assert_eq!(p["version"], 2 + i as i64);
        assert_eq!(
            p["title"], "Saved game",
            "the editor's save keeps the title"
        );
        assert_eq!(p["body_md5"], md5_hex(bodies.last().unwrap().as_bytes()));
        assert_eq!(&ann.body(id).await.text(), bodies.last().unwrap());
        expect_loaded(&load(&ann, auth, id).await, bodies.last().unwrap());
    }
    // Every overwritten version stays readable.
    expect_versions(&ann, id, ann.id, &bodies).await;
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        4
    );

    // `/api/v1` still requires a version; the editor's leniency is its own.
    ann.update(id, &json!({"body": {"targets": []}}))
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "version_required");

    // A title set through `/api/v1` survives the editor's next save.
    ann.update(id, &json!({"version": 4, "title": "Renamed"}))
        .await
        .expect(StatusCode::OK);
    bodies.push(bodies[3].clone());
    let body = project_text("after the rename");
    expect_saved(
        &save(&ann, Auth::Cookie, &id.to_string(), &body).await,
        id,
        Some(6),
    );
    bodies.push(body.clone());
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(p["version"], 6);
    assert_eq!(p["title"], "Renamed");
    assert_eq!(ann.body(id).await.text(), body);
    expect_versions(&ann, id, ann.id, &bodies).await;
}

/// The editor page's rename: `PUT /projects/{id}?version=&title=` saves
/// the body and the title in one version; a blank title leaves the title
/// alone; a stale one changes neither; a bad one is 400 and saves nothing.
async fn an_editor_save_may_carry_a_new_title(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let id = create_via_api(&ann, "Old name", BODY_1).await;
    let put = |query: &str, body: &'static str| {
        let target = format!("{id}?{query}");
        let ann = &ann;
        async move { save(ann, Auth::Cookie, &target, body).await }
    };

    expect_saved(
        &put("title=Rocket%20Race&version=1", BODY_2).await,
        id,
        Some(2),
    );
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(
        (p["title"].as_str(), p["version"].as_i64()),
        (Some("Rocket Race"), Some(2))
    );
    assert_eq!(ann.body(id).await.text(), BODY_2);

    // Blank: the title stays.
    expect_saved(&put("title=%20&version=2", BODY_1).await, id, Some(3));
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(
        (p["title"].as_str(), p["version"].as_i64()),
        (Some("Rocket Race"), Some(3))
    );

    // Stale: 409, neither title nor body changes.
    let reply = put("title=Lost&version=1", BODY_2).await;
    reply.expect_problem(StatusCode::CONFLICT, "version_conflict");
    // Too long: 400, nothing saved.
    let long = "x".repeat(201);
    let reply = save(
        &ann,
        Auth::Cookie,
        &format!("{id}?version=3&title={long}"),
        BODY_2,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(
        (p["title"].as_str(), p["version"].as_i64()),
        (Some("Rocket Race"), Some(3))
    );
    assert_eq!(ann.body(id).await.text(), BODY_1);
}

async fn editor_saves_with_a_version_or_if_match_are_conditional(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let id = create_via_api(&ann, "Careful", BODY_1).await;
    let mut bodies = vec![BODY_1.to_owned()];
    expect_saved(
        &save(&ann, Auth::Cookie, &id.to_string(), BODY_2).await,
        id,
        Some(2),
    );
    bodies.push(BODY_2.to_owned());

    /// A PUT with `?version=` and/or `If-Match`.
    async fn conditional(
        user: &User,
        id: i64,
        version: Option<i64>,
        if_match: Option<String>,
        body: &str,
    ) -> Reply {
        let target = match version {
            Some(v) => format!("/projects/{id}?version={v}"),
            None => format!("/projects/{id}"),
        };
        let mut req = editor(user, Auth::Cookie, Method::PUT, &target);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        send(with_project(req, body)).await
    }

    // Stale (or never reached): 409 with the current version; nothing saved.
    let stale = project_text("stale");
    for (version, tag) in [
        (Some(1), None),
        (None, Some(etag(1))),
        (Some(3), None),
        (None, Some(etag(3))),
    ] {
        let reply = conditional(&ann, id, version, tag.clone(), &stale).await;
        let problem = reply.expect_problem(StatusCode::CONFLICT, "version_conflict");
        assert_eq!(problem["current_version"], 2, "{version:?} {tag:?}");
    }
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(p["version"], 2);
    assert_eq!(ann.body(id).await.text(), BODY_2);
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        2
    );

    // The current version: saved.
    let body = project_text("by version");
    expect_saved(
        &conditional(&ann, id, Some(2), None, &body).await,
        id,
        Some(3),
    );
    bodies.push(body);
    let body = project_text("by if-match");
    expect_saved(
        &conditional(&ann, id, None, Some(etag(3)), &body).await,
        id,
        Some(4),
    );
    bodies.push(body);

    // What was current a moment ago is stale now.
    for (version, tag) in [(Some(3), None), (None, Some(etag(2)))] {
        let reply = conditional(&ann, id, version, tag, &stale).await;
        let problem = reply.expect_problem(StatusCode::CONFLICT, "version_conflict");
        assert_eq!(problem["current_version"], 4);
    }
    assert_eq!(ann.body(id).await.text(), bodies[3]);
    expect_versions(&ann, id, ann.id, &bodies).await;
}

/// The editor page sends back the version of the body it holds; it learns
/// that version from `ETag` on the response that delivered (or stored) the
/// body, while the JSON bodies keep the shapes the stock editor expects.
async fn every_editor_body_comes_with_its_version_in_etag(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let reply = create(&ann, Auth::Cookie, "", BODY_1).await;
    let (id, _) = expect_created(&reply);
    assert_eq!(reply.header("etag"), Some(etag(1).as_str()));
    let loaded = load(&ann, Auth::Cookie, id).await;
    expect_loaded(&loaded, BODY_1);
    assert_eq!(loaded.header("etag"), Some(etag(1).as_str()));

    let saved = save(&ann, Auth::Cookie, &format!("{id}?version=1"), BODY_2).await;
    expect_saved(&saved, id, Some(2));
    assert_eq!(saved.header("etag"), Some(etag(2).as_str()));
    let loaded = load(&ann, Auth::Cookie, id).await;
    expect_loaded(&loaded, BODY_2);
    assert_eq!(loaded.header("etag"), Some(etag(2).as_str()));
    // The version from the load is the one a conditional save needs.
    let stale = save(&ann, Auth::Cookie, &format!("{id}?version=1"), BODY_1).await;
    stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    assert_eq!(stale.header("etag"), None);

    // A copy (what the editor page makes of a stale save) is version 1.
    let copy = create(
        &ann,
        Auth::Cookie,
        &format!("?is_copy=1&original_id={id}&title=Mine%20(conflict%20copy)"),
        BODY_1,
    )
    .await;
    let (copy_id, title) = expect_created(&copy);
    assert_eq!(title, "Mine (conflict copy)");
    assert_eq!(copy.header("etag"), Some(etag(1).as_str()));
    let p = ann.project(copy_id).await.expect(StatusCode::OK);
    assert_eq!(p["parent_id"], id, "{p}");
    assert_eq!(p["version"], 1, "{p}");
}

async fn only_the_owner_saves_from_the_editor(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let tess = User::login(&api, "tess", "teacher", &[("7b", "Class 7B")]).await;
    let ann = User::login(&api, "ann", "student", &[("7b", "Class 7B")]).await;
    let carol = User::login(&api, "carol", "student", &[("8c", "Class 8C")]).await;
    let anns = create_via_api(&ann, "Ann's game", BODY_1).await;
    let shared = create_via_api(&tess, "Class example", BODY_1).await;
    tess.share(shared, &[tess.group("7b")])
        .await
        .expect(StatusCode::OK);

    let intruder = project_text("not yours");
    for auth in AUTHS {
        // Readers (the teacher of the owner's class, a member of the class a
        // project is shared with): 403, whether the save is versioned or not.
        for (reader, id) in [(&tess, anns), (&ann, shared)] {
            for target in [id.to_string(), format!("{id}?version=1")] {
                save(reader, auth, &target, &intruder)
                    .await
                    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
            }
        }
        // Strangers: 404.
        for id in [anns, shared] {
            for target in [id.to_string(), format!("{id}?version=1")] {
                save(&carol, auth, &target, &intruder)
                    .await
                    .expect_problem(StatusCode::NOT_FOUND, "not_found");
            }
        }
    }
    for unknown in ["99999999", "0", "abc"] {
        save(&ann, Auth::Cookie, unknown, &intruder)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    for (what, req) in unauthenticated(&api, Method::PUT, &format!("/projects/{anns}")) {
        let reply = send(with_project(req, &intruder)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // Not project JSON, even from the owner: 400.
    for bad in ["", "not json", "[]", r#"{"targets": ["#] {
        save(&ann, Auth::Cookie, &anns.to_string(), bad)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    }

    // Nothing was saved.
    for (owner, id) in [(&ann, anns), (&tess, shared)] {
        let p = owner.project(id).await.expect(StatusCode::OK);
        assert_eq!(p["version"], 1, "{p}");
        assert_eq!(owner.body(id).await.text(), BODY_1);
    }
    assert_eq!(db.count("project_versions", "").await, 2);

    // The owner still saves.
    expect_saved(
        &save(&ann, Auth::Cookie, &anns.to_string(), BODY_2).await,
        anns,
        Some(2),
    );
    expect_loaded(&load(&tess, Auth::Cookie, anns).await, BODY_2);
}

// ---- assets -------------------------------------------------------------------------

async fn the_editor_uploads_assets_without_content_type_and_loads_them(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;

    let files = [
        (svg("cat"), "svg", "image/svg+xml"),
        (png("cat"), "png", "image/png"),
        (jpeg("cat"), "jpg", "image/jpeg"),
        (wav("meow"), "wav", "audio/wav"),
        (mp3("purr"), "mp3", "audio/mpeg"),
    ];
    for (i, (bytes, ext, content_type)) in files.iter().enumerate() {
        let auth = AUTHS[i % AUTHS.len()];
        let name = asset_name(bytes, ext);
        let load_paths = [
            format!("/assets/internalapi/asset/{name}/get/"),
            format!("/assets/{name}"),
        ];
        for path in &load_paths {
            send(editor(&ann, auth, Method::GET, path))
                .await
                .expect_problem(StatusCode::NOT_FOUND, "not_found");
        }

        // `storage.store`: POST, raw bytes, no Content-Type; a re-upload
        // (by anyone) is a success too.
        for (user, auth) in [(&ann, auth), (&ann, auth), (&bob, Auth::Cookie)] {
            let reply = send(
                editor(user, auth, Method::POST, &format!("/assets/{name}")).body(bytes.clone()),
            )
            .await;
            assert_eq!(
                reply.expect(StatusCode::OK),
                json!({"status": "ok", "content-name": name}),
                "{name}"
            );
            assert_eq!(reply.header("content-type"), Some("application/json"));
        }

        // Loading, at both paths; and through `/api/v1`.
        for path in &load_paths {
            let reply = expect_bytes(&ann, path, bytes).await;
            assert_eq!(reply.header("content-type"), Some(*content_type), "{path}");
        }
        expect_bytes(&bob, &format!("/api/v1/assets/{name}"), bytes).await;
    }
    assert_eq!(db.count("assets", "").await, files.len() as i64);

    // Byte for byte as the editor sends it: the cookie, `x-token:` empty, no
    // Content-Type.
    let costume = svg("sent raw");
    let name = asset_name(&costume, "svg");
    let cookie = format!("cubby_session={}", ann.token);
    let raw = raw_http(
        &server.base_url,
        "POST",
        &format!("/assets/{name}"),
        &[("Cookie", cookie.as_str()), ("x-token", "")],
        RawBody::Fixed(costume.clone()),
    )
    .await;
    assert_eq!(raw.status, 200, "{:?}", String::from_utf8_lossy(&raw.body));
    assert_eq!(raw.json(), json!({"status": "ok", "content-name": name}));
    expect_bytes(
        &ann,
        &format!("/assets/internalapi/asset/{name}/get/"),
        &costume,
    )
    .await;

    // Unknown (or not an asset name at all): 404, so the editor falls back.
    let unknown = asset_name(b"never uploaded", "svg");
    for path in [
        format!("/assets/internalapi/asset/{unknown}/get/"),
        format!("/assets/{unknown}"),
        "/assets/internalapi/asset/not-an-asset.svg/get/".to_owned(),
        "/assets/not-an-asset.svg".to_owned(),
    ] {
        send(editor(&ann, Auth::Cookie, Method::GET, &path))
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }

    // Refused uploads store nothing.
    let assets = db.count("assets", "").await;
    let bytes = svg("refused");
    let name = asset_name(&bytes, "svg");
    let reply = send(
        editor(
            &ann,
            Auth::Cookie,
            Method::POST,
            &format!("/assets/{unknown}"),
        )
        .body(bytes.clone()),
    )
    .await;
    reply.expect_problem(StatusCode::BAD_REQUEST, "md5_mismatch");
    let reply = send(
        editor(
            &ann,
            Auth::Cookie,
            Method::POST,
            &format!("/assets/{}.exe", md5_hex(&bytes)),
        )
        .body(bytes.clone()),
    )
    .await;
    reply.expect_problem(StatusCode::BAD_REQUEST, "unsupported_asset_type");
    for (what, req) in unauthenticated(&api, Method::POST, &format!("/assets/{name}")) {
        let reply = send(req.body(bytes.clone())).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
        reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert_eq!(db.count("assets", "").await, assets);
    send(editor(
        &ann,
        Auth::Cookie,
        Method::GET,
        &format!("/assets/{name}"),
    ))
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

// ---- backpack -----------------------------------------------------------------------

async fn the_editor_backpack_answers_exactly_200(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;

    // Empty at first: exactly 200 and `[]`.
    for auth in AUTHS {
        assert_eq!(
            bp_items(&ann, auth, "?limit=20&offset=0").await,
            Vec::<Value>::new()
        );
    }

    // Every kind the editor backpacks; its body and thumbnail are fetched
    // from the backpack host, costumes and sounds also from the asset host.
    let mut posted = Vec::new();
    for (i, piece) in Piece::all_kinds().iter().enumerate() {
        let item = bp_add(&ann, AUTHS[i % AUTHS.len()], piece).await;
        let body = item["body"].as_str().unwrap();
        let thumbnail = item["thumbnail"].as_str().unwrap();
        let reply = expect_bytes(&ann, &format!("/backpack/{body}"), &piece.body).await;
        if piece.kind == "script" {
            // `fetch(bodyUrl).json()`: the blocks JSON.
            assert_eq!(
                serde_json::from_slice::<Value>(&reply.bytes).unwrap(),
                serde_json::from_slice::<Value>(&piece.body).unwrap()
            );
        }
        let reply = expect_bytes(&ann, &format!("/backpack/{thumbnail}"), &piece.thumbnail).await;
        assert_eq!(reply.header("content-type"), Some("image/jpeg"));
        if piece.asset_body_name().is_some() {
            expect_bytes(
                &ann,
                &format!("/assets/internalapi/asset/{body}/get/"),
                &piece.body,
            )
            .await;
        }
        posted.push(item);
    }
    let newest_first: Vec<Value> = posted.iter().rev().cloned().collect();
    for auth in AUTHS {
        assert_eq!(
            bp_items(&ann, auth, "?limit=20&offset=0").await,
            newest_first
        );
    }
    // The same items as `/api/v1` has.
    let page = ann
        .get("/api/v1/backpack?limit=100")
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(page["items"].as_array().unwrap()), ids(&newest_first));

    // Delete: exactly 200 `{"ok": true}`, with each kind of auth.
    let mut left = newest_first.clone();
    for auth in AUTHS {
        let item = left.remove(1);
        let reply = bp_delete(&ann, auth, "ann", &item["id"]).await;
        assert_eq!(reply.expect(StatusCode::OK), json!({"ok": true}));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(
            bp_items(&ann, Auth::Cookie, "?limit=20&offset=0").await,
            left
        );
        // Once only.
        bp_delete(&ann, auth, "ann", &item["id"])
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(db.count("backpack_items", "").await, 3);

    // No session: 401, and nothing changes.
    let paths = [
        (Method::GET, "/backpack/ann?limit=20&offset=0".to_owned()),
        (Method::POST, "/backpack/ann".to_owned()),
        (Method::DELETE, format!("/backpack/ann/{}", left[0]["id"])),
    ];
    for (method, path) in paths {
        for (what, req) in unauthenticated(&api, method.clone(), &path) {
            let req = if method == Method::POST {
                req.json(&Piece::costume("anonymous").request())
            } else {
                req
            };
            let reply = send(req).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {what}"
            );
            reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        }
    }
    // A body the item's mime does not allow: 400, nothing stored.
    let mut bad = Piece::costume("odd").request();
    bad["mime"] = json!("text/plain");
    bp_post(&ann, Auth::XToken, "ann", &bad)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "unsupported_asset_type");
    assert_eq!(
        bp_items(&ann, Auth::XToken, "?limit=20&offset=0").await,
        left
    );
    assert_eq!(db.count("backpack_items", "").await, 3);
}

async fn the_editor_backpack_pages_by_offset(db: TestDb) {
    const ITEMS: usize = 23;
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let mut posted = Vec::new();
    for i in 0..ITEMS {
        let auth = AUTHS[i % AUTHS.len()];
        posted.push(bp_add(&ann, auth, &Piece::costume(&format!("costume {i}"))).await);
    }
    let newest_first: Vec<Value> = posted.into_iter().rev().collect();

    // The editor's pages: 20 at a time, "more" while 20 came back.
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = bp_items(&ann, Auth::XToken, &format!("?limit=20&offset={offset}")).await;
        let n = page.len();
        assert!(n <= 20);
        seen.extend(page);
        offset += n;
        if n < 20 {
            break;
        }
    }
    assert_eq!(seen, newest_first, "every item once, newest first");
    assert_eq!(
        bp_items(&ann, Auth::XToken, "?limit=20&offset=0").await,
        newest_first[..20]
    );
    assert_eq!(
        bp_items(&ann, Auth::XToken, "?limit=20&offset=20").await,
        newest_first[20..]
    );
    assert_eq!(
        bp_items(&ann, Auth::XToken, "?limit=20&offset=23").await,
        Vec::<Value>::new()
    );
    assert_eq!(
        bp_items(&ann, Auth::XToken, "?limit=20&offset=99").await,
        Vec::<Value>::new()
    );
    assert_eq!(
        bp_items(&ann, Auth::Cookie, "?limit=5&offset=3").await,
        newest_first[3..8]
    );
    assert_eq!(
        bp_items(&ann, Auth::Bearer, "?offset=22").await,
        newest_first[22..]
    );
    // Without a limit: 20 (the default); without anything: the first 20.
    assert_eq!(
        bp_items(&ann, Auth::Cookie, "?offset=1").await,
        newest_first[1..21]
    );
    assert_eq!(bp_items(&ann, Auth::Cookie, "").await, newest_first[..20]);
    assert_eq!(
        bp_items(&ann, Auth::Cookie, "?limit=100").await,
        newest_first
    );

    for query in [
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?offset=-1",
        "?offset=x",
    ] {
        bp_list(&ann, Auth::XToken, "ann", query)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    }
}

async fn another_users_backpack_is_refused(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[("7b", "Class 7B")]).await;
    let bob = User::login(&api, "bob", "student", &[("7b", "Class 7B")]).await;
    let tess = User::login(&api, "tess", "teacher", &[("7b", "Class 7B")]).await;
    let anns = [
        bp_add(&ann, Auth::XToken, &Piece::costume("ann 0")).await,
        bp_add(&ann, Auth::XToken, &Piece::costume("ann 1")).await,
    ];
    let anns_newest_first: Vec<Value> = anns.iter().rev().cloned().collect();
    let bobs = bp_add(&bob, Auth::XToken, &Piece::costume("bob 0")).await;

    // Not your backpack (a classmate's, your teacher's student's, or nobody's): 403.
    for auth in AUTHS {
        for (user, username) in [(&bob, "ann"), (&tess, "ann"), (&bob, "nobody")] {
            bp_list(user, auth, username, "?limit=20&offset=0")
                .await
                .expect_problem(StatusCode::FORBIDDEN, "forbidden");
            bp_post(user, auth, username, &Piece::costume("planted").request())
                .await
                .expect_problem(StatusCode::FORBIDDEN, "forbidden");
            bp_delete(user, auth, username, &anns[0]["id"])
                .await
                .expect_problem(StatusCode::FORBIDDEN, "forbidden");
        }
        // Under your own name, another user's item is not there.
        bp_delete(&bob, auth, "bob", &anns[0]["id"])
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
        // And yours is not under another name.
        bp_delete(&ann, auth, "bob", &bobs["id"])
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }

    // Nothing changed.
    assert_eq!(bp_items(&ann, Auth::XToken, "").await, anns_newest_first);
    assert_eq!(bp_items(&bob, Auth::XToken, "").await, vec![bobs.clone()]);
    assert_eq!(bp_items(&tess, Auth::XToken, "").await, Vec::<Value>::new());
    assert_eq!(db.count("backpack_items", "").await, 3);
    // The owner still may.
    let reply = bp_delete(&ann, Auth::XToken, "ann", &anns[0]["id"]).await;
    assert_eq!(reply.expect(StatusCode::OK), json!({"ok": true}));
    assert_eq!(
        bp_items(&ann, Auth::XToken, "").await,
        vec![anns[1].clone()]
    );

    // A username the browser percent-encodes in the path is still one's own
    // (and still no one else's).
    let name = "Jürgen Groß";
    let jurgen = User::login(&api, name, "student", &[("7b", "Class 7B")]).await;
    let item = bp_add(&jurgen, Auth::Cookie, &Piece::costume("Jürgen's")).await;
    for auth in AUTHS {
        assert_eq!(
            bp_items(&jurgen, auth, "?limit=20&offset=0").await,
            vec![item.clone()]
        );
        bp_list(&ann, auth, name, "?limit=20&offset=0")
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    let reply = bp_delete(&jurgen, Auth::XToken, name, &item["id"]).await;
    assert_eq!(reply.expect(StatusCode::OK), json!({"ok": true}));
    assert_eq!(
        bp_items(&jurgen, Auth::XToken, "").await,
        Vec::<Value>::new()
    );
}

// ---- the race -----------------------------------------------------------------------

const EDITOR_SAVERS: usize = 16;

/// 16 editors save one project at once, with no version: every save is a
/// 200 and a version of its own (default keep 50), none is lost.
async fn concurrent_editor_saves_lose_nothing(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let ann = User::login(&clients[0], "ann", "student", &[]).await;
    let id = create_via_api(&ann, "Busy", BODY_1).await;
    let bodies: Vec<String> = (0..EDITOR_SAVERS)
        .map(|i| project_text(&format!("editor {i}")))
        .collect();

    let results = race(EDITOR_SAVERS, |i| {
        let user = ann.on(&clients[i % processes]);
        let body = bodies[i].clone();
        async move { save(&user, Auth::Cookie, &id.to_string(), &body).await }
    })
    .await;

    let mut tally: BTreeMap<u16, usize> = BTreeMap::new();
    for r in &results {
        *tally.entry(r.status.as_u16()).or_default() += 1;
    }
    let failures: Vec<String> = results
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| format!("{} {}", r.status, r.text()))
        .collect();
    assert_eq!(
        tally,
        BTreeMap::from([(200, EDITOR_SAVERS)]),
        "every save succeeds: {failures:?}"
    );
    let answered: Vec<Option<i64>> = results.iter().map(|r| expect_saved(r, id, None)).collect();

    // Versions 1 (the create) to 17, every one kept and listed.
    let last = 1 + EDITOR_SAVERS as i64;
    let p = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(p["version"], last);
    assert_eq!(
        db.count("project_versions", &format!("project_id = {id}"))
            .await,
        last
    );
    let listed = ann
        .list_all(&format!("/api/v1/projects/{id}/versions"), 100)
        .await;
    assert_eq!(
        listed
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<i64>>(),
        (1..=last).rev().collect::<Vec<i64>>()
    );

    // Each save's body is exactly one version; version 1 is the original.
    let mut by_version = BTreeMap::new();
    for v in 1..=last {
        let stored = ann.version_body(id, v).await;
        assert_eq!(stored.status, StatusCode::OK, "version {v}");
        by_version.insert(v, stored.text());
    }
    assert_eq!(by_version[&1], BODY_1);
    let saved: BTreeSet<&String> = by_version.range(2..).map(|(_, b)| b).collect();
    assert_eq!(saved.len(), EDITOR_SAVERS, "no body saved twice");
    assert_eq!(
        saved,
        bodies.iter().collect::<BTreeSet<&String>>(),
        "no save lost"
    );
    assert_eq!(ann.body(id).await.text(), by_version[&last]);
    expect_loaded(&load(&ann, Auth::Cookie, id).await, &by_version[&last]);

    // Where the answers name their version, each names its own.
    if answered.iter().all(Option::is_some) {
        let versions: BTreeSet<i64> = answered.iter().flatten().copied().collect();
        assert_eq!(versions, (2..=last).collect::<BTreeSet<i64>>());
        for (i, v) in answered.iter().enumerate() {
            assert_eq!(by_version[&v.unwrap()], bodies[i], "saver {i}'s version");
        }
    }
}
