//! The trash and the history: `/api/v1/trash` (list, restore, purge) and
//! `POST /api/v1/projects/{id}/versions/{v}/restore`. Each handler parses,
//! calls one `service::projects` function and maps the result.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use service::Code;

use crate::dto::{Page, ProjectDto, RestoreVersion, TrashQuery, TrashedProjectDto};
use crate::extract::{AuthUser, IfMatch};
use crate::openapi::params::IfMatchHeader;
use crate::openapi::responses::{
    BadRequest, Conflict, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge,
    Unauthenticated, Unavailable, UnsupportedMediaType, VersionRequired,
};
use crate::openapi::schemas::{Id, Version};
use crate::problem::Problem;
use crate::state::AppState;
use service::projects;

fn project_ok(project: projects::Project) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", project.version)))
        .json(ProjectDto::from(project))
}

/// The trashed projects of the caller (or, for a teacher, of a student in
/// one of the teacher's groups), most recently deleted first.
#[utoipa::path(get, path = "/api/v1/trash", tag = "projects", operation_id = "list_trash",
    params(TrashQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<TrashedProjectDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    query: web::Query<TrashQuery>,
) -> Result<HttpResponse, Problem> {
    let page = query.page().request()?;
    let out = projects::list_trash(&state.ctx, &user, query.owner_id, page).await?;
    Ok(HttpResponse::Ok().json(Page::from(out.map(TrashedProjectDto::from))))
}

/// Restore a trashed project: the same id, slug, version, versions and
/// shares (the owner, or a teacher of a group the owner is in).
#[utoipa::path(post, path = "/api/v1/trash/{id}/restore", tag = "projects", operation_id = "restore_project",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProjectDto, description = "restored, as it was deleted",
                headers(("ETag" = String, description = "`\"<version>\"`"))),
              (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn restore(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let project = projects::restore(&state.ctx, &user, *id).await?;
    Ok(project_ok(project))
}

/// Purge a trashed project now (its owner): rows gone, files deleted after
/// the commit. Not in the trash: 404.
#[utoipa::path(delete, path = "/api/v1/trash/{id}", tag = "projects", operation_id = "purge_project",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "purged"), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn purge(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    projects::purge(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Save kept version `version`'s body, byte for byte, as the next version;
/// needs the current version (`version` or `If-Match`).
#[utoipa::path(post, path = "/api/v1/projects/{id}/versions/{version}/restore", tag = "projects",
    operation_id = "restore_version",
    request_body(content = Option<RestoreVersion>, content_type = "application/json",
                 description = "`{\"version\": <current>}`; may be empty when `If-Match` is sent"),
    params(("id" = inline(Id), Path, description = "The project id"),
           ("version" = inline(Version), Path, description = "The kept version to restore"), IfMatchHeader),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProjectDto, description = "saved as the next version",
                headers(("ETag" = String, description = "`\"<version>\"`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 409, response = Conflict), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 428, response = VersionRequired),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn restore_version(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    IfMatch(if_match): IfMatch,
    req: HttpRequest,
    path: web::Path<(i64, i32)>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (id, version) = path.into_inner();
    let bytes = super::read_limited(payload, super::SMALL_JSON_BYTES).await?;
    // An empty body is fine (the version may come in If-Match); one that is
    // not empty must say it is JSON, as on every `/api/v1` JSON route.
    let blank = bytes.iter().all(u8::is_ascii_whitespace);
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == "application/json");
    if !blank && !json {
        return Err(Problem::new(
            Code::UnsupportedMediaType,
            "send the body as application/json",
        ));
    }
    let body: RestoreVersion = super::optional_json(&bytes)?;
    let expected = match (body.version, if_match) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::new(
                Code::InvalidInput,
                "`version` and If-Match disagree",
            ));
        }
        (a, b) => a.or(b),
    };
    let project = projects::restore_version(&state.ctx, &user, id, version, expected).await?;
    Ok(project_ok(project))
}
