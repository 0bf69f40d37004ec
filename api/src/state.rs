//! What every handler can reach: the service context and the parsed config.

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;

pub struct AppState {
    pub ctx: service::Ctx,
    pub config: Config,
    pub metrics: PrometheusHandle,
    /// The identity provider, when `CUBBY_OIDC_*` and `CUBBY_PUBLIC_URL` are set.
    pub oidc: Option<crate::oidc::Oidc>,
    /// Login attempts per IP and per username.
    pub login_limits: crate::ratelimit::LoginLimits,
    /// Wrong class join codes per user and per IP.
    pub join_limits: crate::ratelimit::JoinLimits,
    /// Whether the editor's library files are stored (the editor page's banner).
    pub library: crate::routes::pages::LibraryCheck,
}
