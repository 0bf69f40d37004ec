//! Operations: liveness, readiness and Prometheus metrics (the OpenAPI
//! document is served by `crate::openapi`, which lists these handlers).

use actix_web::{web, HttpResponse};

use crate::dto::StatusDto;
use crate::openapi::responses::{ServerError, Unavailable};
use crate::problem::Problem;
use crate::redact::redact;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, body = StatusDto, description = "`{\"status\": \"ok\"}`"),
              (status = 500, response = ServerError)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(StatusDto { status: "ok" })
}

/// The database and the blob store answer.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses((status = 200, body = StatusDto, description = "`{\"status\": \"ready\"}`"),
              (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, Problem> {
    if let Err(err) = service::db::ping(&state.ctx.db).await {
        tracing::warn!(error = %err, "readiness check failed: database");
        return Err(not_ready("the database is not reachable"));
    }
    // An instance that cannot read or write files cannot serve a project.
    let blobs = tokio::time::timeout(READY_BLOB_TIMEOUT, state.ctx.blobs.check()).await;
    match blobs {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(StatusDto { status: "ready" })),
        Ok(Err(err)) => {
            let err = redact(&err.to_string());
            tracing::warn!(error = %err, "readiness check failed: blob store");
            Err(not_ready("the blob store is not reachable"))
        }
        Err(_) => {
            tracing::warn!("readiness check failed: the blob store did not answer in time");
            Err(not_ready("the blob store is not reachable"))
        }
    }
}

/// A readiness probe must answer fast; a store this slow counts as down.
const READY_BLOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn not_ready(detail: &str) -> Problem {
    Problem::new(service::Code::NotReady, detail)
}

/// Prometheus text format: requests by route and status, latency histogram,
/// transaction retries, conflicts and give-ups.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
              (status = 500, response = ServerError)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Test-only (`CUBBY_TEST_ROUTES=true`): a handler that panics, to show that a
/// panic becomes a 500 problem+json and the server keeps serving.
#[allow(clippy::panic)]
pub async fn test_panic() -> HttpResponse {
    panic!("deliberate test panic at /data/secret/path.rs")
}
