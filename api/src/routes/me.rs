//! The caller: `/api/v1/me` and `/api/v1/groups`.

use actix_web::{web, HttpResponse};

use crate::dto::{GroupDto, Page, PageQuery, ProblemDto, UserDto};
use crate::extract::AuthUser;
use crate::problem::Problem;

/// The logged-in user with their groups.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = UserDto), (status = 401, body = ProblemDto)))]
pub async fn me(AuthUser(user): AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(UserDto::from(user))
}

/// The caller's groups, by id.
#[utoipa::path(get, path = "/api/v1/groups", tag = "auth", params(PageQuery),
    responses((status = 200, body = Page<GroupDto>), (status = 401, body = ProblemDto)))]
pub async fn groups(
    AuthUser(user): AuthUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let limit = query.limit()? as usize;
    let after = query.after_id()?.unwrap_or(0);
    // A user's memberships are few (at most the provider's list), so they
    // are loaded whole with the user and paged here.
    let mut rest = user.groups.into_iter().filter(|g| g.id > after);
    let items: Vec<GroupDto> = rest.by_ref().take(limit).map(GroupDto::from).collect();
    let next_cursor = match (rest.next(), items.last()) {
        (Some(_), Some(last)) => Some(last.id.to_string()),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}
