//! The HTTP side of one worker: its client, the untimed setup requests, the
//! timed requests a scenario's operation is made of, and the payloads they send.

use std::time::Duration;

use base64::Engine;
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::stats::Stats;

/// One worker's HTTP client (pooled keep-alive, no proxy) and base URL.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    base: String,
}

impl Http {
    pub(crate) fn new(base: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(4)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            client,
            base: base.to_owned(),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

pub(crate) fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub(crate) fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A tiny project JSON; `pad` bytes of filler make it larger.
pub(crate) fn project_body(tag: &str, pad: usize) -> Value {
    json!({
        "targets": [{
            "isStage": true,
            "name": "Stage",
            "variables": {"bench": ["bench", tag]},
            "comments": {"pad": {"text": "x".repeat(pad)}},
        }],
        "monitors": [],
        "extensions": [],
        "meta": {"semver": "3.0.0", "vm": "0.2.0", "agent": "cubby-bench"},
    })
}

pub(crate) fn svg(text: &str) -> Vec<u8> {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">\
         <text>{text}</text></svg>"
    )
    .into_bytes()
}

/// A minimal byte string starting with the JPEG SOI marker.
pub(crate) const TINY_JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xD9,
];

/// Logs in through `POST /auth/dev/login` (setup, untimed); waits out 429s.
pub(crate) async fn setup_login(
    http: &Http,
    username: &str,
    groups: &[(String, String)],
) -> Result<String, String> {
    let groups: Vec<Value> = groups
        .iter()
        .map(|(id, name)| json!({"external_id": id, "name": name}))
        .collect();
    let body = json!({"username": username, "role": "teacher", "groups": groups});
    for _ in 0..30 {
        let resp = http
            .client
            .post(http.url("/auth/dev/login"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("login {username}: {e}"))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 10);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK {
            return Err(format!(
                "login {username}: {status} {json} (is the server running with CUBBY_DEV_LOGIN=true?)"
            ));
        }
        return json["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("login {username}: no token in {json}"));
    }
    Err(format!("login {username}: still rate limited (429)"))
}

/// Creates a project (setup, untimed); returns its id.
pub(crate) async fn setup_project(
    http: &Http,
    token: &str,
    title: &str,
    body: Value,
) -> Result<i64, String> {
    let resp = http
        .client
        .post(http.url("/api/v1/projects"))
        .bearer_auth(token)
        .json(&json!({"title": title, "body": body}))
        .send()
        .await
        .map_err(|e| format!("create project: {e}"))?;
    let status = resp.status();
    let json: Value = resp.json().await.unwrap_or(Value::Null);
    if status != StatusCode::CREATED {
        return Err(format!("create project: {status} {json}"));
    }
    json["id"]
        .as_i64()
        .ok_or_else(|| format!("create project: no id in {json}"))
}

/// One edit: GET the project, PUT it with that version, on 409 re-read and
/// retry. True on a 200 PUT.
pub(crate) async fn edit_op(
    http: &Http,
    token: &str,
    id: i64,
    tag: &str,
    stats: &mut Stats,
) -> bool {
    let path = format!("/api/v1/projects/{id}");
    loop {
        let Some(version) = read_version(http, token, &path, stats).await else {
            return false;
        };
        let sent = http
            .client
            .put(http.url(&path))
            .bearer_auth(token)
            .json(&json!({"version": version, "body": project_body(tag, 0)}))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(_) => {
                stats.errors_other += 1;
                return false;
            }
        };
        let status = resp.status();
        // Drain the body so the connection goes back to the pool.
        let _ = resp.bytes().await;
        match status {
            StatusCode::OK => return true,
            // Someone saved first: re-read, as an editor would, and retry.
            StatusCode::CONFLICT => stats.conflicts += 1,
            _ => {
                stats.status_error(status);
                return false;
            }
        }
    }
}

/// `GET` a project's current `version`; `None` (counted) on any failure.
async fn read_version(http: &Http, token: &str, path: &str, stats: &mut Stats) -> Option<i64> {
    let resp = match http
        .client
        .get(http.url(path))
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => {
            stats.errors_other += 1;
            return None;
        }
    };
    let status = resp.status();
    if status != StatusCode::OK {
        stats.status_error(status);
        return None;
    }
    let version = resp
        .json::<Value>()
        .await
        .ok()
        .and_then(|j| j["version"].as_i64());
    if version.is_none() {
        stats.errors_other += 1;
    }
    version
}

/// Sends one request and counts a non-success; true on one of `ok`.
pub(crate) async fn simple_op(
    req: reqwest::RequestBuilder,
    ok: &[StatusCode],
    stats: &mut Stats,
) -> bool {
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let _ = resp.bytes().await;
            if ok.contains(&status) {
                true
            } else {
                stats.status_error(status);
                false
            }
        }
        Err(_) => {
            stats.errors_other += 1;
            false
        }
    }
}
