//! HTTP handlers, one module per area. Each handler parses the request,
//! calls one service function and maps the result; rules live in `service`.

pub mod assets;
pub mod auth;
pub mod backpack;
pub mod me;
pub mod ops;
pub mod pages;
pub mod projects;
pub mod scratch;

use actix_web::{web, HttpResponse};
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

/// A resource whose unknown methods answer 405 problem+json.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, Problem>(method_not_allowed())
    }))
}

/// A resource whose every route needs a caller: authenticated before any
/// extractor runs (see [`crate::extract::authenticate_first`]).
pub fn authed(
    path: &str,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    resource(path).wrap(actix_web::middleware::from_fn(
        crate::extract::authenticate_first,
    ))
}

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
        cfg.service(resource("/__test/panic").route(web::get().to(ops::test_panic)));
    }
    cfg.service(resource("/healthz").route(web::get().to(ops::healthz)))
        .service(resource("/readyz").route(web::get().to(ops::readyz)))
        .service(resource("/metrics").route(web::get().to(ops::metrics)))
        .service(resource("/api/v1/openapi.json").route(web::get().to(crate::openapi::openapi)))
        .service(
            resource("/auth/dev/login")
                .app_data(json_config(SMALL_JSON_BYTES, JsonContentType::Any))
                .route(web::post().to(auth::dev_login)),
        )
        .service(resource("/auth/logout").route(web::post().to(auth::logout)))
        .service(resource("/auth/login").route(web::get().to(auth::oidc_login)))
        .service(resource("/auth/callback").route(web::get().to(auth::oidc_callback)))
        .service(authed("/api/v1/me").route(web::get().to(me::me)))
        .service(authed("/api/v1/groups").route(web::get().to(me::groups)))
        .service(
            authed("/api/v1/groups/{id}/projects").route(web::get().to(projects::group_projects)),
        )
        .service(
            authed("/api/v1/projects")
                .app_data(project_json.clone())
                .route(web::get().to(projects::list))
                .route(web::post().to(projects::create)),
        )
        .service(
            authed("/api/v1/projects/{id}")
                .app_data(project_json)
                .route(web::get().to(projects::get))
                .route(web::put().to(projects::update))
                .route(web::delete().to(projects::delete)),
        )
        .service(authed("/api/v1/projects/{id}/body").route(web::get().to(projects::body)))
        .service(authed("/api/v1/projects/{id}/versions").route(web::get().to(projects::versions)))
        .service(
            authed("/api/v1/projects/{id}/versions/{version}/body")
                .route(web::get().to(projects::version_body)),
        )
        .service(authed("/api/v1/projects/{id}/copy").route(web::post().to(projects::copy)))
        .service(
            authed("/api/v1/projects/{id}/shares")
                .app_data(small_json)
                .route(web::put().to(projects::set_shares)),
        )
        // `{name:.*}`: a name with slashes still reaches the handler, which
        // answers 400 invalid_asset_name instead of a bare 404.
        .service(
            resource("/api/v1/assets/{name:.*}")
                .route(web::get().to(assets::download))
                .route(web::head().to(assets::download))
                .route(web::post().to(assets::upload)),
        )
        .service(
            authed("/api/v1/backpack")
                .app_data(backpack_json)
                .route(web::get().to(backpack::list))
                .route(web::post().to(backpack::add)),
        )
        .service(authed("/api/v1/backpack/{id}").route(web::delete().to(backpack::delete)));
    configure_scratch(cfg);
    cfg.service(resource("/").route(web::get().to(pages::home)))
        .service(resource("/editor").route(web::get().to(pages::editor)))
        .service(resource("/auth/dev/form").route(web::post().to(pages::dev_login_form)))
        .service(resource("/home/copy/{id}").route(web::post().to(pages::copy)));
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
    cfg.service(authed("/projects/").route(web::post().to(scratch::create_project)))
        .service(authed("/projects").route(web::post().to(scratch::create_project)))
        .service(
            authed("/projects/{id}")
                .route(web::get().to(scratch::get_project))
                .route(web::put().to(scratch::save_project)),
        )
        .service(
            resource("/assets/internalapi/asset/{name}/get/")
                .route(web::get().to(scratch::get_asset))
                .route(web::head().to(scratch::get_asset)),
        )
        .service(
            resource("/assets/{name:.*}")
                .route(web::get().to(scratch::get_asset))
                .route(web::head().to(scratch::get_asset))
                .route(web::post().to(scratch::post_asset)),
        )
        .service(
            authed("/backpack/{segment}")
                .route(web::get().to(scratch::backpack_get))
                .route(web::post().to(scratch::backpack_add)),
        )
        .service(
            authed("/backpack/{username}/{id}").route(web::delete().to(scratch::backpack_delete)),
        );
}
