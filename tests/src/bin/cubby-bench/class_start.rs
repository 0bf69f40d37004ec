//! `class-start`: a class starting one assignment at once. Setup (untimed):
//! a teacher and C students of one class, and a starter project with three
//! costumes. Each round the teacher makes a fresh assignment from the
//! starter (untimed), then all C students at once, each as one timed
//! operation: `start` it from two tabs together (exactly one 201, and both
//! answers the same project: anything else is an error, G16), open it as
//! the editor does (`GET /projects/{id}` and each costume from
//! `/assets/internalapi/asset/…/get/`), and save it with `?version=`.

use std::sync::Arc;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::requests::{md5_hex, random_hex, svg, Http};
use crate::scenarios::Limits;
use crate::stats::Stats;

/// What every student's operation in a run needs.
pub(crate) struct Class {
    teacher: String,
    group_id: i64,
    starter_id: i64,
    /// The starter's costumes, as `md5.ext`.
    assets: Vec<String>,
    students: Vec<String>,
}

/// Logs in through the development login (untimed); returns the token and
/// the `user` object.
async fn login(
    http: &Http,
    username: &str,
    role: &str,
    group: &(String, String),
) -> Result<(String, Value), String> {
    let body = json!({"username": username, "role": role,
        "groups": [{"external_id": group.0, "name": group.1}]});
    let resp = http
        .client
        .post(http.url("/auth/dev/login"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("login {username}: {e}"))?;
    let status = resp.status();
    let json: Value = resp.json().await.unwrap_or(Value::Null);
    if status != StatusCode::OK {
        return Err(format!("login {username}: {status} {json}"));
    }
    let token = json["token"]
        .as_str()
        .ok_or_else(|| format!("login {username}: no token in {json}"))?;
    Ok((token.to_owned(), json["user"].clone()))
}

/// A POST (setup, untimed) that must answer `want`; returns its JSON.
async fn post_ok(
    http: &Http,
    token: &str,
    path: &str,
    req: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    want: &[StatusCode],
) -> Result<Value, String> {
    let resp = req(http.client.post(http.url(path)).bearer_auth(token))
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = resp.status();
    let json: Value = resp.json().await.unwrap_or(Value::Null);
    if !want.contains(&status) {
        return Err(format!("POST {path}: {status} {json}"));
    }
    Ok(json)
}

/// The starter: a stage and one sprite wearing the three costumes.
fn starter_body(assets: &[String]) -> Value {
    let costumes: Vec<Value> = assets
        .iter()
        .enumerate()
        .map(|(i, md5ext)| {
            json!({"name": format!("costume{i}"), "assetId": &md5ext[..32],
                "md5ext": md5ext, "dataFormat": "svg",
                "rotationCenterX": 5, "rotationCenterY": 5})
        })
        .collect();
    json!({
        "targets": [
            {"isStage": true, "name": "Stage", "variables": {}, "lists": {},
             "broadcasts": {}, "blocks": {}, "comments": {}, "currentCostume": 0,
             "costumes": [costumes[0].clone()], "sounds": [], "volume": 100},
            {"isStage": false, "name": "Sprite1", "variables": {}, "lists": {},
             "broadcasts": {}, "blocks": {}, "comments": {}, "currentCostume": 0,
             "costumes": costumes, "sounds": [], "volume": 100, "visible": true,
             "x": 0, "y": 0, "size": 100, "direction": 90, "draggable": false,
             "rotationStyle": "all around"}
        ],
        "monitors": [],
        "extensions": [],
        "meta": {"semver": "3.0.0", "vm": "0.2.0", "agent": "cubby-bench"},
    })
}

/// Setup (untimed): the teacher, `clients` students of one class, the
/// starter's costumes uploaded and the starter made.
pub(crate) async fn setup(http: &Http, tag: &str, clients: usize) -> Result<Class, String> {
    let group = (format!("{tag}-class"), format!("Class {tag}"));
    let (teacher, user) = login(http, &format!("{tag}-teacher"), "teacher", &group).await?;
    let group_id = user["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["external_id"] == group.0.as_str()))
        .and_then(|g| g["id"].as_i64())
        .ok_or_else(|| format!("teacher login: no group {} in {user}", group.0))?;
    let mut assets = Vec::new();
    for i in 0..3 {
        let bytes = svg(&format!("{tag} costume {i} {}", random_hex()));
        let name = format!("{}.svg", md5_hex(&bytes));
        post_ok(
            http,
            &teacher,
            &format!("/api/v1/assets/{name}"),
            |r| {
                r.header(reqwest::header::CONTENT_TYPE, "image/svg+xml")
                    .body(bytes)
            },
            &[StatusCode::OK, StatusCode::CREATED],
        )
        .await?;
        assets.push(name);
    }
    let starter = post_ok(
        http,
        &teacher,
        "/api/v1/projects",
        |r| r.json(&json!({"title": format!("{tag} starter"), "body": starter_body(&assets)})),
        &[StatusCode::CREATED],
    )
    .await?;
    let starter_id = starter["id"]
        .as_i64()
        .ok_or_else(|| format!("starter: no id in {starter}"))?;
    let mut students = Vec::new();
    for i in 0..clients {
        let (token, _) = login(http, &format!("{tag}-s{i}"), "student", &group).await?;
        students.push(token);
    }
    Ok(Class {
        teacher,
        group_id,
        starter_id,
        assets,
        students,
    })
}

/// Rounds until the deadline: a fresh assignment, then every student's
/// operation at once (one client each).
pub(crate) async fn run(https: &[Http], class: Arc<Class>, limits: Arc<Limits>) -> Stats {
    let mut total = Stats::default();
    let mut round = 0u64;
    while tokio::time::Instant::now() < limits.deadline {
        let made = post_ok(
            &https[0],
            &class.teacher,
            &format!("/api/v1/groups/{}/assignments", class.group_id),
            |r| {
                r.json(&json!({"title": format!("Round {round}"),
                    "starter_project_id": class.starter_id}))
            },
            &[StatusCode::CREATED],
        )
        .await
        .and_then(|a| a["id"].as_i64().ok_or(format!("no id in {a}")));
        let assignment = match made {
            Ok(id) => id,
            Err(e) => {
                eprintln!("cubby-bench: class-start round {round}: {e}");
                total.errors_other += 1;
                break;
            }
        };
        let mut handles = Vec::new();
        for (i, http) in https.iter().enumerate() {
            if !limits.take() {
                break;
            }
            let (http, class) = (http.clone(), class.clone());
            let deadline = limits.deadline;
            handles.push(tokio::spawn(async move {
                let mut stats = Stats::default();
                let start = Instant::now();
                let op = student(&http, &class, i, assignment, &mut stats);
                if let Ok(true) = tokio::time::timeout_at(deadline, op).await {
                    stats.latencies.push(start.elapsed());
                }
                stats
            }));
        }
        if handles.is_empty() {
            break;
        }
        for h in handles {
            match h.await {
                Ok(s) => total.merge(s),
                Err(_) => total.errors_other += 1,
            }
        }
        round += 1;
    }
    total
}

/// One student: start (two tabs), open, save. True when all of it worked.
async fn student(http: &Http, class: &Class, i: usize, assignment: i64, stats: &mut Stats) -> bool {
    let token = &class.students[i];
    let Some(id) = start_twice(http, token, assignment, stats).await else {
        return false;
    };
    let Some((version, mut body)) = open(http, token, id, &class.assets, stats).await else {
        return false;
    };
    body["meta"]["agent"] = json!(format!("cubby-bench student {i}"));
    let resp = http
        .client
        .put(http.url(&format!("/projects/{id}?version={version}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await;
    match expect(resp, StatusCode::OK, stats).await {
        Some(resp) => resp.bytes().await.is_ok(),
        None => false,
    }
}

/// Two `start`s at once: exactly one 201, and both the same project.
async fn start_twice(http: &Http, token: &str, assignment: i64, stats: &mut Stats) -> Option<i64> {
    let path = http.url(&format!("/api/v1/assignments/{assignment}/start"));
    let send = || http.client.post(&path).bearer_auth(token).send();
    let (a, b) = tokio::join!(send(), send());
    let mut created = 0;
    let mut ids = Vec::new();
    for resp in [a, b] {
        let Ok(resp) = resp else {
            stats.errors_other += 1;
            return None;
        };
        let status = resp.status();
        if status == StatusCode::CREATED {
            created += 1;
        } else if status != StatusCode::OK {
            stats.status_error(status);
            return None;
        }
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        ids.push(json["id"].as_i64());
    }
    if created != 1 || ids[0].is_none() || ids[0] != ids[1] {
        // Two projects for one student (or none made): G16 broken.
        stats.errors_other += 1;
        return None;
    }
    ids[0]
}

/// Opens the project as the editor does: its JSON (the version from the
/// `ETag`), then each costume. Returns the version and the JSON.
async fn open(
    http: &Http,
    token: &str,
    id: i64,
    assets: &[String],
    stats: &mut Stats,
) -> Option<(i64, Value)> {
    let resp = http
        .client
        .get(http.url(&format!("/projects/{id}")))
        .bearer_auth(token)
        .send()
        .await;
    let resp = expect(resp, StatusCode::OK, stats).await?;
    let version = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_matches('"').parse::<i64>().ok());
    let body: Option<Value> = resp.json().await.ok();
    let (Some(version), Some(body)) = (version, body) else {
        stats.errors_other += 1;
        return None;
    };
    for name in assets {
        let resp = http
            .client
            .get(http.url(&format!("/assets/internalapi/asset/{name}/get/")))
            .send()
            .await;
        let resp = expect(resp, StatusCode::OK, stats).await?;
        if resp.bytes().await.is_err() {
            stats.errors_other += 1;
            return None;
        }
    }
    Some((version, body))
}

/// The response if it has status `want`; otherwise counts it (drained).
async fn expect(
    sent: reqwest::Result<reqwest::Response>,
    want: StatusCode,
    stats: &mut Stats,
) -> Option<reqwest::Response> {
    let resp = match sent {
        Ok(resp) => resp,
        Err(_) => {
            stats.errors_other += 1;
            return None;
        }
    };
    if resp.status() != want {
        stats.status_error(resp.status());
        let _ = resp.bytes().await;
        return None;
    }
    Some(resp)
}
