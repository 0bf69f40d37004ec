//! `/api/v1/backpack`: the caller's backpack.

use actix_web::{web, HttpResponse};

use crate::dto::{BackpackItemDto, BackpackQuery, NewBackpackItem, Page, ProblemDto};
use crate::extract::{AuthUser, IdempotencyKey};
use crate::problem::Problem;
use crate::state::AppState;
use service::backpack;

/// The caller's items, newest first.
#[utoipa::path(get, path = "/api/v1/backpack", tag = "backpack", params(BackpackQuery),
    responses((status = 200, body = Page<BackpackItemDto>), (status = 401, body = ProblemDto)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    query: web::Query<BackpackQuery>,
) -> Result<HttpResponse, Problem> {
    let page = backpack::list(&state.ctx, &user, query.request()?).await?;
    Ok(HttpResponse::Ok().json(Page::from(page.map(BackpackItemDto::from))))
}

/// Add an item (body and thumbnail base64); they are stored as assets.
#[utoipa::path(post, path = "/api/v1/backpack", tag = "backpack", request_body = NewBackpackItem,
    params(("Idempotency-Key" = Option<String>, Header, description = "replay-safe retries")),
    responses((status = 201, body = BackpackItemDto), (status = 400, body = ProblemDto),
              (status = 413, body = ProblemDto)))]
pub async fn add(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    body: web::Json<NewBackpackItem>,
) -> Result<HttpResponse, Problem> {
    let added = backpack::add(&state.ctx, &user, body.into_inner().into(), key.as_deref()).await?;
    Ok(HttpResponse::Created().json(BackpackItemDto::from(added.item)))
}

/// Remove one of the caller's items.
#[utoipa::path(delete, path = "/api/v1/backpack/{id}", tag = "backpack",
    responses((status = 204, description = "deleted"), (status = 404, body = ProblemDto)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    backpack::delete(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
