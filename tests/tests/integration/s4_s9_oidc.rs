//! S4 (a login is bound to the browser that began it) and S9 (upstream
//! tokens: no provider call inside a database transaction, a dead
//! refresher's lease expires, rotated signing keys are fetched again)
//! against the real OIDC provider (`tests/oidc/provider.mjs`). Skips without
//! node and `tests/oidc/node_modules` (fails under CI).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use tests::oidc::{self, login_via_oidc, LoginOutcome, OidcBrowser, OidcProvider};
use tests::projects::{try_send, User};
use tests::{Backend, Client, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    a_callback_in_another_browser_logs_nobody_in,
    a_login_begun_on_one_instance_finishes_on_another,
    a_refresh_waiting_for_the_provider_holds_no_transaction,
    a_dead_refreshers_lease_expires,
    a_rotated_signing_key_is_fetched_without_a_restart,
);

/// The login-binding cookie (S4).
const LOGIN_COOKIE: &str = "cubby_login";

/// The refresh lease the lease test gives its servers (`CUBBY_REFRESH_LEASE_SECS`).
const SHORT_LEASE_SECS: u64 = 2;

fn accounts() -> Value {
    json!({
        "ann": {"name": "Ann Teacher", "role": "teacher", "groups": ["7b"]},
        "eve": {"name": "Eve", "groups": ["7b"]},
    })
}

/// The value of the `name` cookie in `set_cookies` (raw `Set-Cookie` values).
fn cookie_value<'a>(set_cookies: &'a [String], name: &str) -> Option<&'a str> {
    set_cookies.iter().find_map(|c| {
        let value = c.strip_prefix(name)?.strip_prefix('=')?;
        Some(value.split(';').next().unwrap_or("").trim())
    })
}

/// The `Set-Cookie` of `name` in `set_cookies`, split into its value and
/// its attributes (sorted).
fn cookie_parts(set_cookies: &[String], name: &str) -> Option<(String, Vec<String>)> {
    let raw = set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))?;
    let mut parts = raw.split(';').map(|p| p.trim().to_owned());
    let value = parts.next()?.split_once('=')?.1.to_owned();
    let mut attrs: Vec<String> = parts.filter(|p| !p.is_empty()).collect();
    attrs.sort();
    Some((value, attrs))
}

/// A callback that must be refused: 400 `invalid_state`, and no session cookie.
fn assert_refused(outcome: &LoginOutcome, what: &str) {
    assert_eq!(
        outcome.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        outcome.trace()
    );
    let body: Value = serde_json::from_str(&outcome.body).unwrap_or(Value::Null);
    assert_eq!(body["code"], "invalid_state", "{what}: {}", outcome.body);
    assert_eq!(outcome.session, None, "{what}: a session cookie was set");
    assert!(
        !outcome
            .set_cookies
            .iter()
            .any(|c| c.starts_with(oidc::SESSION_COOKIE)),
        "{what}: {:?}",
        outcome.set_cookies
    );
}

/// S4: browser A begins a login; its callback URL (with A's code and
/// state) delivered to other browsers — one with no `cubby_login` cookie, one
/// with a forged value, an empty one, and one with the real binding of
/// another pending login — is 400 `invalid_state` each time: no session, the
/// code never exchanged, the login still pending. Then A's own callback logs
/// A in and clears the cookie; the other pending login finishes too.
async fn a_callback_in_another_browser_logs_nobody_in(db: TestDb) {
    if !oidc::require("S4 login CSRF") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config(accounts(), 3600));
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let api = Client::new(&server.base_url);

    let mut a = oidc::begin_login_via_oidc(&server.base_url, "ann", "/editor")
        .await
        .unwrap_or_else(|o| panic!("A's login did not start: {o}"));

    // The attack: A's callback URL opened in browser B, which never began a login.
    let stolen = OidcBrowser::new().get(&a.callback_url).await;
    assert_refused(&stolen, "a browser without the binding cookie");

    let (binding, attrs) = cookie_parts(&a.login_cookies, LOGIN_COOKIE)
        .unwrap_or_else(|| panic!("/auth/login set no {LOGIN_COOKIE}: {:?}", a.login_cookies));
    assert!(binding.len() >= 32, "a short binding: {binding:?}");
    assert_eq!(
        attrs,
        [
            "HttpOnly",
            "Max-Age=600",
            "Path=/auth/callback",
            "SameSite=Lax"
        ],
        "the attributes of {LOGIN_COOKIE}"
    );

    // Another browser, C, with a pending login of its own (a real binding).
    let c = oidc::begin_login_via_oidc(&server.base_url, "eve", "/")
        .await
        .unwrap_or_else(|o| panic!("C's login did not start: {o}"));
    let c_binding = cookie_value(&c.login_cookies, LOGIN_COOKIE)
        .unwrap_or_else(|| panic!("no {LOGIN_COOKIE} for C: {:?}", c.login_cookies))
        .to_owned();
    assert_ne!(c_binding, binding, "each login has its own binding");
    let forged = "f".repeat(binding.len());
    for (what, cookie) in [
        ("a forged binding", format!("{LOGIN_COOKIE}={forged}")),
        ("an empty binding", format!("{LOGIN_COOKIE}=")),
        (
            "the binding of another pending login",
            format!("{LOGIN_COOKIE}={c_binding}"),
        ),
    ] {
        let outcome = OidcBrowser::new()
            .get_with_cookie(&a.callback_url, &cookie)
            .await;
        assert_refused(&outcome, what);
    }
    assert_eq!(db.count("sessions", "").await, 0, "nobody is logged in");
    assert_eq!(
        db.count("login_states", "").await,
        2,
        "A's and C's logins are still pending"
    );
    assert_eq!(
        provider.stats().await,
        (0, 0),
        "cubby never exchanged A's code"
    );

    // A's own browser: logged in, once, and the binding cookie is cleared.
    let url = a.callback_url.clone();
    let own = a.callback(&url).await;
    assert_eq!(own.status, StatusCode::FOUND, "{}", own.trace());
    assert_eq!(own.location.as_deref(), Some("/editor"));
    let (cleared, attrs) = cookie_parts(&own.set_cookies, LOGIN_COOKIE)
        .unwrap_or_else(|| panic!("the callback left {LOGIN_COOKIE}: {:?}", own.set_cookies));
    assert_eq!(cleared, "", "{LOGIN_COOKIE} is emptied");
    assert!(
        attrs.iter().any(|a| a == "Max-Age=0") && attrs.iter().any(|a| a == "Path=/auth/callback"),
        "{LOGIN_COOKIE} is removed: {attrs:?}"
    );
    let (status, me) = api.get("/api/v1/me", Some(own.token())).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "ann");

    // C's own login was left alone by the refused attempt with its cookie.
    let eve = c.finish().await;
    assert_eq!(eve.status, StatusCode::FOUND, "{}", eve.trace());
    let (_, me) = api.get("/api/v1/me", Some(eve.token())).await;
    assert_eq!(me["username"], "eve");
    assert_eq!(db.count("sessions", "").await, 2);
    assert_eq!(db.count("login_states", "").await, 0);
    assert_eq!(provider.stats().await, (0, 2), "two code grants, no more");
}

/// S4 with two processes behind one public URL: a login begun on the first
/// finishes on the second (the state and its binding are in the database, the
/// cookie goes with the browser), and not in another browser there.
async fn a_login_begun_on_one_instance_finishes_on_another(db: TestDb) {
    if !oidc::require("S4 two instances") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config(accounts(), 3600));
    let first = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let public = first.base_url.clone();
    let second = TestServer::spawn(&db, &provider.server_options(&public));

    let mut pending = oidc::begin_login_via_oidc(&public, "ann", "/")
        .await
        .unwrap_or_else(|o| panic!("the login did not start: {o}"));
    assert!(
        pending
            .callback_url
            .starts_with(&format!("{public}/auth/callback?")),
        "{}",
        pending.callback_url
    );
    let on_second = pending.callback_url.replacen(&public, &second.base_url, 1);

    let stolen = OidcBrowser::new().get(&on_second).await;
    assert_refused(&stolen, "another browser, on the second instance");

    let done = pending.callback(&on_second).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.trace());
    for server in [&first, &second] {
        let (status, me) = Client::new(&server.base_url)
            .get("/api/v1/me", Some(done.token()))
            .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["username"], "ann");
    }
    assert_eq!(db.count("sessions", "").await, 1);
    assert_eq!(db.count("login_states", "").await, 0);
}

/// How many transactions of other connections to this test's database are
/// open and idle — waiting on something outside the database, such as the
/// identity provider. `None` on SQLite, which cannot tell (there another
/// writer shows it: it would wait for the write lock).
async fn idle_open_transactions(db: &TestDb) -> Option<i64> {
    let sql = match db.backend {
        Backend::Sqlite => return None,
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND state LIKE 'idle in transaction%'"
        }
        Backend::MariaDb => {
            "SELECT COUNT(*) AS n FROM information_schema.innodb_trx t \
             JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id \
             WHERE p.db = DATABASE() AND p.id <> CONNECTION_ID()"
        }
    };
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(db.db_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    conn.close().await.ok();
    Some(n)
}

/// S9: while cubby waits for the provider to answer a refresh (the provider
/// holds the refresh grant), no transaction of cubby's is open, and another
/// user's write on the same server completes — before the refresh request
/// answers. On SQLite a transaction held across the provider call would
/// hold the write lock, so that write would wait for the refresh.
async fn a_refresh_waiting_for_the_provider_holds_no_transaction(db: TestDb) {
    if !oidc::require("S9 no provider call in a transaction") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config_with_spent_login_token(accounts(), 3600));
    // The dev login (on by default in tests) gives the other user.
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let api = Client::new(&server.base_url);
    let ann = login_via_oidc(&server.base_url, "ann", "/")
        .await
        .token()
        .to_owned();
    let wendy = User::login(&api, "wendy", "teacher", &[]).await;

    provider.hold_refreshes(true).await;
    let refreshing = tokio::spawn({
        let api = api.clone();
        async move { api.get("/api/v1/me", Some(&ann)).await }
    });
    provider
        .wait_for_stats("cubby's refresh grant is held", |s| s.refresh_held == 1)
        .await;
    let open = idle_open_transactions(&db).await;
    let write = tokio::time::timeout(
        Duration::from_secs(60),
        wendy.create("Saved during a refresh", &json!({"targets": []})),
    )
    .await;
    let refresh_answered_first = refreshing.is_finished();
    provider.hold_refreshes(false).await;
    let (status, me) = refreshing.await.unwrap();

    assert!(
        !refresh_answered_first,
        "the refresh request answered before the other user's write did: \
         the write waited for the refresh (write: {write:?})"
    );
    let write = write.unwrap_or_else(|_| panic!("the write took over 60 s"));
    assert_eq!(
        write.status,
        StatusCode::CREATED,
        "the write during the refresh: {}",
        write.text()
    );
    if let Some(open) = open {
        assert_eq!(
            open, 0,
            "a transaction was open while cubby waited for the provider"
        );
    }
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "ann");
    let stats = provider.grant_stats().await;
    assert_eq!(
        (
            stats.refresh_grants,
            stats.refresh_held,
            stats.refresh_errors
        ),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(db.count("projects", "").await, 1);
    assert_eq!(
        db.count("sessions", "refresh_lease_id IS NULL").await,
        2,
        "the refresh let go of its lease"
    );
}

/// S9: process A claims the refresh lease and dies while the provider
/// holds its refresh grant (never handled: A hung up). Process B, on the
/// same database, serves the same session once A's lease
/// (`CUBBY_REFRESH_LEASE_SECS=2`) has expired: 200, and exactly one refresh
/// grant at the provider — B's.
async fn a_dead_refreshers_lease_expires(db: TestDb) {
    if !oidc::require("S9 a dead refresher's lease") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config_with_spent_login_token(accounts(), 3600));
    let lease = SHORT_LEASE_SECS.to_string();
    let mut a = TestServer::spawn(
        &db,
        &provider
            .server_options_on_free_port()
            .with("CUBBY_REFRESH_LEASE_SECS", &lease),
    );
    let public = a.base_url.clone();
    let b = TestServer::spawn(
        &db,
        &provider
            .server_options(&public)
            .with("CUBBY_REFRESH_LEASE_SECS", &lease),
    );
    let token = login_via_oidc(&public, "ann", "/").await.token().to_owned();

    provider.hold_refreshes(true).await;
    let on_a = tokio::spawn({
        let api = Client::new(&a.base_url);
        let token = token.clone();
        async move { try_send(api.http.get(api.url("/api/v1/me")).bearer_auth(&token)).await }
    });
    provider
        .wait_for_stats("A's refresh grant is held", |s| s.refresh_held == 1)
        .await;
    assert_eq!(
        db.count("sessions", "refresh_lease_id IS NOT NULL").await,
        1,
        "A holds the refresh lease"
    );
    a.kill();
    let stats = provider
        .wait_for_stats("the provider sees A hang up", |s| s.refresh_dropped == 1)
        .await;
    assert_eq!(
        (stats.refresh_grants, stats.refresh_held),
        (0, 0),
        "{stats:?}"
    );
    let answer = on_a.await.unwrap();
    assert!(
        answer.is_err(),
        "A was killed mid-request, yet answered {answer:?}"
    );
    provider.hold_refreshes(false).await;
    assert_eq!(
        db.count("sessions", "refresh_lease_id IS NOT NULL").await,
        1,
        "A's lease outlives A"
    );

    let api_b = Client::new(&b.base_url);
    let (status, me) = api_b.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "ann");
    let stats = provider.grant_stats().await;
    assert_eq!(
        (
            stats.refresh_grants,
            stats.refresh_errors,
            stats.refresh_dropped
        ),
        (1, 0, 1),
        "exactly one refresh grant, B's: {stats:?}"
    );
    assert_eq!(
        db.count(
            "sessions",
            "refresh_lease_id IS NULL AND refresh_lease_until IS NULL"
        )
        .await,
        1,
        "B's refresh let go of the lease"
    );
    let (status, _) = api_b.get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        provider.grant_stats().await.refresh_grants,
        1,
        "the refreshed token is used, not refreshed again"
    );
}

/// S9: the provider replaces its signing key (the old one leaves its
/// `/jwks`); the next login's ID token names a key cubby has not seen, so
/// cubby fetches the keys again — no restart — and the login succeeds.
async fn a_rotated_signing_key_is_fetched_without_a_restart(db: TestDb) {
    if !oidc::require("S9 key rotation") {
        return;
    }
    let provider = OidcProvider::start(&oidc::config(accounts(), 3600));
    let server = TestServer::spawn(&db, &provider.server_options_on_free_port());
    let api = Client::new(&server.base_url);
    let first_kids = provider.key_ids().await; // key fetch 1: the test's own
    assert_eq!(first_kids.len(), 1, "{first_kids:?}");

    let first = login_via_oidc(&server.base_url, "ann", "/").await;
    // cubby fetched the keys during that login, so before this moment.
    let keys_fetched_before = Instant::now();
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.trace());
    assert_eq!(
        provider.grant_stats().await.key_fetches,
        2,
        "cubby fetched the keys once"
    );

    let new_kid = provider.rotate_keys().await;
    assert_eq!(provider.key_ids().await, std::slice::from_ref(&new_kid)); // key fetch 3
    assert!(!first_kids.contains(&new_kid));
    // cubby fetches the keys at most every 10 s (a flood of tokens with
    // unknown keys must not become a flood of fetches): wait that out.
    tokio::time::sleep_until((keys_fetched_before + Duration::from_millis(10_200)).into()).await;

    let second = login_via_oidc(&server.base_url, "ann", "/").await;
    assert_eq!(
        second.status,
        StatusCode::FOUND,
        "a login with the new key: {}",
        second.trace()
    );
    let (status, me) = api.get("/api/v1/me", Some(second.token())).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["username"], "ann");
    assert_eq!(
        provider.grant_stats().await.key_fetches,
        4,
        "cubby fetched the keys once more"
    );

    // The new key is kept: the next login needs no fetch.
    let third = login_via_oidc(&server.base_url, "eve", "/").await;
    assert_eq!(third.status, StatusCode::FOUND, "{}", third.trace());
    assert_eq!(provider.grant_stats().await.key_fetches, 4);
    assert_eq!(db.count("sessions", "").await, 3);
}
