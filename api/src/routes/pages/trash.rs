//! The home page's Trash section, and the forms that move a project to the
//! trash, restore it and purge it ("Delete forever"). Each form calls the
//! same service function as its `/api/v1` route, then answers 303 to `/`.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::{see_other, viewer};
use crate::openapi::responses::{Forbidden, NotFound, ServerError, Unauthenticated, Unavailable};
use crate::openapi::schemas::Id;
use crate::problem::Problem;
use crate::state::AppState;
use service::auth::User;
use service::page::PageRequest;
use service::projects;

/// The Trash section of the home page: the caller's trashed projects, most
/// recently deleted first, each with Restore and "Delete forever".
pub(crate) async fn section(state: &AppState, user: &User) -> Result<Markup, Problem> {
    let trash = projects::list_trash(&state.ctx, user, None, PageRequest::first(100)).await?;
    let now = service::now();
    Ok(html! {
        section.panel.trash aria-labelledby="trash" {
            h2 id="trash" { "Trash" }
            @if trash.items.is_empty() {
                p.empty { "The trash is empty." }
            } @else {
                p { "Deleted projects stay here until they are purged; restore one to get it back as it was." }
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "Title" } th scope="col" { "Deleted" } th scope="col" { "Days left" } th scope="col" { span class="sr" { "Actions" } } } }
                        tbody {
                            @for t in &trash.items { (trash_row(t, now)) }
                        }
                    }
                }
            }
        }
    })
}

/// One trashed project; the buttons' accessible names say which.
fn trash_row(t: &projects::Trashed, now: chrono::DateTime<chrono::Utc>) -> Markup {
    let title = &t.project.title;
    html! {
        tr {
            td { (title) }
            td {
                time datetime=(t.deleted_at.to_rfc3339()) title=(t.deleted_at.format("%Y-%m-%d %H:%M UTC")) {
                    (super::home::in_words(t.deleted_at, now))
                }
            }
            td { (days_left(t.purge_at, now)) }
            td.row-actions {
                form.inline method="post" action={ "/home/trash/" (t.project.id) "/restore" } {
                    button.small type="submit" { "Restore" span.sr { " " (title) } }
                }
                form.inline method="post" action={ "/home/trash/" (t.project.id) "/purge" } {
                    button.small.danger type="submit" { "Delete forever" span.sr { " " (title) } }
                }
            }
        }
    }
}

/// Whole days until `purge_at`, rounded up (0 once due).
fn days_left(purge_at: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> i64 {
    let secs = (purge_at - now).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

async fn caller(state: &AppState, req: &HttpRequest) -> Result<User, Problem> {
    Ok(viewer(state, req)
        .await
        .ok_or(service::Error::Unauthenticated)?)
}

/// `POST /home/delete/{id}`: move a project to the trash, then back to `/`.
#[utoipa::path(post, path = "/home/delete/{id}", tag = "pages", operation_id = "home_delete",
    params(("id" = inline(Id), Path, description = "The project id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "in the trash, back to `/`", headers(("Location" = String))),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn home_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    projects::delete(&state.ctx, &user, *id).await?;
    Ok(see_other("/"))
}

/// `POST /home/trash/{id}/restore`: restore a trashed project, then back to `/`.
#[utoipa::path(post, path = "/home/trash/{id}/restore", tag = "pages", operation_id = "home_restore",
    params(("id" = inline(Id), Path, description = "The project id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "restored, back to `/`", headers(("Location" = String))),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn home_restore(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    projects::restore(&state.ctx, &user, *id).await?;
    Ok(see_other("/"))
}

/// `POST /home/trash/{id}/purge`: "Delete forever", then back to `/`.
#[utoipa::path(post, path = "/home/trash/{id}/purge", tag = "pages", operation_id = "home_purge",
    params(("id" = inline(Id), Path, description = "The project id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "purged, back to `/`", headers(("Location" = String))),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn home_purge(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    projects::purge(&state.ctx, &user, *id).await?;
    Ok(see_other("/"))
}

#[cfg(test)]
mod tests {
    use super::days_left;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn days_left_rounds_up_and_stops_at_zero() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(days_left(now + Duration::days(30), now), 30);
        assert_eq!(days_left(now + Duration::hours(1), now), 1);
        assert_eq!(days_left(now, now), 0);
        assert_eq!(days_left(now - Duration::days(2), now), 0);
    }
}
