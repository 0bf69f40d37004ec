//! Request extractors: who is calling ([`AuthUser`]) and the app state.
//!
//! A token comes from `Authorization: Bearer <token>` or, failing that, the
//! `cubby_session` cookie. An empty `Authorization` or `x-token` header counts
//! as absent (the stock Scratch editor sends one beside the cookie); a
//! non-empty `x-token` is accepted like a Bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::problem::Problem;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "cubby_session";

/// The session token the request carries, if any.
pub fn session_token(req: &HttpRequest) -> Option<String> {
    let header_token = |name: &str, prefix: &str| -> Option<String> {
        let value = req.headers().get(name)?.to_str().ok()?.trim();
        let token = if prefix.is_empty() {
            value
        } else {
            value
                .get(..prefix.len())
                .filter(|p| p.eq_ignore_ascii_case(prefix))
                .map(|_| value[prefix.len()..].trim())?
        };
        (!token.is_empty()).then(|| token.to_owned())
    };
    header_token("authorization", "Bearer ")
        .or_else(|| header_token("x-token", ""))
        .or_else(|| {
            req.cookie(SESSION_COOKIE)
                .map(|c| c.value().to_owned())
                .filter(|v| !v.is_empty())
        })
}

/// The logged-in caller; rejects the request with 401 `unauthenticated` otherwise.
#[derive(Clone, Debug)]
pub struct AuthUser(pub service::auth::User);

impl FromRequest for AuthUser {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = session_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(Problem::internal)?;
            let token = token.ok_or(service::Error::Unauthenticated)?;
            Ok(AuthUser(current_user(&state, &token).await?))
        })
    }
}

/// The user behind a token, refreshing the provider's tokens first when they
/// have expired (G12: once per session however many requests race).
pub async fn current_user(state: &AppState, token: &str) -> Result<service::auth::User, Problem> {
    let found = service::auth::authenticate_session(&state.ctx, token).await?;
    let Some(oidc) = state.oidc.as_ref().filter(|_| found.needs_refresh()) else {
        return Ok(found.user);
    };
    service::auth::refresh_session(&state.ctx, found.session_id, async |refresh_token| {
        oidc.refresh(&refresh_token).await.map_err(|e| {
            tracing::warn!(error = %e, "token refresh failed");
            service::Error::Busy
        })
    })
    .await?;
    // Groups may have changed with the new claims.
    Ok(service::auth::authenticate(&state.ctx, token).await?)
}
