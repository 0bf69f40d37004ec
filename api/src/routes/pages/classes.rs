//! The home page's "Classes" section and its forms: a teacher makes a class,
//! sees each of their local classes with its join code (and a "New code"
//! button) and its members (each with "Remove"), and shares a project with a
//! class; anyone types a code to join. Plain POST forms answering 303 back
//! to `/?class_msg=<word>`, where the section shows a readable message
//! (never raw JSON). The forms are protected against other sites by the
//! cross-origin middleware (S2) like every cookie-authenticated write.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use service::auth::{GroupSource, Role, User};
use service::groups;
use service::page::PageRequest;
use service::projects::{self, Scope};
use utoipa::{PartialSchema, ToSchema};

use super::{see_other, viewer};
use crate::openapi::responses::{BadRequest, NotFound, ServerError, Unauthenticated, Unavailable};
use crate::openapi::schemas::{GroupText, Id};
use crate::problem::Problem;
use crate::state::AppState;

/// The message for `?class_msg=`: a fixed word, never text from the client.
fn message(word: &str) -> Option<&'static str> {
    Some(match word {
        "created" => "Class created. Give your students its code.",
        "joined" => "You are in the class.",
        "rotated" => "The class has a new code; the old one no longer works.",
        "removed" => "Removed from the class.",
        "shared" => "Shared with the class.",
        "not_found" => "No class has that code (or it was replaced). Check the code with your teacher: 8 letters and digits.",
        "too_many_requests" => "Too many wrong codes. Wait a few minutes, then try again.",
        "last_teacher" => "A class keeps at least one teacher: let another teacher join with the code first.",
        "forbidden" => "Only a teacher of the class may do that.",
        "invalid_input" => "Please give the class a name (at most 255 characters).",
        _ => "That did not work. Please try again.",
    })
}

/// The "Classes" section of the home page for `user`.
pub(crate) async fn section(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
) -> Result<Markup, Problem> {
    let msg = web::Query::<MessageQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.class_msg.clone())
        .and_then(|w| message(&w));
    let teacher = user.role == Role::Teacher;
    let mut local = Vec::new();
    if teacher {
        for g in user
            .groups
            .iter()
            .filter(|g| g.source == GroupSource::Local)
        {
            let members = groups::members(&state.ctx, user, g.id).await?;
            local.push((g, members));
        }
    }
    let mine = if teacher && !user.groups.is_empty() {
        projects::list(&state.ctx, user, Scope::Mine, PageRequest::first(100))
            .await?
            .items
    } else {
        Vec::new()
    };
    Ok(html! {
        section.panel.classes aria-labelledby="classes" {
            h2 id="classes" { "Classes" }
            @if let Some(msg) = msg { p.notice role="status" { (msg) } }
            form method="post" action="/home/classes/join" {
                label { "Join a class with its code " input name="code" required autocomplete="off" maxlength="64" placeholder="ABCD2345"; }
                button type="submit" { "Join" }
            }
            @if teacher {
                form method="post" action="/home/classes" {
                    label { "New class " input name="name" required maxlength="255" placeholder="Robots club"; }
                    button type="submit" { "Create class" }
                }
                @for (g, members) in &local {
                    section.class {
                        h3 { (g.name) }
                        div.code-line { "Code: " code.join-code { (g.join_code.as_deref().unwrap_or("")) } " "
                            form.inline method="post" action={ "/home/classes/" (g.id) "/code" } {
                                button.small type="submit" { "New code" span.sr { " for " (g.name) } }
                            }
                        }
                        div.table-wrap { table {
                            thead { tr { th scope="col" { "Member" } th scope="col" { "Role" } th scope="col" { span class="sr" { "Actions" } } } }
                            tbody {
                                @for m in members {
                                    tr {
                                        td { (m.display_name) " (" (m.username) ")" }
                                        td { (m.role.as_str()) }
                                        td {
                                            form.inline method="post" action={ "/home/classes/" (g.id) "/remove/" (m.id) } {
                                                button.small.danger type="submit" { "Remove" span.sr { " " (m.display_name) } }
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                    }
                }
                @if !mine.is_empty() {
                    form method="post" action="/home/classes/share" {
                        label { "Share my project "
                            select name="project_id" {
                                @for p in &mine { option value=(p.id) { (p.title) } }
                            }
                        }
                        label { "with the class "
                            select name="group_id" {
                                @for g in &user.groups { option value=(g.id) { (g.name) } }
                            }
                        }
                        button type="submit" { "Share" }
                    }
                }
            }
        }
    })
}

#[derive(Deserialize)]
struct MessageQuery {
    class_msg: Option<String>,
}

/// Back to the home page with a message word.
fn back(word: &str) -> HttpResponse {
    see_other(&format!("/?class_msg={word}"))
}

/// A form's outcome: the success word, or the problem's code as the word.
fn outcome<T>(result: Result<T, Problem>, ok: &str) -> Result<HttpResponse, Problem> {
    match result {
        Ok(_) => Ok(back(ok)),
        // Not logged in stays an error (there is no page to go back to).
        Err(p) if p.code == service::Code::Unauthenticated => Err(p),
        Err(p) => Ok(back(p.code.as_str())),
    }
}

async fn caller(state: &AppState, req: &HttpRequest) -> Result<User, Problem> {
    Ok(viewer(state, req)
        .await
        .ok_or(service::Error::Unauthenticated)?)
}

/// The "New class" form.
#[derive(Deserialize, ToSchema)]
pub struct CreateClassForm {
    #[schema(schema_with = GroupText::schema)]
    name: String,
}

/// `POST /home/classes`: make a class (teachers), then back to `/`.
#[utoipa::path(post, path = "/home/classes", tag = "pages", operation_id = "home_create_class",
    request_body(content = CreateClassForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/` with `?class_msg=created` or the error's code", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn create_class(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<CreateClassForm>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let result = groups::create(&state.ctx, &user, &form.name).await;
    outcome(result.map_err(Problem::from), "created")
}

/// The "Join a class" form.
#[derive(Deserialize, ToSchema)]
pub struct JoinClassForm {
    #[schema(max_length = 64)]
    code: String,
}

/// `POST /home/classes/join`: join with a code (rate-limited like the JSON
/// route), then back to `/`.
#[utoipa::path(post, path = "/home/classes/join", tag = "pages", operation_id = "home_join_class",
    request_body(content = JoinClassForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/` with `?class_msg=joined`, `not_found` or `too_many_requests`", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn join_class(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<JoinClassForm>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let result = crate::routes::groups::join_code(&state, &req, &user, &form.code).await;
    outcome(result, "joined")
}

/// `POST /home/classes/{id}/code`: a new join code, then back to `/`.
#[utoipa::path(post, path = "/home/classes/{id}/code", tag = "pages", operation_id = "home_rotate_code",
    params(("id" = inline(Id), Path, description = "The group id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/` with `?class_msg=rotated` or the error's code", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn rotate_code(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let result = groups::rotate_code(&state.ctx, &user, *id).await;
    outcome(result.map_err(Problem::from), "rotated")
}

/// `POST /home/classes/{id}/remove/{user_id}`: take a member out, then back
/// to `/`.
#[utoipa::path(post, path = "/home/classes/{id}/remove/{user_id}", tag = "pages", operation_id = "home_remove_member",
    params(("id" = inline(Id), Path, description = "The group id"), ("user_id" = inline(Id), Path, description = "The member's user id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/` with `?class_msg=removed` or the error's code", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn remove_member(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let (id, user_id) = path.into_inner();
    let result = groups::remove_member(&state.ctx, &user, id, user_id).await;
    outcome(result.map_err(Problem::from), "removed")
}

/// The "Share my project with the class" form.
#[derive(Deserialize, ToSchema)]
pub struct ShareForm {
    #[schema(schema_with = Id::schema)]
    project_id: i64,
    #[schema(schema_with = Id::schema)]
    group_id: i64,
}

/// `POST /home/classes/share`: add a class to a project's shares (the
/// project's other shares stay), then back to `/`.
#[utoipa::path(post, path = "/home/classes/share", tag = "pages", operation_id = "home_share",
    request_body(content = ShareForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/` with `?class_msg=shared` or the error's code", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn share(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<ShareForm>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let result = projects::add_share(&state.ctx, &user, form.project_id, form.group_id).await;
    outcome(result.map_err(Problem::from), "shared")
}
