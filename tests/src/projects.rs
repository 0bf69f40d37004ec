//! Helpers for the project routes: a logged-in [`User`] bound to one server,
//! whole replies ([`Reply`]: status, headers, exact bytes), problem+json
//! checks, blob-file counting, `cubby gc`, and an MD5 to check `body_md5`.

use std::path::{Path, PathBuf};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::client::Client;
use crate::db::TestDb;
use crate::server::cubby_command;

/// A whole response: status, headers and the exact body bytes.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("response body").to_vec();
        Reply {
            status,
            headers,
            bytes,
        }
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `code`, when the body has one.
    pub fn code(&self) -> Option<String> {
        self.json()["code"].as_str().map(str::to_owned)
    }

    /// `id` of the Project in a successful body.
    pub fn id(&self) -> i64 {
        self.json()["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id in {} {}", self.status, self.text()))
    }

    /// `version` of the Project in a successful body.
    pub fn version(&self) -> i64 {
        self.json()["version"]
            .as_i64()
            .unwrap_or_else(|| panic!("no version in {} {}", self.status, self.text()))
    }

    /// Asserts `status` (with the body in the message); returns the JSON.
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text());
        self.json()
    }

    /// Asserts a problem+json response with `status` and `code`, like
    /// `ops::expect_problem`; returns the body.
    pub fn expect_problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["code"], code, "code in {body}");
        assert_eq!(body["status"], status.as_u16(), "status member in {body}");
        assert_eq!(body["type"], "about:blank");
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "{body}"
        );
        body
    }

    /// Is this a problem with `status` and `code`?
    pub fn is_problem(&self, status: StatusCode, code: &str) -> bool {
        self.status == status
            && self.header("content-type") == Some("application/problem+json")
            && self.code().as_deref() == Some(code)
    }
}

/// Sends a request and reads the whole answer; panics on a transport error.
pub async fn send(req: RequestBuilder) -> Reply {
    Reply::read(req.send().await.expect("request")).await
}

/// Sends a request; a transport error (e.g. the server was killed) is `Err`.
pub async fn try_send(req: RequestBuilder) -> Result<Reply, reqwest::Error> {
    let resp = req.send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await?.to_vec();
    Ok(Reply {
        status,
        headers,
        bytes,
    })
}

/// A logged-in user, talking to one server.
#[derive(Clone)]
pub struct User {
    pub api: Client,
    pub token: String,
    pub id: i64,
    /// The `user` object of the login answer.
    pub info: Value,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({} on {})", self.info["username"], self.api.base)
    }
}

impl User {
    /// Dev login (must succeed) with `groups` as `(external_id, name)` pairs.
    pub async fn login(api: &Client, username: &str, role: &str, groups: &[(&str, &str)]) -> User {
        let login = api.login(username, role, groups).await;
        User {
            api: api.clone(),
            token: login.token,
            id: login.user["id"].as_i64().expect("user id"),
            info: login.user,
        }
    }

    /// The same session, talking to another server.
    pub fn on(&self, api: &Client) -> User {
        User {
            api: api.clone(),
            ..self.clone()
        }
    }

    /// The id of this user's group with `external_id`.
    pub fn group(&self, external_id: &str) -> i64 {
        self.info["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["external_id"] == external_id)
            .and_then(|g| g["id"].as_i64())
            .unwrap_or_else(|| panic!("{} is not in group {external_id}", self.info))
    }

    /// A request with this user's Bearer token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.api
            .http
            .request(method, self.api.url(path))
            .bearer_auth(&self.token)
    }

    /// `POST /api/v1/projects` with the request body given as exact JSON text.
    pub fn create_req(&self, request_json: String) -> RequestBuilder {
        self.req(Method::POST, "/api/v1/projects")
            .header("content-type", "application/json")
            .body(request_json)
    }

    /// `POST /api/v1/projects` `{"title", "body"}`.
    pub async fn create(&self, title: &str, body: &Value) -> Reply {
        send(
            self.req(Method::POST, "/api/v1/projects")
                .json(&json!({"title": title, "body": body})),
        )
        .await
    }

    /// Creates a project (must answer 201); returns its JSON.
    pub async fn create_ok(&self, title: &str, body: &Value) -> Value {
        self.create(title, body).await.expect(StatusCode::CREATED)
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.req(Method::GET, path)).await
    }

    pub async fn project(&self, id: i64) -> Reply {
        self.get(&format!("/api/v1/projects/{id}")).await
    }

    pub async fn body(&self, id: i64) -> Reply {
        self.get(&format!("/api/v1/projects/{id}/body")).await
    }

    pub async fn versions(&self, id: i64, query: &str) -> Reply {
        self.get(&format!("/api/v1/projects/{id}/versions{query}"))
            .await
    }

    pub async fn version_body(&self, id: i64, version: i64) -> Reply {
        self.get(&format!("/api/v1/projects/{id}/versions/{version}/body"))
            .await
    }

    /// `PUT /api/v1/projects/{id}` with this JSON request body.
    pub async fn update(&self, id: i64, request: &Value) -> Reply {
        send(
            self.req(Method::PUT, &format!("/api/v1/projects/{id}"))
                .json(request),
        )
        .await
    }

    /// `PUT` `{"version", "body"}`.
    pub async fn save(&self, id: i64, version: i64, body: &Value) -> Reply {
        self.update(id, &json!({"version": version, "body": body}))
            .await
    }

    pub async fn delete(&self, id: i64) -> Reply {
        send(self.req(Method::DELETE, &format!("/api/v1/projects/{id}"))).await
    }

    /// `DELETE /api/v1/trash/{id}`: purges a project from the trash.
    pub async fn purge(&self, id: i64) -> Reply {
        send(self.req(Method::DELETE, &format!("/api/v1/trash/{id}"))).await
    }

    /// `POST …/copy` with no request body.
    pub async fn copy(&self, id: i64) -> Reply {
        send(self.req(Method::POST, &format!("/api/v1/projects/{id}/copy"))).await
    }

    /// `POST …/copy` with a JSON request body.
    pub async fn copy_with(&self, id: i64, request: &Value) -> Reply {
        send(
            self.req(Method::POST, &format!("/api/v1/projects/{id}/copy"))
                .json(request),
        )
        .await
    }

    pub async fn share(&self, id: i64, group_ids: &[i64]) -> Reply {
        send(
            self.req(Method::PUT, &format!("/api/v1/projects/{id}/shares"))
                .json(&json!({"group_ids": group_ids})),
        )
        .await
    }

    /// Every item of a paginated list, following `next_cursor` with `limit`.
    pub async fn list_all(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let page = self.get(&url).await.expect(StatusCode::OK);
            let page_items = page["items"].as_array().expect("items");
            assert!(page_items.len() <= limit, "page over the limit: {page}");
            items.extend(page_items.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => {
                    assert!(page["next_cursor"].is_null(), "{page}");
                    return items;
                }
            }
        }
        panic!("{path}: the cursor never ends");
    }
}

/// `ETag` value for a version: `"<version>"` with the quotes.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The sorted ids in a JSON array of integers.
pub fn sorted_ids(v: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap_or_else(|| panic!("not an id: {x}")))
        .collect();
    ids.sort();
    ids
}

/// The ids of a list of Projects, in list order.
pub fn ids_of(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|p| p["id"].as_i64().unwrap_or_else(|| panic!("no id: {p}")))
        .collect()
}

/// The blob directory of a test.
pub fn blob_dir(db: &TestDb) -> PathBuf {
    db.data_dir().join("blobs")
}

/// Every file under `<data dir>/blobs`, except temp files in `blobs/tmp`.
pub fn blob_files(db: &TestDb) -> Vec<PathBuf> {
    fn walk(dir: &Path, tmp: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == tmp {
                continue;
            }
            if path.is_dir() {
                walk(&path, tmp, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = blob_dir(db);
    let mut files = Vec::new();
    walk(&root, &root.join("tmp"), &mut files);
    files.sort();
    files
}

/// Runs `cubby gc` (with `env`); asserts success and returns
/// (the `N` of `removed N unreferenced files`, stdout).
pub fn run_gc(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> (u64, String) {
    let out = cubby_command(db)
        .envs(env.iter().copied())
        .arg("gc")
        .args(args)
        .output()
        .expect("run cubby gc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cubby gc failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("gc: "), "{stdout}");
    let before = stdout
        .split(" unreferenced files")
        .next()
        .filter(|_| stdout.contains(" unreferenced files"))
        .unwrap_or_else(|| panic!("no 'unreferenced files' count in {stdout:?}"));
    let n = before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no count before 'unreferenced files' in {stdout:?}"));
    (n, stdout)
}

/// MD5 of `data` as 32 lowercase hex digits, to check `body_md5` and asset names.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// How many replies had each status.
pub fn tally(replies: &[Reply]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for r in replies {
        *counts.entry(r.status.as_u16()).or_default() += 1;
    }
    counts
}

/// The answers that are not `wanted`, for failure messages.
pub fn unexpected(replies: &[Reply], wanted: &[u16]) -> Vec<String> {
    replies
        .iter()
        .filter(|r| !wanted.contains(&r.status.as_u16()))
        .map(|r| format!("{} {}", r.status, r.text()))
        .collect()
}
