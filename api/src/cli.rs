//! The `cubby` command line: `serve`, `migrate up|down [N]|status`, `gc`.

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
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("cubby: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve => serve(cli.config).await,
        Command::Migrate { action } => migrate(cli.config, action).await,
        Command::Gc { dry_run } => gc(cli.config, dry_run).await,
        Command::Editor {
            action: EditorAction::Fetch { dir, version },
        } => crate::editor::fetch(&dir, &version),
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
