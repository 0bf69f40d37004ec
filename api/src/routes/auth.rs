//! Login and logout. The dev login runs the very same service function as the
//! OIDC callback ([`service::auth::login`]).

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::dto::{DevLoginRequest, LoginResponse, ProblemDto, UserDto};
use crate::extract::{session_token, SESSION_COOKIE};
use crate::problem::Problem;
use crate::state::AppState;
use service::auth::{GroupClaim, LoginInput, Role};

/// The session cookie: HttpOnly, SameSite=Lax, Path=/, Secure over https.
pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(time::Duration::seconds(max_age_secs))
        .finish()
}

fn parse_role(role: Option<&str>) -> Result<Role, Problem> {
    match role {
        None | Some("student") => Ok(Role::Student),
        Some("teacher") => Ok(Role::Teacher),
        Some(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "role must be \"teacher\" or \"student\"",
        )),
    }
}

/// Log in as anyone, for development and tests. 404 unless `CUBBY_DEV_LOGIN=true`.
#[utoipa::path(post, path = "/auth/dev/login", tag = "auth", request_body = DevLoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ProblemDto),
              (status = 404, body = ProblemDto), (status = 503, body = ProblemDto)))]
pub async fn dev_login(
    state: web::Data<AppState>,
    body: web::Json<DevLoginRequest>,
) -> Result<HttpResponse, Problem> {
    if !state.config.dev_login {
        return Err(Problem::not_found());
    }
    let body = body.into_inner();
    let input = LoginInput {
        subject: format!("dev|{}", body.username),
        username: body.username,
        display_name: body.display_name,
        role: parse_role(body.role.as_deref())?,
        groups: body
            .groups
            .into_iter()
            .map(|g| GroupClaim {
                external_id: g.external_id,
                name: g.name,
            })
            .collect(),
    };
    let session = service::auth::login(&state.ctx, &input).await?;
    let max_age = (session.expires_at - chrono::Utc::now())
        .num_seconds()
        .max(0);
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, &session.token, max_age))
        .json(LoginResponse {
            token: session.token,
            user: UserDto::from(session.user),
        }))
}

/// End the session server-side and clear the cookie. Idempotent: 204 also
/// when there was no session. With `?next=/path` (the home page's form) it
/// answers 303 to that same-origin path instead.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "logged out")))]
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
        Some(path) => HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, path.to_owned()))
            .finish(),
        None => HttpResponse::NoContent().finish(),
    };
    resp.add_cookie(&gone).map_err(|_| Problem::internal())?;
    Ok(resp)
}

#[derive(serde::Deserialize)]
pub struct LogoutQuery {
    next: Option<String>,
}

/// A path on this site: one leading `/`, not `//` or `/\` (which browsers
/// treat as another host).
pub fn is_same_origin_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\")
}
