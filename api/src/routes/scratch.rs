//! The Scratch 3 wire protocol (`projectHost=/projects`, `assetHost=/assets`,
//! `backpackHost=/backpack`), as thin adapters over the same service
//! functions as `/api/v1` — no rule or lock is written twice. The editor's
//! quirks decide the shapes: project POST/PUT and every backpack call answer
//! exactly 200; asset uploads answer JSON with `"status": "ok"` and arrive
//! without a Content-Type. See docs/SCRATCH.md.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::dto::{BackpackQuery, NewBackpackItem};
use crate::extract::{AuthUser, IdempotencyKey, IfMatch, JsonObject};
use crate::headers::stored_file;
use crate::openapi::params::{
    IdempotencyHeader, IfMatchHeader, IfNoneMatchHeader, ScratchAssetSaved, ScratchBackpackItem,
    ScratchCreated, ScratchDeleted, ScratchSaved,
};
use crate::openapi::responses::{
    BadRequest, Conflict, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge,
    Unauthenticated, Unavailable,
};
use crate::openapi::schemas::{
    AnyInt64, AnyText, AssetName as AssetNameSchema, Bytes, Id, ProjectJson, Segment, TitleOrBlank,
    UploadName, Version,
};
use crate::problem::{query_error, Problem};
use crate::routes::assets as api_assets;
use crate::routes::projects::etag;
use crate::routes::read_limited;
use crate::state::AppState;
use service::assets::AssetName;
use service::projects::{self, NewProject, Precondition, Update};
use service::{backpack, Code, Error};
use utoipa::{IntoParams, PartialSchema};

fn body_limit(state: &AppState) -> u64 {
    state.ctx.settings.max_body_bytes
}

/// `GET /projects/{id}`: the project JSON, and in `ETag` the version it is
/// (the editor page sends it back with its saves; the body stays the bare
/// project JSON the editor expects).
#[utoipa::path(get, path = "/projects/{id}", tag = "scratch", operation_id = "scratch_get_project",
    params(("id" = inline(Id), Path, description = "The project id")), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the project JSON as last saved", body = inline(ProjectJson),
                headers(("ETag" = String, description = "`\"<version>\"` of this body"))),
              (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn get_project(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (version, bytes) = projects::body(&state.ctx, &user, *id).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type("application/json")
        .insert_header(etag(version))
        .body(bytes))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// `1`: a copy of `original_id` (anything else: a new project).
    #[param(schema_with = AnyText::schema)]
    is_copy: Option<String>,
    /// `1`: a remix of `original_id`.
    #[param(schema_with = AnyText::schema)]
    is_remix: Option<String>,
    /// The project copied or remixed (it must be readable), recorded as `parent_id`.
    #[param(schema_with = AnyInt64::schema)]
    original_id: Option<String>,
    /// The new project's title (blank: `Untitled`).
    #[param(schema_with = TitleOrBlank::schema)]
    title: Option<String>,
}

/// `POST /projects/` (new, or `?is_copy=1` / `?is_remix=1&original_id=&title=`).
#[utoipa::path(post, path = "/projects/", tag = "scratch", operation_id = "scratch_create_project",
    params(CreateQuery, IdempotencyHeader),
    request_body(content = inline(ProjectJson), content_type = "application/json",
                 description = "The project JSON (read whatever the `Content-Type`)"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ScratchCreated, description = "created (exactly 200, as the editor expects)",
                headers(("ETag" = String, description = "`\"1\"`: the new project's version"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn create_project(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    query: web::Query<CreateQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body = read_limited(payload, body_limit(&state)).await?;
    let derived = query.is_copy.as_deref() == Some("1") || query.is_remix.as_deref() == Some("1");
    // Checked whenever it is sent, so that what a request may hold does not
    // depend on its other parameters.
    let original_id = query
        .original_id
        .as_deref()
        .map(str::parse::<i64>)
        .transpose()
        .map_err(|_| Problem::new(Code::InvalidQuery, "original_id must be a project id"))?;
    let parent_id = original_id.filter(|_| derived);
    let title = query.title.as_deref().filter(|t| !t.trim().is_empty());
    let new = NewProject {
        title,
        body: &body,
        parent_id,
    };
    let created = projects::create(&state.ctx, &user, new, key.as_deref()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(created.project.version))
        .json(json!({
            "status": "ok",
            "content-name": created.project.id.to_string(),
            "content-title": created.project.title,
        })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SaveQuery {
    /// Save only on top of this version (409 when stale); or send `If-Match`.
    #[param(schema_with = Version::schema)]
    version: Option<i32>,
    /// A new title, saved with the body in the same version (the editor
    /// page sends it after a rename in the title field); blank: unchanged.
    #[param(schema_with = TitleOrBlank::schema)]
    title: Option<String>,
}

/// `PUT /projects/{id}` (optionally `?title=`): conditional with
/// `?version=` or `If-Match`; otherwise saved on top of the latest version
/// (the overwritten one stays in the history).
#[utoipa::path(put, path = "/projects/{id}", tag = "scratch", operation_id = "scratch_save_project",
    params(("id" = inline(Id), Path, description = "The project id"), SaveQuery, IfMatchHeader),
    request_body(content = inline(ProjectJson), content_type = "application/json",
                 description = "The project JSON (read whatever the `Content-Type`)"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ScratchSaved, description = "saved (exactly 200, as the editor expects)",
                headers(("ETag" = String, description = "`\"<version>\"`: the version this save made"))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound),
              (status = 409, response = Conflict), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn save_project(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    IfMatch(if_match): IfMatch,
    id: web::Path<i64>,
    query: web::Query<SaveQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, Problem> {
    let body = read_limited(payload, body_limit(&state)).await?;
    let update = Update {
        expected_version: query.version.or(if_match),
        title: query.title.clone().filter(|t| !t.trim().is_empty()),
        body: Some(body),
    };
    let project = projects::update(&state.ctx, &user, *id, update, Precondition::Latest).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(project.version))
        .json(json!({
            "status": "ok",
            "content-name": project.id.to_string(),
            "version": project.version,
        })))
}

/// `GET /assets/internalapi/asset/{md5}.{ext}/get/` and `GET /assets/{md5}.{ext}`
/// (the document lists the first as an alias of the second).
#[utoipa::path(method(get, head), path = "/assets/{name}", tag = "scratch", operation_id = "scratch_get_asset",
    params(("name" = inline(AssetNameSchema), Path, description = "`{md5}.{ext}`; any other name is 404"),
           IfNoneMatchHeader),
    responses((status = 200, description = "the bytes, as from /api/v1/assets", content(
                  ("image/svg+xml"), ("image/png"), ("image/jpeg"), ("image/gif"), ("image/bmp"),
                  ("audio/wav"), ("audio/mpeg"), ("application/x.scratch.sprite3"), ("application/json")),
                headers(("ETag" = String), ("Cache-Control" = String))),
              (status = 304, description = "not modified"), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn get_asset(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    // A name the store cannot hold is simply not there: 404, so the editor
    // falls back to its next store or a default asset.
    let name = AssetName::parse_any(&name).map_err(|_| Problem::not_found())?;
    api_assets::serve(&state, &req, &name).await
}

/// `POST /assets/{md5}.{ext}`: raw bytes, no Content-Type; 200 also for a re-upload.
#[utoipa::path(post, path = "/assets/{name}", tag = "scratch", operation_id = "scratch_post_asset",
    params(("name" = inline(UploadName), Path)),
    request_body(content = inline(Option<Bytes>), content_type = "application/octet-stream",
                 description = "The raw bytes (any `Content-Type`; none: an empty asset); their md5 must be the name's"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ScratchAssetSaved, description = "stored (also when it already was)"),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn post_asset(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let asset = api_assets::store(&state, &user, &req, &name, body).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "content-name": format!("{}.{}", asset.md5, asset.ext),
    })))
}

fn own_backpack(user: &service::auth::User, username: &str) -> Result<(), Problem> {
    if user.username == username {
        Ok(())
    } else {
        Err(Error::Forbidden.into())
    }
}

fn scratch_item(item: backpack::Item) -> serde_json::Value {
    json!({
        "id": item.id,
        "type": item.item_type,
        "mime": item.mime,
        "name": item.name,
        "body": item.body,
        "thumbnail": item.thumbnail,
    })
}

/// `GET /backpack/{username}?limit&offset` (only the owner), or
/// `GET /backpack/{md5}.{ext}`: a body or thumbnail named in an item.
#[utoipa::path(get, path = "/backpack/{username}", tag = "scratch", operation_id = "scratch_backpack_get",
    params(("username" = inline(Segment), Path,
            description = "The caller's username (the listing), or `{md5}.{ext}` of a body or thumbnail (the file, no login)"),
           BackpackQuery, IfNoneMatchHeader),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "the caller's items, newest first (exactly 200); or the file", content(
                  (Vec<ScratchBackpackItem> = "application/json"),
                  ("image/svg+xml"), ("image/png"), ("image/jpeg"), ("image/gif"), ("image/bmp"),
                  ("audio/wav"), ("audio/mpeg"), ("application/x.scratch.sprite3"))),
              (status = 304, description = "not modified (a file)"),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn backpack_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    segment: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    if let Ok(name) = AssetName::parse_any(&segment) {
        return api_assets::serve(&state, &req, &name).await;
    }
    // The listing needs a caller, and the caller comes before the query.
    let AuthUser(user) = AuthUser::extract(&req).await?;
    let query = web::Query::<BackpackQuery>::from_query(req.query_string()).map_err(query_error)?;
    own_backpack(&user, &segment)?;
    let page = backpack::list(&state.ctx, &user, query.request()?).await?;
    Ok(HttpResponse::Ok().json(page.items.into_iter().map(scratch_item).collect::<Vec<_>>()))
}

/// `POST /backpack/{username}`: exactly 200 and the new item.
#[utoipa::path(post, path = "/backpack/{username}", tag = "scratch", operation_id = "scratch_backpack_add",
    params(("username" = inline(Segment), Path, description = "The caller's username"), IdempotencyHeader),
    request_body(content = NewBackpackItem, description = "JSON (read whatever the `Content-Type`)"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ScratchBackpackItem, description = "added (exactly 200)"),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn backpack_add(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    username: web::Path<String>,
    body: JsonObject<NewBackpackItem>,
) -> Result<HttpResponse, Problem> {
    own_backpack(&user, &username)?;
    let added = backpack::add(&state.ctx, &user, body.into_inner().into(), key.as_deref()).await?;
    Ok(HttpResponse::Ok().json(scratch_item(added.item)))
}

/// `DELETE /backpack/{username}/{id}`: exactly 200 `{"ok": true}`.
#[utoipa::path(delete, path = "/backpack/{username}/{id}", tag = "scratch", operation_id = "scratch_backpack_delete",
    params(("username" = inline(Segment), Path, description = "The caller's username"),
           ("id" = inline(Id), Path, description = "The item id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ScratchDeleted, description = "deleted (exactly 200)"),
              (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn backpack_delete(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, Problem> {
    let (username, id) = path.into_inner();
    own_backpack(&user, &username)?;
    backpack::delete(&state.ctx, &user, id).await?;
    Ok(HttpResponse::Ok().json(json!({"ok": true})))
}
