//! The HTML side of cubby: the home page (log in, my projects, projects
//! shared with my classes, new, open, copy), the editor page that mounts the
//! stock Scratch GUI on cubby's own routes, and the GUI's static files served
//! at the site root (the bundle's public path is `/`).
//!
//! Pages are server-rendered with `maud` (auto-escaped) and work without
//! JavaScript, except the editor itself. Forms post only same-origin: the
//! session cookie is SameSite=Lax, so a cross-site form carries no session.
//!
//! This module holds the layout every page shares; each page lives in a file
//! of its own (`home`, `editor`, `static_files`, `project` — a project and
//! its versions — `trash`, the home page's Trash section and its forms, and
//! `assignments`, the classroom's home page section and assignment page).
//! The pages' one stylesheet is a resource of its own (`style`,
//! `GET /cubby.css`), linked from every page's `<head>`.

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup, DOCTYPE};

use crate::extract::{current_user, session_token};
use crate::headers::html_page;
use crate::state::AppState;
use service::auth::User;

mod assignments;
mod classes;
mod editor;
mod home;
mod import;
mod library;
mod project;
mod read_only;
mod static_files;
mod style;
mod trash;

pub use assignments::*;
pub use classes::*;
pub use editor::*;
pub use home::*;
pub use import::*;
pub use library::{LibraryCheck, LibraryStatus};
pub use project::*;
pub use static_files::{drop_identity_encoding, static_file};
pub use style::*;
pub use trash::*;

/// The logged-in user, or `None` (a bad or expired token is just "logged out" here).
pub(crate) async fn viewer(state: &AppState, req: &HttpRequest) -> Option<User> {
    let token = session_token(req)?;
    current_user(state, &token).await.ok()
}

pub(crate) fn page(title: &str, body: Markup) -> HttpResponse {
    page_with(StatusCode::OK, title, html! {}, body)
}

pub(crate) fn page_with_status(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    page_with(status, title, html! {}, body)
}

/// A page whose header bar also holds `bar` (the home page's "Log out").
pub(crate) fn page_with(
    status: StatusCode,
    title: &str,
    bar: Markup,
    body: Markup,
) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cubby" }
                link rel="stylesheet" href=(style::href());
            }
            body {
                // The first Tab stop: past the header, straight to the page.
                a.skip href="#main" { "Skip to the page" }
                header.site {
                    div.bar { a.brand href="/" { "cubby" } (bar) }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    };
    html_page(&mut HttpResponse::build(status))
        .content_type(ContentType::html())
        .body(markup.into_string())
}

pub(crate) fn editor_installed(state: &AppState) -> bool {
    state
        .config
        .editor_dir
        .as_deref()
        .is_some_and(|d| d.join("scratch-gui-standalone.js").is_file())
}

pub(crate) fn install_hint() -> Markup {
    html! {
        p { "The Scratch editor is not installed on this server. To install it, run "
            code { "cubby editor fetch ./cubby-data/editor" }
            " and start cubby with " code { "CUBBY_EDITOR_DIR=./cubby-data/editor" } "." }
    }
}

/// A form's answer: 303 back to a page of ours.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}
