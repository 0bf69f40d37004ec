//! `/api/v1/backpack`: the caller's backpack.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::dto::{BackpackItemDto, BackpackQuery, NewBackpackItem, Page, ProblemDto};
use crate::extract::AuthUser;
use crate::problem::Problem;
use crate::routes::projects::idempotency_key;
use crate::state::AppState;
use service::backpack;

/// `limit` 1–100 (default 20) and where to start: `offset`, or the
/// `cursor` a previous page returned (which is an offset too).
pub fn paging(query: &BackpackQuery) -> Result<(u64, u64), Problem> {
    let limit = crate::dto::PageQuery {
        limit: query.limit,
        cursor: None,
    }
    .limit()?;
    let from_cursor = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            Problem::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_query",
                "cursor is not one this server issued",
            )
        })?),
    };
    Ok((limit, query.offset.or(from_cursor).unwrap_or(0)))
}

/// The caller's items, newest first.
#[utoipa::path(get, path = "/api/v1/backpack", tag = "backpack", params(BackpackQuery),
    responses((status = 200, body = Page<BackpackItemDto>), (status = 401, body = ProblemDto)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    query: web::Query<BackpackQuery>,
) -> Result<HttpResponse, Problem> {
    let (limit, offset) = paging(&query)?;
    // One extra row tells whether there is a next page.
    let mut items = backpack::list(&state.ctx, &user, limit + 1, offset).await?;
    let next_cursor = (items.len() as u64 > limit).then(|| (offset + limit).to_string());
    items.truncate(limit as usize);
    Ok(HttpResponse::Ok().json(Page {
        items: items.into_iter().map(BackpackItemDto::from).collect(),
        next_cursor,
    }))
}

/// Add an item (body and thumbnail base64); they are stored as assets.
#[utoipa::path(post, path = "/api/v1/backpack", tag = "backpack", request_body = NewBackpackItem,
    params(("Idempotency-Key" = Option<String>, Header, description = "replay-safe retries")),
    responses((status = 201, body = BackpackItemDto), (status = 400, body = ProblemDto),
              (status = 413, body = ProblemDto)))]
pub async fn add(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    req: HttpRequest,
    body: web::Json<NewBackpackItem>,
) -> Result<HttpResponse, Problem> {
    let key = idempotency_key(&req)?;
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
