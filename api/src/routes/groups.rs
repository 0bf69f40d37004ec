//! Classes a teacher makes: `/api/v1/groups` (POST), `/api/v1/groups/join`,
//! `/api/v1/groups/{id}/join-code`, `/api/v1/groups/{id}/members[/{user_id}]`.
//! Each handler parses, calls one `service::groups` function and maps the
//! result; `join` also asks the join-code limits (per user, per IP) first
//! and tells them about a wrong code after.

use actix_web::{web, HttpRequest, HttpResponse};
use service::groups;

use crate::dto::{CreateGroup, GroupDto, JoinCodeDto, JoinGroup, MemberDto, MembersDto};
use crate::extract::{AuthUser, JsonObject};
use crate::openapi::responses::{
    BadRequest, Conflict, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge,
    TooManyRequests, Unauthenticated, Unavailable, UnsupportedMediaType,
};
use crate::openapi::schemas::Id;
use crate::problem::Problem;
use crate::state::AppState;

/// Make a class (teachers only): the caller is its first teacher member.
#[utoipa::path(post, path = "/api/v1/groups", tag = "classes", operation_id = "create_group",
    request_body = CreateGroup, security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = GroupDto, headers(("Location" = String, description = "`/api/v1/groups/{id}/members`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout),
              (status = 413, response = TooLarge), (status = 415, response = UnsupportedMediaType),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    body: JsonObject<CreateGroup>,
) -> Result<HttpResponse, Problem> {
    let group = groups::create(&state.ctx, &user, &body.name).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/groups/{}/members", group.id),
        ))
        .json(GroupDto::from(group)))
}

/// Join a class with its code (any case). Wrong codes are counted per user
/// and per IP; over the limit every join is 429 until the window passes.
#[utoipa::path(post, path = "/api/v1/groups/join", tag = "classes", operation_id = "join_group",
    request_body = JoinGroup, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = GroupDto), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 429, response = TooManyRequests),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn join(
    state: web::Data<AppState>,
    req: HttpRequest,
    AuthUser(user): AuthUser,
    body: JsonObject<JoinGroup>,
) -> Result<HttpResponse, Problem> {
    let group = join_code(&state, &req, &user, &body.code).await?;
    Ok(HttpResponse::Ok().json(GroupDto::from(group)))
}

/// A join, rate-limited: the one path for the JSON route and the home
/// page's form.
pub async fn join_code(
    state: &AppState,
    req: &HttpRequest,
    user: &service::auth::User,
    code: &str,
) -> Result<service::auth::Group, Problem> {
    state.join_limits.check(req, user.id)?;
    match groups::join(&state.ctx, user, code).await {
        Err(service::Error::NotFound) => {
            state.join_limits.failed(req, user.id);
            Err(service::Error::NotFound.into())
        }
        other => Ok(other?),
    }
}

/// Give a class a new join code (a teacher member); the old one stops
/// working at once.
#[utoipa::path(post, path = "/api/v1/groups/{id}/join-code", tag = "classes", operation_id = "rotate_join_code",
    params(("id" = inline(Id), Path, description = "The group id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = JoinCodeDto), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn rotate_code(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let join_code = groups::rotate_code(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::Ok().json(JoinCodeDto { join_code }))
}

/// A class's members (its teacher members may list them).
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "classes", operation_id = "group_members",
    params(("id" = inline(Id), Path, description = "The group id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MembersDto), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn members(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let items = groups::members(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::Ok().json(MembersDto {
        items: items.into_iter().map(MemberDto::from).collect(),
    }))
}

/// Take a member out of a local class (a teacher member); never the last
/// teacher (409 `last_teacher`).
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "classes", operation_id = "remove_group_member",
    params(("id" = inline(Id), Path, description = "The group id"), ("user_id" = inline(Id), Path, description = "The member's user id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "Removed"), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 409, response = Conflict), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn remove_member(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, Problem> {
    let (id, user_id) = path.into_inner();
    groups::remove_member(&state.ctx, &user, id, user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
