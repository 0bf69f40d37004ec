//! The stock Scratch editor in a real browser (Debian's headless Chromium,
//! driven by `tests/browser/editor.mjs` with playwright-core): it creates its
//! project on cubby, renames the sprite, saves, reloads and sees the change;
//! puts a costume in the backpack and sees it after a reload; and a student's
//! scripted SVG, opened directly by a logged-in teacher, runs nothing (S1);
//! and a class made, joined and shared on the home page
//! (`tests/browser/classes.mjs`, which needs no editor). Needs node,
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

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("editor.png");
    let out = Command::new("node")
        .current_dir(browser_dir())
        .env("CHROMIUM", &chromium)
        .args(["editor.mjs", &server.base_url, &login.token])
        .arg(&screenshot)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.lines().any(|l| l == "OK"), "{stdout}");
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
        let out = Command::new("node")
            .current_dir(browser_dir())
            .env("CHROMIUM", &chromium)
            .args(["svg.mjs", &server.base_url, &teacher.token, &opened])
            .output()
            .expect("run node");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "browser run failed:\n{stdout}\n{stderr}"
        );
        assert!(stdout.lines().any(|l| l == "OK"), "{stdout}");
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
    let out = Command::new("node")
        .current_dir(browser_dir())
        .env("CHROMIUM", &chromium)
        .args([
            "classes.mjs",
            &server.base_url,
            "ms-lee",
            "sam",
            "Robot starter",
            screenshot.to_str().unwrap(),
        ])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.lines().any(|l| l == "OK"), "{stdout}");
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
