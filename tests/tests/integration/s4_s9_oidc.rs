//! S4 (a login is bound to the browser that began it) against the real OIDC
//! provider (`tests/oidc/provider.mjs`). Skips without node and
//! `tests/oidc/node_modules` (fails under CI).

use reqwest::StatusCode;
use serde_json::{json, Value};
use tests::oidc::{self, LoginOutcome, OidcBrowser, OidcProvider};
use tests::{Client, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    a_callback_in_another_browser_logs_nobody_in,
    a_login_begun_on_one_instance_finishes_on_another,
);

/// The login-binding cookie (S4).
const LOGIN_COOKIE: &str = "cubby_login";

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
