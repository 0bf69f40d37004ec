//! `cubby library fetch|import|status`: the editor's library files (the
//! costumes, sounds and backdrops its "Choose a …" dialogs offer, and the
//! sprites' costumes and sounds), which no editor package ships, stored as
//! ordinary assets so the editor finds them on cubby's own asset routes.
//!
//! Which files: every one the catalogues in the editor's directory name
//! (`service::library::Catalogue`). `fetch` downloads those not stored yet
//! from a URL template (the Scratch asset CDN by default), `import` reads
//! them from a folder or a zip of `<md5>.<ext>` files. Every file goes
//! through `service::assets::store_unowned`: its md5 is checked against its
//! name (a mismatch is refused and reported, nothing stored), it is
//! deduplicated like every asset (G3) and owned by no user, so no student's
//! storage (S8) pays for the library. Each file is stored as soon as it
//! arrives, so an interrupted run loses nothing: the next run asks only
//! for what is still missing.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use service::assets::{store_unowned, AssetName};
use service::error::Code;
use service::library::{self, Catalogue};
use service::Ctx;

use crate::app::{check_blobs, open_ctx};
use crate::config::Config;

/// Where `fetch` downloads from unless told otherwise.
pub const DEFAULT_FROM: &str = "https://assets.scratch.mit.edu/internalapi/asset/{md5ext}/get/";

/// How `fetch` downloads.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// A URL with `{md5ext}` in it.
    pub from: String,
    /// Downloads at once.
    pub concurrency: usize,
    /// Further attempts after a 5xx, a 429, a timeout or a broken connection.
    pub retries: u32,
    /// Each attempt's time limit.
    pub timeout: Duration,
}

/// What became of one file.
enum Outcome {
    Stored,
    AlreadyPresent,
    /// The source does not have it (HTTP 403/404/410, or not in the folder).
    Missing(String),
    Md5Mismatch,
    Failed(String),
}

/// The counts of one run, printed as its summary line.
#[derive(Debug, Default)]
struct Tally {
    stored: usize,
    present: usize,
    missing: usize,
    mismatch: usize,
    other: usize,
}

impl Tally {
    fn failed(&self) -> usize {
        self.missing + self.mismatch + self.other
    }

    fn add(&mut self, name: &str, outcome: &Outcome, bar: &ProgressBar) {
        let report = |what: &str| bar.suspend(|| eprintln!("{what}: {name}"));
        match outcome {
            Outcome::Stored => self.stored += 1,
            Outcome::AlreadyPresent => self.present += 1,
            Outcome::Missing(why) => {
                self.missing += 1;
                report(&format!("missing ({why})"));
            }
            Outcome::Md5Mismatch => {
                self.mismatch += 1;
                report("md5 mismatch, refused");
            }
            Outcome::Failed(why) => {
                self.other += 1;
                report(&format!("failed ({why})"));
            }
        }
    }

    /// `fetched N, already present M, failed K (missing X, md5 mismatch Y, other Z)`.
    fn summary(&self, verb: &str) -> String {
        format!(
            "{verb} {}, already present {}, failed {} (missing {}, md5 mismatch {}, other {})",
            self.stored,
            self.present,
            self.failed(),
            self.missing,
            self.mismatch,
            self.other
        )
    }

    /// 0 when every file is stored; otherwise the number of failed files
    /// (at most 100, so it never wraps to 0).
    fn exit_code(&self) -> ExitCode {
        match self.failed() {
            0 => ExitCode::SUCCESS,
            n => ExitCode::from(n.min(100) as u8),
        }
    }
}

/// The context, the catalogue, and the files it names that are not stored.
async fn prepare(config: &Config) -> Result<(Ctx, Catalogue, Vec<AssetName>), String> {
    let dir = editor_dir(config)?;
    let catalogue = Catalogue::read(&dir).map_err(|e| e.to_string())?;
    let ctx = open_ctx(config).await.map_err(|e| e.to_string())?;
    check_blobs(config, &ctx.blobs)
        .await
        .map_err(|e| e.to_string())?;
    // Like `serve`: a fresh install may fetch the library before first serving.
    service::db::migrate_up(&ctx.db)
        .await
        .map_err(|e| format!("cannot apply migrations: {e}"))?;
    let missing = library::missing(&ctx, &catalogue)
        .await
        .map_err(|e| e.to_string())?;
    Ok((ctx, catalogue, missing))
}

fn editor_dir(config: &Config) -> Result<PathBuf, String> {
    config.editor_dir.clone().ok_or_else(|| {
        "no editor: set CUBBY_EDITOR_DIR (or --editor-dir) to the editor's folder, \
         whose libraries/*.json name the library's files"
            .to_owned()
    })
}

/// A progress bar on stderr while stdout is a terminal; hidden otherwise
/// (in scripts, logs and tests only the summary line is printed).
fn progress(len: usize) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed_precise} (eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

/// Stores one file's bytes, mapping the service's answer to an outcome.
async fn store(ctx: &Ctx, name: &AssetName, bytes: Bytes) -> Outcome {
    match store_unowned(ctx, name, bytes).await {
        Ok(asset) if asset.created => Outcome::Stored,
        Ok(_) => Outcome::AlreadyPresent,
        Err(e) if e.code() == Code::Md5Mismatch => Outcome::Md5Mismatch,
        Err(e) => Outcome::Failed(crate::redact::redact(&e.to_string())),
    }
}

/// `cubby library fetch`.
pub async fn fetch(config: &Config, opts: &FetchOptions) -> Result<ExitCode, String> {
    if !opts.from.contains("{md5ext}") {
        return Err(format!(
            "--from must contain {{md5ext}} (e.g. {DEFAULT_FROM}), not {}",
            opts.from
        ));
    }
    let (ctx, catalogue, missing) = prepare(config).await?;
    let mut tally = Tally {
        present: catalogue.len() - missing.len(),
        ..Tally::default()
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("cubby/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(opts.timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let bar = progress(missing.len());
    let mut results = futures_util::stream::iter(missing.iter())
        .map(|name| {
            let (client, ctx) = (&client, &ctx);
            async move {
                let url = opts.from.replace("{md5ext}", &name.file_name());
                let outcome = match download(client, &url, opts.retries).await {
                    Ok(bytes) => store(ctx, name, bytes).await,
                    Err(outcome) => outcome,
                };
                (name, outcome)
            }
        })
        .buffer_unordered(opts.concurrency.max(1));
    while let Some((name, outcome)) = results.next().await {
        tally.add(&name.file_name(), &outcome, &bar);
        bar.inc(1);
    }
    bar.finish_and_clear();
    finish(&tally, "fetched", catalogue.len())
}

fn finish(tally: &Tally, verb: &str, total: usize) -> Result<ExitCode, String> {
    println!("library: {}", tally.summary(verb));
    if tally.failed() > 0 {
        eprintln!(
            "cubby: {} of the library's {total} files are not stored; run the command again to retry them",
            tally.failed()
        );
    }
    Ok(tally.exit_code())
}

/// One file from the CDN, with retries and a growing pause between them for
/// answers that may pass (5xx, 429, timeouts, broken connections).
async fn download(client: &reqwest::Client, url: &str, retries: u32) -> Result<Bytes, Outcome> {
    let mut attempt = 0;
    loop {
        let why = match client.get(url).send().await {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    match resp.bytes().await {
                        Ok(bytes) => return Ok(bytes),
                        Err(e) => format!("reading the body: {}", without_url(e)),
                    }
                } else if matches!(status.as_u16(), 403 | 404 | 410) {
                    return Err(Outcome::Missing(format!("HTTP {}", status.as_u16())));
                } else if status.is_server_error() || status.as_u16() == 429 {
                    format!("HTTP {}", status.as_u16())
                } else {
                    return Err(Outcome::Failed(format!("HTTP {}", status.as_u16())));
                }
            }
            Err(e) => without_url(e),
        };
        if attempt >= retries {
            return Err(Outcome::Failed(format!(
                "{why}, after {} attempts",
                attempt + 1
            )));
        }
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// 250 ms, 500 ms, 1 s, … up to 8 s, each plus up to a quarter more (so
/// the retries of many files do not arrive together).
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1 << attempt.min(5));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// `cubby library import PATH`: a folder (searched recursively) or a zip of
/// `<md5>.<ext>` files. Files the catalogue does not name are skipped.
pub async fn import(config: &Config, path: &Path) -> Result<ExitCode, String> {
    let (ctx, catalogue, missing) = prepare(config).await?;
    let mut wanted: HashMap<String, AssetName> =
        missing.into_iter().map(|n| (n.file_name(), n)).collect();
    let mut tally = Tally {
        present: catalogue.len() - wanted.len(),
        ..Tally::default()
    };
    let bar = progress(wanted.len());
    let mut unknown = 0usize;
    let known: std::collections::HashSet<String> =
        catalogue.files.iter().map(AssetName::file_name).collect();
    let mut run = Import {
        ctx: &ctx,
        known: &known,
        wanted: &mut wanted,
        tally: &mut tally,
        bar: &bar,
    };
    if path.is_dir() {
        for file in files_under(path)? {
            let Some(file_name) = file.file_name().and_then(|n| n.to_str()).map(str::to_owned)
            else {
                continue;
            };
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            if !run.take(&file_name, Bytes::from(bytes)).await {
                unknown += 1;
            }
        }
    } else {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut zip = zip::ZipArchive::new(file)
            .map_err(|e| format!("{} is neither a folder nor a zip: {e}", path.display()))?;
        for i in 0..zip.len() {
            let (file_name, bytes) = {
                let mut entry = zip
                    .by_index(i)
                    .map_err(|e| format!("{}: entry {i}: {e}", path.display()))?;
                if !entry.is_file() {
                    continue;
                }
                let Ok(full_name) = entry.name() else {
                    unknown += 1;
                    continue;
                };
                let file_name = full_name.rsplit('/').next().unwrap_or_default().to_owned();
                if entry.size() > service::assets::LIBRARY_MAX_BYTES {
                    unknown += 1;
                    continue;
                }
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("{}: {file_name}: {e}", path.display()))?;
                (file_name, bytes)
            };
            if !run.take(&file_name, Bytes::from(bytes)).await {
                unknown += 1;
            }
        }
    }
    for name in wanted.keys() {
        tally.add(name, &Outcome::Missing("not in the import".into()), &bar);
    }
    bar.finish_and_clear();
    if unknown > 0 {
        println!("library: skipped {unknown} files the catalogue does not name");
    }
    finish(&tally, "imported", catalogue.len())
}

/// One import's state while its files are read.
struct Import<'a> {
    ctx: &'a Ctx,
    /// Every file the catalogue names.
    known: &'a std::collections::HashSet<String>,
    wanted: &'a mut HashMap<String, AssetName>,
    tally: &'a mut Tally,
    bar: &'a ProgressBar,
}

impl Import<'_> {
    /// Stores the file if the catalogue names it and it is not stored yet
    /// (nor met earlier in this import); false if the catalogue does not
    /// name it.
    async fn take(&mut self, file_name: &str, bytes: Bytes) -> bool {
        let file_name = file_name.to_ascii_lowercase();
        let Some(name) = self.wanted.remove(&file_name) else {
            return self.known.contains(&file_name);
        };
        let outcome = store(self.ctx, &name, bytes).await;
        self.tally.add(&name.file_name(), &outcome, self.bar);
        self.bar.inc(1);
        true
    }
}

/// Every file under `dir`, in name order (hidden entries skipped).
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `cubby library status`: how many of the catalogue's files are stored.
pub async fn status(config: &Config) -> Result<ExitCode, String> {
    let (_, catalogue, missing) = prepare(config).await?;
    println!(
        "library: {} of {} files stored ({} missing)",
        catalogue.len() - missing.len(),
        catalogue.len(),
        missing.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_each_kind_of_failure_and_the_exit_code_is_their_sum() {
        let tally = Tally {
            stored: 3,
            present: 2,
            missing: 1,
            mismatch: 1,
            other: 0,
        };
        assert_eq!(
            tally.summary("fetched"),
            "fetched 3, already present 2, failed 2 (missing 1, md5 mismatch 1, other 0)"
        );
        assert_eq!(tally.exit_code(), ExitCode::from(2));
        assert_eq!(Tally::default().exit_code(), ExitCode::SUCCESS);
        let many = Tally {
            other: 300,
            ..Tally::default()
        };
        assert_eq!(many.exit_code(), ExitCode::from(100));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_millis(250));
        assert!(backoff(0) < Duration::from_millis(320));
        assert!(backoff(2) >= Duration::from_secs(1));
        assert!(backoff(30) <= Duration::from_secs(10));
    }
}
