//! `GET /`: the home page, and its forms (dev login, copy).

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::import::{download_link, import_form, thumbnail};
use super::{editor_installed, install_hint, page, see_other, viewer};
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, ServerError, TooManyRequests, Unauthenticated, Unavailable,
};
use crate::openapi::schemas::{GroupList, Html, Id, Role, Username};
use crate::problem::Problem;
use crate::routes::auth::{dev_login_session, login_cookie};
use crate::state::AppState;
use service::auth::GroupClaim;
use service::page::PageRequest;
use service::projects::{self, Project, Scope};
use utoipa::{PartialSchema, ToSchema};

fn project_rows(projects: &[Project], editor: bool, can_copy: bool, can_delete: bool) -> Markup {
    html! {
        @if projects.is_empty() {
            p { "None yet." }
        } @else {
            table {
                thead { tr { th { span class="sr" { "Thumbnail" } } th { "Title" } th { "Version" } th { "Updated" } th { span class="sr" { "Actions" } } } }
                tbody {
                    @for p in projects {
                        tr {
                            td { (thumbnail(p.id)) }
                            td { a href={ "/project/" (p.id) } { (p.title) } }
                            td { (p.version) }
                            td { (p.updated_at.format("%Y-%m-%d %H:%M UTC")) }
                            td {
                                @if editor { a href={ "/editor?project=" (p.id) } { "Open" } " " }
                                (download_link(p.id))
                                @if can_copy {
                                    form.inline method="post" action={ "/home/copy/" (p.id) } {
                                        button type="submit" { "Copy" }
                                    }
                                }
                                @if can_delete {
                                    " "
                                    form.inline method="post" action={ "/home/delete/" (p.id) } {
                                        button type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /`: the home page.
#[utoipa::path(get, path = "/", tag = "pages", operation_id = "home",
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "logged out: the login page; logged in: my projects and my classes'", content_type = "text/html", body = inline(Html)),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Problem> {
    let editor = editor_installed(&state);
    let Some(user) = viewer(&state, &req).await else {
        return Ok(page("Log in", login_form(&state)));
    };
    let first_page = PageRequest::first(100);
    let mine = projects::list(&state.ctx, &user, Scope::Mine, first_page).await?;
    let shared = projects::list(&state.ctx, &user, Scope::Shared, first_page).await?;
    let classes = super::classes::section(&state, &req, &user).await?;
    let body = html! {
        p { "Logged in as " strong { (user.display_name) } " (" (user.role.as_str()) ")"
            @if !user.groups.is_empty() {
                " · classes: " (user.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "))
            }
            " · " form.inline method="post" action="/auth/logout?next=/" { button type="submit" { "Log out" } }
        }
        @if editor {
            p { a href="/editor" { "New project" } }
        } @else {
            (install_hint())
        }
        h2 { "My projects" }
        (project_rows(&mine.items, editor, true, true))
        (import_form())
        h2 { "Shared with my classes" }
        (project_rows(&shared.items, editor, true, false))
        (classes)
        (super::assignments::section(&state, &req, &user).await?)
        (super::trash::section(&state, &user).await?)
    };
    Ok(page("Home", body))
}

fn login_form(state: &AppState) -> Markup {
    let oidc = state.config.oidc_issuer.is_some();
    html! {
        h1 { "Log in" }
        @if oidc {
            p { a href="/auth/login?return_to=/" { "Log in with your school account" } }
        }
        @if state.config.dev_login {
            form method="post" action="/auth/dev/form" {
                p { "Development login (no password; enabled with CUBBY_DEV_LOGIN)." }
                label { "Username " input name="username" required autocomplete="username"; }
                label { "Role "
                    select name="role" {
                        option value="student" { "student" }
                        option value="teacher" { "teacher" }
                    }
                }
                label { "Classes (comma-separated ids) " input name="groups" placeholder="7b, 8a"; }
                button type="submit" { "Log in" }
            }
        }
        @if !oidc && !state.config.dev_login {
            p { "No login method is configured on this server (set CUBBY_OIDC_ISSUER, or CUBBY_DEV_LOGIN for development)." }
        }
    }
}

/// The home page's development login form.
#[derive(Deserialize, ToSchema)]
pub struct DevLoginForm {
    #[schema(schema_with = Username::schema)]
    username: String,
    #[serde(default)]
    #[schema(schema_with = Role::schema)]
    role: Option<String>,
    #[serde(default)]
    #[schema(schema_with = GroupList::schema)]
    groups: String,
}

/// `POST /auth/dev/form`: the home page's dev login (same service call as
/// `POST /auth/dev/login`), then back to `/`.
#[utoipa::path(post, path = "/auth/dev/form", tag = "pages", operation_id = "dev_login_form",
    request_body(content = DevLoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "logged in, back to `/` with the `cubby_session` cookie",
                headers(("Location" = String), ("Set-Cookie" = String))),
              (status = 400, response = BadRequest), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 429, response = TooManyRequests), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn dev_login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DevLoginForm>,
) -> Result<HttpResponse, Problem> {
    let form = form.into_inner();
    let groups = form
        .groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| GroupClaim {
            external_id: g.to_owned(),
            name: g.to_owned(),
        })
        .collect();
    let input = service::auth::dev_login_input(form.username, None, form.role.as_deref(), groups);
    let session = dev_login_session(&state, &req, input).await?;
    let mut resp = see_other("/");
    resp.add_cookie(&login_cookie(&state, &session))
        .map_err(|_| Problem::internal())?;
    Ok(resp)
}

/// `POST /home/copy/{id}`: copy a project, then back to the home page.
#[utoipa::path(post, path = "/home/copy/{id}", tag = "pages", operation_id = "home_copy",
    params(("id" = inline(Id), Path, description = "The project id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "copied, back to `/`", headers(("Location" = String))),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn copy(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = viewer(&state, &req)
        .await
        .ok_or(service::Error::Unauthenticated)?;
    projects::copy(&state.ctx, &user, *id, None, None).await?;
    Ok(see_other("/"))
}
