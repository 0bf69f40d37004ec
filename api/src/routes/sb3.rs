//! `.sb3` export and import: `GET /api/v1/projects/{id}/sb3` (a streamed
//! zip of `project.json` and its assets) and `POST /api/v1/projects/import`
//! (raw `.sb3` bytes, any `Content-Type`). The rules live in `service::sb3`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, PartialSchema};

use crate::dto::ProjectDto;
use crate::extract::{AuthUser, IdempotencyKey};
use crate::headers::stored_file;
use crate::openapi::params::IdempotencyHeader;
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge, Unauthenticated,
    Unavailable,
};
use crate::openapi::schemas::{Bytes, Id, TitleOrBlank};
use crate::problem::Problem;
use crate::routes::assets::{body_error, check_declared_length};
use crate::routes::projects::created;
use crate::state::AppState;
use service::sb3;

/// Download a project as an `.sb3` (what the editor's "Load from your computer" opens).
#[utoipa::path(get, path = "/api/v1/projects/{id}/sb3", tag = "projects", operation_id = "export_sb3",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "a zip of `project.json` and every asset it names, streamed",
                content((inline(Bytes) = "application/x.scratch.sb3")),
                headers(("Content-Disposition" = String, description = "`attachment; filename=\"<slug>.sb3\"`"))),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn export(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let out = sb3::export(&state.ctx, &user, *id).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type(sb3::CONTENT_TYPE)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", out.file_name),
        ))
        // Mostly compressed media already: keep the compression middleware off it.
        .insert_header(header::ContentEncoding::Identity)
        .streaming(out.bytes))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The new project's title (absent or blank: `Untitled`).
    #[param(schema_with = TitleOrBlank::schema)]
    title: Option<String>,
}

/// Create a project from an `.sb3` file's raw bytes.
#[utoipa::path(post, path = "/api/v1/projects/import", tag = "projects", operation_id = "import_sb3",
    params(ImportQuery, IdempotencyHeader),
    request_body(content((inline(Bytes) = "application/x.scratch.sb3"), (inline(Bytes) = "application/octet-stream")),
                 description = "The raw `.sb3` bytes (any `Content-Type`), at most `CUBBY_MAX_IMPORT_BYTES` (default 50 MiB), packed and unpacked"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ProjectDto, description = "created, version 1; its assets stored (deduplicated)",
                headers(("Location" = String, description = "`/api/v1/projects/{id}`"),
                        ("ETag" = String, description = "`\"1\"`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout),
              (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn import(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let out = import_payload(
        &state,
        &user,
        &req,
        query.title.as_deref(),
        payload,
        key.as_deref(),
    )
    .await?;
    Ok(created(out.project))
}

/// Shared by the API route and the home page's form.
pub(crate) async fn import_payload(
    state: &AppState,
    user: &service::auth::User,
    req: &HttpRequest,
    title: Option<&str>,
    payload: impl futures_util::Stream<
        Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>,
    >,
    idem_key: Option<&str>,
) -> Result<service::projects::Created, Problem> {
    check_declared_length(req, state.ctx.settings.max_import_bytes)?;
    let title = title.map(str::trim).filter(|t| !t.is_empty());
    let body = payload.map(|chunk| chunk.map_err(body_error));
    Ok(sb3::import(&state.ctx, user, title, body, idem_key).await?)
}
