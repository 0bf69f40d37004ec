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
    // Only the owner saves (and so autosaves); anyone else who may read the
    // project gets "Remix", a copy of their own. A new project is the
    // viewer's own.
    let own = match (&opened, query.project) {
        _ if read_only.is_some() => false,
        (Some(p), _) => p.owner_id == user.id,
        (None, None) => true,
        (None, Some(_)) => false,
    };
    // Values go into a script as JSON, so nothing in them can end the script.
    let mut config = serde_json::json!({
        "libraryInstalled": library.is_none_or(|s| s.complete()),
        "username": user.username,
        "projectId": query.project.map(|id| id.to_string()).unwrap_or_else(|| "0".into()),
        "title": opened.as_ref().map(|p| p.title.clone()),
        "version": opened.as_ref().map(|p| p.version),
        "ownerId": opened.as_ref().map(|p| p.owner_id),
        "own": own,
        "autosaveMs": u64::from(state.config.autosave_seconds) * 1000,
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
                // A submission opened read-only has its own banner (with the
                // way back); the strip's save status would only mislead.
                @if let Some(r) = &read_only { (r.banner()) } @else { (strip(own)) }
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

/// The strip above the editor: the way back to the home page, whose
/// project this is, and the save status the script keeps up to date
/// (`aria-live`, so a screen reader hears "Saved" without losing focus).
fn strip(own: bool) -> maud::Markup {
    html! {
        nav id="cubby-strip" aria-label="cubby" {
            a id="cubby-home" href="/" { "← My projects" }
            @if !own {
                span id="cubby-owner" {
                    "Someone else's project: changes are not saved here. "
                    "Use Remix to make your own copy."
                }
            }
            span id="cubby-save-status" role="status" aria-live="polite" {}
        }
    }
}

/// Mounts the GUI with a custom `GUIStorage` (docs/SCRATCH.md): projects, assets and the backpack on cubby's own routes,
/// authenticated by the session cookie (same origin), and library
/// thumbnails from the local asset host, so no request leaves for the
/// public Scratch servers.
const EDITOR_SCRIPT: &str = include_str!("editor.js");

/// The editor fills the window; the strip and the notice after a conflict
/// copy sit above it (in the flow, so they cover none of the editor's menus).
const EDITOR_STYLE: &str = "html,body{margin:0;height:100%}\
body{display:flex;flex-direction:column;height:100vh}#app{flex:1 1 auto;min-height:0}\
#cubby-conflict{flex:none;padding:.6em 1em;background:#fff3cd;color:#533f03;\
border-bottom:1px solid #d9b44a;font:15px/1.4 sans-serif}\
#cubby-conflict a{color:#0b57d0;font-weight:bold}#cubby-conflict button{margin-left:1em}\
#cubby-strip{flex:none;display:flex;align-items:center;gap:1.2em;padding:.25em 1em;\
background:#f2f5fa;color:#1f2937;border-bottom:1px solid #c9d3e3;font:14px/1.4 sans-serif}\
#cubby-home{color:#0b57d0;font-weight:bold;text-decoration:none}#cubby-home:hover{text-decoration:underline}\
#cubby-home:focus-visible{outline:2px solid #0b57d0;outline-offset:2px}\
#cubby-owner{color:#533f03}#cubby-save-status{margin-left:auto;font-weight:bold}\
#cubby-save-status[data-state=failed]{color:#b42318}#cubby-save-status[data-state=saved]{color:#067647}";
