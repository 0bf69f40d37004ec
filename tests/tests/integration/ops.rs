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
    let routes = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/auth/dev/login", "post"),
        ("/auth/logout", "post"),
        ("/auth/login", "get"),
        ("/auth/callback", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/groups", "get"),
        ("/api/v1/groups/{id}/projects", "get"),
        ("/api/v1/projects", "get"),
        ("/api/v1/projects", "post"),
        ("/api/v1/projects/{id}", "get"),
        ("/api/v1/projects/{id}", "put"),
        ("/api/v1/projects/{id}", "delete"),
        ("/api/v1/projects/{id}/body", "get"),
        ("/api/v1/projects/{id}/versions", "get"),
        ("/api/v1/projects/{id}/versions/{version}/body", "get"),
        ("/api/v1/projects/{id}/copy", "post"),
        ("/api/v1/projects/{id}/shares", "put"),
        ("/api/v1/assets/{name}", "get"),
        ("/api/v1/assets/{name}", "post"),
        ("/api/v1/backpack", "get"),
        ("/api/v1/backpack", "post"),
        ("/api/v1/backpack/{id}", "delete"),
    ];
    for (path, method) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "every documented operation is listed here"
    );
}
