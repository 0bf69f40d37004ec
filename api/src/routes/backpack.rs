//! `/api/v1/backpack`: the caller's backpack.

use actix_web::{web, HttpResponse};

use crate::dto::{BackpackItemDto, BackpackQuery, NewBackpackItem, Page};
use crate::extract::{AuthUser, IdempotencyKey, JsonObject};
use crate::openapi::params::IdempotencyHeader;
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge, Unauthenticated,
    Unavailable, UnsupportedMediaType,
};
use crate::openapi::schemas::Id;
use crate::problem::Problem;
use crate::state::AppState;
use service::backpack;

/// The caller's items, newest first.
#[utoipa::path(get, path = "/api/v1/backpack", tag = "backpack", operation_id = "list_backpack",
    params(BackpackQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<BackpackItemDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    query: web::Query<BackpackQuery>,
) -> Result<HttpResponse, Problem> {
    let page = backpack::list(&state.ctx, &user, query.request()?).await?;
    Ok(HttpResponse::Ok().json(Page::from(page.map(BackpackItemDto::from))))
}

/// Add an item (body and thumbnail base64); they are stored as assets.
#[utoipa::path(post, path = "/api/v1/backpack", tag = "backpack", operation_id = "add_to_backpack",
    request_body = NewBackpackItem, params(IdempotencyHeader), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = BackpackItemDto), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 415, response = UnsupportedMediaType),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn add(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    body: JsonObject<NewBackpackItem>,
) -> Result<HttpResponse, Problem> {
    let added = backpack::add(&state.ctx, &user, body.into_inner().into(), key.as_deref()).await?;
    Ok(HttpResponse::Created().json(BackpackItemDto::from(added.item)))
}

/// Remove one of the caller's items.
#[utoipa::path(delete, path = "/api/v1/backpack/{id}", tag = "backpack", operation_id = "delete_from_backpack",
    params(("id" = inline(Id), Path, description = "The item id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    backpack::delete(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}
