//! HTTP handlers, one module per area. Each handler parses the request,
//! calls one service function and maps the result; rules live in `service`.

pub mod assets;
pub mod assignments;
pub mod auth;
pub mod backpack;
pub mod groups;
pub mod me;
pub mod ops;
pub mod pages;
pub mod projects;
pub mod sb3;
pub mod scratch;
pub mod thumbnails;
pub mod trash;

use actix_web::http::{header, Method};
use actix_web::{web, HttpResponse, ResponseError, Route};
use futures_util::StreamExt;

use service::Code;

use crate::problem::{json_error, method_not_allowed, too_large, Problem};

/// What the route table needs from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct RouteSettings {
    /// Mount the test-only routes (`CUBBY_TEST_ROUTES`).
    pub test_routes: bool,
    /// The largest project body, asset or backpack item.
    pub max_body_bytes: u64,
}

/// Whether a JSON route insists on `Content-Type: application/json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonContentType {
    /// `/api/v1`: anything else is 415 `unsupported_media_type` (S2: a
    /// cross-site form can send `text/plain`, never `application/json`).
    Required,
    /// The Scratch editor's routes and the dev login: whatever it sends.
    Any,
}

/// Small JSON bodies (shares, logins): far more than any real one.
pub const SMALL_JSON_BYTES: u64 = 64 * 1024;

/// How a route reads JSON: at most `limit` bytes (413 `too_large` past it,
/// before the rest is read), with the content type rule.
pub fn json_config(limit: u64, content_type: JsonContentType) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(usize::try_from(limit).unwrap_or(usize::MAX))
        .content_type_required(content_type == JsonContentType::Required)
        .error_handler(move |err, _req| json_error(err, limit).into())
}

/// Reads a raw request body of at most `limit` bytes (413 `too_large` past it).
pub async fn read_limited(mut payload: web::Payload, limit: u64) -> Result<Vec<u8>, Problem> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match crate::body_deadline::is_timeout(&e) {
            true => crate::problem::body_timeout(),
            false => Problem::new(Code::IncompleteBody, "the request body broke off"),
        })?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON object body that may also be empty (routes whose input is all
/// optional): blank is `T::default()`, anything else must be an object.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::extract::object_from_slice(bytes).map_err(|e| crate::problem::json_body_error(&e))
}

/// A resource with one route per `(method, handler)` pair, whose other
/// methods answer 405 problem+json with an `Allow` header naming exactly
/// these methods (RFC 9110: a 405 must say what is allowed).
pub fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> actix_web::Resource {
    let allow = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let allow = header::HeaderValue::from_str(&allow).ok();
    let mut res = web::resource(path);
    for (method, route) in routes {
        res = res.route(route.method(method));
    }
    res.default_service(web::to(move || {
        let allow = allow.clone();
        async move {
            let mut resp = method_not_allowed().error_response();
            if let Some(value) = allow {
                resp.headers_mut().insert(header::ALLOW, value);
            }
            resp
        }
    }))
}

/// A resource whose every route needs a caller: authenticated before any
/// extractor runs (see [`crate::extract::authenticate_first`]).
pub fn authed<const N: usize>(
    path: &str,
    routes: [(Method, Route); N],
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    resource(path, routes).wrap(actix_web::middleware::from_fn(
        crate::extract::authenticate_first,
    ))
}

const GET: Method = Method::GET;
const HEAD: Method = Method::HEAD;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;

/// Every route, for `App::configure`.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &RouteSettings) {
    let max = settings.max_body_bytes;
    // A project body inside JSON, with room for the other members.
    let project_json = json_config(
        max.saturating_add(SMALL_JSON_BYTES),
        JsonContentType::Required,
    );
    // Base64 of a body and a thumbnail, each up to the limit.
    let backpack_json = json_config(
        max.saturating_mul(3).saturating_add(SMALL_JSON_BYTES),
        JsonContentType::Required,
    );
    let small_json = json_config(SMALL_JSON_BYTES, JsonContentType::Required);
    if settings.test_routes {
        cfg.service(resource("/__test/panic", [(GET, web::to(ops::test_panic))]));
    }
    cfg.service(resource("/healthz", [(GET, web::to(ops::healthz))]))
        .service(resource("/readyz", [(GET, web::to(ops::readyz))]))
        .service(resource("/metrics", [(GET, web::to(ops::metrics))]))
        .service(resource(
            "/api/v1/openapi.json",
            [(GET, web::to(crate::openapi::openapi))],
        ))
        .service(
            resource("/auth/dev/login", [(POST, web::to(auth::dev_login))])
                .app_data(json_config(SMALL_JSON_BYTES, JsonContentType::Any)),
        )
        .service(resource("/auth/logout", [(POST, web::to(auth::logout))]))
        .service(resource("/auth/login", [(GET, web::to(auth::oidc_login))]))
        .service(resource(
            "/auth/callback",
            [(GET, web::to(auth::oidc_callback))],
        ))
        .service(authed("/api/v1/me", [(GET, web::to(me::me))]))
        .service(
            authed(
                "/api/v1/groups",
                [(GET, web::to(me::groups)), (POST, web::to(groups::create))],
            )
            .app_data(small_json.clone()),
        )
        .service(
            authed("/api/v1/groups/join", [(POST, web::to(groups::join))])
                .app_data(small_json.clone()),
        )
        .service(authed(
            "/api/v1/groups/{id}/join-code",
            [(POST, web::to(groups::rotate_code))],
        ))
        .service(authed(
            "/api/v1/groups/{id}/members",
            [(GET, web::to(groups::members))],
        ))
        .service(authed(
            "/api/v1/groups/{id}/members/{user_id}",
            [(DELETE, web::to(groups::remove_member))],
        ))
        .service(authed(
            "/api/v1/groups/{id}/projects",
            [(GET, web::to(projects::group_projects))],
        ))
        .service(
            authed(
                "/api/v1/projects",
                [
                    (GET, web::to(projects::list)),
                    (POST, web::to(projects::create)),
                ],
            )
            .app_data(project_json.clone()),
        )
        // Before `/api/v1/projects/{id}`, which would claim `import`.
        .service(authed(
            "/api/v1/projects/import",
            [(POST, web::to(sb3::import))],
        ))
        .service(
            authed(
                "/api/v1/projects/{id}",
                [
                    (GET, web::to(projects::get)),
                    (PUT, web::to(projects::update)),
                    (DELETE, web::to(projects::delete)),
                ],
            )
            .app_data(project_json),
        )
        .service(authed(
            "/api/v1/projects/{id}/body",
            [(GET, web::to(projects::body))],
        ))
        .service(authed(
            "/api/v1/projects/{id}/versions",
            [(GET, web::to(projects::versions))],
        ))
        .service(authed(
            "/api/v1/projects/{id}/versions/{version}/body",
            [(GET, web::to(projects::version_body))],
        ))
        .service(authed(
            "/api/v1/projects/{id}/versions/{version}/restore",
            [(POST, web::to(trash::restore_version))],
        ))
        .service(authed("/api/v1/trash", [(GET, web::to(trash::list))]))
        .service(authed(
            "/api/v1/trash/{id}",
            [(DELETE, web::to(trash::purge))],
        ))
        .service(authed(
            "/api/v1/trash/{id}/restore",
            [(POST, web::to(trash::restore))],
        ))
        .service(authed(
            "/api/v1/projects/{id}/copy",
            [(POST, web::to(projects::copy))],
        ))
        .service(
            authed(
                "/api/v1/projects/{id}/shares",
                [(PUT, web::to(projects::set_shares))],
            )
            .app_data(small_json),
        )
        .service(authed(
            "/api/v1/projects/{id}/sb3",
            [(GET, web::to(sb3::export))],
        ))
        .service(authed(
            "/api/v1/projects/{id}/thumbnail",
            [
                (GET, web::to(thumbnails::get)),
                (PUT, web::to(thumbnails::set)),
            ],
        ))
        // `{name:.*}`: a name with slashes still reaches the handler, which
        // answers 400 invalid_asset_name instead of a bare 404.
        .service(resource(
            "/api/v1/assets/{name:.*}",
            [
                (GET, web::to(assets::download)),
                (HEAD, web::to(assets::download)),
                (POST, web::to(assets::upload)),
            ],
        ))
        .service(
            authed(
                "/api/v1/backpack",
                [
                    (GET, web::to(backpack::list)),
                    (POST, web::to(backpack::add)),
                ],
            )
            .app_data(backpack_json),
        )
        .service(authed(
            "/api/v1/backpack/{id}",
            [(DELETE, web::to(backpack::delete))],
        ));
    assignments::configure(cfg);
    configure_scratch(cfg);
    cfg.service(resource("/", [(GET, web::to(pages::home))]))
        // A route, so it wins over the editor's files at the site root
        // (the fallback), whatever the editor directory holds.
        .service(resource(
            "/cubby.css",
            [
                (GET, web::to(pages::stylesheet)),
                (HEAD, web::to(pages::stylesheet)),
            ],
        ))
        .service(resource("/editor", [(GET, web::to(pages::editor))]))
        .service(resource(
            "/auth/dev/form",
            [(POST, web::to(pages::dev_login_form))],
        ))
        .service(resource("/home/copy/{id}", [(POST, web::to(pages::copy))]))
        .service(resource(
            "/home/delete/{id}",
            [(POST, web::to(pages::home_delete))],
        ))
        .service(resource(
            "/home/trash/{id}/restore",
            [(POST, web::to(pages::home_restore))],
        ))
        .service(resource(
            "/home/trash/{id}/purge",
            [(POST, web::to(pages::home_purge))],
        ))
        .service(resource(
            "/project/{id}",
            [(GET, web::to(pages::project_page))],
        ))
        .service(resource(
            "/project/{id}/versions/{version}/restore",
            [(POST, web::to(pages::project_restore_version))],
        ))
        .service(resource(
            "/home/classes",
            [(POST, web::to(pages::create_class))],
        ))
        .service(resource(
            "/home/classes/join",
            [(POST, web::to(pages::join_class))],
        ))
        .service(resource(
            "/home/classes/share",
            [(POST, web::to(pages::share))],
        ))
        .service(resource(
            "/home/classes/{id}/code",
            [(POST, web::to(pages::rotate_code))],
        ))
        .service(resource(
            "/home/classes/{id}/remove/{user_id}",
            [(POST, web::to(pages::remove_member))],
        ))
        .service(resource("/home/import", [(POST, web::to(pages::import))]))
        .service(
            resource(
                "/home/assignments",
                [(POST, web::to(pages::create_assignment))],
            )
            .app_data(pages::text_form_config()),
        )
        .service(resource(
            "/home/assignments/{id}/start",
            [(POST, web::to(pages::start_assignment))],
        ))
        .service(resource(
            "/home/assignments/{id}/submit",
            [(POST, web::to(pages::submit_assignment))],
        ))
        .service(resource(
            "/assignment/{id}",
            [(GET, web::to(pages::assignment_page))],
        ))
        .service(
            resource(
                "/assignment/{id}/edit",
                [(POST, web::to(pages::edit_assignment))],
            )
            .app_data(pages::text_form_config()),
        )
        .service(
            resource(
                "/assignment/{id}/feedback/{submission_id}",
                [(POST, web::to(pages::give_feedback))],
            )
            .app_data(pages::text_form_config()),
        );
}

/// What no route claims: the editor's static files for GET and HEAD, else
/// 404 problem+json.
pub async fn fallback(
    state: web::Data<crate::state::AppState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, Problem> {
    if req.method() == actix_web::http::Method::GET || req.method() == actix_web::http::Method::HEAD
    {
        return pages::static_file(state, req).await;
    }
    Err(Problem::not_found())
}

/// The Scratch editor's own routes (docs/SCRATCH.md).
fn configure_scratch(cfg: &mut web::ServiceConfig) {
    cfg.service(authed(
        "/projects/",
        [(POST, web::to(scratch::create_project))],
    ))
    .service(authed(
        "/projects",
        [(POST, web::to(scratch::create_project))],
    ))
    .service(authed(
        "/projects/{id}",
        [
            (GET, web::to(scratch::get_project)),
            (PUT, web::to(scratch::save_project)),
        ],
    ))
    .service(resource(
        "/assets/internalapi/asset/{name}/get/",
        [
            (GET, web::to(scratch::get_asset)),
            (HEAD, web::to(scratch::get_asset)),
        ],
    ))
    .service(resource(
        "/assets/{name:.*}",
        [
            (GET, web::to(scratch::get_asset)),
            (HEAD, web::to(scratch::get_asset)),
            (POST, web::to(scratch::post_asset)),
        ],
    ))
    .service(authed(
        "/backpack/{segment}",
        [
            (GET, web::to(scratch::backpack_get)),
            (POST, web::to(scratch::backpack_add)),
        ],
    ))
    .service(authed(
        "/internalapi/project/thumbnail/{id}/set/",
        [(POST, web::to(thumbnails::scratch_set))],
    ))
    .service(authed(
        "/backpack/{username}/{id}",
        [(DELETE, web::to(scratch::backpack_delete))],
    ));
}
