//! Real OIDC login against a real provider (`oidc-provider` on loopback, see
//! `tests/oidc/provider.mjs`): the full browser-less code + PKCE flow, state
//! handling, nonce and PKCE checks, open redirects, G4 through OIDC, and G12
//! (one refresh at the provider for N racing requests, one and two cubby
//! processes). Skips without node and `tests/oidc/node_modules` (fails under CI).

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use tests::oidc::{self, login_via_oidc, OidcProvider};
use tests::{external_group_ids, race, Client, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    an_oidc_login_ends_logged_in_with_the_claimed_groups,
    bad_reused_and_tampered_logins_are_refused,
    concurrent_first_oidc_logins_make_one_user,
    a_refused_refresh_ends_the_session,
);
on_backends!(processes [1, 2]: an_expired_access_token_is_refreshed_once);

fn accounts() -> Value {
    json!({
        "ann": {"name": "Ann Teacher", "role": "teacher", "groups": ["7b", {"id": "8a", "name": "Class 8A"}]},
        "bob": {"name": "Bob", "groups": ["7b"]},
    })
}

/// An HTTP client that follows no redirect, to see cubby's own answers.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn an_oidc_login_ends_logged_in_with_the_claimed_groups(db: TestDb) {
    if !oidc::require("oidc login") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config(accounts(), 3600));
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let api = Client::new(&server.base_url);

    let outcome = login_via_oidc(&server.base_url, "ann", "/editor?project=3").await;
    assert_eq!(outcome.status, StatusCode::FOUND, "{}", outcome.trace());
    assert_eq!(outcome.location.as_deref(), Some("/editor?project=3"));
    let cookie = outcome
        .set_cookies
        .iter()
        .find(|c| c.starts_with("cubby_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let (status, me) = api.get("/api/v1/me", Some(outcome.token())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "ann");
    assert_eq!(me["display_name"], "Ann Teacher");
    assert_eq!(me["role"], "teacher");
    assert_eq!(external_group_ids(&me), ["7b", "8a"]);
    let named: Vec<&str> = me["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(named.contains(&"Class 8A") && named.contains(&"7b"), "{me}");

    // The login state was consumed; the provider's tokens are kept with the session.
    assert_eq!(db.count("login_states", "").await, 0);
    assert_eq!(db.count("sessions", "refresh_token IS NOT NULL").await, 1);

    // A second login of another user, with no role claim: a student.
    let bob = login_via_oidc(&server.base_url, "bob", "/").await;
    let (_, me) = api.get("/api/v1/me", Some(bob.token())).await;
    assert_eq!(
        (me["role"].as_str(), external_group_ids(&me)),
        (Some("student"), vec!["7b".to_owned()])
    );
    assert_eq!(db.count("groups", "").await, 2);

    // Logging out from a page also offers RP-initiated logout at the provider.
    let end_session = provider.discovery().await["end_session_endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = no_redirects();
    let resp = http
        .post(server.url("/auth/logout?next=/"))
        .header("cookie", format!("cubby_session={}", bob.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&end_session), "{location}");
    let target = reqwest::Url::parse(&location).unwrap();
    let params: std::collections::HashMap<_, _> = target.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], oidc::CLIENT_ID);
    assert_eq!(
        params["post_logout_redirect_uri"],
        format!("{}/", server.base_url)
    );
    let (status, _) = api.get("/api/v1/me", Some(bob.token())).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session is gone server-side"
    );
}

async fn bad_reused_and_tampered_logins_are_refused(db: TestDb) {
    if !oidc::require("oidc refusals") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config(accounts(), 3600));
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let http = no_redirects();

    // Open redirects are refused before anything starts.
    for bad in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "evil",
    ] {
        let resp = http
            .get(server.url("/auth/login"))
            .query(&[("return_to", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "invalid_return_to");
    }
    assert_eq!(db.count("login_states", "").await, 0);

    // An unknown state, and a reused one: 400 invalid_state.
    let mut pending = oidc::begin_login_via_oidc(&server.base_url, "ann", "/")
        .await
        .unwrap();
    let tampered = pending.callback_with("state", Some("not-the-state"));
    let outcome = pending.callback(&tampered).await;
    assert_eq!(
        outcome.status,
        StatusCode::BAD_REQUEST,
        "{}",
        outcome.trace()
    );
    assert!(outcome.body.contains("invalid_state"), "{}", outcome.body);
    let url = pending.callback_url.clone();
    let first = pending.callback(&url).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.trace());
    let again = pending.callback(&url).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.trace());
    assert!(again.body.contains("invalid_state"));

    // An expired state: 400.
    let mut pending = oidc::begin_login_via_oidc(&server.base_url, "ann", "/")
        .await
        .unwrap();
    let conn = db.connect().await;
    conn.execute_unprepared("UPDATE login_states SET expires_at = created_at")
        .await
        .unwrap();
    let url = pending.callback_url.clone();
    let outcome = pending.callback(&url).await;
    assert_eq!(
        outcome.status,
        StatusCode::BAD_REQUEST,
        "{}",
        outcome.trace()
    );

    // A wrong nonce (the ID token no longer matches the login) and a wrong
    // PKCE verifier (the code exchange fails): refused, no session.
    for column in ["nonce", "pkce_verifier"] {
        let mut pending = oidc::begin_login_via_oidc(&server.base_url, "ann", "/")
            .await
            .unwrap();
        conn.execute_unprepared(&format!(
            "UPDATE login_states SET {column} = 'tampered-value-0123456789abcdef0123456789abcdef'"
        ))
        .await
        .unwrap();
        let url = pending.callback_url.clone();
        let outcome = pending.callback(&url).await;
        assert_eq!(
            outcome.status,
            StatusCode::BAD_REQUEST,
            "{column}: {}",
            outcome.trace()
        );
        assert!(
            outcome.body.contains("login_refused"),
            "{column}: {}",
            outcome.body
        );
        assert!(outcome.session.is_none());
    }
    assert_eq!(
        db.count("sessions", "").await,
        1,
        "only the one good login made a session"
    );
}

async fn concurrent_first_oidc_logins_make_one_user(db: TestDb) {
    if !oidc::require("oidc G4") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config(accounts(), 3600));
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let base = server.base_url.clone();
    let outcomes = race(16, |_| {
        let base = base.clone();
        async move { login_via_oidc(&base, "ann", "/").await }
    })
    .await;
    for o in &outcomes {
        assert_eq!(o.status, StatusCode::FOUND, "{}", o.trace());
        assert!(o.session.is_some(), "{}", o.trace());
    }
    assert_eq!(db.count("users", "").await, 1);
    assert_eq!(db.count("groups", "").await, 2);
    assert_eq!(db.count("memberships", "").await, 2);
    assert_eq!(db.count("sessions", "").await, 16);
}

/// G12: 16 requests racing on a session whose access token expired make
/// exactly one refresh grant at the provider, and all succeed; the refresh's
/// claims re-sync the groups.
async fn an_expired_access_token_is_refreshed_once(db: TestDb, processes: usize) {
    if !oidc::require("oidc G12") {
        return;
    }
    // The login's access token is due for a refresh at once; the refreshed
    // one lasts, so a second refresh would be a G12 failure, not expiry.
    let provider = OidcProvider::start(&oidc::config_with_spent_login_token(accounts(), 3600));
    let first = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let public = first.base_url.clone();
    let mut servers = vec![first];
    for _ in 1..processes {
        servers.push(TestServer::spawn(&db, &provider.server_options(&public)));
    }
    let clients: Vec<Client> = servers.iter().map(|s| Client::new(&s.base_url)).collect();
    let token = login_via_oidc(&public, "ann", "/").await.token().to_owned();
    assert_eq!(
        provider.stats().await,
        (0, 1),
        "one code grant, no refresh yet"
    );

    // The provider now puts Ann in other classes; the refresh carries them.
    let mut changed = accounts();
    changed["ann"]["groups"] = json!(["9c"]);
    provider.set_accounts(&changed).await;

    let results = race(16, |i| {
        let client = clients[i % processes].clone();
        let token = token.clone();
        async move { client.get("/api/v1/me", Some(&token)).await }
    })
    .await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let (refreshes, codes) = provider.stats().await;
    assert_eq!(
        (refreshes, codes),
        (1, 1),
        "exactly one refresh at the provider"
    );
    let (_, me) = clients[0].get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        external_group_ids(&me),
        ["9c"],
        "groups re-synced from the refreshed claims"
    );
}

async fn a_refused_refresh_ends_the_session(db: TestDb) {
    if !oidc::require("oidc refused refresh") {
        return;
    }
    // Bob's login token is due for a refresh at once: his next request asks for one.
    let provider = OidcProvider::start(&oidc::config_with_spent_login_token(accounts(), 3600));
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let api = Client::new(&server.base_url);
    let token = login_via_oidc(&server.base_url, "bob", "/")
        .await
        .token()
        .to_owned();
    let mut disabled = accounts();
    disabled["bob"]["disabled"] = json!(true);
    provider.set_accounts(&disabled).await;

    let (status, body) = api.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(db.count("sessions", "").await, 0, "the session is gone");
}
