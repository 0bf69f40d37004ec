//! `--scenario editor-load`: a class opening the editor at once. For each
//! `--editor LABEL=DIR` it starts one cubby (SQLite, the development login)
//! serving that editor directory, and at each client count C runs rounds of
//! C concurrent **cold loads**, each with a fresh HTTP client (no cache,
//! no connection reuse across loads) sending a browser's
//! `Accept-Encoding: gzip, deflate, br, zstd`:
//!
//! - `GET /editor?project={id}` (with the session cookie);
//! - the files a first load of the stock editor 15.1.1 fetches, as seen in
//!   headless Chromium's request log ([`FIRST_LOAD_FILES`]: the bundle, the
//!   fetch worker, the paint editor's chunk, 13 block and help icons);
//!   files missing from the directory are skipped with a warning;
//! - `GET /projects/{id}` and the project's three assets.
//!
//! It reports the response bytes per cold load as they crossed the wire
//! (compressed sizes; headers not counted), the server's CPU time per cold
//! load (user + system, from `/proc/<pid>/stat`, before and after the run,
//! at 100 ticks per second), the median and slowest load, and a revisit:
//! one more load per client sending each static file's `ETag` back as
//! `If-None-Match`, counting 304s and bytes.
//!
//! "Before" and "after" in one run: give the same editor twice, once
//! without precompressed copies (the server then gzips each file per
//! request, as cubby did before `cubby editor fetch` made copies) and once
//! with them, e.g. `--editor before=/tmp/plain --editor after=/tmp/pre`.
//! `--editor-bin LABEL=PATH` runs that label with another `cubby` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT_ENCODING, COOKIE, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use tests::{Backend, ServerOptions, TestDb, TestServer};

use crate::requests::{md5_hex, project_body, setup_login, setup_project, svg, Http};
use crate::Args;

/// The editor's files a first load fetches (stock editor 15.1.1, observed
/// in headless Chromium 1280×800 opening `/editor`).
pub(crate) const FIRST_LOAD_FILES: &[&str] = &[
    "/scratch-gui-standalone.js",
    "/chunks/fetch-worker.12a0667c4caaa6201bad.js",
    "/chunks/paper-source.a610452167427b89e7fd.js",
    "/static/blocks-media/default/zoom-out.svg",
    "/static/blocks-media/default/zoom-in.svg",
    "/static/blocks-media/default/zoom-reset.svg",
    "/static/blocks-media/default/sprites.png",
    "/static/blocks-media/default/repeat.svg",
    "/static/blocks-media/default/green-flag.svg",
    "/static/blocks-media/default/rotate-right.svg",
    "/static/blocks-media/default/rotate-left.svg",
    "/static/assets/icon--ask-for-help.2d8981e9181912da973a.svg",
    "/static/assets/icon--take-a-break.fac6bba18ebb1fa52d05.svg",
    "/static/assets/icon--timing-and-parallelism.178958615d2e0c30bf57.svg",
];

const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// One `--editor LABEL=DIR`.
#[derive(Clone, Debug)]
pub(crate) struct EditorTarget {
    pub(crate) label: String,
    pub(crate) dir: PathBuf,
}

impl std::str::FromStr for EditorTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (label, dir) = s
            .split_once('=')
            .ok_or_else(|| format!("--editor {s:?}: expected LABEL=DIR"))?;
        Ok(EditorTarget {
            label: label.to_owned(),
            dir: PathBuf::from(dir),
        })
    }
}

/// One (label, clients) result.
struct LoadRow {
    label: String,
    clients: usize,
    loads: usize,
    bytes_per_load: f64,
    cpu_ms_per_load: f64,
    p50_s: f64,
    max_s: f64,
    revisit_304: usize,
    revisit_requests: usize,
    revisit_bytes_per_load: f64,
    errors: usize,
}

/// The server's CPU time so far (user + system), from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line: utime, stime (3rd is index 0 here).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// What one load fetched.
#[derive(Default)]
struct Load {
    bytes: u64,
    errors: usize,
    not_modified: usize,
    requests: usize,
    etags: HashMap<String, String>,
}

/// A client as a browser on a cold start: nothing cached, nothing pooled
/// from an earlier load; no decompression (so bytes are wire bytes).
fn cold_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

struct Site {
    base: String,
    token: String,
    project: i64,
    assets: Vec<String>,
    files: Vec<&'static str>,
}

async fn one_load(site: &Site, etags: Option<&HashMap<String, String>>) -> Load {
    let mut load = Load::default();
    let Ok(client) = cold_client() else {
        load.errors += 1;
        return load;
    };
    let cookie = format!("cubby_session={}", site.token);
    let mut paths: Vec<String> = vec![format!("/editor?project={}", site.project)];
    paths.extend(site.files.iter().map(|s| s.to_string()));
    paths.push(format!("/projects/{}", site.project));
    paths.extend(
        site.assets
            .iter()
            .map(|a| format!("/assets/internalapi/asset/{a}/get/")),
    );
    for path in paths {
        let mut req = client
            .get(format!("{}{path}", site.base))
            .header(ACCEPT_ENCODING, BROWSER_ACCEPT_ENCODING)
            .header(COOKIE, &cookie);
        if let Some(tag) = etags.and_then(|e| e.get(&path)) {
            req = req.header(IF_NONE_MATCH, tag);
        }
        load.requests += 1;
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                if let Some(tag) = resp.headers().get(ETAG).and_then(|v| v.to_str().ok()) {
                    load.etags.insert(path.clone(), tag.to_owned());
                }
                match resp.bytes().await {
                    Ok(b) => load.bytes += b.len() as u64,
                    Err(_) => load.errors += 1,
                }
                if status == StatusCode::NOT_MODIFIED {
                    load.not_modified += 1;
                } else if !status.is_success() {
                    load.errors += 1;
                }
            }
            Err(_) => load.errors += 1,
        }
    }
    load
}

async fn setup(server: &TestServer, dir: &Path, tag: &str) -> Result<Site, String> {
    let http = Http::new(&server.base_url)?;
    let token = setup_login(&http, &format!("{tag}-teacher"), &[]).await?;
    // Three costumes of a few KB, as a small project has.
    let mut assets = Vec::new();
    for i in 0..3 {
        let bytes = svg(&format!("{tag} costume {i} {}", "x".repeat(2000 * (i + 1))));
        let name = format!("{}.svg", md5_hex(&bytes));
        let resp = http
            .client
            .post(http.url(&format!("/api/v1/assets/{name}")))
            .bearer_auth(&token)
            .body(bytes)
            .send()
            .await
            .map_err(|e| format!("upload: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("upload {name}: {}", resp.status()));
        }
        assets.push(name);
    }
    let project = setup_project(&http, &token, tag, project_body(tag, 2000)).await?;
    let files = FIRST_LOAD_FILES
        .iter()
        .copied()
        .filter(|f| {
            let there = dir.join(f.trim_start_matches('/')).is_file();
            if !there {
                eprintln!(
                    "cubby-bench: editor-load: {f} is not in {}; skipped",
                    dir.display()
                );
            }
            there
        })
        .collect();
    Ok(Site {
        base: server.base_url.clone(),
        token,
        project,
        assets,
        files,
    })
}

/// Runs editor-load for every `--editor` target and prints its table.
pub(crate) async fn run_all(args: &Args) -> bool {
    let bins: HashMap<String, PathBuf> = args
        .editor_bin
        .iter()
        .filter_map(|s| {
            s.split_once('=')
                .map(|(l, p)| (l.to_owned(), PathBuf::from(p)))
        })
        .collect();
    let mut rows = Vec::new();
    let mut ok = true;
    for target in &args.editor {
        match run_target(args, target, bins.get(&target.label)).await {
            Ok(mut r) => rows.append(&mut r),
            Err(e) => {
                eprintln!("cubby-bench: editor-load {}: {e}", target.label);
                ok = false;
            }
        }
    }
    println!();
    println!(
        "| label | clients | cold loads | MB per cold load | server CPU ms per cold load | p50 load s | slowest load s | revisit: 304s / requests | revisit KB per load | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.1} | {:.2} | {:.2} | {} / {} | {:.1} | {} |",
            r.label,
            r.clients,
            r.loads,
            r.bytes_per_load / 1e6,
            r.cpu_ms_per_load,
            r.p50_s,
            r.max_s,
            r.revisit_304,
            r.revisit_requests,
            r.revisit_bytes_per_load / 1e3,
            r.errors
        );
    }
    if let Some(first) = rows.first() {
        let base = rows
            .iter()
            .filter(|r| r.label == first.label)
            .collect::<Vec<_>>();
        for r in rows.iter().filter(|r| r.label != first.label) {
            if let Some(b) = base.iter().find(|b| b.clients == r.clients) {
                println!(
                    "{} vs {} at {} clients: bytes {:.0}% , server CPU {:.1}x less",
                    r.label,
                    b.label,
                    r.clients,
                    100.0 * r.bytes_per_load / b.bytes_per_load.max(1.0),
                    b.cpu_ms_per_load / r.cpu_ms_per_load.max(0.01)
                );
            }
        }
    }
    ok && rows.iter().all(|r| r.errors == 0)
}

async fn run_target(
    args: &Args,
    target: &EditorTarget,
    bin: Option<&PathBuf>,
) -> Result<Vec<LoadRow>, String> {
    if let Some(bin) = bin {
        // Read by the harness when it starts the server.
        std::env::set_var("CUBBY_TEST_BIN", bin);
    }
    let db = TestDb::create(Backend::Sqlite)
        .await
        .ok_or("cannot create a SQLite database")?;
    let opts = ServerOptions::default().with("CUBBY_EDITOR_DIR", target.dir.display());
    let server = tokio::task::block_in_place(|| TestServer::try_spawn(&db, &opts))?;
    let site = setup(&server, &target.dir, &format!("load-{}", target.label)).await?;
    // One warm-up load (the page cache holds the files for every label alike).
    let _ = one_load(&site, None).await;
    let mut rows = Vec::new();
    for &clients in &args.clients {
        let rounds = args.editor_rounds.max(1);
        let cpu_before = cpu_time(server.pid()).ok_or("no /proc/<pid>/stat")?;
        let mut times = Vec::new();
        let (mut bytes, mut errors) = (0u64, 0usize);
        let mut etags = None;
        for _ in 0..rounds {
            let handles: Vec<_> = (0..clients)
                .map(|_| {
                    let site = Site {
                        base: site.base.clone(),
                        token: site.token.clone(),
                        project: site.project,
                        assets: site.assets.clone(),
                        files: site.files.clone(),
                    };
                    tokio::spawn(async move {
                        let t = Instant::now();
                        let load = one_load(&site, None).await;
                        (load, t.elapsed())
                    })
                })
                .collect();
            for h in handles {
                let (load, took) = h.await.map_err(|e| format!("load task: {e}"))?;
                bytes += load.bytes;
                errors += load.errors;
                times.push(took.as_secs_f64());
                etags.get_or_insert(load.etags);
            }
        }
        let cpu_after = cpu_time(server.pid()).ok_or("no /proc/<pid>/stat")?;
        let loads = clients * rounds;
        // The revisit: every client sends the validators back.
        let etags = etags.unwrap_or_default();
        let (mut revisit_304, mut revisit_requests, mut revisit_bytes) = (0, 0, 0u64);
        for _ in 0..clients {
            let load = one_load(&site, Some(&etags)).await;
            revisit_304 += load.not_modified;
            revisit_requests += load.requests;
            revisit_bytes += load.bytes;
        }
        times.sort_by(f64::total_cmp);
        rows.push(LoadRow {
            label: target.label.clone(),
            clients,
            loads,
            bytes_per_load: bytes as f64 / loads as f64,
            cpu_ms_per_load: (cpu_after - cpu_before).as_secs_f64() * 1000.0 / loads as f64,
            p50_s: times[times.len() / 2],
            max_s: *times.last().unwrap_or(&0.0),
            revisit_304,
            revisit_requests,
            revisit_bytes_per_load: revisit_bytes as f64 / clients as f64,
            errors,
        });
    }
    Ok(rows)
}
