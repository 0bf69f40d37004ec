//! Login and logout. The dev login runs the very same service function as the
//! OIDC callback ([`service::auth::login`]).

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use service::auth::{GroupClaim, LoginInput, NewSession};
use service::Code;

use crate::dto::{DevLoginRequest, LoginResponse, UserDto};
use crate::extract::{session_token, JsonObject, SESSION_COOKIE};
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge, TooManyRequests,
    Unavailable,
};
use crate::openapi::schemas::{AnyText, LocalPath};
use crate::problem::Problem;
use crate::redirect::is_same_origin_path;
use crate::state::AppState;
use utoipa::PartialSchema;

/// The cookie that binds a started OIDC login to its browser (S4).
pub const LOGIN_BINDING_COOKIE: &str = "cubby_login";

/// The login-binding cookie: HttpOnly, SameSite=Lax (the provider's redirect
/// back is a top-level navigation, which carries it), only for the callback,
/// living as long as a login state.
fn login_binding_cookie(state: &AppState, value: &str, max_age_secs: i64) -> Cookie<'static> {
    private_cookie(
        state,
        LOGIN_BINDING_COOKIE,
        "/auth/callback",
        value,
        max_age_secs,
    )
}

/// The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure over https.
pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> Cookie<'static> {
    private_cookie(state, SESSION_COOKIE, "/", token, max_age_secs)
}

/// A cookie no script reads (HttpOnly), sent on same-site requests and
/// top-level navigations (SameSite=Lax), Secure when cubby is served over
/// https.
fn private_cookie(
    state: &AppState,
    name: &'static str,
    path: &'static str,
    value: &str,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value.to_owned())
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

/// The cookie of a new login session, living as long as the session.
pub fn login_cookie(state: &AppState, session: &service::auth::NewSession) -> Cookie<'static> {
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    session_cookie(state, &session.token, max_age)
}

/// The one dev-login path (`POST /auth/dev/login` and the home page's
/// form): 404 unless `CUBBY_DEV_LOGIN=true`, rate-limited like every login,
/// then the same service login as the OIDC callback.
pub async fn dev_login_session(
    state: &AppState,
    req: &HttpRequest,
    input: Result<LoginInput, service::Error>,
) -> Result<NewSession, Problem> {
    // S7: a dev login never works through a proxy, whatever the bind says.
    if !state.config.dev_login || came_through_a_proxy(req) {
        return Err(Problem::not_found());
    }
    state.login_limits.check_ip(req)?;
    let input = input?;
    state.login_limits.check_user(&input.username)?;
    Ok(service::auth::login(&state.ctx, &input, None).await?)
}

/// The headers a reverse proxy adds: their presence means the request did
/// not come from this machine directly.
const PROXY_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];

fn came_through_a_proxy(req: &HttpRequest) -> bool {
    PROXY_HEADERS
        .iter()
        .any(|name| req.headers().contains_key(*name))
}

/// Log in as anyone, for development and tests. 404 unless `CUBBY_DEV_LOGIN=true`.
#[utoipa::path(post, path = "/auth/dev/login", tag = "auth", operation_id = "dev_login",
    request_body(content = DevLoginRequest, description = "JSON (read whatever the `Content-Type`)"),
    responses((status = 200, body = LoginResponse, description = "logged in; also sets the `cubby_session` cookie",
                headers(("Set-Cookie" = String, description = "`cubby_session=<token>`; HttpOnly; SameSite=Lax; Path=/"))),
              (status = 400, response = BadRequest), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 429, response = TooManyRequests), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn dev_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonObject<DevLoginRequest>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let groups = body
        .groups
        .into_iter()
        .map(|g| GroupClaim {
            external_id: g.external_id,
            name: g.name,
        })
        .collect();
    let input = service::auth::dev_login_input(
        body.username,
        body.display_name,
        body.role.as_deref(),
        groups,
    );
    let session = dev_login_session(&state, &req, input).await?;
    Ok(HttpResponse::Ok()
        .cookie(login_cookie(&state, &session))
        .json(LoginResponse {
            token: session.token,
            user: UserDto::from(session.user),
        }))
}

/// End the session server-side and clear the cookie. Idempotent: 204 also
/// when there was no session. With `?next=/path` (the home page's form) it
/// answers 303: to the provider's end-session endpoint (RP-initiated logout,
/// back to `next`) when OIDC offers one, else to `next`.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "logout", params(LogoutQuery),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "logged out (also without a session); the cookie is cleared"),
              (status = 303, description = "logged out, to `next` (or the provider's end-session page)",
                headers(("Location" = String))),
              (status = 403, response = Forbidden), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LogoutQuery>,
) -> Result<HttpResponse, Problem> {
    if let Some(token) = session_token(&req) {
        service::auth::logout(&state.ctx, &token).await?;
    }
    let mut gone = session_cookie(&state, "", 0);
    gone.make_removal();
    let next = query.next.as_deref().filter(|n| is_same_origin_path(n));
    let mut resp = match next {
        Some(path) => {
            // From a page: also log out at the identity provider when it
            // offers RP-initiated logout, coming back to `next`.
            let target = match &state.oidc {
                Some(oidc) => oidc
                    .logout_url(&format!("{}{path}", oidc.public_base()))
                    .await
                    .unwrap_or_else(|| path.to_owned()),
                None => path.to_owned(),
            };
            HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, target))
                .finish()
        }
        None => HttpResponse::NoContent().finish(),
    };
    resp.add_cookie(&gone).map_err(|_| Problem::internal())?;
    Ok(resp)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    /// Where to go afterwards (303): a path on this site; anything else is ignored (204).
    #[param(schema_with = AnyText::schema)]
    next: Option<String>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to go after logging in: a path on this site (default `/`).
    #[param(schema_with = LocalPath::schema)]
    return_to: Option<String>,
}

fn oidc(state: &AppState) -> Result<&crate::oidc::Oidc, Problem> {
    // While OIDC is not configured the route does not exist.
    state.oidc.as_ref().ok_or_else(Problem::not_found)
}

/// Start an OIDC login: 302 to the identity provider (code flow, PKCE S256,
/// `state`, `nonce`). 404 while OIDC is not configured.
#[utoipa::path(get, path = "/auth/login", tag = "auth", operation_id = "oidc_login", params(LoginQuery),
    responses((status = 302, description = "to the identity provider; sets the `cubby_login` cookie that binds the login to this browser",
                headers(("Location" = String), ("Set-Cookie" = String))),
              (status = 400, response = BadRequest), (status = 404, response = NotFound),
              (status = 429, response = TooManyRequests), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn oidc_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, Problem> {
    let oidc = oidc(&state)?;
    state.login_limits.check_ip(&req)?;
    let return_to = query.return_to.clone().unwrap_or_else(|| "/".into());
    if !is_same_origin_path(&return_to) {
        return Err(Problem::new(
            Code::InvalidReturnTo,
            "return_to must be a path on this site",
        ));
    }
    let started = oidc.start().await.map_err(service::Error::from)?;
    let login = service::auth::LoginState {
        pkce_verifier: started.pkce_verifier,
        nonce: started.nonce,
        return_to,
    };
    let binding = service::auth::new_browser_binding();
    service::auth::begin_oidc_login(&state.ctx, &started.state, &binding, &login).await?;
    let lifetime = service::auth::LOGIN_STATE_MINUTES * 60;
    Ok(HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, started.authorize_url))
        .cookie(login_binding_cookie(&state, &binding, lifetime))
        .finish())
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    #[param(schema_with = AnyText::schema)]
    code: Option<String>,
    /// The login state `/auth/login` began (used once).
    #[param(schema_with = AnyText::schema)]
    state: Option<String>,
    /// Set when the provider ended the login.
    #[param(schema_with = AnyText::schema)]
    error: Option<String>,
}

/// Finish an OIDC login: the state is consumed once (and only by the browser
/// that began the login), the code exchanged and the ID token validated; the
/// user and groups are synced exactly as the dev login does; 302 to
/// `return_to` with the session cookie. The login-binding cookie is cleared
/// once its login state is consumed (a stray callback with a wrong state
/// leaves the browser's own login pending).
#[utoipa::path(get, path = "/auth/callback", tag = "auth", operation_id = "oidc_callback", params(CallbackQuery),
    responses((status = 302, description = "logged in, to return_to; sets the `cubby_session` cookie and clears `cubby_login`",
                headers(("Location" = String), ("Set-Cookie" = String))),
              (status = 400, response = BadRequest), (status = 404, response = NotFound),
              (status = 429, response = TooManyRequests), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn oidc_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, Problem> {
    let oidc = oidc(&state)?;
    state.login_limits.check_ip(&req)?;
    let binding = req.cookie(LOGIN_BINDING_COOKIE);
    let login = service::auth::finish_oidc_login(
        &state.ctx,
        query.state.as_deref().unwrap_or(""),
        binding.as_ref().map(|c| c.value()),
    )
    .await?;
    // The state is used up: whatever happens next, its cookie is done.
    let mut resp = match finish_callback(&state, oidc, &query, login).await {
        Ok(resp) => resp,
        Err(problem) => actix_web::ResponseError::error_response(&problem),
    };
    let mut gone = login_binding_cookie(&state, "", 0);
    gone.make_removal();
    resp.add_cookie(&gone).map_err(|_| Problem::internal())?;
    Ok(resp)
}

async fn finish_callback(
    state: &AppState,
    oidc: &crate::oidc::Oidc,
    query: &CallbackQuery,
    login: service::auth::LoginState,
) -> Result<HttpResponse, Problem> {
    if let Some(error) = &query.error {
        tracing::info!(oidc.error = %error, "the identity provider ended the login");
        return Err(Problem::new(
            Code::LoginRefused,
            "the identity provider did not log you in",
        ));
    }
    let code = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Problem::new(Code::InvalidInput, "code is missing"))?;
    let (input, tokens) = oidc
        .finish(code, &login.pkce_verifier, &login.nonce)
        .await
        .map_err(service::Error::from)?;
    state.login_limits.check_user(&input.username)?;
    let session = service::auth::login(&state.ctx, &input, Some(&tokens)).await?;
    let return_to = if is_same_origin_path(&login.return_to) {
        login.return_to
    } else {
        "/".to_owned()
    };
    Ok(HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, return_to))
        .cookie(login_cookie(state, &session))
        .finish())
}
