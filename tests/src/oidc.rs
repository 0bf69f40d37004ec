//! Real OIDC logins for tests: a real OpenID provider (`oidc-provider`, run by
//! `tests/oidc/provider.mjs` under node) and a browser-less login driver.
//!
//! * [`OidcProvider`]: the provider as a child process on 127.0.0.1, with
//!   test clients and accounts from a JSON config (see `provider.mjs` for
//!   every key, and [`config`] for the usual one). [`OidcProvider::stats`]
//!   counts the token endpoint's grants; [`OidcProvider::set_accounts`]
//!   changes the claims later tokens carry; [`OidcProvider::hold_refreshes`]
//!   makes refresh grants wait (a slow provider) until released;
//!   [`OidcProvider::rotate_keys`] gives it a new signing key without a restart.
//! * [`login_via_oidc`]: `GET /auth/login` on cubby, then the provider's login
//!   and consent forms, then cubby's `/auth/callback`, with a cookie store
//!   and every redirect followed by hand (each hop is kept for failure
//!   messages). [`begin_login_via_oidc`] stops before the callback, so a test
//!   can tamper with or replay it.
//! * [`require`]: whether node and `tests/oidc/node_modules` are here; a test
//!   skips without them, except under `CI=true`, where it fails.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::server::{
    free_loopback_port, print_log_tail_if_panicking, spawn_and_wait_for_url, ServerOptions,
    START_TIMEOUT,
};

/// The client id [`config`] registers (and [`OidcProvider::server_options`] hands cubby).
pub const CLIENT_ID: &str = "cubby";
/// The client secret [`config`] registers.
pub const CLIENT_SECRET: &str = "cubby-test-secret";
/// The redirect URI [`config`] registers: a native (RFC 8252) client's
/// loopback URI, which the provider matches on any port, so one config fits
/// every cubby on 127.0.0.1 whatever port it got.
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/auth/callback";

/// The name of cubby's session cookie.
pub const SESSION_COOKIE: &str = "cubby_session";

/// Redirects and forms followed before a login is given up as a loop.
const MAX_HOPS: usize = 20;

/// `tests/oidc`: `provider.mjs`, `package.json` and (after `npm ci`) `node_modules`.
pub fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Whether the provider can run here: `Err` says why not.
pub fn available() -> Result<(), String> {
    match Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Err(format!("`node --version` failed: {}", out.status)),
        Err(e) => return Err(format!("node is not installed ({e})")),
    }
    let dir = provider_dir();
    if !dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        return Err(format!(
            "{}/node_modules is missing (npm ci in tests/oidc)",
            dir.display()
        ));
    }
    Ok(())
}

/// `true` when the provider can run. Otherwise says that `test` skipped and
/// returns `false`, or, under `CI=true`, panics: CI must run every OIDC test.
pub fn require(test: &str) -> bool {
    match available() {
        Ok(()) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test} must run in CI, but the OIDC provider cannot: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {test} ({why})");
            false
        }
    }
}

/// The usual provider config: the confidential client [`CLIENT_ID`] /
/// [`CLIENT_SECRET`] (`client_secret_basic`, code + refresh_token, redirect
/// [`LOOPBACK_REDIRECT_URI`] on any port), these `accounts`
/// (`{"ann": {"name": "Ann", "role": "teacher", "groups": ["7b", {"id": "8a", "name": "Class 8A"}]}}`),
/// access tokens that live `access_token_ttl` seconds, and refresh tokens
/// that rotate. Change any key before [`OidcProvider::start`]; see
/// [`config_with_spent_login_token`] for a login that is due for a refresh.
pub fn config(accounts: Value, access_token_ttl: u64) -> Value {
    json!({
        "clients": [{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "application_type": "native",
            "redirect_uris": [LOOPBACK_REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }],
        "accounts": accounts,
        "accessTokenTtl": access_token_ttl,
        "rotateRefreshTokens": true,
    })
}

/// Seconds the access token of a login lives under
/// [`config_with_spent_login_token`]: under the 10 s before expiry from
/// which cubby refreshes (`Session::needs_refresh` in `service::auth`), so
/// cubby counts it as expired from the first request on, with no wait; yet
/// the provider still takes it (at userinfo) during the login itself.
pub const SPENT_ACCESS_TOKEN_TTL: u64 = 5;

/// [`config`] whose logins (code grants) issue access tokens of
/// [`SPENT_ACCESS_TOKEN_TTL`] seconds, already due for a refresh in cubby's
/// eyes, while refreshes issue ones of `refreshed_ttl` seconds.
pub fn config_with_spent_login_token(accounts: Value, refreshed_ttl: u64) -> Value {
    let mut config = config(accounts, refreshed_ttl);
    config["codeAccessTokenTtl"] = json!(SPENT_ACCESS_TOKEN_TTL);
    config
}

/// Counts of the provider's token-endpoint grants since it started (and of
/// held refresh requests and key fetches: `GET /__test/stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantStats {
    pub refresh_grants: u64,
    pub code_grants: u64,
    /// Refresh grants the provider refused (expired, reused, unknown, disabled account).
    pub refresh_errors: u64,
    pub code_errors: u64,
    /// Refresh-grant requests waiting now under [`OidcProvider::hold_refreshes`].
    pub refresh_held: u64,
    /// Held refresh-grant requests whose caller hung up: never handled.
    pub refresh_dropped: u64,
    /// `GET /jwks` requests: how often someone fetched the signing keys.
    pub key_fetches: u64,
}

/// `tests/oidc/provider.mjs` as a child process, killed on drop.
pub struct OidcProvider {
    child: Child,
    /// Held open: the provider exits when its stdin closes.
    _stdin: Option<ChildStdin>,
    issuer: String,
    log_path: PathBuf,
    _dir: TempDir,
    http: reqwest::Client,
}

impl OidcProvider {
    /// Starts the provider with `config` (see [`config`] and `provider.mjs`)
    /// on a free port and waits for its `oidc listening on …` line.
    /// Panics (with the provider's log) when it does not start; call
    /// [`require`] first to skip where node or its modules are missing.
    pub fn start(config: &Value) -> OidcProvider {
        Self::try_start(config).unwrap_or_else(|msg| panic!("{msg}"))
    }

    /// Like [`start`](Self::start), but returns why it did not start.
    pub fn try_start(config: &Value) -> Result<OidcProvider, String> {
        let dir = tempfile::Builder::new()
            .prefix("cubby-oidc-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let log_path = dir.path().join("provider.log");
        let mut cmd = Command::new("node");
        cmd.current_dir(provider_dir())
            .arg(provider_dir().join("provider.mjs"))
            .arg(&config_path)
            .arg("0")
            .env_remove("OIDC_TEST_KEEP_ALIVE")
            .stdin(Stdio::piped());
        let (mut child, issuer) = spawn_and_wait_for_url(&mut cmd, &log_path, START_TIMEOUT)
            .map_err(|why| format!("the OIDC provider {why}"))?;
        let stdin = child.stdin.take();
        Ok(OidcProvider {
            child,
            _stdin: stdin,
            issuer,
            log_path,
            _dir: dir,
            http,
        })
    }

    /// `http://127.0.0.1:PORT`, exactly as the discovery document says.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// `/.well-known/openid-configuration`.
    pub async fn discovery(&self) -> Value {
        self.get_json("/.well-known/openid-configuration").await
    }

    /// `(refresh_grants, code_grants)`: successful token-endpoint grants so far.
    pub async fn stats(&self) -> (u64, u64) {
        let s = self.grant_stats().await;
        (s.refresh_grants, s.code_grants)
    }

    /// Every counter of `GET /__test/stats`.
    pub async fn grant_stats(&self) -> GrantStats {
        let v = self.get_json("/__test/stats").await;
        let n = |key: &str| v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"));
        GrantStats {
            refresh_grants: n("refresh_grants"),
            code_grants: n("code_grants"),
            refresh_errors: n("refresh_errors"),
            code_errors: n("code_errors"),
            refresh_held: n("refresh_held"),
            refresh_dropped: n("refresh_dropped"),
            key_fetches: n("key_fetches"),
        }
    }

    /// Polls [`grant_stats`](Self::grant_stats) until `done` holds and
    /// returns them; panics (saying `what`) after 30 s. For a state the test
    /// waits for ("one refresh is held"), not for a time.
    pub async fn wait_for_stats(
        &self,
        what: &str,
        done: impl Fn(&GrantStats) -> bool,
    ) -> GrantStats {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let stats = self.grant_stats().await;
            if done(&stats) {
                return stats;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited 30 s for the provider: {what}; its counters: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `true`: from now on every refresh-grant request waits at the
    /// provider, not yet handled (a slow provider, for as long as the test
    /// likes); `false`: every waiting one goes on. A held request whose
    /// caller hangs up is dropped unhandled (its refresh token stays
    /// unused). [`GrantStats::refresh_held`] counts the waiting ones.
    pub async fn hold_refreshes(&self, hold: bool) {
        let body = self
            .post_json("/__test/hold-refreshes", &json!({ "hold": hold }))
            .await;
        assert_eq!(body["hold"], hold, "hold-refreshes: {body}");
    }

    /// A new signing key (a new `kid`) without a restart: the old one
    /// leaves `/jwks` at once and every token from now on is signed with
    /// the new one; accounts, grants and refresh tokens stay. Returns the
    /// new `kid`.
    pub async fn rotate_keys(&self) -> String {
        let body = self.post_json("/__test/rotate-keys", &json!({})).await;
        body["kid"]
            .as_str()
            .unwrap_or_else(|| panic!("no kid in {body}"))
            .to_owned()
    }

    /// The `kid` of every key in the provider's `/jwks`.
    pub async fn key_ids(&self) -> Vec<String> {
        let jwks = self.get_json("/jwks").await;
        jwks["keys"]
            .as_array()
            .unwrap_or_else(|| panic!("no keys in {jwks}"))
            .iter()
            .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Replaces every account (same shape as the config's `accounts`): the
    /// next token issued (a login or a refresh) carries the new claims.
    pub async fn set_accounts(&self, accounts: &Value) {
        self.post_json("/__test/accounts", accounts).await;
    }

    /// `POST path` with a JSON body at the provider; must answer 200.
    async fn post_json(&self, path: &str, body: &Value) -> Value {
        let resp = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} at the OIDC provider: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"))
    }

    /// The settings that point a cubby at this provider with [`CLIENT_ID`]
    /// and [`CLIENT_SECRET`]; `public_url` (`CUBBY_PUBLIC_URL`) is where the
    /// provider sends the browser back to (`/auth/callback`).
    pub fn server_options(&self, public_url: &str) -> ServerOptions {
        ServerOptions::default()
            .with("CUBBY_OIDC_ISSUER", &self.issuer)
            .with("CUBBY_OIDC_CLIENT_ID", CLIENT_ID)
            .with("CUBBY_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .with("CUBBY_PUBLIC_URL", public_url)
    }

    /// [`server_options`](Self::server_options) for one cubby on a port
    /// picked now: binds it there and makes `http://127.0.0.1:PORT` its
    /// public URL.
    pub fn server_options_on_free_port(&self) -> ServerOptions {
        let port = free_loopback_port();
        self.server_options(&format!("http://127.0.0.1:{port}"))
            .with("CUBBY_BIND", format!("127.0.0.1:{port}"))
    }

    /// The provider's stderr so far (warnings, grant errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    async fn get_json(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} at the OIDC provider: {e}"));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        print_log_tail_if_panicking("the OIDC provider's log", &self.log_path);
    }
}

/// One request of a login, for failure messages.
#[derive(Clone, Debug)]
pub struct Hop {
    pub method: &'static str,
    pub url: String,
    pub status: StatusCode,
    pub location: Option<String>,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {}",
            self.method,
            self.url,
            self.status.as_u16()
        )?;
        if let Some(loc) = &self.location {
            write!(f, " Location: {loc}")?;
        }
        Ok(())
    }
}

/// The last response of a login: cubby's answer to `/auth/callback` when the
/// login got that far, else the response where it stopped.
#[derive(Clone, Debug)]
pub struct LoginOutcome {
    pub status: StatusCode,
    /// Its `Location`, as sent.
    pub location: Option<String>,
    /// The value of the `cubby_session` cookie it set (not an empty one).
    pub session: Option<String>,
    /// Every `Set-Cookie` it sent, raw.
    pub set_cookies: Vec<String>,
    pub body: String,
    /// Every request of the login, in order, this one last.
    pub hops: Vec<Hop>,
}

impl LoginOutcome {
    /// Every hop, the last body (shortened): for assertion messages.
    pub fn trace(&self) -> String {
        let mut out = String::new();
        for (i, hop) in self.hops.iter().enumerate() {
            out.push_str(&format!("  {:>2}. {hop}\n", i + 1));
        }
        let body: String = self.body.chars().take(2000).collect();
        out.push_str(&format!("  last body: {body}\n"));
        out
    }

    /// The session token of a login that succeeded (a redirect that set
    /// `cubby_session`); panics with the trace otherwise.
    pub fn token(&self) -> &str {
        match &self.session {
            Some(token) if self.status.is_redirection() => token,
            _ => panic!(
                "the OIDC login did not succeed ({}):\n{}",
                self.status,
                self.trace()
            ),
        }
    }
}

impl fmt::Display for LoginOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.status, self.trace())
    }
}

enum Next {
    Get(Url),
    /// A GET with this `Cookie` header instead of the store's cookies.
    GetWithCookie(Url, String),
    Post(Url, Vec<(String, String)>),
}

/// A browser without JavaScript: a cookie store, redirects followed by hand,
/// and the hops it made. One per simulated user agent.
pub struct OidcBrowser {
    http: reqwest::Client,
    pub hops: Vec<Hop>,
}

impl Default for OidcBrowser {
    fn default() -> Self {
        Self::new()
    }
}

impl OidcBrowser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .cookie_store(true)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self {
            http,
            hops: Vec::new(),
        }
    }

    async fn send(&mut self, next: Next) -> (Url, reqwest::Response) {
        let (method, url, req) = match next {
            Next::Get(url) => ("GET", url.clone(), self.http.get(url)),
            Next::GetWithCookie(url, cookie) => (
                "GET",
                url.clone(),
                self.http.get(url).header(reqwest::header::COOKIE, cookie),
            ),
            Next::Post(url, fields) => ("POST", url.clone(), self.http.post(url).form(&fields)),
        };
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => panic!(
                "{method} {url} failed: {e}\nhops so far:\n{}",
                self.hops
                    .iter()
                    .map(|h| format!("  {h}\n"))
                    .collect::<String>()
            ),
        };
        self.hops.push(Hop {
            method,
            url: url.to_string(),
            status: resp.status(),
            location: header_str(&resp, LOCATION),
        });
        (url, resp)
    }

    async fn outcome(&self, resp: reqwest::Response) -> LoginOutcome {
        let status = resp.status();
        let location = header_str(&resp, LOCATION);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let session = set_cookies.iter().find_map(|c| {
            let value = c.strip_prefix(SESSION_COOKIE)?.strip_prefix('=')?;
            let value = value.split(';').next().unwrap_or("").trim();
            (!value.is_empty()).then(|| value.to_owned())
        });
        let body = resp.text().await.unwrap_or_default();
        LoginOutcome {
            status,
            location,
            session,
            set_cookies,
            body,
            hops: self.hops.clone(),
        }
    }

    /// `GET url`, no redirect followed: e.g. cubby's `/auth/callback`.
    pub async fn get(&mut self, url: &str) -> LoginOutcome {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let (_, resp) = self.send(Next::Get(url)).await;
        self.outcome(resp).await
    }

    /// `GET url` sending exactly `cookie` as the `Cookie` header (say,
    /// `cubby_login=forged`). Only on a browser that holds no cookie for
    /// `url`: reqwest replaces the header with the store's cookies when it
    /// has any. No redirect followed.
    pub async fn get_with_cookie(&mut self, url: &str, cookie: &str) -> LoginOutcome {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let (_, resp) = self.send(Next::GetWithCookie(url, cookie.to_owned())).await;
        self.outcome(resp).await
    }

    /// Opens `authorize_url` (a provider URL) and goes where it leads:
    /// redirects, the login form (filled with `username` and any password)
    /// and the consent form, until a redirect points at a URL for which
    /// `stop` is true. Returns that URL, not yet requested; or, when the
    /// provider answers anything else (an error page, a 4xx), that answer.
    pub async fn authorize(
        &mut self,
        authorize_url: &str,
        username: &str,
        stop: impl Fn(&Url) -> bool,
    ) -> Result<Url, LoginOutcome> {
        let mut next = Next::Get(
            Url::parse(authorize_url).unwrap_or_else(|e| panic!("bad URL {authorize_url}: {e}")),
        );
        for _ in 0..MAX_HOPS {
            let (url, resp) = self.send(next).await;
            if resp.status().is_redirection() {
                let Some(target) = header_str(&resp, LOCATION).and_then(|l| url.join(&l).ok())
                else {
                    return Err(self.outcome(resp).await);
                };
                if stop(&target) {
                    return Ok(target);
                }
                next = Next::Get(target);
                continue;
            }
            if resp.status() != StatusCode::OK {
                return Err(self.outcome(resp).await);
            }
            let outcome = self.outcome(resp).await;
            let Some(form) = parse_form(&outcome.body) else {
                return Err(outcome);
            };
            let Ok(action) = url.join(&form.action) else {
                return Err(outcome);
            };
            let fields = form
                .fields
                .into_iter()
                .map(|(name, value)| match name.as_str() {
                    "login" => (name, username.to_owned()),
                    "password" => (name, "any-password".to_owned()),
                    _ => (name, value),
                })
                .collect();
            next = if form.method.eq_ignore_ascii_case("post") {
                Next::Post(action, fields)
            } else {
                let mut action = action;
                action.query_pairs_mut().extend_pairs(fields);
                Next::Get(action)
            };
        }
        // Not an HTTP answer: the browser gave up after too many hops.
        Err(LoginOutcome {
            status: StatusCode::LOOP_DETECTED,
            location: None,
            session: None,
            set_cookies: Vec::new(),
            body: format!("gave up after {MAX_HOPS} redirects and forms"),
            hops: self.hops.clone(),
        })
    }
}

/// A login stopped just before cubby's `/auth/callback`: the provider has
/// issued the code; nothing has been sent to cubby's callback yet.
pub struct PendingLogin {
    /// The browser that began it (its cookies, its hops).
    pub browser: OidcBrowser,
    /// Every `Set-Cookie` of cubby's answer to `/auth/login`, raw (the
    /// login-binding cookie `cubby_login`).
    pub login_cookies: Vec<String>,
    /// Where the provider sent the browser: `{public url}/auth/callback?code=…&state=…&iss=…`.
    pub callback_url: String,
}

impl PendingLogin {
    /// A query parameter of the callback URL (`code`, `state`, `iss`).
    pub fn param(&self, key: &str) -> Option<String> {
        Url::parse(&self.callback_url)
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The callback URL with `key` set to `value` (or removed when `None`).
    pub fn callback_with(&self, key: &str, value: Option<&str>) -> String {
        let mut url = Url::parse(&self.callback_url).expect("callback URL");
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != key)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear().extend_pairs(pairs);
            if let Some(v) = value {
                q.append_pair(key, v);
            }
        }
        url.to_string()
    }

    /// Sends the browser to the callback, as the provider asked.
    pub async fn finish(mut self) -> LoginOutcome {
        let url = self.callback_url.clone();
        self.browser.get(&url).await
    }

    /// Sends this browser to any URL (a tampered callback, the same one
    /// twice); no redirect followed.
    pub async fn callback(&mut self, url: &str) -> LoginOutcome {
        self.browser.get(url).await
    }
}

/// `{cubby_base}/auth/login?return_to=…` (`return_to` query-encoded).
pub fn login_url(cubby_base: &str, return_to: &str) -> String {
    let mut url = Url::parse(&format!("{cubby_base}/auth/login")).expect("cubby base URL");
    url.query_pairs_mut().append_pair("return_to", return_to);
    url.to_string()
}

/// A whole login in a fresh browser: `GET {cubby_base}/auth/login?return_to=…`,
/// the provider's login (as `username`) and consent, then cubby's callback.
/// Returns cubby's answer to the callback (302 to `return_to` with the
/// `cubby_session` cookie when all is well), or the answer where it stopped.
pub async fn login_via_oidc(cubby_base: &str, username: &str, return_to: &str) -> LoginOutcome {
    match begin_login_via_oidc(cubby_base, username, return_to).await {
        Ok(pending) => pending.finish().await,
        Err(outcome) => outcome,
    }
}

/// The first part of [`login_via_oidc`]: everything up to (not including)
/// cubby's callback. `Err` is the answer where it stopped (e.g. cubby's 400
/// for a bad `return_to`, or 404 when OIDC is not configured).
pub async fn begin_login_via_oidc(
    cubby_base: &str,
    username: &str,
    return_to: &str,
) -> Result<PendingLogin, LoginOutcome> {
    begin_login_at(&login_url(cubby_base, return_to), username).await
}

/// Like [`begin_login_via_oidc`], from any login URL (say, one with a raw,
/// unencoded `return_to`).
pub async fn begin_login_at(login_url: &str, username: &str) -> Result<PendingLogin, LoginOutcome> {
    let mut browser = OidcBrowser::new();
    let url = Url::parse(login_url).unwrap_or_else(|e| panic!("bad URL {login_url}: {e}"));
    let (url, resp) = browser.send(Next::Get(url)).await;
    if !resp.status().is_redirection() {
        return Err(browser.outcome(resp).await);
    }
    let login_cookies: Vec<String> = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let Some(authorize) = header_str(&resp, LOCATION).and_then(|l| url.join(&l).ok()) else {
        return Err(browser.outcome(resp).await);
    };
    drop(resp);
    let provider = authorize.origin();
    let is_callback = |u: &Url| u.path() == "/auth/callback" && u.origin() != provider;
    if is_callback(&authorize) {
        return Ok(PendingLogin {
            browser,
            login_cookies,
            callback_url: authorize.to_string(),
        });
    }
    let callback = browser
        .authorize(authorize.as_str(), username, is_callback)
        .await?;
    Ok(PendingLogin {
        browser,
        login_cookies,
        callback_url: callback.to_string(),
    })
}

fn header_str(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The first `<form>` of a page: its action, method and named inputs.
struct Form {
    action: String,
    method: String,
    fields: Vec<(String, String)>,
}

fn parse_form(html: &str) -> Option<Form> {
    let start = html.find("<form")?;
    let rest = &html[start..];
    let form_html = &rest[..rest.find("</form>").unwrap_or(rest.len())];
    let form_tag = &form_html[..form_html.find('>')?];
    let action = attr(form_tag, "action")?;
    let method = attr(form_tag, "method").unwrap_or_else(|| "get".into());
    let mut fields = Vec::new();
    let mut at = 0;
    while let Some(i) = form_html[at..].find("<input") {
        let tag_start = at + i;
        let tag_end = form_html[tag_start..]
            .find('>')
            .map_or(form_html.len(), |e| tag_start + e);
        let tag = &form_html[tag_start..tag_end];
        if let Some(name) = attr(tag, "name") {
            fields.push((name, attr(tag, "value").unwrap_or_default()));
        }
        at = tag_end;
    }
    Some(Form {
        action,
        method,
        fields,
    })
}

/// The value of attribute `name` in one tag's text (quoted with `"` or `'`),
/// entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=");
    let mut from = 0;
    while let Some(i) = tag[from..].find(&needle) {
        let at = from + i;
        from = at + needle.len();
        if !tag[..at].ends_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let value = &tag[from..];
        let quote = value.chars().next()?;
        if quote != '"' && quote != '\'' {
            let end = value
                .find(|c: char| c.is_ascii_whitespace() || c == '/')
                .unwrap_or(value.len());
            return Some(decode_entities(&value[..end]));
        }
        let end = value[1..].find(quote)?;
        return Some(decode_entities(&value[1..1 + end]));
    }
    None
}

fn decode_entities(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_the_dev_login_form() {
        let html = r#"<div><form autocomplete="off" action="http://127.0.0.1:9/interaction/a&amp;b" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type="password" name="password" placeholder="and password" >
  <button type="submit">Sign-in</button></form>"#;
        let form = parse_form(html).unwrap_or_else(|| panic!("no form"));
        assert_eq!(form.action, "http://127.0.0.1:9/interaction/a&b");
        assert_eq!(form.method, "post");
        assert_eq!(
            form.fields,
            [
                ("prompt".to_owned(), "login".to_owned()),
                ("login".to_owned(), String::new()),
                ("password".to_owned(), String::new()),
            ]
        );
        assert!(parse_form("<p>no form</p>").is_none());
    }
}
