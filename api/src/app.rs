//! Building and running the HTTP server: connect, migrate, bind, serve.
//! `Application::build` binds first (port 0 picks a free port), so the real
//! address is known before serving starts.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};

use crate::config::{BlobStoreKind, Config};
use crate::problem::{form_error, path_error, query_error};
use crate::redact::redact;
use crate::routes::{JsonContentType, RouteSettings};
use crate::state::AppState;
use service::blob::{Blobs, FailingWrites, LocalDir};
use service::object_blob::ObjectBlobs;

pub struct Application {
    addr: SocketAddr,
    server: Server,
}

/// Start-up failures, reported on stderr by `cubby serve` with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("refusing to start: CUBBY_DEV_LOGIN is only allowed on a loopback address, not {0}")]
    DevLoginNotLoopback(SocketAddr),
    #[error("cannot create the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("invalid blob store (--blob-store / CUBBY_BLOB_STORE): {0}")]
    BlobStoreConfig(String),
    #[error("cannot reach the blob store {0}: {1}")]
    BlobStoreUnreachable(String, String),
    #[error("cannot open the database: {0}")]
    Database(service::db::DbErr),
    #[error("cannot apply migrations: {0}")]
    Migrate(service::db::DbErr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(String),
}

/// The blob store the configuration names. Builds it without talking to it
/// (`migrate` needs no blob store to be up); see [`check_blobs`].
fn open_blobs(config: &Config) -> Result<Blobs, StartError> {
    let kind = config
        .blob_store_kind()
        .map_err(StartError::BlobStoreConfig)?;
    Ok(match kind {
        BlobStoreKind::Local(dir) => Arc::new(LocalDir::new(dir).map_err(StartError::DataDir)?),
        BlobStoreKind::S3(location) => Arc::new(
            ObjectBlobs::s3_from_env(&location)
                .map_err(|e| StartError::BlobStoreConfig(redact(&e)))?,
        ),
    })
}

/// The blob store answers (one cheap request), or a start-up error that
/// names it. Bounded in time: a black-holed endpoint must not hang start-up.
pub async fn check_blobs(config: &Config, blobs: &Blobs) -> Result<(), StartError> {
    let unreachable =
        |why: String| StartError::BlobStoreUnreachable(config.blob_store.clone(), redact(&why));
    match tokio::time::timeout(BLOB_CHECK_TIMEOUT, blobs.check()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(unreachable(err.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {BLOB_CHECK_TIMEOUT:?}"
        ))),
    }
}

/// How long start-up and `gc` wait for the blob store to answer (`/readyz`
/// has a shorter limit of its own).
pub const BLOB_CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Opens the pool and the blob store (creating the data directory).
pub async fn open_ctx(config: &Config) -> Result<service::Ctx, StartError> {
    if config.database_url.is_none() {
        // The default SQLite file lives in the data directory, which the
        // local blob store would otherwise have created.
        std::fs::create_dir_all(&config.data_dir).map_err(StartError::DataDir)?;
    }
    let mut blobs = open_blobs(config)?;
    if config.test_fail_blob_writes {
        blobs = Arc::new(FailingWrites(blobs));
    }
    let url = config.database_url();
    let pool = config.pool_settings();
    let db = service::db::connect(&url, &pool)
        .await
        .map_err(StartError::Database)?;
    let retry = service::db::runner(&url, &pool, config.retry_policy(), &db)
        .await
        .map_err(StartError::Database)?;
    Ok(service::Ctx {
        db: service::db::Db::new(db, config.retry_policy()),
        blobs,
        retry,
        settings: config.service_settings(),
        faults: service::Faults {
            fail_before_commit: config.test_fail_before_commit,
        },
        uploads: Default::default(),
        committed: Default::default(),
    })
}

/// Collects garbage every `interval` while the server runs.
fn spawn_periodic_gc(ctx: service::Ctx, interval: Duration, grace: Duration) {
    if interval.is_zero() {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(interval);
        tick.tick().await; // the first tick is immediate; wait a full interval
        loop {
            tick.tick().await;
            match service::gc::run(&ctx, grace, false).await {
                Ok(r) => tracing::info!(
                    gc.files = r.files,
                    gc.removed = r.unreferenced.len(),
                    gc.sessions = r.expired_sessions,
                    gc.purged_projects = r.purged_projects.len(),
                    "garbage collected"
                ),
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
            }
        }
    });
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        if config.dev_login && !config.bind.ip().is_loopback() {
            return Err(StartError::DevLoginNotLoopback(config.bind));
        }
        let ctx = open_ctx(&config).await?;
        check_blobs(&config, &ctx.blobs).await?;
        service::db::migrate_up(&ctx.db)
            .await
            .map_err(StartError::Migrate)?;
        spawn_periodic_gc(
            ctx.clone(),
            Duration::from_secs(config.gc_interval_secs),
            config.gc_grace(),
        );
        let metrics = crate::telemetry::install_metrics().map_err(StartError::Metrics)?;
        let upkeep = metrics.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });

        let listener =
            TcpListener::bind(config.bind).map_err(|e| StartError::Bind(config.bind, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(config.bind, e))?;
        let workers = config.workers;
        let body_timeout = Duration::from_secs(config.body_timeout_secs.max(1));
        let routes = RouteSettings {
            test_routes: config.test_routes,
            max_body_bytes: config.max_body_bytes,
        };
        // The default for JSON bodies outside `/api/v1` (the Scratch
        // backpack's base64 body and thumbnail): room for both.
        let json_limit = config
            .max_body_bytes
            .saturating_mul(3)
            .saturating_add(64 * 1024);
        let oidc = crate::oidc::Oidc::from_config(&config);
        let login_limits = crate::ratelimit::LoginLimits::new(
            config.login_rate_per_ip,
            config.login_rate_per_user,
        );
        let join_limits = crate::ratelimit::JoinLimits::new(
            config.join_failures_per_user,
            config.join_failures_per_ip,
            Duration::from_secs(config.join_failure_window_secs),
        );
        let library = crate::routes::pages::LibraryCheck::new(config.editor_dir.as_deref());
        let state = web::Data::new(AppState {
            ctx,
            config,
            metrics,
            oidc,
            login_limits,
            join_limits,
            library,
        });
        let limits = state.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.login_limits.shrink();
                limits.join_limits.shrink();
            }
        });

        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(crate::routes::json_config(json_limit, JsonContentType::Any))
                .app_data(
                    web::FormConfig::default().error_handler(|_err, _req| form_error().into()),
                )
                .app_data(
                    web::QueryConfig::default().error_handler(|err, _req| query_error(err).into()),
                )
                .app_data(
                    web::PathConfig::default().error_handler(|_err, _req| path_error().into()),
                )
                .configure(|cfg| crate::routes::configure(cfg, &routes))
                .default_service(web::to(crate::routes::fallback))
                .wrap(middleware::from_fn(move |req, next| {
                    crate::body_deadline::limit_body_time(body_timeout, req, next)
                }))
                .wrap(middleware::from_fn(
                    crate::cross_origin::refuse_cross_origin_writes,
                ))
                .wrap(middleware::DefaultHeaders::new().add(crate::headers::NOSNIFF))
                // JSON and pages are compressed per request; the editor's
                // files are not (precompressed copies: `static_files`).
                .wrap(middleware::Compress::default())
                .wrap(middleware::from_fn(
                    crate::routes::pages::drop_identity_encoding,
                ))
                .wrap(middleware::from_fn(crate::telemetry::observe))
        })
        .listen(listener)
        .map_err(|e| StartError::Bind(addr, e))?;
        if let Some(n) = workers {
            server = server.workers(n.max(1));
        }
        Ok(Self {
            addr,
            server: server.run(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
