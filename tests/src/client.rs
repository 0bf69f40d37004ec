//! HTTP helpers for tests: log in, call JSON endpoints, read metrics.

use reqwest::StatusCode;
use serde_json::{json, Value};

/// A reqwest client bound to one server's base URL.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

/// A logged-in user: the token and the `user` object the server returned.
#[derive(Clone, Debug)]
pub struct Login {
    pub token: String,
    pub user: Value,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .expect("http client");
        Self {
            http,
            base: base.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `POST /auth/dev/login`; returns the status and the JSON body.
    pub async fn dev_login_raw(&self, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url("/auth/dev/login"))
            .json(body)
            .send()
            .await
            .expect("login request");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Logs in (must succeed) with `groups` as `(external_id, name)` pairs.
    pub async fn login(&self, username: &str, role: &str, groups: &[(&str, &str)]) -> Login {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(id, name)| json!({"external_id": id, "name": name}))
            .collect();
        let (status, body) = self
            .dev_login_raw(&json!({"username": username, "role": role, "groups": groups}))
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        Login {
            token: body["token"].as_str().expect("token").to_owned(),
            user: body["user"].clone(),
        }
    }

    /// GET with a Bearer token; returns the status and JSON body (Null if none).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("GET");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }
}

/// The `external_id`s of a user object's `groups` (as `/api/v1/me` and a
/// login answer them), sorted.
pub fn external_group_ids(user: &Value) -> Vec<String> {
    let mut ids: Vec<String> = user["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups in {user}"))
        .iter()
        .map(|g| {
            g["external_id"]
                .as_str()
                .unwrap_or_else(|| panic!("a group without external_id in {user}"))
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

/// The sum of every sample of `name` whose labels include all of `labels`
/// (each written `key="value"`).
pub fn metric_value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_part) = match series.split_once('{') {
                Some((m, rest)) => (m, rest),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|l| label_part.contains(l)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}
