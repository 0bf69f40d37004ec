//! `GET /project/{id}`: one project's page — its title, its kept versions
//! (version, date, size), each with a "Restore this version" form, and the
//! `.sb3` download. The form calls the same service function as
//! `POST /api/v1/projects/{id}/versions/{v}/restore`, then answers 303 back.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{editor_installed, page, see_other, viewer};
use crate::openapi::responses::{
    BadRequest, Conflict, Forbidden, NotFound, ServerError, Unauthenticated, Unavailable,
};
use crate::openapi::schemas::{Html, Id, Version};
use crate::problem::Problem;
use crate::state::AppState;
use service::page::PageRequest;
use service::projects;
use utoipa::{PartialSchema, ToSchema};

/// `GET /project/{id}`: the project page (whoever may read the project).
#[utoipa::path(get, path = "/project/{id}", tag = "pages", operation_id = "project_page",
    params(("id" = inline(Id), Path, description = "The project id")),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the project and its kept versions", content_type = "text/html", body = inline(Html)),
              (status = 302, description = "logged out: to `/`", headers(("Location" = String))),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn project_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let Some(user) = viewer(&state, &req).await else {
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, "/"))
            .finish());
    };
    let p = projects::get(&state.ctx, &user, *id).await?;
    let versions = projects::versions(&state.ctx, &user, p.id, PageRequest::first(100)).await?;
    let mine = p.owner_id == user.id;
    let now = service::now();
    let body = html! {
        h1 { (p.title) }
        p.who {
            "Version " (p.version) " · changed "
            time datetime=(p.updated_at.to_rfc3339()) title=(p.updated_at.format("%Y-%m-%d %H:%M UTC")) {
                (super::home::in_words(p.updated_at, now))
            }
        }
        div.actions {
            @if editor_installed(&state) { a.button.primary href={ "/editor?project=" (p.id) } { "Open in the editor" } }
            // The .sb3 download (the export route lives with the thumbnails and export).
            a.button href={ "/api/v1/projects/" (p.id) "/sb3" } download { "Download .sb3" }
            a.button href="/" { "Back to my projects" }
        }
        section.panel aria-labelledby="versions" {
            h2 id="versions" { "Versions" }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Saved" } th scope="col" { "Size" } th scope="col" { span class="sr" { "Actions" } } } }
                    tbody {
                        @for v in &versions.items {
                            tr {
                                td { (v.version) }
                                td { (v.created_at.format("%Y-%m-%d %H:%M UTC")) }
                                td { (v.body_size) " bytes" }
                                td {
                                    @if v.version == p.version {
                                        "current"
                                    } @else if mine {
                                        form.inline method="post" action={ "/project/" (p.id) "/versions/" (v.version) "/restore" } {
                                            input type="hidden" name="version" value=(p.version);
                                            button.small type="submit" { "Restore this version" span.sr { " (version " (v.version) ")" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&p.title, body))
}

/// The project page's restore form: the version the page showed as current.
#[derive(Deserialize, ToSchema)]
pub struct RestoreVersionForm {
    #[schema(schema_with = Version::schema)]
    version: i32,
}

/// `POST /project/{id}/versions/{version}/restore`: restore that version as
/// the next one, then back to the project page (stale page: 409).
#[utoipa::path(post, path = "/project/{id}/versions/{version}/restore", tag = "pages",
    operation_id = "project_page_restore_version",
    request_body(content = RestoreVersionForm, content_type = "application/x-www-form-urlencoded"),
    params(("id" = inline(Id), Path, description = "The project id"),
           ("version" = inline(Version), Path, description = "The kept version to restore")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "restored, back to the project page", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 409, response = Conflict), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn project_restore_version(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, i32)>,
    form: web::Form<RestoreVersionForm>,
) -> Result<HttpResponse, Problem> {
    let (id, version) = path.into_inner();
    let user = viewer(&state, &req)
        .await
        .ok_or(service::Error::Unauthenticated)?;
    projects::restore_version(&state.ctx, &user, id, version, Some(form.version)).await?;
    Ok(see_other(&format!("/project/{id}")))
}
