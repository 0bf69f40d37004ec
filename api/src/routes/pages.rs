//! The HTML side of cubby: the home page (log in, my projects, projects
//! shared with my classes, new, open, copy), the editor page that mounts the
//! stock Scratch GUI on cubby's own routes, and the GUI's static files served
//! at the site root (the bundle's public path is `/`).
//!
//! Pages are server-rendered with `maud` (auto-escaped) and work without
//! JavaScript, except the editor itself. Forms post only same-origin: the
//! session cookie is SameSite=Lax, so a cross-site form carries no session.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use crate::extract::{current_user, session_token};
use crate::headers::html_page;
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, ServerError, TooManyRequests, Unauthenticated, Unavailable,
};
use crate::openapi::schemas::{AnyInt64, GroupList, Html, Id, Role, Username};
use crate::problem::Problem;
use crate::routes::auth::{dev_login_session, login_cookie};
use crate::state::AppState;
use service::auth::{GroupClaim, User};
use service::page::PageRequest;
use service::projects::{self, Project, Scope};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// The logged-in user, or `None` (a bad or expired token is just "logged out" here).
async fn viewer(state: &AppState, req: &HttpRequest) -> Option<User> {
    let token = session_token(req)?;
    current_user(state, &token).await.ok()
}

fn page(title: &str, body: Markup) -> HttpResponse {
    page_with_status(StatusCode::OK, title, body)
}

fn page_with_status(status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cubby" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href="/" { strong { "cubby" } } }
                main { (body) }
            }
        }
    };
    html_page(&mut HttpResponse::build(status))
        .content_type(ContentType::html())
        .body(markup.into_string())
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;line-height:1.5}\
header{border-bottom:1px solid #ccc;margin-bottom:1rem}table{border-collapse:collapse;width:100%}\
td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee}form.inline{display:inline}\
label{display:block;margin:.4rem 0}input,select,button{font:inherit}";

fn editor_installed(state: &AppState) -> bool {
    state
        .config
        .editor_dir
        .as_deref()
        .is_some_and(|d| d.join("scratch-gui-standalone.js").is_file())
}

fn install_hint() -> Markup {
    html! {
        p { "The Scratch editor is not installed on this server. To install it, run "
            code { "cubby editor fetch ./cubby-data/editor" }
            " and start cubby with " code { "CUBBY_EDITOR_DIR=./cubby-data/editor" } "." }
    }
}

fn project_rows(projects: &[Project], editor: bool, can_copy: bool) -> Markup {
    html! {
        @if projects.is_empty() {
            p { "None yet." }
        } @else {
            table {
                thead { tr { th { "Title" } th { "Version" } th { "Updated" } th { span class="sr" { "Actions" } } } }
                tbody {
                    @for p in projects {
                        tr {
                            td { (p.title) }
                            td { (p.version) }
                            td { (p.updated_at.format("%Y-%m-%d %H:%M UTC")) }
                            td {
                                @if editor { a href={ "/editor?project=" (p.id) } { "Open" } " " }
                                @if can_copy {
                                    form.inline method="post" action={ "/home/copy/" (p.id) } {
                                        button type="submit" { "Copy" }
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
        (project_rows(&mine.items, editor, true))
        h2 { "Shared with my classes" }
        (project_rows(&shared.items, editor, true))
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

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EditorQuery {
    /// The project to open (none: a new one).
    #[param(schema_with = AnyInt64::schema)]
    project: Option<i64>,
}

/// `GET /editor?project={id}`: the stock Scratch editor on that project.
#[utoipa::path(get, path = "/editor", tag = "pages", operation_id = "editor", params(EditorQuery),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the Scratch editor on the project", content_type = "text/html", body = inline(Html)),
              (status = 302, description = "logged out: to `/`", headers(("Location" = String))),
              (status = 400, response = BadRequest),
              (status = 404, description = "the editor is not installed: a page that says how", content_type = "text/html", body = inline(Html)),
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
    // Values go into a script as JSON, so nothing in them can end the script.
    let config = serde_json::json!({
        "username": user.username,
        "projectId": query.project.map(|id| id.to_string()).unwrap_or_else(|| "0".into()),
    });
    let config = config.to_string().replace('<', "\\u003c");
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Scratch · cubby" }
                style { "html,body{margin:0;height:100%}#app{height:100vh}" }
            }
            body {
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
const EDITOR_SCRIPT: &str = r#"
(function () {
  const cfg = window.CUBBY;
  const origin = location.origin;
  const scratchStorage = new GUI.ScratchStorage();
  const {AssetType, DataFormat} = scratchStorage;
  GUI.buildDefaultProject().forEach(a => scratchStorage.builtinHelper._store(
      AssetType[a.assetType], DataFormat[a.dataFormat], a.data, a.id));
  let projectHost = origin + '/projects';
  let assetHost = origin + '/assets';
  scratchStorage.addWebStore([AssetType.Project],
      a => projectHost + '/' + a.assetId,
      () => ({url: projectHost + '/', withCredentials: true}),
      a => ({url: projectHost + '/' + a.assetId, withCredentials: true}));
  const assetCreate = a => ({method: 'post', url: assetHost + '/' + a.assetId + '.' + a.dataFormat, withCredentials: true});
  scratchStorage.addWebStore([AssetType.ImageVector, AssetType.ImageBitmap, AssetType.Sound],
      a => assetHost + '/internalapi/asset/' + a.assetId + '.' + a.dataFormat + '/get/', assetCreate, assetCreate);
  // The session cookie authenticates (same origin); the empty token header
  // counts as absent on the server.
  const backpackStorage = new GUI.LegacyBackpackStorage({
      readAuth: async () => ({username: cfg.username, authType: 'x-token', authToken: ''})
  });
  const storage = {
    scratchStorage, backpackStorage,
    setProjectHost (h) { projectHost = h; },
    setAssetHost (h) { assetHost = h; },
    setBackpackHost (h) { backpackStorage.setHostAndRegisterWebStore(h, scratchStorage); },
    getLibraryAssetUrl (id, fmt) { return assetHost + '/internalapi/asset/' + id + '.' + fmt + '/get/'; },
    async saveProject (id, json, params) {
      const qs = new URLSearchParams();
      if ('originalId' in params) qs.set('original_id', params.originalId);
      if ('isCopy' in params) qs.set('is_copy', params.isCopy);
      if ('isRemix' in params) qs.set('is_remix', params.isRemix);
      if ('title' in params) qs.set('title', params.title);
      const q = qs.toString() ? '?' + qs : '';
      const creating = id === null || id === undefined;
      const r = await fetch(creating ? projectHost + '/' + q : projectHost + '/' + id + q,
          {method: creating ? 'POST' : 'PUT', body: json, credentials: 'same-origin',
           headers: {'Content-Type': 'application/json'}});
      if (r.status !== 200) throw r.status;
      const body = await r.json();
      const newId = creating ? body['content-name'] : id;
      if (creating) history.replaceState(null, '', '/editor?project=' + newId);
      return Object.assign(body, {id: newId});
    },
    saveProjectThumbnail () {}
  };
  const el = document.getElementById('app');
  GUI.setAppElement(el);
  const state = new GUI.EditorState({locale: 'en'}, () => ({storage}));
  GUI.createStandaloneRoot(state, el).render({
    projectHost: origin + '/projects', assetHost: origin + '/assets',
    backpackHost: origin + '/backpack', backpackVisible: true,
    canSave: true, canCreateNew: true, canCreateCopy: true, canRemix: true, canEditTitle: true,
    projectId: cfg.projectId,
    onUpdateProjectId: id => history.replaceState(null, '', '/editor?project=' + id)
  });
})();
"#;

/// A request path made safe to join to the editor directory: no `..`, no
/// hidden files, no absolute parts.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(seg) => {
                let s = seg.to_str()?;
                if s.starts_with('.') || s.contains('\\') {
                    return None;
                }
                out.push(s);
            }
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The editor's content types; JavaScript (workers too) as `text/javascript`.
fn mime_for(path: &Path) -> mime::Mime {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8"
            .parse()
            .unwrap_or(mime::TEXT_JAVASCRIPT),
        "json" => mime::APPLICATION_JSON,
        "wasm" => "application/wasm"
            .parse()
            .unwrap_or(mime::APPLICATION_OCTET_STREAM),
        _ => mime_guess::from_path(path).first_or_octet_stream(),
    }
}

/// Every GET/HEAD no route claims: a file of the editor, or 404 problem+json.
pub async fn static_file(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let (Some(root), true) = (state.config.editor_dir.as_deref(), editor_installed(&state)) else {
        return Err(Problem::not_found());
    };
    let rel = safe_relative(req.path()).ok_or_else(Problem::not_found)?;
    let path = root.join(&rel);
    if !path.is_file() {
        return Err(Problem::not_found());
    }
    let file = actix_files::NamedFile::open(&path)
        .map_err(|_| Problem::not_found())?
        .set_content_type(mime_for(&path))
        .use_last_modified(true);
    let mut resp = file.into_response(&req);
    // Bundles are content-hashed or versioned with the package: cache for a day.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_files_are_plain_relative_paths() {
        for (path, want) in [
            ("/scratch-gui-standalone.js", "scratch-gui-standalone.js"),
            ("/static/assets/a.svg", "static/assets/a.svg"),
            ("chunks/1.js", "chunks/1.js"),
        ] {
            assert_eq!(safe_relative(path), Some(PathBuf::from(want)), "{path}");
        }
    }

    #[test]
    fn traversal_hidden_files_and_odd_parts_are_refused() {
        for path in [
            "/",
            "",
            "/../etc/passwd",
            "/static/../../etc/passwd",
            "/./index.html",
            "/.env",
            "/static/.git/config",
            "/..",
            "/a\\..\\b",
            "/C:\\Windows",
            "//etc/passwd/..",
        ] {
            assert_eq!(safe_relative(path), None, "{path:?}");
        }
    }

    #[test]
    fn javascript_and_wasm_get_their_own_content_types() {
        assert_eq!(mime_for(Path::new("a.js")).essence_str(), "text/javascript");
        assert_eq!(
            mime_for(Path::new("w.mjs")).essence_str(),
            "text/javascript"
        );
        assert_eq!(
            mime_for(Path::new("m.wasm")).essence_str(),
            "application/wasm"
        );
        assert_eq!(
            mime_for(Path::new("l.json")).essence_str(),
            "application/json"
        );
        assert_eq!(mime_for(Path::new("i.svg")).essence_str(), "image/svg+xml");
    }
}
