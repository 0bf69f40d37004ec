//! `/api/v1/projects/{id}/thumbnail` and the editor's wire form
//! `POST /internalapi/project/thumbnail/{id}/set/`: one PNG or JPEG per
//! project, raw bytes in (any `Content-Type`), served as a stored file (S1).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::extract::AuthUser;
use crate::headers::stored_file;
use crate::openapi::params::ScratchThumbnailSaved;
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge, Unauthenticated,
    Unavailable,
};
use crate::openapi::schemas::{Bytes, Id};
use crate::problem::Problem;
use crate::routes::assets::check_declared_length;
use crate::routes::read_limited;
use crate::state::AppState;
use service::projects::{self, MAX_THUMBNAIL_BYTES};

/// Reads the image (at most 512 KiB) and stores it as the project's thumbnail.
async fn store(
    state: &AppState,
    user: &service::auth::User,
    req: &HttpRequest,
    id: i64,
    payload: web::Payload,
) -> Result<(), Problem> {
    check_declared_length(req, MAX_THUMBNAIL_BYTES)?;
    let bytes = read_limited(payload, MAX_THUMBNAIL_BYTES).await?;
    Ok(projects::set_thumbnail(&state.ctx, user, id, &bytes).await?)
}

/// Set (or replace) a project's thumbnail: raw PNG or JPEG bytes, owner only.
#[utoipa::path(put, path = "/api/v1/projects/{id}/thumbnail", tag = "projects", operation_id = "set_thumbnail",
    params(("id" = inline(Id), Path, description = "The project id")),
    request_body(content = inline(Option<Bytes>), content_type = "application/octet-stream",
                 description = "The raw PNG or JPEG bytes (any `Content-Type`), at most 512 KiB (524288 bytes); anything else is 400 `invalid_image`"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "stored; a previous thumbnail is replaced"),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn set(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    req: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    store(&state, &user, &req, *id, payload).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A project's thumbnail, for whoever may read the project.
#[utoipa::path(get, path = "/api/v1/projects/{id}/thumbnail", tag = "projects", operation_id = "get_thumbnail",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the image", content(("image/png"), ("image/jpeg"))),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn get(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let thumb = projects::thumbnail(&state.ctx, &user, *id).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type(thumb.content_type)
        // A thumbnail changes with every save: revalidate each time.
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header(header::ContentEncoding::Identity)
        .no_chunking(u64::try_from(thumb.size).unwrap_or(0))
        .streaming(thumb.bytes))
}

/// The editor's thumbnail upload (scratch-www's `THUMBNAIL_URI`): the same
/// as the PUT above, answered the way the editor expects.
#[utoipa::path(post, path = "/internalapi/project/thumbnail/{id}/set/", tag = "scratch", operation_id = "scratch_set_thumbnail",
    params(("id" = inline(Id), Path, description = "The project id")),
    request_body(content = inline(Option<Bytes>), content_type = "application/octet-stream",
                 description = "The raw PNG or JPEG bytes (any `Content-Type`), at most 512 KiB (524288 bytes)"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ScratchThumbnailSaved, description = "stored"),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn scratch_set(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    req: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    store(&state, &user, &req, *id, payload).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok", "content-name": id.to_string()})))
}
