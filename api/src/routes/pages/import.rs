//! The home page's `.sb3` bits: each project's thumbnail and "Download
//! .sb3" link, and the "Import .sb3" form with its handler
//! (`POST /home/import`, a plain `multipart/form-data` upload that calls the
//! same service as `POST /api/v1/projects/import`, then 303 to `/`).

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use maud::{html, Markup};
use service::Code;

use super::{see_other, viewer};
use crate::openapi::responses::{
    BadRequest, Forbidden, RequestTimeout, ServerError, TooLarge, Unauthenticated, Unavailable,
};
use crate::openapi::schemas::Html;
use crate::problem::Problem;
use crate::routes::assets::check_declared_length;
use crate::state::AppState;

/// A project's picture: its thumbnail as a CSS background over a friendly
/// placeholder drawn by the stylesheet, so a project without one (a 404)
/// shows the placeholder: no broken image, no script. Decorative (the card's
/// title says which project), so hidden from screen readers.
pub(super) fn thumbnail(id: i64) -> Markup {
    html! {
        span.thumb aria-hidden="true" {
            span.thumb-image style={ "background-image:url(/api/v1/projects/" (id) "/thumbnail)" } {}
        }
    }
}

/// The link that downloads a project as an `.sb3`; its accessible name
/// says which project.
pub(super) fn download_link(id: i64, title: &str) -> Markup {
    html! {
        a.button.small href={ "/api/v1/projects/" (id) "/sb3" } download {
            // "Download" is what a child reads; the file is an `.sb3`.
            "Download" span.sr { " " (title) " as an .sb3 file" }
        }
    }
}

/// The "Import .sb3" form: a project from the computer.
pub(super) fn import_form() -> Markup {
    html! {
        form.import method="post" action="/home/import" enctype="multipart/form-data" {
            h3 { "Bring in a project from your computer" }
            div.fields {
                label { "Title (optional)" input name="title" placeholder="Untitled" maxlength="200"; }
                label { "Scratch file (.sb3)" input type="file" name="file" accept=".sb3" required; }
                button type="submit" { "Import .sb3" }
            }
        }
    }
}

/// The longest `title` field read from the form.
const TITLE_FIELD_BYTES: usize = 4 * 1024;

/// `POST /home/import`: the form's `title` (first, optional) and `file`.
#[utoipa::path(post, path = "/home/import", tag = "pages", operation_id = "home_import",
    request_body(content = inline(Html), content_type = "multipart/form-data",
                 description = "`title` (optional), then `file`: the `.sb3`"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "imported, back to `/`", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout),
              (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn import(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut form: Multipart,
) -> Result<HttpResponse, Problem> {
    let user = viewer(&state, &req)
        .await
        .ok_or(service::Error::Unauthenticated)?;
    let limit = state.ctx.settings.max_import_bytes;
    check_declared_length(&req, limit.saturating_add(64 * 1024))?;
    let mut title: Option<String> = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(not_a_form)?;
        match field.name() {
            Some("title") => {
                let mut text = Vec::new();
                while let Some(chunk) = field.next().await {
                    text.extend_from_slice(&chunk.map_err(not_a_form)?);
                    if text.len() > TITLE_FIELD_BYTES {
                        return Err(Problem::new(Code::InvalidInput, "the title is too long"));
                    }
                }
                let text = String::from_utf8(text)
                    .map_err(|_| Problem::new(Code::InvalidInput, "the title is not UTF-8"))?;
                title = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
            }
            Some("file") => {
                let body = field.map(|chunk| {
                    chunk.map_err(|e| {
                        service::Error::invalid(
                            Code::IncompleteBody,
                            format!("the upload broke off: {e}"),
                        )
                    })
                });
                service::sb3::import(&state.ctx, &user, title.as_deref(), body, None).await?;
                return Ok(see_other("/"));
            }
            _ => {
                // Skip unknown fields.
                while let Some(chunk) = field.next().await {
                    chunk.map_err(not_a_form)?;
                }
            }
        }
    }
    Err(Problem::new(Code::InvalidInput, "the form has no `file`"))
}

fn not_a_form(err: actix_multipart::MultipartError) -> Problem {
    Problem::new(
        Code::InvalidInput,
        format!("not a multipart/form-data upload: {err}"),
    )
}
