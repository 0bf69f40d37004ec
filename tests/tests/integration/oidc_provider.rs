//! The OIDC test provider on its own, without cubby: proves the harness
//! (`tests/oidc/provider.mjs`, `tests::oidc`) that the login tests stand on.
//! An authorization code flow with PKCE by hand: the provider's login and
//! consent forms, the code sent to a tiny local listener, the code exchange,
//! the claims in the ID token, an expired access token, one refresh (with the
//! accounts changed in between) and the grant counters. Needs node and
//! `tests/oidc/node_modules`; skips without them (under `CI=true` it fails).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tests::oidc::{self, GrantStats, OidcBrowser, OidcProvider, CLIENT_ID, CLIENT_SECRET};

/// A one-shot HTTP listener on 127.0.0.1: answers the first request 200 and
/// hands over its request target (path and query).
fn redirect_listener() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head);
        let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let _ = tx.send(target);
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        );
    });
    (port, rx)
}

/// The payload of a JWT, unverified (the provider under test signed it).
fn jwt_payload(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn query_param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let resp = http
        .post(endpoint)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn userinfo(http: &reqwest::Client, endpoint: &str, access_token: &str) -> StatusCode {
    http.get(endpoint)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_runs_a_code_flow_with_pkce_claims_and_one_refresh() {
    if !oidc::require("oidc_provider") {
        return;
    }
    let accounts = json!({
        "ann": {"name": "Ann", "role": "teacher", "groups": ["7b", {"id": "8a", "name": "Class 8A"}]}
    });
    let provider = OidcProvider::start(&oidc::config(accounts, 2));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    let discovery = provider.discovery().await;
    assert_eq!(discovery["issuer"], provider.issuer());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let authorization_endpoint = discovery["authorization_endpoint"].as_str().unwrap();
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap();
    let userinfo_endpoint = discovery["userinfo_endpoint"].as_str().unwrap();

    // The registered redirect URI has no port (a native client's loopback
    // URI): the provider accepts it on whatever port the listener got.
    let (port, callbacks) = redirect_listener();
    let redirect_uri = format!("http://127.0.0.1:{port}/auth/callback");

    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = uuid::Uuid::new_v4().simple().to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let authorize_with = |with_pkce: bool, scope: &str| {
        let mut url = Url::parse(authorization_endpoint).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce);
        if with_pkce {
            url.query_pairs_mut()
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
        url.to_string()
    };
    let authorize = |with_pkce: bool| authorize_with(with_pkce, "openid profile offline_access");
    let is_redirect = |u: &Url| u.as_str().starts_with(&redirect_uri);

    // PKCE is required: without it the provider sends an error back.
    let mut browser = OidcBrowser::new();
    let refused = browser
        .authorize(&authorize(false), "ann", is_redirect)
        .await
        .unwrap_or_else(|o| panic!("no redirect back:\n{}", o.trace()));
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("invalid_request"),
        "{refused}"
    );

    // The real flow: login form, consent form, back to the listener.
    let mut browser = OidcBrowser::new();
    let callback = browser
        .authorize(&authorize(true), "ann", is_redirect)
        .await
        .unwrap_or_else(|o| panic!("login failed:\n{}", o.trace()));
    let hops: Vec<String> = browser.hops.iter().map(ToString::to_string).collect();
    assert!(
        hops.iter().any(|h| h.starts_with("POST ")),
        "no form was submitted: {hops:#?}"
    );
    let landed = browser.get(callback.as_str()).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.trace());
    let target = callbacks.recv_timeout(Duration::from_secs(5)).unwrap();
    let got = Url::parse(&format!("http://127.0.0.1:{port}{target}")).unwrap();
    assert_eq!(got.path(), "/auth/callback");
    assert_eq!(query_param(&got, "state").as_deref(), Some(state.as_str()));
    assert_eq!(query_param(&got, "iss").as_deref(), Some(provider.issuer()));
    let code = query_param(&got, "code").expect("code in the callback");

    // A wrong verifier is refused; the right one gets the tokens.
    let (status, body) = token_request(
        &http,
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &format!("{verifier}x")),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The code survives a failed PKCE check (checked before it is consumed).
    let (status, tokens) = token_request(
        &http,
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().unwrap() <= 2, "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
    let id = jwt_payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], provider.issuer());
    assert_eq!(id["aud"], CLIENT_ID);
    assert_eq!(id["nonce"], nonce.as_str());
    assert_eq!(id["sub"], "ann");
    assert_eq!(id["preferred_username"], "ann");
    assert_eq!(id["name"], "Ann");
    assert_eq!(id["role"], "teacher");
    assert_eq!(
        id["groups"],
        json!(["7b", {"id": "8a", "name": "Class 8A"}])
    );
    assert_eq!(
        userinfo(&http, userinfo_endpoint, &access_token).await,
        StatusCode::OK
    );
    assert_eq!(provider.stats().await, (0, 1));

    // Ann changes class; the access token expires.
    provider
        .set_accounts(&json!({"ann": {"name": "Ann B.", "role": "teacher", "groups": ["9c"]}}))
        .await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        userinfo(&http, userinfo_endpoint, &access_token).await,
        StatusCode::UNAUTHORIZED,
        "the access token should have expired"
    );

    // One refresh: new tokens, the new claims, a rotated refresh token.
    let (status, refreshed) = token_request(
        &http,
        token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let id = jwt_payload(
        refreshed["id_token"]
            .as_str()
            .expect("an ID token on refresh"),
    );
    assert_eq!(id["sub"], "ann");
    assert_eq!(id["name"], "Ann B.");
    assert_eq!(id["groups"], json!(["9c"]));
    let rotated = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(rotated, refresh_token, "refresh tokens rotate");
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&http, userinfo_endpoint, new_access).await,
        StatusCode::OK
    );
    assert_eq!(provider.stats().await, (1, 1));

    // Rotation: the old refresh token is spent; reusing it is refused and
    // revokes the whole grant, so the rotated one dies too.
    let (status, body) = token_request(
        &http,
        token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = token_request(
        &http,
        token_endpoint,
        &[("grant_type", "refresh_token"), ("refresh_token", rotated)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A refresh token comes without `offline_access` too (the provider
    // issues one on every code grant).
    let mut browser = OidcBrowser::new();
    let callback = browser
        .authorize(&authorize_with(true, "openid profile"), "ann", is_redirect)
        .await
        .unwrap_or_else(|o| panic!("login without offline_access failed:\n{}", o.trace()));
    let (status, body) = token_request(
        &http,
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&callback, "code").unwrap()),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string(), "{body}");
    assert_eq!(
        jwt_payload(body["id_token"].as_str().unwrap())["groups"],
        json!(["9c"])
    );

    // A code works once.
    let (status, body) = token_request(
        &http,
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        provider.grant_stats().await,
        GrantStats {
            refresh_grants: 1,
            code_grants: 2,
            refresh_errors: 2,
            code_errors: 2,
            refresh_held: 0,
            refresh_dropped: 0,
            key_fetches: 0,
        }
    );
}
