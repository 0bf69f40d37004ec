//! The caller: `/api/v1/me` and `/api/v1/groups`.

use actix_web::{web, HttpResponse};

use crate::dto::{GroupDto, Page, PageQuery, UserDto};
use crate::extract::AuthUser;
use crate::openapi::responses::{BadRequest, ServerError, Unauthenticated, Unavailable};
use crate::problem::Problem;

/// The logged-in user with their groups.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", operation_id = "me", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = UserDto), (status = 401, response = Unauthenticated),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn me(AuthUser(user): AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(UserDto::from(user))
}

/// The caller's groups, by id.
#[utoipa::path(get, path = "/api/v1/groups", tag = "auth", operation_id = "groups", params(PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<GroupDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn groups(
    AuthUser(user): AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let page = user.groups_page(&query.request()?);
    Ok(HttpResponse::Ok().json(Page::from(page.map(GroupDto::from))))
}
