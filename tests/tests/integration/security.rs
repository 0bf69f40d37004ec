//! Security rules (docs/GUARANTEES.md, S1, S2, S3, S5, S7): stored files never
//! run as pages of cubby's origin, redirects never leave it, out-of-range
//! numbers are 4xx not 5xx, a dev login never works through a proxy — and
//! authentication comes before anything else a request holds.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::assets::b64;
use tests::projects::{send, User};
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    stored_files_are_sandboxed_and_never_sniffed,
    redirect_targets_never_leave_the_site,
    numbers_out_of_range_are_client_errors,
    a_dev_login_through_a_proxy_is_not_found,
    strangers_get_401_whatever_the_request_holds,
    cross_origin_cookie_writes_are_refused_and_json_needs_its_type,
    a_body_that_trickles_in_is_cut_off,
    json_bodies_that_are_not_objects_are_refused,
);

/// An SVG that would run script on cubby's origin if it were served as a page.
const SCRIPTED_SVG: &[u8] = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>fetch('/api/v1/projects',{method:'POST'})</script></svg>"#;

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

fn assert_sandboxed(what: &str, reply: &tests::projects::Reply) {
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    let csp = reply.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{what}: CSP {csp:?}"
    );
}

async fn stored_files_are_sandboxed_and_never_sniffed(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let name = format!("{}.svg", md5_hex(SCRIPTED_SVG));

    let upload = ann
        .req(Method::POST, &format!("/api/v1/assets/{name}"))
        .body(SCRIPTED_SVG.to_vec());
    assert_eq!(send(upload).await.status, StatusCode::CREATED);

    for path in [
        format!("/api/v1/assets/{name}"),
        format!("/assets/internalapi/asset/{name}/get/"),
        format!("/assets/{name}"),
        format!("/backpack/{name}"),
    ] {
        let reply = send(api.http.get(api.url(&path))).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("image/svg+xml"),
            "{path}"
        );
        assert_sandboxed(&path, &reply);
    }
    let etag = format!("\"{}\"", md5_hex(SCRIPTED_SVG));
    let revalidated = send(
        api.http
            .get(api.url(&format!("/api/v1/assets/{name}")))
            .header("if-none-match", etag),
    )
    .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert_sandboxed("304", &revalidated);

    // A backpack costume is stored the same way.
    let item = ann.req(Method::POST, "/api/v1/backpack").json(
        &json!({"type": "costume", "mime": "image/svg+xml", "name": "x",
                      "body": b64(SCRIPTED_SVG), "thumbnail": b64(b"\x89PNG\r\n\x1a\nthumb")}),
    );
    let item = send(item).await.expect(StatusCode::CREATED);
    let body_file = item["body"].as_str().unwrap_or_default().to_owned();
    let reply = send(api.http.get(api.url(&format!("/backpack/{body_file}")))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_sandboxed("backpack file", &reply);

    // Project bodies, current and versioned, on both protocols.
    let project = ann.create_ok("Game", &json!({"targets": []})).await;
    let id = project["id"].as_i64().unwrap_or_default();
    for path in [
        format!("/api/v1/projects/{id}/body"),
        format!("/api/v1/projects/{id}/versions/1/body"),
        format!("/projects/{id}"),
    ] {
        let reply = ann.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_sandboxed(&path, &reply);
    }

    // Pages may only be framed by cubby; every answer is nosniff.
    let home = send(api.http.get(api.url("/"))).await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    let csp = home.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'self'"), "home CSP {csp:?}");
    let json_reply = ann.get("/api/v1/me").await;
    assert_eq!(json_reply.header("x-content-type-options"), Some("nosniff"));
}

async fn redirect_targets_never_leave_the_site(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    for next in [
        "/%09/evil.example",
        "//evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "https://evil.example/",
        "javascript:alert(1)",
    ] {
        let url = format!("{}/auth/logout?next={next}", api.base);
        let reply = send(no_redirects.post(url)).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "next={next}");
        assert_eq!(reply.header("location"), None, "next={next}");
        assert_eq!(
            reply.header("set-cookie").map(|c| c.contains("x=1")),
            Some(false)
        );
    }
    let url = format!("{}/auth/logout?next=/editor%3Fproject%3D1", api.base);
    let reply = send(no_redirects.post(url)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/editor?project=1"));
}

async fn numbers_out_of_range_are_client_errors(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let project = ann.create_ok("Game", &json!({"targets": []})).await;
    let id = project["id"].as_i64().unwrap_or_default();
    let huge = "9223372036854775808"; // 2^63: one past i64::MAX
    let huger = "18446744073709551616"; // 2^64: past u64::MAX

    for (path, status, code) in [
        (
            format!("/api/v1/backpack?offset={huge}"),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/backpack?offset={huger}"),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/backpack?cursor={huge}"),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/backpack?limit={huger}"),
            400,
            "invalid_query",
        ),
        ("/api/v1/backpack?limit=0".to_owned(), 400, "invalid_query"),
        (
            "/api/v1/backpack?limit=101".to_owned(),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/projects?cursor={huge}"),
            400,
            "invalid_query",
        ),
        (
            "/api/v1/projects?cursor=-1".to_owned(),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/projects/{id}/versions?cursor={huge}"),
            400,
            "invalid_query",
        ),
        (
            format!("/api/v1/groups?cursor={huge}"),
            400,
            "invalid_query",
        ),
        (format!("/api/v1/projects/{huge}"), 404, "not_found"),
        (format!("/api/v1/projects/-{huge}0"), 404, "not_found"),
        (
            format!("/api/v1/projects/{id}/versions/{huge}/body"),
            404,
            "not_found",
        ),
        (format!("/api/v1/groups/{huge}/projects"), 404, "not_found"),
        (format!("/backpack/ann?offset={huge}"), 400, "invalid_query"),
        (format!("/projects/{huge}"), 404, "not_found"),
    ] {
        let reply = ann.get(&path).await;
        let status = StatusCode::from_u16(status).unwrap();
        reply.expect_problem(status, code);
    }

    // Versions past the range of a version number, in the body, If-Match
    // and the editor's query.
    for version in [json!(i64::MAX), json!(2_147_483_648_i64), json!(-1e300)] {
        let reply = ann
            .update(id, &json!({"version": version, "body": {"targets": []}}))
            .await;
        reply.expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    }
    let reply = send(
        ann.req(Method::PUT, &format!("/api/v1/projects/{id}"))
            .header("if-match", format!("\"{huge}\""))
            .json(&json!({"title": "x"})),
    )
    .await;
    reply.expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    let reply = send(
        ann.req(Method::PUT, &format!("/projects/{id}?version={huge}"))
            .body(r#"{"targets": []}"#),
    )
    .await;
    reply.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    let reply = send(
        ann.req(
            Method::POST,
            &format!("/projects/?is_copy=1&original_id={huge}0"),
        )
        .body("{}"),
    )
    .await;
    reply.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    let reply = send(ann.req(Method::DELETE, &format!("/api/v1/backpack/{huge}"))).await;
    reply.expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Nothing of this changed the project.
    let after = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(after["version"], 1);
}

async fn a_dev_login_through_a_proxy_is_not_found(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let login = json!({"username": "eve", "role": "teacher", "groups": []});
    for (header, value) in [
        ("forwarded", "for=203.0.113.7"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
    ] {
        let reply = send(
            api.http
                .post(api.url("/auth/dev/login"))
                .header(header, value)
                .json(&login),
        )
        .await;
        reply.expect_problem(StatusCode::NOT_FOUND, "not_found");
        let form = send(
            api.http
                .post(api.url("/auth/dev/form"))
                .header(header, value)
                .form(&[("username", "eve"), ("role", "teacher"), ("groups", "")]),
        )
        .await;
        form.expect_problem(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(form.header("set-cookie"), None);
    }
    // Nobody was logged in; directly, the same login works.
    assert_eq!(db.count("users", "1 = 1").await, 0);
    let (status, body): (StatusCode, Value) = api.dev_login_raw(&login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn strangers_get_401_whatever_the_request_holds(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let bad_json = "{\"title\": ";
    // (method, path, body): every one would be a 400 or 404 for a caller.
    let requests: &[(Method, &str, &str)] = &[
        (Method::POST, "/api/v1/projects", bad_json),
        (Method::POST, "/api/v1/projects", "[1, 2]"),
        (Method::GET, "/api/v1/projects?limit=0", ""),
        (Method::GET, "/api/v1/projects?scope=nope", ""),
        (Method::GET, "/api/v1/projects/not-a-number", ""),
        (Method::PUT, "/api/v1/projects/1", bad_json),
        (Method::PUT, "/api/v1/projects/x", "{}"),
        (Method::DELETE, "/api/v1/projects/x", ""),
        (Method::POST, "/api/v1/projects/1/copy", bad_json),
        (
            Method::PUT,
            "/api/v1/projects/1/shares",
            "{\"group_ids\": \"x\"}",
        ),
        (Method::GET, "/api/v1/projects/1/versions?cursor=abc", ""),
        (Method::GET, "/api/v1/projects/1/versions/x/body", ""),
        (Method::GET, "/api/v1/groups?limit=1000", ""),
        (Method::GET, "/api/v1/groups/x/projects", ""),
        (Method::GET, "/api/v1/backpack?offset=-1", ""),
        (Method::POST, "/api/v1/backpack", bad_json),
        (Method::POST, "/api/v1/backpack", "{}"),
        (Method::DELETE, "/api/v1/backpack/x", ""),
        (Method::GET, "/api/v1/me", ""),
        (Method::GET, "/projects/x", ""),
        (Method::PUT, "/projects/1?version=x", "{}"),
        (Method::PUT, "/projects/x", "not json"),
        (Method::POST, "/projects/", "not json"),
        (Method::POST, "/backpack/ann", bad_json),
        (Method::GET, "/backpack/ann?limit=x", ""),
        (Method::DELETE, "/backpack/ann/x", ""),
    ];
    let garbage = "f".repeat(64);
    for (method, path, body) in requests {
        for token in [None, Some(garbage.as_str()), Some("x")] {
            let mut req = api
                .http
                .request(method.clone(), api.url(path))
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let reply = send(req).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}: {}",
                reply.text()
            );
            reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        }
    }
}

async fn cross_origin_cookie_writes_are_refused_and_json_needs_its_type(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let cookie = format!("cubby_session={}", ann.token);
    let own = api.base.trim_end_matches('/').to_owned();
    let project_json = r#"{"title": "Game", "body": {"targets": []}}"#;
    let with_cookie = |method: Method, path: &str| {
        api.http
            .request(method, api.url(path))
            .header("cookie", cookie.clone())
    };
    let create = || {
        with_cookie(Method::POST, "/api/v1/projects")
            .header("content-type", "application/json")
            .body(project_json)
    };

    // Another site's page: refused before anything is written.
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let reply = send(create().header(header, value)).await;
        reply.expect_problem(StatusCode::FORBIDDEN, "cross_origin");
    }
    // The editor's own requests carry an empty x-token beside the cookie.
    let editor_save = with_cookie(Method::POST, "/projects/")
        .header("x-token", "")
        .header("origin", "http://evil.example")
        .body("{}");
    send(editor_save)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "cross_origin");
    assert_eq!(db.count("projects", "1 = 1").await, 0);

    // cubby's own pages, and clients with a token header, may write.
    let created = send(
        create()
            .header("origin", own.as_str())
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    let id = created.expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap_or_default();
    send(create()).await.expect(StatusCode::CREATED);
    let bearer = ann
        .req(Method::POST, "/api/v1/projects")
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .body(project_json);
    send(bearer).await.expect(StatusCode::CREATED);
    assert_eq!(db.count("projects", "1 = 1").await, 3);

    // Deletes, copies, shares and logout from elsewhere change nothing.
    for (method, path) in [
        (Method::DELETE, format!("/api/v1/projects/{id}")),
        (Method::POST, format!("/api/v1/projects/{id}/copy")),
        (Method::PUT, format!("/api/v1/projects/{id}/shares")),
        (Method::POST, "/auth/logout".to_owned()),
    ] {
        let reply =
            send(with_cookie(method.clone(), &path).header("origin", "https://evil.example")).await;
        reply.expect_problem(StatusCode::FORBIDDEN, "cross_origin");
    }
    assert_eq!(db.count("projects", "1 = 1").await, 3);
    ann.project(id).await.expect(StatusCode::OK);

    // JSON under /api/v1 must say so: a form or text/plain body is 415.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = ann.req(Method::POST, "/api/v1/projects").body(project_json);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        send(req)
            .await
            .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let mut req = ann
            .req(Method::PUT, &format!("/api/v1/projects/{id}"))
            .body(r#"{"version": 1, "title": "x"}"#);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        send(req)
            .await
            .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    assert_eq!(db.count("projects", "1 = 1").await, 3);
    let after = ann.project(id).await.expect(StatusCode::OK);
    assert_eq!(after["version"], 1);
}

/// Sends the head of a request at once and then its body one byte every
/// 300 ms; returns the status line's code and the response text.
async fn trickle(
    base_url: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let bytes = body.to_vec();
    let sender = tokio::spawn(async move {
        for byte in bytes {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            if write.write_all(&[byte]).await.is_err() {
                break; // the server gave up on us
            }
        }
    });
    let mut answer = Vec::new();
    let _ = read.read_to_end(&mut answer).await;
    sender.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn a_body_that_trickles_in_is_cut_off(db: TestDb) {
    let opts = ServerOptions::default().with("CUBBY_BODY_TIMEOUT_SECS", 1);
    let server = TestServer::spawn(&db, &opts);
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let project = ann.create_ok("Game", &json!({"targets": []})).await;
    let id = project["id"].as_i64().unwrap_or_default();
    // 40 bytes at 300 ms each: 12 s, far past the 1 s deadline.
    let body = br#"{"title": "slow", "body": {"targets": []}}"#;
    for (method, path) in [
        ("POST", "/api/v1/projects".to_owned()),
        ("PUT", format!("/projects/{id}")),
        ("POST", "/api/v1/backpack".to_owned()),
        ("POST", format!("/api/v1/assets/{}.svg", md5_hex(body))),
        ("POST", format!("/assets/{}.svg", md5_hex(body))),
    ] {
        let (status, text) = trickle(&api.base, method, &path, &ann.token, body).await;
        assert_eq!(status, 408, "{method} {path}: {text}");
        assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    }
    assert_eq!(db.count("projects", "1 = 1").await, 1);
    assert_eq!(db.count("assets", "1 = 1").await, 0);
    assert_eq!(ann.project(id).await.version(), 1);
}

/// Every JSON request body is an object. serde would also read a struct
/// from an array of its fields in order (`["Maze", {}]` as a create); the
/// OpenAPI document allows only objects, so anything else is 400
/// `invalid_input` and changes nothing.
async fn json_bodies_that_are_not_objects_are_refused(db: TestDb) {
    use crate::assignments::{assign, start, submit, Class};
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let project = c.student.create_ok("Mine", &json!({"targets": []})).await;
    let pid = project["id"].as_i64().unwrap();
    let assignment = assign(&c.teacher, c.group, json!({"title": "Maze"})).await;
    let aid = assignment["id"].as_i64().unwrap();
    start(&c.student, aid).await.expect(StatusCode::CREATED);
    let submission = submit(&c.student, aid, json!({})).await;
    let sid = submission.expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    let tables = [
        "users",
        "sessions",
        "projects",
        "project_versions",
        "project_shares",
        "groups",
        "memberships",
        "assignments",
        "submissions",
        "feedback",
        "backpack_items",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(db.count(table, "").await);
    }

    let item = json!(["script", "application/zip", "Jump", b64(b"PK"), b64(b"png")]);
    let cases = [
        (
            &c.student,
            Method::POST,
            "/api/v1/projects".to_owned(),
            json!(["Array", {"targets": []}]),
        ),
        (
            &c.student,
            Method::PUT,
            format!("/api/v1/projects/{pid}"),
            json!([1, "Renamed"]),
        ),
        (
            &c.student,
            Method::PUT,
            format!("/api/v1/projects/{pid}"),
            json!(null),
        ),
        (
            &c.student,
            Method::PUT,
            format!("/api/v1/projects/{pid}/shares"),
            json!([[c.group]]),
        ),
        (
            &c.student,
            Method::POST,
            format!("/api/v1/projects/{pid}/copy"),
            json!([]),
        ),
        (
            &c.student,
            Method::POST,
            format!("/api/v1/projects/{pid}/copy"),
            json!("Copy"),
        ),
        (
            &c.student,
            Method::POST,
            format!("/api/v1/projects/{pid}/versions/1/restore"),
            json!([]),
        ),
        (
            &c.teacher,
            Method::POST,
            "/api/v1/groups".to_owned(),
            json!(["9a"]),
        ),
        (
            &c.stranger,
            Method::POST,
            "/api/v1/groups/join".to_owned(),
            json!(["abc"]),
        ),
        (
            &c.teacher,
            Method::POST,
            format!("/api/v1/groups/{}/assignments", c.group),
            json!(["Quiz"]),
        ),
        (
            &c.teacher,
            Method::PATCH,
            format!("/api/v1/assignments/{aid}"),
            json!(["Renamed"]),
        ),
        (
            &c.student,
            Method::POST,
            format!("/api/v1/assignments/{aid}/submit"),
            json!([]),
        ),
        (
            &c.student,
            Method::POST,
            format!("/api/v1/assignments/{aid}/submit"),
            json!(5),
        ),
        (
            &c.teacher,
            Method::PUT,
            format!("/api/v1/submissions/{sid}/feedback"),
            json!(["Good"]),
        ),
        (
            &c.student,
            Method::POST,
            "/api/v1/backpack".to_owned(),
            item.clone(),
        ),
        (&c.student, Method::POST, "/backpack/ann".to_owned(), item),
    ];
    for (user, method, path, body) in cases {
        let reply = send(user.req(method.clone(), &path).json(&body)).await;
        assert!(
            reply.is_problem(StatusCode::BAD_REQUEST, "invalid_input"),
            "{method} {path} {body}: {} {}",
            reply.status,
            reply.text()
        );
    }
    let (status, _) = api.dev_login_raw(&json!(["zed", null, "student"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    for (table, count) in tables.iter().zip(before) {
        assert_eq!(db.count(table, "").await, count, "{table}");
    }
    let now = c.student.project(pid).await.expect(StatusCode::OK);
    assert_eq!(
        (now["title"].clone(), now["version"].clone()),
        (json!("Mine"), json!(1))
    );
}
