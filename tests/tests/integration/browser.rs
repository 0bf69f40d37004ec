//! The stock Scratch editor in a real browser (Debian's headless Chromium,
//! driven by `tests/browser/editor.mjs` with playwright-core): it creates its
//! project on cubby, renames the sprite, saves, reloads and sees the change;
//! puts a costume in the backpack and sees it after a reload; and a student's
//! scripted SVG, opened directly by a logged-in teacher, runs nothing (S1);
//! and a class made, joined and shared on the home page
//! (`tests/browser/classes.mjs`, which needs no editor).
//! `tests/browser/saves.mjs` drives the editor page's own saves: a stale save
//! from a second tab becomes a conflict copy with a notice, a save uploads a
//! stage thumbnail, and an exported `.sb3` opens with "Load from your
//! computer". `tests/browser/home.mjs` runs axe-core on the login page, a
//! student's home page (1366×768 and 768×1024), a project page and the
//! editor page, and checks tap targets, Tab order and focus outlines (it
//! needs no editor for the home page). `tests/browser/library.mjs` drives
//! the library (banner, then "Choose a Sprite" with a small library from a
//! fake CDN), the title field, autosave with a failed save retried, and
//! Remix; `tests/browser/assignments.mjs` walks a class through an
//! assignment. Needs node,
//! Chromium, `tests/browser/node_modules` and the editor (`CUBBY_TEST_EDITOR_DIR`,
//! see `cubby editor fetch`); `.ci/run` installs them all. Without them
//! the test says it skipped (under `CI=true` it fails).

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use tests::{Backend, Client, ServerOptions, TestDb, TestServer};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// What the browser test needs, or why it cannot run here.
fn requirements() -> Result<(PathBuf, String), String> {
    let editor = std::env::var("CUBBY_TEST_EDITOR_DIR")
        .map_err(|_| "CUBBY_TEST_EDITOR_DIR is not set (cubby editor fetch DIR)".to_owned())?;
    let editor = PathBuf::from(editor);
    if !editor.join("scratch-gui-standalone.js").is_file() {
        return Err(format!("no editor in {}", editor.display()));
    }
    Ok((editor, browser_requirements()?))
}

/// Chromium and `tests/browser/node_modules`: what a test of cubby's own
/// pages needs (no editor). Returns Chromium's path.
fn browser_requirements() -> Result<String, String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Err(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        return Err("tests/browser/node_modules is missing (npm ci in tests/browser)".into());
    }
    Ok(chromium)
}

/// The requirements, or `None` after saying the test skipped (under
/// `CI=true` a missing requirement fails the test instead).
fn requirements_or_skip() -> Option<(PathBuf, String)> {
    or_skip(requirements())
}

/// [`browser_requirements`], or `None` after saying the test skipped (a
/// failure under `CI=true`).
fn browser_requirements_or_skip() -> Option<String> {
    or_skip(browser_requirements())
}

fn or_skip<T>(found: Result<T, String>) -> Option<T> {
    match found {
        Ok(found) => Some(found),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the browser test must run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: browser test ({why})");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_editor_saves_loads_and_backpacks_in_a_real_browser() {
    let Some((editor, chromium)) = requirements_or_skip() else {
        return;
    };
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_EDITOR_DIR", editor.display()),
    );
    let api = Client::new(&server.base_url);
    let login = api.login("ada", "student", &[("7b", "Class 7B")]).await;

    let screenshot = artifacts_dir().join("editor.png");
    let shot = screenshot.display().to_string();
    let stdout = run_script(
        &chromium,
        "editor.mjs",
        &[&server.base_url, &login.token, &shot],
    );
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );

    // What the browser did is on the server.
    let id: i64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("EDITOR_PROJECT_ID="))
        .and_then(|v| v.parse().ok())
        .expect("project id in the output");
    let resp = api
        .http
        .get(api.url(&format!("/api/v1/projects/{id}/body")))
        .bearer_auth(&login.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let project: Value = resp.json().await.unwrap();
    let names: Vec<&str> = project["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["isStage"] == false)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Rocket"], "the renamed sprite was saved");
    let (status, versions) = api
        .get(
            &format!("/api/v1/projects/{id}/versions"),
            Some(&login.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        versions["items"].as_array().unwrap().len() >= 2,
        "{versions}"
    );

    let (status, items) = api.get("/api/v1/backpack", Some(&login.token)).await;
    assert_eq!(status, StatusCode::OK);
    let items = items["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["type"], "costume");
    for file in [&items[0]["body"], &items[0]["thumbnail"]] {
        let name = file.as_str().unwrap();
        let resp = api
            .http
            .get(api.url(&format!("/backpack/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(tests::projects::md5_hex(&bytes), name[..32], "{name}");
    }
}

/// An SVG that, if its script ran, would mark itself and create a project
/// with the visitor's session cookie.
const SCRIPTED_SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>
document.documentElement.setAttribute('data-ran', 'yes');
fetch('/api/v1/projects', {method: 'POST', credentials: 'include',
  headers: {'content-type': 'application/json'},
  body: JSON.stringify({title: 'made by an svg', body: {}})});
</script></svg>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_svg_opened_in_a_real_browser_runs_nothing() {
    let Some((_editor, chromium)) = requirements_or_skip() else {
        return;
    };
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let student = api.login("sam", "student", &[("7b", "Class 7B")]).await;
    let teacher = api.login("ms-lee", "teacher", &[("7b", "Class 7B")]).await;
    let md5 = tests::projects::md5_hex(SCRIPTED_SVG.as_bytes());
    let path = format!("/api/v1/assets/{md5}.svg");
    let resp = api
        .http
        .post(api.url(&path))
        .bearer_auth(&student.token)
        .body(SCRIPTED_SVG)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    for opened in [
        path.clone(),
        format!("/assets/internalapi/asset/{md5}.svg/get/"),
    ] {
        let stdout = run_script(
            &chromium,
            "svg.mjs",
            &[&server.base_url, &teacher.token, &opened],
        );
        assert!(
            stdout.lines().any(|l| l == "SCRIPT_RAN=false"),
            "{opened}: {stdout}"
        );
        assert!(
            stdout.lines().any(|l| l == "REQUESTS=0"),
            "{opened}: {stdout}"
        );
    }
    // Nothing was made with the teacher's session.
    assert_eq!(db.count("projects", "").await, 0);
}

/// Issue 16's walk through the home page: a teacher makes a class, a student
/// joins with the code, the teacher shares a project with the class, and the
/// student sees it (`tests/browser/classes.mjs`; needs Chromium and
/// node_modules, not the editor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_made_joined_and_shared_on_the_home_page_in_a_real_browser() {
    let Some(chromium) = browser_requirements_or_skip() else {
        return;
    };
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    // The teacher's project, made through the API (the same user the
    // browser logs in as with the form).
    let teacher = tests::projects::User::login(&api, "ms-lee", "teacher", &[]).await;
    teacher
        .create_ok("Robot starter", &serde_json::json!({"targets": []}))
        .await;

    let screenshot = browser_dir().join("classes-screenshot.png");
    let stdout = run_script(
        &chromium,
        "classes.mjs",
        &[
            &server.base_url,
            "ms-lee",
            "sam",
            "Robot starter",
            screenshot.to_str().unwrap(),
        ],
    );
    assert!(stdout.lines().any(|l| l == "MEMBER_SEEN=true"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "SHARED_SEEN=true"), "{stdout}");
    let code = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CODE="))
        .expect("a code");
    // What the browser did is in the database: one local class with that
    // code, two members, one share.
    let groups = "\"groups\"";
    assert_eq!(
        db.count(
            groups,
            &format!("source = 'local' AND join_code = '{code}'")
        )
        .await,
        1
    );
    assert_eq!(db.count("memberships", "").await, 2);
    assert_eq!(db.count("project_shares", "").await, 1);
}

// ---------------------------------------------------------------------------
// The editor page's own saves (`tests/browser/saves.mjs`): conflict copies,
// thumbnails after a save, and an exported `.sb3` opened by the editor.

/// A costume and a backdrop, told apart by colour.
const COSTUME_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="#e8590c"/></svg>"##;
const BACKDROP_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="480" height="360"><rect width="480" height="360" fill="#74c0fc"/></svg>"##;

/// A small real project: the stage with a backdrop and one sprite named
/// `sprite` with one costume, both uploaded first as the editor would.
async fn project_with_assets(api: &Client, token: &str, title: &str, sprite: &str) -> i64 {
    let mut md5 = Vec::new();
    for svg in [BACKDROP_SVG, COSTUME_SVG] {
        let name = tests::assets::asset_name(svg.as_bytes(), "svg");
        let resp = api
            .http
            .post(api.url(&format!("/api/v1/assets/{name}")))
            .bearer_auth(token)
            .body(svg)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "upload {name}: {}",
            resp.status()
        );
        md5.push(tests::projects::md5_hex(svg.as_bytes()));
    }
    let costume = |name: &str, md5: &str, x: i64, y: i64| {
        serde_json::json!({"name": name, "bitmapResolution": 1, "dataFormat": "svg", "assetId": md5,
            "md5ext": format!("{md5}.svg"), "rotationCenterX": x, "rotationCenterY": y})
    };
    let body = serde_json::json!({
        "targets": [
            {"isStage": true, "name": "Stage", "variables": {}, "lists": {}, "broadcasts": {},
             "blocks": {}, "comments": {}, "currentCostume": 0,
             "costumes": [costume("backdrop1", &md5[0], 240, 180)], "sounds": [],
             "volume": 100, "layerOrder": 0, "tempo": 60, "videoTransparency": 50,
             "videoState": "on", "textToSpeechLanguage": null},
            {"isStage": false, "name": sprite, "variables": {}, "lists": {}, "broadcasts": {},
             "blocks": {}, "comments": {}, "currentCostume": 0,
             "costumes": [costume("costume1", &md5[1], 20, 20)], "sounds": [],
             "volume": 100, "layerOrder": 1, "visible": true, "x": 0, "y": 0, "size": 100,
             "direction": 90, "draggable": false, "rotationStyle": "all around"}
        ],
        "monitors": [], "extensions": [],
        "meta": {"semver": "3.0.0", "vm": "5.0.0", "agent": "cubby browser test"}
    });
    let resp = api
        .http
        .post(api.url("/api/v1/projects"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": title, "body": body}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one scenario of `saves.mjs`; panics unless it printed `OK`.
fn run_saves(chromium: &str, base: &str, token: &str, args: &[&str]) -> String {
    run_scenario("saves.mjs", chromium, base, token, args)
}

/// Runs one scenario of a script in `tests/browser` called as
/// `node SCRIPT <base> <token> <artifacts dir> ARGS…`; panics unless it
/// printed `OK`. Returns what it printed.
fn run_scenario(script: &str, chromium: &str, base: &str, token: &str, args: &[&str]) -> String {
    let artifacts = artifacts_dir().display().to_string();
    let mut all = vec![base, token, artifacts.as_str()];
    all.extend_from_slice(args);
    run_script(chromium, script, &all)
}

/// Runs `node <script> <args…>` in `tests/browser`; panics unless it exits
/// 0 and printed `OK`. Returns what it printed.
fn run_script(chromium: &str, script: &str, args: &[&str]) -> String {
    let out = Command::new("node")
        .current_dir(browser_dir())
        .env("CHROMIUM", chromium)
        .arg(script)
        .args(args)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "OK"),
        "browser run {script} {args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

fn printed(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {stdout}"))
        .to_owned()
}

async fn sprite_names(api: &Client, token: &str, path: &str) -> Vec<String> {
    let (status, project) = api.get(path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    project["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["isStage"] == false)
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The saves tests click "Save now" themselves: the page's autosave waits
/// an hour here so that it never races them.
async fn editor_server() -> Option<(TestDb, TestServer, String)> {
    let (editor, chromium) = requirements_or_skip()?;
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_EDITOR_DIR", editor.display())
            .with("CUBBY_AUTOSAVE_SECONDS", 3600),
    );
    Some((db, server, chromium))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_save_from_a_second_tab_becomes_a_conflict_copy_in_a_real_browser() {
    let Some((_db, server, chromium)) = editor_server().await else {
        return;
    };
    let api = Client::new(&server.base_url);
    let ada = api.login("ada", "student", &[("7b", "Class 7B")]).await;
    let id = project_with_assets(&api, &ada.token, "Space Game", "Cat").await;

    let stdout = run_saves(
        &chromium,
        &server.base_url,
        &ada.token,
        &["conflict", &id.to_string()],
    );
    let copy: i64 = printed(&stdout, "COPY_ID=").parse().unwrap();
    assert_ne!(copy, id);

    // Tab A's edit is the original's latest version; tab B's edit is the
    // copy's first, and its next save is the copy's second.
    let body = |p: i64| format!("/api/v1/projects/{p}/body");
    assert_eq!(sprite_names(&api, &ada.token, &body(id)).await, ["Alpha"]);
    let (_, original) = api
        .get(&format!("/api/v1/projects/{id}"), Some(&ada.token))
        .await;
    assert_eq!(original["version"], 2, "{original}");
    assert_eq!(original["title"], "Space Game");
    let first = format!("/api/v1/projects/{copy}/versions/1/body");
    assert_eq!(sprite_names(&api, &ada.token, &first).await, ["Bravo"]);
    assert_eq!(
        sprite_names(&api, &ada.token, &body(copy)).await,
        ["Charlie"]
    );
    let (status, made) = api
        .get(&format!("/api/v1/projects/{copy}"), Some(&ada.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(made["parent_id"], id, "{made}");
    assert_eq!(made["owner_id"], original["owner_id"], "{made}");
    assert_eq!(made["title"], "Space Game (conflict copy)", "{made}");
    assert_eq!(made["version"], 2, "{made}");
    // Nothing else was made.
    let (_, mine) = api
        .get("/api/v1/projects?scope=mine", Some(&ada.token))
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 2, "{mine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_page_uploads_a_stage_thumbnail_after_a_save_in_a_real_browser() {
    let Some((_db, server, chromium)) = editor_server().await else {
        return;
    };
    let api = Client::new(&server.base_url);
    let ada = api.login("ada", "student", &[("7b", "Class 7B")]).await;
    let id = project_with_assets(&api, &ada.token, "Thumbs", "Cat").await;
    let path = format!("/api/v1/projects/{id}/thumbnail");
    let before = api
        .http
        .get(api.url(&path))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), StatusCode::NOT_FOUND, "no thumbnail yet");

    run_saves(
        &chromium,
        &server.base_url,
        &ada.token,
        &["thumbnail", &id.to_string()],
    );
    let resp = api
        .http
        .get(api.url(&path))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("image/png")
    );
    let bytes = resp.bytes().await.unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 100,
        "{} bytes, not a PNG",
        bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_sb3_loads_from_the_computer_in_a_real_browser() {
    let Some((_db, server, chromium)) = editor_server().await else {
        return;
    };
    let api = Client::new(&server.base_url);
    let ada = api.login("ada", "student", &[("7b", "Class 7B")]).await;
    let id = project_with_assets(&api, &ada.token, "Exported", "Exported Cat").await;
    let resp = api
        .http
        .get(api.url(&format!("/api/v1/projects/{id}/sb3")))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/x.scratch.sb3")
    );
    let sb3 = artifacts_dir().join("exported.sb3");
    std::fs::write(&sb3, resp.bytes().await.unwrap()).unwrap();

    run_saves(
        &chromium,
        &server.base_url,
        &ada.token,
        &["load-sb3", &sb3.display().to_string(), "Exported Cat"],
    );
}

// ---------------------------------------------------------------------------
// Issue 17's walk through the classroom (`tests/browser/assignments.mjs`).

/// A teacher hands out an assignment on the home page, a student starts it
/// in the real editor, saves a change and submits; the teacher opens the
/// submission read-only (no save request) and gives feedback, which the
/// student sees. Leaves `tests/browser/assignments-roster.png` and
/// `assignments-student.png` (shown in the README).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignment_is_handed_out_submitted_and_reviewed_in_a_real_browser() {
    let Some((db, server, chromium)) = editor_server().await else {
        return;
    };
    let api = Client::new(&server.base_url);
    let teacher = api.login("ms-lee", "teacher", &[("7b", "Class 7B")]).await;
    let ada = api.login("ada", "student", &[("7b", "Class 7B")]).await;
    let starter = project_with_assets(&api, &teacher.token, "Cat starter", "Cat").await;

    let artifacts = artifacts_dir().display().to_string();
    let shots = browser_dir().display().to_string();
    let stdout = run_script(
        &chromium,
        "assignments.mjs",
        &[
            &server.base_url,
            &teacher.token,
            &ada.token,
            "Cat starter",
            &artifacts,
            &shots,
        ],
    );
    assert_eq!(printed(&stdout, "READ_ONLY_SAVES="), "0");
    assert_eq!(printed(&stdout, "FEEDBACK_SEEN="), "true");
    let assignment: i64 = printed(&stdout, "ASSIGNMENT_ID=").parse().unwrap();
    let project: i64 = printed(&stdout, "PROJECT_ID=").parse().unwrap();
    let submission: i64 = printed(&stdout, "SUBMISSION_ID=").parse().unwrap();
    for shot in ["assignments-roster.png", "assignments-student.png"] {
        assert!(browser_dir().join(shot).is_file(), "no {shot}");
    }

    // What the browser did is on the server: the assignment as typed, the
    // student's one project (a copy of the starter) with the change, one
    // submission pinning it, the feedback; the read-only look wrote nothing.
    let (status, a) = api
        .get(
            &format!("/api/v1/assignments/{assignment}"),
            Some(&ada.token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a["title"], "Rocket race");
    assert_eq!(a["instructions"], "Rename the cat to Rocket.\nThen submit.");
    assert_eq!(a["starter_project_id"], starter);
    assert_eq!(a["due_at"], "2037-06-01T12:00:00Z");
    assert_eq!(a["late_submissions"], true);
    assert_eq!(a["my_project_id"], project, "{a}");
    let s = &a["my_submission"];
    assert_eq!(s["id"], submission, "{a}");
    assert_eq!(s["feedback"]["comment"], "Great rocket! Next: make it fly.");
    assert_eq!(s["feedback"]["grade"], "A");
    let (_, p) = api
        .get(&format!("/api/v1/projects/{project}"), Some(&ada.token))
        .await;
    assert_eq!(p["parent_id"], starter, "{p}");
    assert_eq!(p["version"], s["version"], "nothing saved after the submit");
    let pinned = format!("/api/v1/submissions/{submission}/body");
    assert_eq!(
        sprite_names(&api, &teacher.token, &pinned).await,
        ["Rocket"]
    );
    assert_eq!(db.count("submissions", "").await, 1);
    assert_eq!(db.count("projects", "").await, 2, "the starter and ada's");
}

// ---------------------------------------------------------------------------
// The home page a child uses (`tests/browser/home.mjs`): axe-core finds no
// serious or critical violation on the login page, a student's home page
// (1366×768 and 768×1024) and, with the editor installed, the editor page;
// tap targets, Tab order and focus outlines; screenshots.

/// A small picture as a PNG (sky, sun, hills), for one card's thumbnail.
fn picture_png(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    let mut rows = Vec::new();
    for y in 0..height {
        rows.push(0u8); // filter: none
        for x in 0..width {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let hill = 0.7 + 0.08 * (fx * 7.0).sin();
            let (dx, dy) = (
                x as f32 - 0.75 * width as f32,
                y as f32 - 0.25 * height as f32,
            );
            let sun = dx * dx + dy * dy < (0.09 * width as f32).powi(2);
            let rgb = if sun {
                [255, 200, 40]
            } else if fy > hill {
                [60, 170, 80]
            } else {
                [90 + (fy * 100.0) as u8, 150 + (fy * 80.0) as u8, 240]
            };
            rows.extend_from_slice(&rgb);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&rows).unwrap();
    let idat = z.finish().unwrap();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], ihdr), (b"IDAT", idat), (b"IEND", Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(&data);
        png.extend_from_slice(kind);
        png.extend_from_slice(&data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_passes_axe_and_works_by_keyboard_in_a_real_browser() {
    let Some(chromium) = browser_requirements_or_skip() else {
        return;
    };
    // The editor page is checked too when the editor is here (else skipped,
    // by the same rule as the editor's tests).
    let editor = requirements_or_skip().map(|(editor, _)| editor);
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    // Without it, a stand-in: the home page only asks whether the editor is
    // installed ("New project" and each card's "Open").
    let editor_dir = editor.clone().unwrap_or_else(|| {
        let dir = db.scratch().join("editor");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("scratch-gui-standalone.js"), "window.GUI = {};").unwrap();
        dir
    });
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_EDITOR_DIR", editor_dir.display()),
    );
    let api = Client::new(&server.base_url);
    let class = [("7b", "Class 7B")];
    let ada = tests::projects::User::login(&api, "ada", "student", &class).await;
    let teacher = tests::projects::User::login(&api, "ms-lee", "teacher", &class).await;
    let body = serde_json::json!({"targets": []});

    // Newest first on the page: made in the reverse order.
    let mut ids = Vec::new();
    for title in [
        "Old drawing",
        "Pet Cat",
        "Maze Runner",
        "Dance Party",
        "Space Game",
    ] {
        ids.push(ada.create_ok(title, &body).await["id"].as_i64().unwrap());
    }
    let trashed = ids[0];
    assert_eq!(ada.delete(trashed).await.status, StatusCode::NO_CONTENT);
    let space_game = ids[4];
    let put = ada
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/projects/{space_game}/thumbnail"),
        )
        .header("content-type", "image/png")
        .body(picture_png(240, 180));
    assert_eq!(
        tests::projects::send(put).await.status,
        StatusCode::NO_CONTENT
    );
    let starter = teacher.create_ok("Robot starter", &body).await["id"]
        .as_i64()
        .unwrap();
    let shared = teacher.share(starter, &[teacher.group("7b")]).await;
    assert_eq!(shared.status, StatusCode::OK, "{}", shared.text());

    let out_dir = artifacts_dir();
    let mut args = vec![
        server.base_url.clone(),
        ada.token.clone(),
        out_dir.display().to_string(),
        // Each card's Open link, in the page's order.
        [
            "Space Game",
            "Dance Party",
            "Maze Runner",
            "Pet Cat",
            "Robot starter",
        ]
        .join("|"),
    ];
    if editor.is_some() {
        args.push("editor".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = run_script(&chromium, "home.mjs", &args);
    // What axe printed, informational findings included (see --nocapture).
    println!("{stdout}");
    for page in ["login", "home-1366", "home-768", "project"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("AXE {page} serious=0 "))),
            "{page}: {stdout}"
        );
    }
    if editor.is_some() {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("AXE editor serious=0 ")),
            "{stdout}"
        );
    }
    assert!(stdout.lines().any(|l| l == "CARDS=5"), "{stdout}");
    // The home page's screenshots for the README, refreshed by each run.
    for (shot, kept) in [
        ("home-1366.png", "home-screenshot.png"),
        ("home-768.png", "home-tablet-screenshot.png"),
    ] {
        std::fs::copy(out_dir.join(shot), browser_dir().join(kept)).unwrap();
    }
}

// The editor's library, title, autosave and remix (`tests/browser/library.mjs`).
//
// The library test needs files whose md5s the catalogues name, and the real
// catalogues name about 2,000 files this test cannot have. The GUI compiles
// its catalogues into the bundle (and ships the same JSON as
// `libraries/*.json`, which `cubby library` reads), so the test builds its
// own editor folder: links to every file of `CUBBY_TEST_EDITOR_DIR`, except
// a copy of the bundle and of `libraries/*.json` in which each catalogue is
// replaced by a small one naming files made here.

/// A PNG of one colour (8-bit RGB), made here so that its md5 is known.
fn solid_png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    use std::io::Write;
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    // Each row: filter type 0 (none), then the pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain(rgb.iter().copied().cycle().take(width as usize * 3))
        .collect();
    let rows = row.repeat(height as usize);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&rows).unwrap();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &z.finish().unwrap());
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A mono 16-bit WAV of a square wave: `samples` samples at 22,050 Hz.
fn square_wav(samples: u32, half_period: u32) -> Vec<u8> {
    let rate = 22_050u32;
    let data = samples * 2;
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    for i in 0..samples {
        let v: i16 = if (i / half_period).is_multiple_of(2) {
            6000
        } else {
            -6000
        };
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav
}

/// An SVG picture: a shape in a colour, with a label.
fn picture_svg(width: u32, height: u32, shape: &str, label: &str) -> Vec<u8> {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{shape}<text x="50%" y="92%" font-family="sans-serif" font-size="12" text-anchor="middle" fill="#222">{label}</text></svg>"##
    )
    .into_bytes()
}

/// The test's library: ten files and four small catalogues naming them.
struct TestLibrary {
    /// `(md5ext, bytes)` of every file the catalogues name.
    files: Vec<(String, Vec<u8>)>,
    /// `(catalogue name, its entries)`: costumes, sprites, backdrops, sounds.
    catalogues: Vec<(&'static str, Value)>,
}

impl TestLibrary {
    /// The sprite the browser picks, and its costumes' names.
    const PICKED: &'static str = "Orange Cat";
    const PICKED_COSTUMES: [&'static str; 2] = ["cat-a", "cat-b"];

    fn new() -> TestLibrary {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut file = |bytes: Vec<u8>, ext: &str| {
            let md5 = tests::projects::md5_hex(&bytes);
            let md5ext = format!("{md5}.{ext}");
            if !files.iter().any(|(n, _)| *n == md5ext) {
                files.push((md5ext.clone(), bytes));
            }
            (md5, md5ext, ext.to_owned())
        };
        let costume = |name: &str,
                       (md5, md5ext, ext): (String, String, String),
                       res: u32,
                       cx: u32,
                       cy: u32| {
            serde_json::json!({"name": name, "assetId": md5, "md5ext": md5ext, "dataFormat": ext,
                "bitmapResolution": res, "rotationCenterX": cx, "rotationCenterY": cy, "tags": []})
        };
        let sound = |name: &str, (md5, md5ext, ext): (String, String, String), samples: u32| {
            serde_json::json!({"name": name, "assetId": md5, "md5ext": md5ext, "dataFormat": ext,
                "tags": [], "rate": 22050, "sampleCount": samples})
        };
        let circle = |fill: &str| format!(r#"<circle cx="40" cy="36" r="28" fill="{fill}"/>"#);
        let square = |fill: &str| {
            format!(r#"<rect x="12" y="8" width="56" height="56" rx="8" fill="{fill}"/>"#)
        };
        let cat_a = costume(
            "cat-a",
            file(picture_svg(80, 80, &circle("#f08c00"), "cat a"), "svg"),
            1,
            40,
            40,
        );
        let cat_b = costume(
            "cat-b",
            file(picture_svg(80, 80, &square("#f08c00"), "cat b"), "svg"),
            1,
            40,
            40,
        );
        let ball = costume(
            "ball",
            file(picture_svg(80, 80, &circle("#1c7ed6"), "ball"), "svg"),
            1,
            40,
            40,
        );
        let block = costume(
            "block",
            file(solid_png(128, 128, [0x2f, 0x9e, 0x44]), "png"),
            2,
            64,
            64,
        );
        let robot_a = costume(
            "robot-a",
            file(picture_svg(80, 80, &square("#e03131"), "robot a"), "svg"),
            1,
            40,
            40,
        );
        let robot_b = costume(
            "robot-b",
            file(picture_svg(80, 80, &circle("#e03131"), "robot b"), "svg"),
            1,
            40,
            40,
        );
        let meow = sound("Meow", file(square_wav(4410, 25), "wav"), 4410);
        let pop = sound("Pop", file(square_wav(2205, 10), "wav"), 2205);
        let sky = costume(
            "Blue Sky",
            file(
                picture_svg(
                    480,
                    360,
                    r##"<rect width="480" height="360" fill="#a5d8ff"/>"##,
                    "sky",
                ),
                "svg",
            ),
            1,
            240,
            180,
        );
        let field = costume(
            "Green Field",
            file(solid_png(960, 720, [0xb2, 0xf2, 0xbb]), "png"),
            2,
            480,
            360,
        );
        let sprite = |name: &str, costumes: Vec<&Value>, sounds: Vec<&Value>| {
            serde_json::json!({"name": name, "tags": [], "isStage": false, "costumes": costumes,
                "sounds": sounds, "variables": {}, "blocks": {}})
        };
        let catalogues = vec![
            (
                "costumes",
                serde_json::json!([&cat_a, &cat_b, &ball, &block, &robot_a, &robot_b]),
            ),
            (
                "sprites",
                serde_json::json!([
                    sprite(Self::PICKED, vec![&cat_a, &cat_b], vec![&meow]),
                    sprite("Blue Ball", vec![&ball], vec![&pop]),
                    sprite("Green Block", vec![&block], vec![&pop]),
                    sprite("Red Robot", vec![&robot_a, &robot_b], vec![]),
                ]),
            ),
            ("backdrops", serde_json::json!([&sky, &field])),
            ("sounds", serde_json::json!([&meow, &pop])),
        ];
        TestLibrary { files, catalogues }
    }

    fn sprite_count(&self) -> usize {
        self.catalogues[1].1.as_array().unwrap().len()
    }

    /// The md5ext of each costume of the picked sprite, in order.
    fn picked_costumes(&self) -> Vec<String> {
        self.catalogues[1].1[0]["costumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["md5ext"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The editor folder in `dir` (see the section's comment).
    fn editor_dir(&self, real: &Path, dir: &Path) {
        const BUNDLE: &str = "scratch-gui-standalone.js";
        std::fs::create_dir_all(dir.join("libraries")).unwrap();
        for entry in std::fs::read_dir(real).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            // The bundle's precompressed copies would serve the real catalogues.
            if name == "libraries" || name.starts_with(BUNDLE) && !name.ends_with(".txt") {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), dir.join(&name)).unwrap();
        }
        let mut real_catalogues = Vec::new();
        let mut small = Vec::new();
        for (name, catalogue) in &self.catalogues {
            let file = format!("{name}.json");
            let text = std::fs::read_to_string(real.join("libraries").join(&file)).unwrap();
            real_catalogues.push(serde_json::from_str::<Value>(&text).unwrap());
            small.push(catalogue.clone());
            std::fs::write(dir.join("libraries").join(&file), catalogue.to_string()).unwrap();
        }
        let bundle = std::fs::read_to_string(real.join(BUNDLE)).unwrap();
        let bundle = replace_catalogues(&bundle, &real_catalogues, &small);
        std::fs::write(dir.join(BUNDLE), bundle).unwrap();
    }
}

/// The bundle holds each catalogue as `JSON.parse('<JSON>')` (webpack's
/// form for large JSON modules, with `\` and `'` escaped). Each literal that
/// parses to one of `real` is replaced by the matching one of `small`;
/// panics unless every catalogue was found, so that a bundle built another
/// way fails the test instead of testing the real library.
fn replace_catalogues(bundle: &str, real: &[Value], small: &[Value]) -> String {
    const OPEN: &str = "JSON.parse('";
    let mut out = String::with_capacity(bundle.len());
    let mut rest = bundle;
    let mut replaced = vec![false; real.len()];
    while let Some(at) = rest.find(OPEN) {
        let start = at + OPEN.len();
        out.push_str(&rest[..start]);
        let (text, len) = js_string(&rest[start..]);
        let parsed = text
            .starts_with('[')
            .then(|| serde_json::from_str::<Value>(&text).ok())
            .flatten();
        match parsed.and_then(|v| real.iter().position(|c| *c == v)) {
            Some(i) => {
                out.push_str(
                    &small[i]
                        .to_string()
                        .replace('\\', "\\\\")
                        .replace('\'', "\\'"),
                );
                replaced[i] = true;
            }
            None => out.push_str(&rest[start..start + len]),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    assert!(
        replaced.iter().all(|r| *r),
        "the bundle does not hold every catalogue as JSON.parse('…'): {replaced:?}"
    );
    out
}

/// The text of a single-quoted JavaScript string that starts at `s` (after
/// the opening quote), and the length of its source up to the closing quote.
fn js_string(s: &str) -> (String, usize) {
    let mut text = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return (text, i),
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '\'' | '"'))) => text.push(e),
                Some((_, other)) => {
                    text.push('\\');
                    text.push(other);
                }
                None => break,
            },
            c => text.push(c),
        }
    }
    panic!("an unterminated JSON.parse string in the bundle")
}

/// Ada's project on a server with the test's editor, for the library test.
fn library_server(db: &TestDb, dir: &Path) -> TestServer {
    TestServer::spawn(
        db,
        &ServerOptions::default()
            .with("CUBBY_EDITOR_DIR", dir.display())
            .with("CUBBY_AUTOSAVE_SECONDS", 3600),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_fetched_from_a_fake_cdn_fills_choose_a_sprite_in_a_real_browser() {
    let Some((editor, chromium)) = requirements_or_skip() else {
        return;
    };
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let lib = TestLibrary::new();
    let dir = db.scratch().join("editor-with-test-library");
    lib.editor_dir(&editor, &dir);

    // Without the library: the banner, and the page knows it.
    let server = library_server(&db, &dir);
    let api = Client::new(&server.base_url);
    let ada = api.login("ada", "student", &[("7b", "Class 7B")]).await;
    let id = project_with_assets(&api, &ada.token, "Zoo", "Keeper").await;
    let stdout = run_scenario(
        "library.mjs",
        &chromium,
        &server.base_url,
        &ada.token,
        &["banner", &id.to_string()],
    );
    let banner = printed(&stdout, "BANNER=");
    let total = lib.files.len();
    assert!(
        banner.contains(&format!("(0 of {total} files stored)"))
            && banner.contains("cubby library fetch"),
        "{banner}"
    );
    drop(server);

    // `cubby library fetch` from the fake CDN stores every file.
    let cdn = crate::library::FakeCdn::start(
        lib.files
            .iter()
            .map(|(name, bytes)| (name.clone(), crate::library::Serve::Bytes(bytes.clone())))
            .collect(),
    );
    let out = crate::library::library_cmd(&db, &dir, &["fetch", "--from", &cdn.template()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        crate::library::summary(&out),
        format!("library: fetched {total}, already present 0, failed 0 (missing 0, md5 mismatch 0, other 0)")
    );

    // A new server (the banner's count is kept for a while): no banner;
    // every tile's picture loads; the picked sprite is saved with its
    // costumes and is there after a reload.
    let server = library_server(&db, &dir);
    let api = Client::new(&server.base_url);
    let screenshot = browser_dir().join("library-screenshot.png");
    let stdout = run_scenario(
        "library.mjs",
        &chromium,
        &server.base_url,
        &ada.token,
        &[
            "pick",
            &id.to_string(),
            TestLibrary::PICKED,
            &lib.sprite_count().to_string(),
            &TestLibrary::PICKED_COSTUMES.join(","),
            screenshot.to_str().unwrap(),
        ],
    );
    assert_eq!(
        printed(&stdout, "TILES_LOADED="),
        lib.sprite_count().to_string()
    );
    let (status, body) = api
        .get(&format!("/api/v1/projects/{id}/body"), Some(&ada.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let picked: Vec<&Value> = body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == TestLibrary::PICKED)
        .collect();
    assert_eq!(picked.len(), 1, "{body}");
    let costumes: Vec<String> = picked[0]["costumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["md5ext"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(costumes, lib.picked_costumes(), "{body}");
    assert_eq!(picked[0]["sounds"][0]["name"], "Meow", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_page_renames_autosaves_retries_and_remixes_in_a_real_browser() {
    let Some((editor, chromium)) = requirements_or_skip() else {
        return;
    };
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    // Two seconds between autosaves, so the test sees several.
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_EDITOR_DIR", editor.display())
            .with("CUBBY_AUTOSAVE_SECONDS", 2),
    );
    let api = Client::new(&server.base_url);
    let ada = api.login("ada", "student", &[("7b", "Class 7B")]).await;
    let teacher = api.login("ms-lee", "teacher", &[("7b", "Class 7B")]).await;
    let id = project_with_assets(&api, &ada.token, "Space Game", "Cat").await;

    // Ada's own project: her title in the field, no Remix; a rename is
    // saved; a change is saved with no click, and again after a failed save.
    let stdout = run_scenario(
        "library.mjs",
        &chromium,
        &server.base_url,
        &ada.token,
        &[
            "own",
            &id.to_string(),
            "Space Game",
            "Moon Race",
            "Astronaut",
            "2000",
        ],
    );
    let burst: i64 = printed(&stdout, "BURST_SAVES=").parse().unwrap();
    let (status, project) = api
        .get(&format!("/api/v1/projects/{id}"), Some(&ada.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(project["title"], "Moon Race", "{project}");
    assert_eq!(
        sprite_names(&api, &ada.token, &format!("/api/v1/projects/{id}/body")).await,
        ["Astronaut"]
    );
    // Version 2 is the rename (the body unchanged), version 3 the autosave
    // after the failed attempt (which stored nothing), version 4 the save on
    // leaving, then one version per save of the burst of changes.
    assert_eq!(project["version"], 4 + burst, "{project}");
    assert_eq!(
        sprite_names(
            &api,
            &ada.token,
            &format!("/api/v1/projects/{id}/versions/3/body")
        )
        .await,
        ["Astronaut (draft)"]
    );
    assert_eq!(
        sprite_names(
            &api,
            &ada.token,
            &format!("/api/v1/projects/{id}/versions/2/body")
        )
        .await,
        ["Cat"]
    );

    // The teacher opens it: someone else's project, so Remix, and the remix
    // is the teacher's own copy with the project as its parent.
    let stdout = run_scenario(
        "library.mjs",
        &chromium,
        &server.base_url,
        &teacher.token,
        &["remix", &id.to_string()],
    );
    let remix: i64 = printed(&stdout, "REMIX_ID=").parse().unwrap();
    let (status, made) = api
        .get(&format!("/api/v1/projects/{remix}"), Some(&teacher.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(made["parent_id"], id, "{made}");
    assert_ne!(made["owner_id"], project["owner_id"], "{made}");
    assert_eq!(made["title"], "Moon Race remix", "{made}");
    // The original is untouched.
    let (_, after) = api
        .get(&format!("/api/v1/projects/{id}"), Some(&ada.token))
        .await;
    assert_eq!(after["version"], 4 + burst, "{after}");
}
