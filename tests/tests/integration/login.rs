//! Dev login, sessions, `/api/v1/me` and `/api/v1/groups`.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tests::{external_group_ids, Backend, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;
use crate::ops::expect_problem;

on_backends!(
    dev_login_then_me_shows_user_and_groups,
    relogin_makes_memberships_exactly_the_new_list,
    sessions_are_hashed_and_logout_ends_them,
);

async fn dev_login_then_me_shows_user_and_groups(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);

    let resp = api
        .http
        .post(api.url("/auth/dev/login"))
        .json(&json!({
            "username": "ms-lee", "display_name": "Ms Lee", "role": "teacher",
            "groups": [{"external_id": "7b", "name": "Class 7B"}, {"external_id": "8a", "name": "Class 8A"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "256-bit hex token");
    assert!(
        cookie.starts_with(&format!("cubby_session={token}")),
        "{cookie}"
    );
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing in {cookie}");
    }
    assert_eq!(body["user"]["username"], "ms-lee");
    assert_eq!(body["user"]["display_name"], "Ms Lee");
    assert_eq!(body["user"]["role"], "teacher");
    assert_eq!(external_group_ids(&body["user"]), ["7b", "8a"]);

    // Bearer and cookie both authenticate, to the same user.
    let (status, me) = api.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, body["user"]);
    let by_cookie: Value = api
        .http
        .get(api.url("/api/v1/me"))
        .header("cookie", format!("cubby_session={token}"))
        // The stock editor sends empty headers beside the cookie: they count as absent.
        .header("authorization", "")
        .header("x-token", "")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_cookie, me);
    assert_eq!(me["groups"][0]["name"], "Class 7B");
    assert!(me["groups"][0]["id"].as_i64().unwrap() > 0);

    // Groups, paged one at a time.
    let (status, page1) = api.get("/api/v1/groups?limit=1", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["items"].as_array().unwrap().len(), 1);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, page2) = api
        .get(
            &format!("/api/v1/groups?limit=1&cursor={cursor}"),
            Some(&token),
        )
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next_cursor"], Value::Null);
    let (_, all) = api.get("/api/v1/groups", Some(&token)).await;
    assert_eq!(all["items"], me["groups"]);
    assert_eq!(all["next_cursor"], Value::Null);

    // No token, an unknown token: 401 problem+json.
    for auth in [None, Some("Bearer 00ff"), Some("Bearer ")] {
        let mut req = api.http.get(api.url("/api/v1/me"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        expect_problem(
            req.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
}

async fn relogin_makes_memberships_exactly_the_new_list(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);

    let first = api
        .login("sam", "student", &[("a", "A"), ("b", "B"), ("c", "C")])
        .await;
    assert_eq!(external_group_ids(&first.user), ["a", "b", "c"]);
    let user_id = first.user["id"].as_i64().unwrap();

    let second = api
        .login("sam", "student", &[("c", "C renamed"), ("d", "D")])
        .await;
    assert_eq!(second.user["id"].as_i64().unwrap(), user_id, "same user");
    let (_, me) = api.get("/api/v1/me", Some(&second.token)).await;
    assert_eq!(external_group_ids(&me), ["c", "d"]);
    let c = me["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["external_id"] == "c")
        .unwrap();
    assert_eq!(c["name"], "C renamed");
    assert_eq!(
        db.count("memberships", &format!("user_id = {user_id}"))
            .await,
        2
    );
    assert_eq!(db.count("groups", "").await, 4, "a and b stay as groups");
    assert_eq!(db.count("users", "").await, 1);

    // Role and display name follow the latest login too; an empty list empties memberships.
    let third = api
        .dev_login_raw(
            &json!({"username": "sam", "display_name": "Sam S", "role": "teacher", "groups": []}),
        )
        .await;
    assert_eq!(third.0, StatusCode::OK);
    let (_, me) = api.get("/api/v1/me", Some(&second.token)).await;
    assert_eq!(me["role"], "teacher");
    assert_eq!(me["display_name"], "Sam S");
    assert_eq!(me["groups"], json!([]));
    assert_eq!(db.count("memberships", "").await, 0);
}

async fn sessions_are_hashed_and_logout_ends_them(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let login = api.login("kim", "student", &[("x", "X")]).await;
    let hash = hex::encode(Sha256::digest(login.token.as_bytes()));

    assert_eq!(
        db.count("sessions", &format!("token_sha256 = '{hash}'"))
            .await,
        1
    );
    assert_eq!(
        db.count("sessions", &format!("token_sha256 = '{}'", login.token))
            .await,
        0
    );

    let resp = api
        .http
        .post(api.url("/auth/logout"))
        .bearer_auth(&login.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.starts_with("cubby_session=;"), "{cleared}");
    assert_eq!(db.count("sessions", "").await, 0);
    let (status, _) = api.get("/api/v1/me", Some(&login.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn dev_login_is_404_when_disabled() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(
        &db,
        &ServerOptions {
            dev_login: false,
            ..Default::default()
        },
    );
    let resp = Client::new(&server.base_url)
        .http
        .post(server.url("/auth/dev/login"))
        .json(&json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(db.count("users", "").await, 0);
}

#[tokio::test]
async fn serve_refuses_dev_login_on_a_non_loopback_bind() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let opts = ServerOptions::default().with("CUBBY_BIND", "0.0.0.0:0");
    let err = TestServer::try_spawn(&db, &opts)
        .err()
        .expect("must refuse to start");
    assert!(err.contains("loopback"), "{err}");
}

#[tokio::test]
async fn logins_are_rate_limited_per_username_and_per_ip() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let opts = ServerOptions::default()
        .with("CUBBY_LOGIN_RATE_PER_USER", 3)
        .with("CUBBY_LOGIN_RATE_PER_IP", 5);
    let server = TestServer::spawn(&db, &opts);
    let api = Client::new(&server.base_url);
    let login = |name: &'static str| {
        let api = api.clone();
        async move {
            api.http
                .post(api.url("/auth/dev/login"))
                .json(&json!({"username": name}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(login("amy").await.status(), StatusCode::OK);
    }
    let resp = login("amy").await;
    assert_eq!(resp.headers()["retry-after"], "1");
    expect_problem(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // Another user from the same address still gets in, until the address's
    // own limit (5 a minute; the refused attempt counted too) is reached.
    assert_eq!(login("ben").await.status(), StatusCode::OK);
    let resp = login("cat").await;
    expect_problem(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert_eq!(db.count("sessions", "").await, 4);
}
