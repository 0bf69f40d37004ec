//! `/api/v1/groups/{id}/assignments`, `/api/v1/assignments/…` and
//! `/api/v1/submissions/…`: the classroom. Each handler parses, calls one
//! `service::assignments` function and maps the result. The routes are
//! registered by [`configure`] and documented by [`AssignmentsDoc`], which
//! the main OpenAPI document merges.

use actix_web::http::{header, Method};
use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use crate::dto::assignments::{
    AssignmentDto, CreateAssignment, FeedbackDto, PutFeedback, RosterRowDto, SubmissionDto, Submit,
    UpdateAssignment,
};
use crate::dto::{Page, PageQuery};
use crate::extract::{AuthUser, JsonObject};
use crate::headers::stored_file;
use crate::openapi::responses::{
    BadRequest, Conflict, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge,
    Unauthenticated, Unavailable, UnsupportedMediaType,
};
use crate::openapi::schemas::Id;
use crate::problem::Problem;
use crate::state::AppState;
use service::assignments::{self, AssignmentEdit, NewAssignment, NewFeedback};

use super::{authed, json_config, read_limited, JsonContentType, SMALL_JSON_BYTES};

/// The classroom's routes (one line in `routes::configure`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    // 20,000 characters of instructions or feedback may take 80,000 bytes of
    // UTF-8: four times the small-JSON limit fits any valid body.
    let small_json = json_config(4 * SMALL_JSON_BYTES, JsonContentType::Required);
    cfg.service(
        authed(
            "/api/v1/groups/{id}/assignments",
            [
                (Method::GET, web::to(list)),
                (Method::POST, web::to(create)),
            ],
        )
        .app_data(small_json.clone()),
    )
    .service(
        authed(
            "/api/v1/assignments/{id}",
            [
                (Method::GET, web::to(get)),
                (Method::PATCH, web::to(update)),
            ],
        )
        .app_data(small_json.clone()),
    )
    .service(authed(
        "/api/v1/assignments/{id}/start",
        [(Method::POST, web::to(start))],
    ))
    .service(authed(
        "/api/v1/assignments/{id}/submit",
        [(Method::POST, web::to(submit))],
    ))
    .service(authed(
        "/api/v1/assignments/{id}/submissions",
        [(Method::GET, web::to(roster))],
    ))
    .service(authed(
        "/api/v1/submissions/{id}",
        [(Method::GET, web::to(submission))],
    ))
    .service(authed(
        "/api/v1/submissions/{id}/body",
        [(Method::GET, web::to(submission_body))],
    ))
    .service(authed(
        "/api/v1/submissions/{id}/sb3",
        [(Method::GET, web::to(submission_sb3))],
    ))
    .service(authed(
        "/api/v1/assignments/{id}/export",
        [(Method::GET, web::to(export))],
    ))
    .service(
        authed(
            "/api/v1/submissions/{id}/feedback",
            [(Method::PUT, web::to(put_feedback))],
        )
        .app_data(small_json),
    );
}

#[derive(OpenApi)]
#[openapi(
    paths(list, create, get, update, start, submit, roster, submission, submission_body, put_feedback,
          submission_sb3, export),
    tags((name = "assignments", description = "Assignments, submissions and feedback")),
)]
pub struct AssignmentsDoc;

/// Create an assignment for a group (a teacher member).
#[utoipa::path(post, path = "/api/v1/groups/{id}/assignments", tag = "assignments", operation_id = "create_assignment",
    request_body = CreateAssignment, params(("id" = inline(Id), Path, description = "The group id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = AssignmentDto, headers(("Location" = String, description = "`/api/v1/assignments/{id}`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    body: JsonObject<CreateAssignment>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let new = NewAssignment {
        title: body.title,
        instructions: body.instructions,
        starter_project_id: body.starter_project_id,
        due_at: body.due_at,
        late_submissions: body.late_submissions,
    };
    let a = assignments::create(&state.ctx, &user, *id, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/assignments/{}", a.id)))
        .json(AssignmentDto::from(a)))
}

/// A group's assignments, newest first (members).
#[utoipa::path(get, path = "/api/v1/groups/{id}/assignments", tag = "assignments", operation_id = "list_assignments",
    params(("id" = inline(Id), Path, description = "The group id"), PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<AssignmentDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let out = assignments::list(&state.ctx, &user, *id, page.request()?).await?;
    Ok(HttpResponse::Ok().json(Page::from(out.map(AssignmentDto::from))))
}

/// An assignment (members); a student also gets `my_project_id` and `my_submission`.
#[utoipa::path(get, path = "/api/v1/assignments/{id}", tag = "assignments", operation_id = "get_assignment",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AssignmentDto), (status = 401, response = Unauthenticated),
              (status = 404, response = NotFound), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn get(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let view = assignments::get(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::Ok().json(AssignmentDto::from(view)))
}

/// Edit an assignment (a teacher of the group).
#[utoipa::path(patch, path = "/api/v1/assignments/{id}", tag = "assignments", operation_id = "update_assignment",
    request_body = UpdateAssignment, params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AssignmentDto), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 408, response = RequestTimeout),
              (status = 413, response = TooLarge), (status = 415, response = UnsupportedMediaType),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn update(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    body: JsonObject<UpdateAssignment>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let edit = AssignmentEdit {
        title: body.title,
        instructions: body.instructions,
        due_at: body.due_at,
        late_submissions: body.late_submissions,
    };
    let a = assignments::update(&state.ctx, &user, *id, edit).await?;
    Ok(HttpResponse::Ok().json(AssignmentDto::from(a)))
}

/// Start the assignment (a student of the group): 201 with the new project,
/// 200 with the one already made (one per student however many start at once).
#[utoipa::path(post, path = "/api/v1/assignments/{id}/start", tag = "assignments", operation_id = "start_assignment",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = crate::dto::ProjectDto, description = "your new project for it",
                headers(("Location" = String, description = "`/api/v1/projects/{id}`"))),
              (status = 200, body = crate::dto::ProjectDto, description = "your project for it, made before"),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 408, response = RequestTimeout),
              (status = 413, response = TooLarge), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn start(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    // Takes no input: whatever body came is read and ignored.
    read_limited(payload, SMALL_JSON_BYTES).await?;
    let out = assignments::start(&state.ctx, &user, *id).await?;
    let project = crate::dto::ProjectDto::from(out.project);
    if out.created {
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/projects/{}", project.id)))
            .json(project))
    } else {
        Ok(HttpResponse::Ok().json(project))
    }
}

/// Submit (a student of the group): pins a version of your assignment project.
#[utoipa::path(post, path = "/api/v1/assignments/{id}/submit", tag = "assignments", operation_id = "submit_assignment",
    request_body(content = Submit, content_type = "application/json",
                 description = "Optional: an empty body submits the current version"),
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = SubmissionDto, headers(("Location" = String, description = "`/api/v1/submissions/{id}`"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 409, response = Conflict),
              (status = 413, response = TooLarge), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn submit(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body = read_limited(payload, SMALL_JSON_BYTES).await?;
    let body: Submit = super::optional_json(&body)?;
    let s = assignments::submit(&state.ctx, &user, *id, body.version).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/submissions/{}", s.id)))
        .json(SubmissionDto::from(s)))
}

/// The roster (a teacher of the group): one row per current student member.
#[utoipa::path(get, path = "/api/v1/assignments/{id}/submissions", tag = "assignments", operation_id = "assignment_roster",
    params(("id" = inline(Id), Path, description = "The assignment id"), PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = Page<RosterRowDto>), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn roster(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    let out = assignments::roster(&state.ctx, &user, *id, page.request()?).await?;
    Ok(HttpResponse::Ok().json(Page::from(out.map(RosterRowDto::from))))
}

/// A submission (the student who submitted it, or a teacher of the group).
#[utoipa::path(get, path = "/api/v1/submissions/{id}", tag = "assignments", operation_id = "get_submission",
    params(("id" = inline(Id), Path, description = "The submission id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SubmissionDto), (status = 401, response = Unauthenticated),
              (status = 404, response = NotFound), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn submission(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let s = assignments::submission(&state.ctx, &user, *id).await?;
    Ok(HttpResponse::Ok().json(SubmissionDto::from(s)))
}

/// The submitted body, byte for byte as it was at the pinned version.
#[utoipa::path(get, path = "/api/v1/submissions/{id}/body", tag = "assignments", operation_id = "get_submission_body",
    params(("id" = inline(Id), Path, description = "The submission id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, content_type = "application/json", body = inline(crate::openapi::schemas::ProjectJson),
                description = "the pinned project JSON"),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn submission_body(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let bytes = assignments::submission_body(&state.ctx, &user, *id).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type("application/json")
        .body(bytes))
}

/// Give feedback (a teacher of the group), replacing the feedback there is;
/// with `version`, only if it is still the one read.
#[utoipa::path(put, path = "/api/v1/submissions/{id}/feedback", tag = "assignments", operation_id = "put_feedback",
    request_body = PutFeedback, params(("id" = inline(Id), Path, description = "The submission id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = FeedbackDto), (status = 400, response = BadRequest),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 408, response = RequestTimeout),
              (status = 409, response = Conflict), (status = 413, response = TooLarge),
              (status = 415, response = UnsupportedMediaType), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn put_feedback(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
    body: JsonObject<PutFeedback>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let new = NewFeedback {
        comment: body.comment,
        grade: body.grade,
        expected_version: body.version,
    };
    let f = assignments::put_feedback(&state.ctx, &user, *id, new).await?;
    Ok(HttpResponse::Ok().json(FeedbackDto::from(f)))
}

/// A streamed download: `.sb3` or zip, with its file name.
fn download(out: service::sb3::Export, content_type: &'static str) -> HttpResponse {
    stored_file(&mut HttpResponse::Ok())
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", out.file_name),
        ))
        // Compressed already: keep the compression middleware off it.
        .insert_header(header::ContentEncoding::Identity)
        .streaming(out.bytes)
}

/// The submission as an `.sb3` (its pinned body and the assets it names).
#[utoipa::path(get, path = "/api/v1/submissions/{id}/sb3", tag = "assignments", operation_id = "get_submission_sb3",
    params(("id" = inline(Id), Path, description = "The submission id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "a zip of `project.json` and every asset it names, streamed",
                content((inline(crate::openapi::schemas::Bytes) = "application/x.scratch.sb3")),
                headers(("Content-Disposition" = String, description = "`attachment; filename=\"submission-<id>.sb3\"`"))),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn submission_sb3(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let out = assignments::submission_sb3(&state.ctx, &user, *id).await?;
    Ok(download(out, service::sb3::CONTENT_TYPE))
}

/// The class's work (a teacher of the group): a zip of `<username>.sb3`,
/// each current student's latest submission, streamed.
#[utoipa::path(get, path = "/api/v1/assignments/{id}/export", tag = "assignments", operation_id = "export_assignment",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "a zip of one `.sb3` per student who submitted, streamed",
                content((inline(crate::openapi::schemas::Bytes) = "application/zip")),
                headers(("Content-Disposition" = String, description = "`attachment; filename=\"assignment-<id>.zip\"`"))),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError),
              (status = 503, response = Unavailable)))]
pub async fn export(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let out = assignments::export(&state.ctx, &user, *id).await?;
    Ok(download(out, "application/zip"))
}
