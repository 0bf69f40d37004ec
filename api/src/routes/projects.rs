//! `/api/v1/projects` and `/api/v1/groups/{id}/projects`. Each handler
//! parses, calls one `service::projects` function and maps the result.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use service::Code;

use crate::dto::{
    CopyProject, CreateProject, ListProjectsQuery, Page, PageQuery, ProblemDto, ProjectDto,
    ScopeParam, SetShares, SharesDto, UpdateProject, VersionDto,
};
use crate::extract::{AuthUser, IdempotencyKey, IfMatch};
use crate::headers::stored_file;
use crate::problem::{json_body_error, Problem};
use crate::state::AppState;
use service::projects::{self, Precondition, Scope, Update};

fn etag(version: i32) -> (header::HeaderName, String) {
    (header::ETAG, format!("\"{version}\""))
}

fn created(project: service::projects::Project) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/projects/{}", project.id)))
        .insert_header(etag(project.version))
        .json(ProjectDto::from(project))
}

/// A JSON body that may also be empty.
fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| json_body_error(&e))
}

fn page_json<T, D: serde::Serialize>(
    page: service::page::Page<T>,
    to_dto: impl FnMut(T) -> D,
) -> HttpResponse {
    HttpResponse::Ok().json(Page::from(page.map(to_dto)))
}

/// Create a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProject,
    params(("Idempotency-Key" = Option<String>, Header, description = "replay-safe retries")),
    responses((status = 201, body = ProjectDto), (status = 400, body = ProblemDto),
              (status = 403, body = ProblemDto, description = "quota_exceeded"),
              (status = 413, body = ProblemDto)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    body: web::Json<CreateProject>,
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
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListProjectsQuery),
    responses((status = 200, body = Page<ProjectDto>), (status = 400, body = ProblemDto)))]
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
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    responses((status = 200, body = ProjectDto), (status = 404, body = ProblemDto)))]
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
#[utoipa::path(get, path = "/api/v1/projects/{id}/body", tag = "projects",
    responses((status = 200, description = "the project JSON", content_type = "application/json"),
              (status = 404, body = ProblemDto)))]
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
#[utoipa::path(put, path = "/api/v1/projects/{id}", tag = "projects", request_body = UpdateProject,
    params(("If-Match" = Option<String>, Header, description = "\"<version>\"")),
    responses((status = 200, body = ProjectDto), (status = 403, body = ProblemDto),
              (status = 404, body = ProblemDto),
              (status = 409, body = ProblemDto, description = "version_conflict, with current_version"),
              (status = 428, body = ProblemDto, description = "version_required")))]
pub async fn update(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    IfMatch(if_match): IfMatch,
    id: web::Path<i64>,
    body: web::Json<UpdateProject>,
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
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects",
    responses((status = 204, description = "deleted"), (status = 403, body = ProblemDto),
              (status = 404, body = ProblemDto)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    projects::delete(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Copy (remix) a project the caller may read into a new one of theirs.
#[utoipa::path(post, path = "/api/v1/projects/{id}/copy", tag = "projects", request_body = CopyProject,
    params(("Idempotency-Key" = Option<String>, Header, description = "replay-safe retries")),
    responses((status = 201, body = ProjectDto), (status = 403, body = ProblemDto),
              (status = 404, body = ProblemDto)))]
pub async fn copy(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body = super::read_limited(payload, 64 * 1024).await?;
    let body: CopyProject = optional_json(&body)?;
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
#[utoipa::path(put, path = "/api/v1/projects/{id}/shares", tag = "projects", request_body = SetShares,
    responses((status = 200, body = SharesDto), (status = 403, body = ProblemDto),
              (status = 404, body = ProblemDto)))]
pub async fn set_shares(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    body: web::Json<SetShares>,
) -> Result<HttpResponse, Problem> {
    let group_ids = projects::set_shares(&state.ctx, &user, *id, &body.group_ids).await?;
    Ok(HttpResponse::Ok().json(SharesDto {
        project_id: *id,
        group_ids,
    }))
}

/// The kept versions, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/versions", tag = "projects", params(PageQuery),
    responses((status = 200, body = Page<VersionDto>), (status = 404, body = ProblemDto)))]
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
    responses((status = 200, description = "the project JSON", content_type = "application/json"),
              (status = 404, body = ProblemDto)))]
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
#[utoipa::path(get, path = "/api/v1/groups/{id}/projects", tag = "projects", params(PageQuery),
    responses((status = 200, body = Page<ProjectDto>), (status = 404, body = ProblemDto)))]
pub async fn group_projects(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let out = projects::group_projects(&state.ctx, &user, *id, page.request()?).await?;
    Ok(page_json(out, ProjectDto::from))
}
