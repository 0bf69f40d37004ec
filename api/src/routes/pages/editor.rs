//! `GET /editor?project={id}`: the stock Scratch editor, mounted on cubby's
//! own routes by the script in `editor.js`; `GET /editor?submission={id}`:
//! the same editor on a submitted version, read-only (`read_only.rs`).

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, PreEscaped, DOCTYPE};
use serde::Deserialize;

use super::{editor_installed, install_hint, page_with_status, viewer};
use crate::headers::html_page;
use crate::openapi::responses::{BadRequest, ServerError, Unavailable};
use crate::openapi::schemas::{AnyInt64, Html};
use crate::problem::Problem;
use crate::state::AppState;
use actix_web::http::StatusCode;
use service::projects;
use utoipa::{IntoParams, PartialSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EditorQuery {
    /// The project to open (none: a new one).
    #[param(schema_with = AnyInt64::schema)]
    project: Option<i64>,
    /// A submission to open read-only (the student who submitted it, or a
    /// teacher of its class); takes precedence over `project`.
    #[param(schema_with = AnyInt64::schema)]
    submission: Option<i64>,
}

/// `GET /editor?project={id}`: the stock Scratch editor on that project.
#[utoipa::path(get, path = "/editor", tag = "pages", operation_id = "editor", params(EditorQuery),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the Scratch editor on the project", content_type = "text/html", body = inline(Html)),
              (status = 302, description = "logged out: to `/`", headers(("Location" = String))),
              (status = 400, response = BadRequest),
              (status = 404, description = "the editor is not installed (a page that says how), or `submission` is none the viewer may see", content_type = "text/html", body = inline(Html)),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn editor(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<EditorQuery>,
) -> Result<HttpResponse, Problem> {
    let Some(user) = viewer(&state, &req).await else {
        // Not logged in: to the home page, which offers the login.
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, "/"))
            .finish());
    };
    if !editor_installed(&state) {
        return Ok(page_with_status(
            StatusCode::NOT_FOUND,
            "Editor not installed",
            install_hint(),
        ));
    }
    // `?submission=`: the pinned body, read-only (`read_only.rs`); one the
    // viewer may not see is a 404 page, and the editor never loads.
    let read_only = match query.submission {
        Some(id) => match super::read_only::open(&state, &user, id).await? {
            Some(r) => Some(r),
            None => return Ok(super::read_only::not_found()),
        },
        None => None,
    };
    // The title names a conflict copy; the version is only a fallback for
    // the page (it learns the version from the response that delivers the
    // body). A project the viewer may not read gets neither: the editor's
    // own load then fails as it should.
    let opened = match query.project {
        Some(id) if read_only.is_none() => projects::get(&state.ctx, &user, id).await.ok(),
        _ => None,
    };
    let library = state.library.status(&state.ctx).await;
    // Values go into a script as JSON, so nothing in them can end the script.
    let mut config = serde_json::json!({
        "libraryInstalled": library.is_none_or(|s| s.complete()),
        "username": user.username,
        "projectId": query.project.map(|id| id.to_string()).unwrap_or_else(|| "0".into()),
        "title": opened.as_ref().map(|p| p.title.clone()),
        "version": opened.as_ref().map(|p| p.version),
    });
    if let Some(r) = &read_only {
        r.configure(&mut config);
    }
    let config = config.to_string().replace('<', "\\u003c");
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Scratch · cubby" }
                style { (PreEscaped(EDITOR_STYLE)) }
            }
            body {
                (super::library::banner(library))
                @if let Some(r) = &read_only { (r.banner()) }
                div id="app" {}
                script { (PreEscaped(format!("window.CUBBY = {config};"))) }
                script src="/scratch-gui-standalone.js" {}
                script { (PreEscaped(EDITOR_SCRIPT)) }
            }
        }
    };
    Ok(html_page(&mut HttpResponse::Ok())
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string()))
}

/// Mounts the GUI with a custom `GUIStorage` (docs/SCRATCH.md): projects, assets and the backpack on cubby's own routes,
/// authenticated by the session cookie (same origin), and library
/// thumbnails from the local asset host, so no request leaves for the
/// public Scratch servers.
const EDITOR_SCRIPT: &str = include_str!("editor.js");

/// The editor fills the window; the notice after a conflict copy takes a
/// strip above it (in the flow, so it covers none of the editor's menus).
const EDITOR_STYLE: &str = "html,body{margin:0;height:100%}\
body{display:flex;flex-direction:column;height:100vh}#app{flex:1 1 auto;min-height:0}\
#cubby-conflict{flex:none;padding:.6em 1em;background:#fff3cd;color:#533f03;\
border-bottom:1px solid #d9b44a;font:15px/1.4 sans-serif}\
#cubby-conflict a{color:#0b57d0;font-weight:bold}#cubby-conflict button{margin-left:1em}";
