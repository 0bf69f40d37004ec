//! `GET /`: the home page, and its forms (dev login, copy).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::import::{download_link, import_form, thumbnail};
use super::{editor_installed, install_hint, page, page_with, see_other, viewer};
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, ServerError, TooManyRequests, Unauthenticated, Unavailable,
};
use crate::openapi::schemas::{GroupList, Html, Id, Role, Username};
use crate::problem::Problem;
use crate::routes::auth::{dev_login_session, login_cookie};
use crate::state::AppState;
use chrono::{DateTime, Datelike, Utc};
use service::auth::{GroupClaim, User};
use service::page::PageRequest;
use service::projects::{self, Project, Scope};
use utoipa::{PartialSchema, ToSchema};

/// What a project card offers (the owner's cards have Delete).
#[derive(Clone, Copy)]
struct CardActions {
    editor: bool,
    delete: bool,
}

/// Projects as a grid of cards, or `empty` when there are none.
fn project_cards(projects: &[Project], actions: CardActions, empty: &str) -> Markup {
    let now = service::now();
    html! {
        @if projects.is_empty() {
            p.empty { (empty) }
        } @else {
            ul.cards {
                @for p in projects { (project_card(p, actions, now)) }
            }
        }
    }
}

/// One card: the picture, the title, when it last changed, a big "Open"
/// and smaller buttons. Every control's accessible name says which project
/// (visually hidden text), so a screen reader's list of buttons is not
/// "Copy, Copy, Copy".
fn project_card(p: &Project, actions: CardActions, now: DateTime<Utc>) -> Markup {
    html! {
        li.card {
            (thumbnail(p.id))
            h3.card-title { (p.title) }
            p.when {
                "Changed "
                time datetime=(p.updated_at.to_rfc3339()) title=(p.updated_at.format("%Y-%m-%d %H:%M UTC")) {
                    (in_words(p.updated_at, now))
                }
            }
            @if actions.editor {
                a.button.primary.open href={ "/editor?project=" (p.id) } {
                    "Open" span.sr { " " (p.title) }
                }
            }
            div.card-actions {
                a.button.small href={ "/project/" (p.id) } { "Versions" span.sr { " of " (p.title) } }
                (download_link(p.id, &p.title))
                form.inline method="post" action={ "/home/copy/" (p.id) } {
                    button.small type="submit" { "Copy" span.sr { " " (p.title) } }
                }
                @if actions.delete {
                    form.inline method="post" action={ "/home/delete/" (p.id) } {
                        button.small.danger type="submit" { "Delete" span.sr { " " (p.title) } }
                    }
                }
            }
        }
    }
}

/// When something happened, as a child says it: "just now", "5 minutes
/// ago", "yesterday", "on 3 November". The server does not know the
/// reader's time zone, so days are counted in 24-hour steps back from now.
pub(super) fn in_words(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    let plural = |n: i64, one: &str| {
        if n == 1 {
            format!("1 {one} ago")
        } else {
            format!("{n} {one}s ago")
        }
    };
    match secs {
        0..60 => "just now".to_owned(),
        60..3_600 => plural(secs / 60, "minute"),
        3_600..86_400 => plural(secs / 3_600, "hour"),
        86_400..172_800 => "yesterday".to_owned(),
        172_800..604_800 => plural(secs / 86_400, "day"),
        _ if t.year() == now.year() => t.format("on %-d %B").to_string(),
        _ => t.format("on %-d %B %Y").to_string(),
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
        (welcome(&user, editor))
        section.panel aria-labelledby="mine" {
            h2 id="mine" { "My projects" }
            (project_cards(&mine.items, CardActions { editor, delete: true },
                "No projects yet. Press “New project” to make your first one!"))
            (import_form())
        }
        section.panel aria-labelledby="shared" {
            h2 id="shared" { "Shared with my classes" }
            (project_cards(&shared.items, CardActions { editor, delete: false },
                "Nothing is shared with your classes yet."))
        }
        (classes)
        (super::assignments::section(&state, &req, &user).await?)
        (super::trash::section(&state, &user).await?)
    };
    Ok(page_with(StatusCode::OK, "Home", logout(), body))
}

/// The greeting and who is logged in, beside the big "New project"
/// button (or how to install the editor).
fn welcome(user: &User, editor: bool) -> Markup {
    html! {
        div.welcome {
            div {
                h1 { "Hi, " (user.display_name) "!" }
                p.who {
                    "Logged in as " strong { (user.display_name) } " (" (user.role.as_str()) ")"
                    @if !user.groups.is_empty() {
                        " · classes: " (user.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "))
                    }
                }
            }
            @if editor {
                a.button.primary.big.new href="/editor" { span aria-hidden="true" { "+" } "New project" }
            } @else {
                div.notice { (install_hint()) }
            }
        }
    }
}

/// "Log out", in the header bar.
fn logout() -> Markup {
    html! {
        form.logout method="post" action="/auth/logout?next=/" { button type="submit" { "Log out" } }
    }
}

fn login_form(state: &AppState) -> Markup {
    let oidc = state.config.oidc_issuer.is_some();
    html! {
        div.panel.login {
            h1 { "Log in" }
            @if oidc {
                p { a.button.primary.big href="/auth/login?return_to=/" { "Log in with your school account" } }
            }
            @if state.config.dev_login {
                form method="post" action="/auth/dev/form" {
                    p.hint { "Development login (no password; enabled with CUBBY_DEV_LOGIN)." }
                    label { "Username" input name="username" required autocomplete="username"; }
                    label { "Role"
                        select name="role" {
                            option value="student" { "student" }
                            option value="teacher" { "teacher" }
                        }
                    }
                    label { "Classes (comma-separated ids)" input name="groups" placeholder="7b, 8a"; }
                    button.primary type="submit" { "Log in" }
                }
            }
            @if !oidc && !state.config.dev_login {
                p { "No login method is configured on this server (set CUBBY_OIDC_ISSUER, or CUBBY_DEV_LOGIN for development)." }
            }
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

#[cfg(test)]
mod tests {
    use super::in_words;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn times_read_as_words() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let ago = |d: Duration| in_words(now - d, now);
        assert_eq!(ago(Duration::seconds(5)), "just now");
        assert_eq!(in_words(now + Duration::seconds(5), now), "just now");
        assert_eq!(ago(Duration::seconds(60)), "1 minute ago");
        assert_eq!(ago(Duration::minutes(59)), "59 minutes ago");
        assert_eq!(ago(Duration::minutes(60)), "1 hour ago");
        assert_eq!(ago(Duration::hours(23)), "23 hours ago");
        assert_eq!(ago(Duration::hours(30)), "yesterday");
        assert_eq!(ago(Duration::days(6)), "6 days ago");
        assert_eq!(ago(Duration::days(7)), "on 24 November");
        assert_eq!(ago(Duration::days(400)), "on 27 October 2025");
    }
}
