//! Logs (`tracing`, structured, on stderr, filtered by `RUST_LOG`), the
//! Prometheus recorder, and the middleware that measures every request and
//! turns a panic in a handler into a 500 problem+json.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use futures_util::FutureExt;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::problem::Problem;

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // A second init (e.g. in a test process) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Waits for SQLite's in-process writer queue: mostly well under a
/// millisecond, so finer at the bottom than request latency.
const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Installs the global metrics recorder and returns the handle that renders it.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("cubby_http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )
        .map_err(|e| e.to_string())?
        .set_buckets_for_metric(
            Matcher::Full("cubby_tx_queue_wait_seconds".into()),
            QUEUE_WAIT_BUCKETS,
        )
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    describe_metrics();
    Ok(handle)
}

fn describe_metrics() {
    metrics::describe_counter!(
        "cubby_http_requests_total",
        "HTTP requests by method, route and status"
    );
    metrics::describe_histogram!(
        "cubby_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method and route"
    );
    metrics::describe_counter!(
        "cubby_tx_retries_total",
        "Transactions re-run after a retryable database conflict"
    );
    metrics::describe_counter!(
        "cubby_tx_conflicts_total",
        "Retryable database failures (serialization, deadlock, lock timeout, busy, session ended, disconnected)"
    );
    metrics::describe_counter!(
        "cubby_tx_commit_unknown_total",
        "Transactions whose connection failed at COMMIT, so not retried (answered 503 busy)"
    );
    metrics::describe_counter!(
        "cubby_db_read_retries_total",
        "Reads run again on another connection after a lost connection (session ended, disconnected)"
    );
    metrics::describe_counter!(
        "cubby_tx_giveups_total",
        "Transactions abandoned after the retry budget (answered 503 busy)"
    );
    metrics::describe_histogram!(
        "cubby_tx_queue_wait_seconds",
        metrics::Unit::Seconds,
        "SQLite: time a write transaction's attempt waited for its turn in this process's writer queue"
    );
    // Make the transaction series visible from the start, at zero.
    for op in service::tx::OPERATIONS {
        metrics::counter!("cubby_tx_retries_total", "op" => *op).absolute(0);
        metrics::counter!("cubby_tx_giveups_total", "op" => *op).absolute(0);
    }
    for kind in service::db::READ_RETRY_KINDS {
        metrics::counter!("cubby_db_read_retries_total", "kind" => kind.label()).absolute(0);
    }
}

/// The `method` label: one of a fixed list, else `other`, so an invented
/// method (`curl -X FOO1`) cannot add a time series (S6).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times each request by a fixed set of labels (S6): the method
/// from `method_label`, the matched route pattern (never the raw path, so
/// ids and unknown paths do not explode the label set) or `unmatched`, and
/// the numeric status. Also logs it, and turns a handler panic into a 500
/// problem+json (the worker keeps serving).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());

    let outcome = AssertUnwindSafe(next.call(req)).catch_unwind().await;
    let (result, route) = match outcome {
        Ok(Ok(resp)) => {
            let route = resp.request().match_pattern();
            (Ok(resp.map_into_boxed_body()), route)
        }
        Ok(Err(err)) => (Err(err), None),
        Err(_panic) => {
            tracing::error!(http.method = %method, "handler panicked");
            (Err(Problem::internal().into()), None)
        }
    };
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let status = match &result {
        Ok(resp) => resp.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let status = status.as_u16().to_string();
    let elapsed = started.elapsed();
    metrics::counter!("cubby_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status.clone())
    .increment(1);
    metrics::histogram!("cubby_http_request_duration_seconds",
        "method" => method, "route" => route.clone())
    .record(elapsed.as_secs_f64());
    tracing::info!(http.method = %method, http.route = %route, http.status = %status,
        latency_ms = elapsed.as_millis() as u64, "request");
    result
}
