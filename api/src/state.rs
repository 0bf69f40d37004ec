//! What every handler can reach: the service context and the parsed config.

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;

pub struct AppState {
    pub ctx: service::Ctx,
    pub config: Config,
    pub metrics: PrometheusHandle,
}
