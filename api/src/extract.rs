//! Request extractors: who is calling ([`AuthUser`]) and the request
//! headers handlers act on ([`IdempotencyKey`], [`IfMatch`]).
//!
//! A token comes from `Authorization: Bearer <token>` or, failing that, the
//! `cubby_session` cookie. An empty `Authorization` or `x-token` header counts
//! as absent (the stock Scratch editor sends one beside the cookie); a
//! non-empty `x-token` is accepted like a Bearer token.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use service::Code;

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
        if let Some(PreAuthenticated(found)) = req.extensions_mut().remove() {
            return Box::pin(ready(found.map(AuthUser)));
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = session_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(Problem::internal)?;
            let token = token.ok_or(service::Error::Unauthenticated)?;
            Ok(AuthUser(current_user(&state, &token).await?))
        })
    }
}

/// What [`authenticate_first`] found for this request's token, for
/// [`AuthUser`] to take without a second lookup.
struct PreAuthenticated(Result<service::auth::User, Problem>);

/// Middleware for every route that needs a caller: looks the token up
/// *before* any extractor runs. Authentication comes first: a stranger gets
/// 401 whatever the body, query or path holds, and no body is read or parsed
/// for them. (A handler's extractors are polled together, so without this
/// a bad JSON body could answer before the session lookup finished — on
/// one backend and not another.) A request without a token needs no lookup:
/// `AuthUser` refuses it at once, before the other extractors.
pub async fn authenticate_first(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(token), Some(state)) = (session_token(req.request()), state) {
        let found = current_user(&state, &token).await;
        req.extensions_mut().insert(PreAuthenticated(found));
    }
    next.call(req).await
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

/// The `Idempotency-Key` header, if sent. Its rules (1–255 visible ASCII
/// characters) are the service's ([`service::idempotency::Idempotency`]);
/// a value that is not even text reaches it as replacement characters and
/// is refused there like any other bad key.
#[derive(Clone, Debug, Default)]
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl FromRequest for IdempotencyKey {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let key = req
            .headers()
            .get("idempotency-key")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
        ready(Ok(IdempotencyKey(key)))
    }
}

/// `If-Match: "3"` (also `3` or `W/"3"`) → `Some(3)`; absent or `*` → `None`;
/// anything else is 400 `invalid_input`.
#[derive(Clone, Copy, Debug, Default)]
pub struct IfMatch(pub Option<i32>);

impl IfMatch {
    pub fn parse(value: Option<&[u8]>) -> Result<Option<i32>, Problem> {
        let Some(value) = value else {
            return Ok(None);
        };
        let text = std::str::from_utf8(value).unwrap_or_default().trim();
        if text == "*" {
            return Ok(None);
        }
        let tag = text.strip_prefix("W/").unwrap_or(text);
        let tag = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(tag);
        tag.parse::<i32>().map(Some).map_err(|_| {
            Problem::new(
                Code::InvalidInput,
                "If-Match must be a project version, e.g. \"3\"",
            )
        })
    }
}

impl FromRequest for IfMatch {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let value = req.headers().get(header::IF_MATCH).map(|v| v.as_bytes());
        ready(IfMatch::parse(value).map(IfMatch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_takes_a_version_in_its_usual_spellings() {
        let cases: &[(Option<&str>, Option<Option<i32>>)] = &[
            (None, Some(None)),
            (Some("*"), Some(None)),
            (Some("\"3\""), Some(Some(3))),
            (Some("3"), Some(Some(3))),
            (Some("W/\"3\""), Some(Some(3))),
            (Some("  \"12\"  "), Some(Some(12))),
            (Some("\"2147483647\""), Some(Some(i32::MAX))),
            (Some("\"2147483648\""), None),
            (Some("\"9223372036854775808\""), None),
            (Some("\"abc\""), None),
            (Some(""), None),
            (Some("\"3\", \"4\""), None),
            (Some("\"\"3\"\""), None),
        ];
        for (value, want) in cases {
            let got = IfMatch::parse(value.map(str::as_bytes)).ok();
            assert_eq!(got, *want, "{value:?}");
        }
    }
}

/// A JSON request body that must be an object, parsed as `T`.
///
/// serde's derived structs also accept an array of their fields in order
/// (`["title", {}]` reads like `{"title": "title", "body": {}}`), which no
/// client of ours sends and the OpenAPI document does not allow: a body
/// that is not an object is 400 `invalid_input`. Size and content-type
/// rules are `web::Json`'s, as configured per scope
/// ([`crate::routes::json_config`]).
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<ObjectOnly<T>>::from_request(req, payload);
        Box::pin(async move { Ok(JsonObject(json.await?.into_inner().0)) })
    }
}

/// Parses a body read by hand, with the same object-only rule.
pub fn object_from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<ObjectOnly<T>>(bytes).map(|o| o.0)
}

/// `T`, read only from a JSON object: asks the deserializer for a map, so
/// an array (or any other value) is a type error naming what was expected.
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}
