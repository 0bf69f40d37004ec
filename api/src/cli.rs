//! The `cubby` command line: `serve`, `migrate up|down [N]|status`, `gc`,
//! `editor fetch`, `library fetch|import|status`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{check_blobs, open_ctx, Application};
use crate::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "cubby",
    version,
    about = "A race-free project server for Scratch 3 classrooms"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply pending migrations, then serve HTTP.
    Serve,
    /// Run database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Install the stock Scratch editor (npm package
    /// `@scratch/scratch-gui-standalone`, AGPL-3.0) for `CUBBY_EDITOR_DIR`.
    Editor {
        #[command(subcommand)]
        action: EditorAction,
    },
    /// Store the editor library's files (costumes, sounds, backdrops,
    /// sprites) as assets, so its "Choose a …" dialogs work offline. Needs
    /// CUBBY_EDITOR_DIR (its `libraries/*.json` name the files).
    Library {
        #[command(subcommand)]
        action: LibraryAction,
    },
    /// Remove blob files that no row references.
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand, Debug)]
enum EditorAction {
    /// Download the editor with `npm pack` and unpack its `dist/` into DIR.
    Fetch {
        /// Where to put it (then serve with CUBBY_EDITOR_DIR=DIR).
        #[arg(default_value = "./cubby-data/editor")]
        dir: std::path::PathBuf,
        /// The package version.
        #[arg(long, default_value = crate::editor::DEFAULT_VERSION)]
        version: String,
    },
}

#[derive(Subcommand, Debug)]
enum LibraryAction {
    /// Download every library file not stored yet, check its md5, store it.
    /// Resumable: a rerun asks only for what is still missing. Exit status:
    /// 0 when every file is stored, else the number that failed (at most 100).
    Fetch {
        /// A URL template; `{md5ext}` becomes `<md5>.<ext>`.
        #[arg(long, default_value = crate::library::DEFAULT_FROM)]
        from: String,
        /// Downloads at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Further attempts of a file after a 5xx, a 429 or a timeout
        /// (with a growing pause between them).
        #[arg(long, default_value_t = 4)]
        retries: u32,
        /// Each attempt's time limit, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
    },
    /// Store the library's files from a folder or a zip of `<md5>.<ext>`
    /// files (for a server without internet). Exit status as for `fetch`.
    Import {
        /// The folder (searched recursively) or zip file.
        path: std::path::PathBuf,
    },
    /// Say how many of the library's files are stored.
    Status,
}

#[derive(Subcommand, Debug)]
enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the newest N migrations (default 1).
    Down {
        #[arg(default_value_t = 1)]
        n: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init_tracing();
    let result = actix_web::rt::System::new().block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("cubby: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let done = |r: Result<(), String>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Serve => done(serve(cli.config).await),
        Command::Migrate { action } => done(migrate(cli.config, action).await),
        Command::Gc { dry_run } => done(gc(cli.config, dry_run).await),
        Command::Editor {
            action: EditorAction::Fetch { dir, version },
        } => done(crate::editor::fetch(&dir, &version)),
        Command::Library { action } => library(&cli.config, action).await,
    }
}

async fn library(config: &Config, action: LibraryAction) -> Result<ExitCode, String> {
    match action {
        LibraryAction::Fetch {
            from,
            concurrency,
            retries,
            timeout_secs,
        } => {
            let opts = crate::library::FetchOptions {
                from,
                concurrency,
                retries,
                timeout: std::time::Duration::from_secs(timeout_secs.max(1)),
            };
            crate::library::fetch(config, &opts).await
        }
        LibraryAction::Import { path } => crate::library::import(config, &path).await,
        LibraryAction::Status => crate::library::status(config).await,
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    println!("cubby listening on http://{}", app.addr());
    // Tests and scripts read this line to learn the port: flush it now.
    let _ = std::io::stdout().flush();
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn migrate(config: Config, action: MigrateAction) -> Result<(), String> {
    let ctx = open_ctx(&config).await.map_err(|e| e.to_string())?;
    match action {
        MigrateAction::Up => service::db::migrate_up(&ctx.db).await,
        MigrateAction::Down { n } => service::db::migrate_down(&ctx.db, Some(n)).await,
        MigrateAction::Status => {
            let status = service::db::migration_status(&ctx.db)
                .await
                .map_err(|e| e.to_string())?;
            for (name, applied) in status {
                println!("{} {name}", if applied { "applied" } else { "pending" });
            }
            Ok(())
        }
    }
    .map_err(|e| e.to_string())
}

async fn gc(config: Config, dry_run: bool) -> Result<(), String> {
    let ctx = open_ctx(&config).await.map_err(|e| e.to_string())?;
    // A clear "cannot reach the blob store …" rather than a failed listing.
    check_blobs(&config, &ctx.blobs)
        .await
        .map_err(|e| e.to_string())?;
    let report = service::gc::run(&ctx, config.gc_grace(), dry_run)
        .await
        .map_err(|e| crate::redact::redact(&e.to_string()))?;
    if dry_run {
        println!(
            "gc: would remove {} unreferenced files (of {}), would purge {} trashed projects",
            report.unreferenced.len(),
            report.files,
            report.purged_projects.len()
        );
        for key in &report.unreferenced {
            println!("{key}");
        }
        for id in &report.purged_projects {
            println!("project {id}");
        }
    } else {
        println!(
            "gc: removed {} unreferenced files (of {}), {} unfinished uploads, {} expired sessions, {} expired idempotency keys, purged {} trashed projects",
            report.unreferenced.len(),
            report.files,
            report.unfinished,
            report.expired_sessions,
            report.expired_keys,
            report.purged_projects.len()
        );
    }
    Ok(())
}
