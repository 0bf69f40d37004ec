//! `/api/v1/projects` and `/api/v1/groups/{id}/projects`. Each handler
//! parses, calls one `service::projects` function and maps the result.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use service::Code;

use crate::dto::{
    CopyProject, CreateProject, ListProjectsQuery, Page, PageQuery, ProjectDto, ScopeParam,
    SetShares, SharesDto, UpdateProject, VersionDto,
};
use crate::extract::{AuthUser, IdempotencyKey, IfMatch, JsonObject};
use crate::headers::stored_file;
use crate::openapi::params::{IdempotencyHeader, IfMatchHeader};
use crate::openapi::responses::{
    BadRequest, Conflict, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge,
    Unauthenticated, Unavailable, UnsupportedMediaType, VersionRequired,
};
use crate::openapi::schemas::{Id, ProjectJson, Version};
use crate::problem::Problem;
use crate::state::AppState;
use service::projects::{self, Precondition, Scope, Update};

/// `ETag: "<version>"`: the version of the project a response describes or
/// carries (also on the Scratch routes, for the editor page).
pub(crate) fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

pub(crate) fn created(project: service::projects::Project) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/projects/{}", project.id)))
        .insert_header(etag(project.version))
        .json(ProjectDto::from(project))
}

fn page_json<T, D: serde::Serialize>(
    page: service::page::Page<T>,
    to_dto: impl FnMut(T) -> D,
) -> HttpResponse {
    HttpResponse::Ok().json(Page::from(page.map(to_dto)))
}

/// Create a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", operation_id = "create_project",
    request_body = CreateProject, params(IdempotencyHeader), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ProjectDto, description = "created, version 1",
                headers(("Location" = String, description = "`/api/v1/projects/{id}`"),
                        ("ETag" = String, description = "`\"1\"`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    body: JsonObject<CreateProject>,
) -> Result<HttpResponse, Problem> {
    let new = projects::NewProject {
        title: Some(&body.title),
        body: body.body.get().as_bytes(),
        parent_id: None,
    };
    let out = projects::create(&state.ctx, &user, new, key.as_deref()).await?;
    Ok(created(out.project))
}

/// List my projects, or those shared with my groups; newest first.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", operation_id = "list_projects",
    params(ListProjectsQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<ProjectDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    query: web::Query<ListProjectsQuery>,
) -> Result<HttpResponse, Problem> {
    let scope = match query.scope.unwrap_or_default() {
        ScopeParam::Mine => Scope::Mine,
        ScopeParam::Shared => Scope::Shared,
    };
    let out = projects::list(&state.ctx, &user, scope, query.page().request()?).await?;
    Ok(page_json(out, ProjectDto::from))
}

/// A project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", operation_id = "get_project",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProjectDto, headers(("ETag" = String, description = "`\"<version>\"`"))),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn get(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let project = projects::get(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(project.version))
        .json(ProjectDto::from(project)))
}

/// The project JSON exactly as last saved.
#[utoipa::path(get, path = "/api/v1/projects/{id}/body", tag = "projects", operation_id = "get_project_body",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the project JSON exactly as saved", body = inline(ProjectJson),
                headers(("ETag" = String, description = "`\"<version>\"`"))),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn body(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (version, bytes) = projects::body(&state.ctx, &user, *id).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type("application/json")
        .insert_header(etag(version))
        .body(bytes))
}

/// Update title and/or body; needs the version read (`version` or `If-Match`).
#[utoipa::path(put, path = "/api/v1/projects/{id}", tag = "projects", operation_id = "update_project",
    request_body = UpdateProject, params(("id" = inline(Id), Path, description = "The project id"), IfMatchHeader), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ProjectDto, description = "saved as the next version",
                headers(("ETag" = String, description = "`\"<version>\"`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 409, response = Conflict), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 428, response = VersionRequired),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn update(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    IfMatch(if_match): IfMatch,
    id: web::Path<i64>,
    body: JsonObject<UpdateProject>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let expected = match (body.version, if_match) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::new(
                Code::InvalidInput,
                "`version` and If-Match disagree",
            ));
        }
        (a, b) => a.or(b),
    };
    let update = Update {
        expected_version: expected,
        title: body.title,
        body: body.body.map(|raw| raw.get().as_bytes().to_vec()),
    };
    let project = projects::update(&state.ctx, &user, *id, update, Precondition::Required).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(project.version))
        .json(ProjectDto::from(project)))
}

/// Delete a project; afterwards it is 404 for everyone.
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", operation_id = "delete_project",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "deleted"), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    projects::delete(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Copy (remix) a project the caller may read into a new one of theirs.
#[utoipa::path(post, path = "/api/v1/projects/{id}/copy", tag = "projects", operation_id = "copy_project",
    request_body(content = Option<CopyProject>, content_type = "application/json",
                 description = "Optional: an empty body copies with the source's title"),
    params(("id" = inline(Id), Path, description = "The project id"), IdempotencyHeader), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ProjectDto, description = "the copy, version 1, parent_id the source",
                headers(("Location" = String), ("ETag" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn copy(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body = super::read_limited(payload, super::SMALL_JSON_BYTES).await?;
    let body: CopyProject = super::optional_json(&body)?;
    let out = projects::copy(
        &state.ctx,
        &user,
        *id,
        body.title.as_deref(),
        key.as_deref(),
    )
    .await?;
    Ok(created(out.project))
}

/// Replace the set of groups a project is shared with (teacher owners only).
#[utoipa::path(put, path = "/api/v1/projects/{id}/shares", tag = "projects", operation_id = "set_shares",
    request_body = SetShares, params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SharesDto), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn set_shares(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    body: JsonObject<SetShares>,
) -> Result<HttpResponse, Problem> {
    let group_ids = projects::set_shares(&state.ctx, &user, *id, &body.group_ids).await?;
    Ok(HttpResponse::Ok().json(SharesDto {
        project_id: *id,
        group_ids,
    }))
}

/// The kept versions, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/versions", tag = "projects", operation_id = "list_versions",
    params(("id" = inline(Id), Path, description = "The project id"), PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<VersionDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn versions(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let out = projects::versions(&state.ctx, &user, *id, page.request()?).await?;
    Ok(page_json(out, VersionDto::from))
}

/// One kept version's body; 404 once pruned.
#[utoipa::path(get, path = "/api/v1/projects/{id}/versions/{version}/body", tag = "projects",
    operation_id = "get_version_body",
    params(("id" = inline(Id), Path, description = "The project id"), ("version" = inline(Version), Path, description = "A kept version")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "that version's project JSON exactly as saved", body = inline(ProjectJson)),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn version_body(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, Problem> {
    let (id, version) = path.into_inner();
    let bytes = projects::version_body(&state.ctx, &user, id, version).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type("application/json")
        .body(bytes))
}

/// Projects shared with a group (members only).
#[utoipa::path(get, path = "/api/v1/groups/{id}/projects", tag = "projects", operation_id = "group_projects",
    params(("id" = inline(Id), Path, description = "The group id"), PageQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<ProjectDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn group_projects(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let out = projects::group_projects(&state.ctx, &user, *id, page.request()?).await?;
    Ok(page_json(out, ProjectDto::from))
}
