//! Operations routes and the error conventions: every error is problem+json
//! with a stable code, nothing leaks, a panic is a 500 and the server lives on.

use reqwest::StatusCode;
use serde_json::Value;
use tests::{metric_value, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(health_and_readiness_answer_200, errors_are_problem_json);

async fn health_and_readiness_answer_200(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);

    let (status, body) = api.get("/healthz", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = api.get("/readyz", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

/// Asserts a problem+json response with `status` and `code`; returns the body.
pub async fn expect_problem(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status, "status");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = resp.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], status.as_u16(), "status member in {body}");
    assert_eq!(body["type"], "about:blank");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

async fn errors_are_problem_json(db: TestDb) {
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_TEST_ROUTES", "true")
            .with("CUBBY_MAX_BODY_BYTES", 1000),
    );
    let api = Client::new(&server.base_url);
    let http = &api.http;

    // Unknown route, wrong method.
    expect_problem(
        http.get(api.url("/no/such/route")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/healthz", "GET"),
        (reqwest::Method::PUT, "/api/v1/me", "GET"),
        (
            reqwest::Method::PATCH,
            "/api/v1/projects/1",
            "GET, PUT, DELETE",
        ),
    ] {
        let resp = http.request(method, api.url(path)).send().await.unwrap();
        assert_eq!(
            resp.headers().get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{path}"
        );
        expect_problem(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }

    // Bad JSON, wrong types, missing fields, bad values, over-limit body.
    let post = |body: &'static str| {
        http.post(api.url("/auth/dev/login"))
            .header("content-type", "application/json")
            .body(body)
    };
    expect_problem(
        post("{\"username\"").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    expect_problem(
        post("{\"username\": 5}").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect_problem(
        post("{}").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect_problem(
        post("{\"username\": \"a\", \"role\": \"admin\"}")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect_problem(
        post("{\"username\": \"  \"}").send().await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    let huge = format!("{{\"username\": \"{}\"}}", "x".repeat(200_000));
    expect_problem(
        http.post(api.url("/auth/dev/login"))
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
    // Bad query values.
    let login = api.login("qa", "student", &[]).await;
    expect_problem(
        http.get(api.url("/api/v1/groups?limit=500"))
            .bearer_auth(&login.token)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_problem(
        http.get(api.url("/api/v1/groups?limit=abc"))
            .bearer_auth(&login.token)
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;

    // A panic is a generic 500 problem, with nothing of the panic message in it...
    let body = expect_problem(
        http.get(api.url("/__test/panic")).send().await.unwrap(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    )
    .await;
    let text = body.to_string();
    assert!(
        !text.contains("deliberate") && !text.contains("/data/secret"),
        "{text}"
    );
    // ...and the server keeps serving, on every worker.
    for _ in 0..4 {
        assert_eq!(api.get("/healthz", None).await.0, StatusCode::OK);
    }

    // Requests are counted by route pattern and status.
    let metrics = api.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "cubby_http_requests_total",
            &["route=\"/healthz\"", "status=\"200\""]
        ),
        4.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "cubby_http_requests_total",
            &["route=\"/healthz\"", "status=\"405\""]
        ),
        1.0
    );
    assert!(metrics.contains("cubby_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("cubby_tx_retries_total{op=\"login\"}"));
    assert!(metrics.contains("cubby_tx_giveups_total{op=\"login\"}"));
}

/// Every route the server serves, with its methods, as the OpenAPI
/// document must list it (`/__test/panic` is test-only and not in it).
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
    ("/api/v1/openapi.json", &["get"]),
    ("/auth/dev/login", &["post"]),
    ("/auth/logout", &["post"]),
    ("/auth/login", &["get"]),
    ("/auth/callback", &["get"]),
    ("/api/v1/me", &["get"]),
    ("/api/v1/groups", &["get", "post"]),
    ("/api/v1/groups/join", &["post"]),
    ("/api/v1/groups/{id}/join-code", &["post"]),
    ("/api/v1/groups/{id}/members", &["get"]),
    ("/api/v1/groups/{id}/members/{user_id}", &["delete"]),
    ("/api/v1/groups/{id}/projects", &["get"]),
    ("/api/v1/projects", &["get", "post"]),
    ("/api/v1/projects/{id}", &["get", "put", "delete"]),
    ("/api/v1/projects/{id}/body", &["get"]),
    ("/api/v1/projects/{id}/versions", &["get"]),
    ("/api/v1/projects/{id}/versions/{version}/body", &["get"]),
    (
        "/api/v1/projects/{id}/versions/{version}/restore",
        &["post"],
    ),
    ("/api/v1/trash", &["get"]),
    ("/api/v1/trash/{id}", &["delete"]),
    ("/api/v1/trash/{id}/restore", &["post"]),
    ("/api/v1/projects/{id}/copy", &["post"]),
    ("/api/v1/projects/{id}/shares", &["put"]),
    ("/api/v1/projects/{id}/thumbnail", &["get", "put"]),
    ("/api/v1/projects/{id}/sb3", &["get"]),
    ("/api/v1/projects/import", &["post"]),
    ("/api/v1/assets/{name}", &["get", "head", "post"]),
    ("/api/v1/backpack", &["get", "post"]),
    ("/api/v1/backpack/{id}", &["delete"]),
    ("/api/v1/groups/{id}/assignments", &["get", "post"]),
    ("/api/v1/assignments/{id}", &["get", "patch"]),
    ("/api/v1/assignments/{id}/start", &["post"]),
    ("/api/v1/assignments/{id}/submit", &["post"]),
    ("/api/v1/assignments/{id}/submissions", &["get"]),
    ("/api/v1/submissions/{id}", &["get"]),
    ("/api/v1/submissions/{id}/body", &["get"]),
    ("/api/v1/submissions/{id}/feedback", &["put"]),
    ("/api/v1/submissions/{id}/sb3", &["get"]),
    ("/api/v1/assignments/{id}/export", &["get"]),
    ("/projects/", &["post"]),
    ("/projects", &["post"]),
    ("/projects/{id}", &["get", "put"]),
    ("/assets/internalapi/asset/{name}/get/", &["get", "head"]),
    ("/assets/{name}", &["get", "head", "post"]),
    ("/backpack/{username}", &["get", "post"]),
    ("/backpack/{username}/{id}", &["delete"]),
    ("/internalapi/project/thumbnail/{id}/set/", &["post"]),
    ("/", &["get"]),
    ("/cubby.css", &["get", "head"]),
    ("/editor", &["get"]),
    ("/auth/dev/form", &["post"]),
    ("/home/copy/{id}", &["post"]),
    ("/home/delete/{id}", &["post"]),
    ("/home/trash/{id}/restore", &["post"]),
    ("/home/trash/{id}/purge", &["post"]),
    ("/project/{id}", &["get"]),
    ("/project/{id}/versions/{version}/restore", &["post"]),
    ("/home/classes", &["post"]),
    ("/home/classes/join", &["post"]),
    ("/home/classes/share", &["post"]),
    ("/home/classes/{id}/code", &["post"]),
    ("/home/classes/{id}/remove/{user_id}", &["post"]),
    ("/home/import", &["post"]),
    ("/home/assignments", &["post"]),
    ("/home/assignments/{id}/start", &["post"]),
    ("/home/assignments/{id}/submit", &["post"]),
    ("/assignment/{id}", &["get"]),
    ("/assignment/{id}/edit", &["post"]),
    ("/assignment/{id}/feedback/{submission_id}", &["post"]),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The value a JSON pointer like `#/components/responses/NotFound` names.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// Every `$ref` in `value`, with where it was found.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    out.push((at.to_owned(), v.as_str().unwrap_or_default().to_owned()));
                } else {
                    refs(v, &format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let db = TestDb::create(tests::Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let (status, doc) = api.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for (path, methods) in ROUTES {
        for method in *methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing from OpenAPI"
            );
        }
    }
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item[**m].is_object())
                .map(move |m| (path.clone(), (*m).to_owned()))
        })
        .collect();
    let listed: usize = ROUTES.iter().map(|(_, methods)| methods.len()).sum();
    assert_eq!(
        documented.len(),
        listed,
        "every documented operation is listed here: {documented:?}"
    );
}

/// Every `$ref` of the document resolves inside it.
#[tokio::test]
async fn openapi_document_has_no_dangling_reference() {
    let db = TestDb::create(tests::Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let (_, doc) = api.get("/api/v1/openapi.json", None).await;
    let mut found = Vec::new();
    refs(&doc, "#", &mut found);
    assert!(
        found
            .iter()
            .any(|(_, r)| r.starts_with("#/components/responses/")),
        "the shared error responses are referenced"
    );
    let dangling: Vec<_> = found
        .iter()
        .filter(|(_, r)| resolve(&doc, r).is_none())
        .collect();
    assert!(dangling.is_empty(), "unresolvable: {dangling:?}");
}

/// Every operation documents its errors as `application/problem+json`, and
/// every error response it documents is one: a client generated from the
/// document knows the body of each failure.
#[tokio::test]
async fn openapi_errors_are_problem_json() {
    let db = TestDb::create(tests::Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let (_, doc) = api.get("/api/v1/openapi.json", None).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let responses = op["responses"].as_object().unwrap();
            let mut problems = 0;
            for (status, response) in responses {
                let response = match response["$ref"].as_str() {
                    Some(r) => resolve(&doc, r).unwrap_or(&Value::Null),
                    None => response,
                };
                // An HTML page is the editor's own 404; every other error is problem+json.
                let is_error = status.starts_with('4') || status.starts_with('5');
                let content = &response["content"];
                if is_error && content["text/html"].is_null() {
                    assert!(
                        content["application/problem+json"]["schema"].is_object(),
                        "{method} {path} {status} is not problem+json: {response}"
                    );
                    problems += 1;
                }
            }
            assert!(problems > 0, "{method} {path} documents no error response");
        }
    }
}

/// A 405 names the allowed methods (RFC 9110), and they are the methods the
/// document lists for the path.
#[tokio::test]
async fn unsupported_methods_answer_405_with_the_documented_allow() {
    let db = TestDb::create(tests::Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let (_, doc) = api.get("/api/v1/openapi.json", None).await;
    let md5 = "0123456789abcdef0123456789abcdef";
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = path
            .replace("{id}", "1")
            .replace("{version}", "1")
            .replace("{username}", "someone")
            .replace("{name}", &format!("{md5}.svg"));
        let resp = api
            .http
            .request(reqwest::Method::OPTIONS, api.url(&url))
            .send()
            .await
            .unwrap();
        let allow = resp
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        expect_problem(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        let mut allowed: Vec<String> = allow
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .collect();
        allowed.sort();
        let mut documented: Vec<String> = METHODS
            .iter()
            .filter(|m| item[**m].is_object())
            .map(|m| (*m).to_owned())
            .collect();
        documented.sort();
        assert_eq!(allowed, documented, "OPTIONS {url}: Allow: {allow}");
    }
}
