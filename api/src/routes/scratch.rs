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
use crate::extract::{AuthUser, IdempotencyKey, IfMatch};
use crate::headers::stored_file;
use crate::problem::{query_error, Problem};
use crate::routes::assets as api_assets;
use crate::routes::read_limited;
use crate::state::AppState;
use service::assets::AssetName;
use service::projects::{self, NewProject, Precondition, Update};
use service::{backpack, Code, Error};

fn body_limit(state: &AppState) -> u64 {
    state.ctx.settings.max_body_bytes
}

/// `GET /projects/{id}`: the project JSON.
pub async fn get_project(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (_, bytes) = projects::body(&state.ctx, &user, *id).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type("application/json")
        .body(bytes))
}

#[derive(Deserialize)]
pub struct CreateQuery {
    is_copy: Option<String>,
    is_remix: Option<String>,
    original_id: Option<String>,
    title: Option<String>,
}

/// `POST /projects/` (new, or `?is_copy=1` / `?is_remix=1&original_id=&title=`).
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
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "content-name": created.project.id.to_string(),
        "content-title": created.project.title,
    })))
}

#[derive(Deserialize)]
pub struct SaveQuery {
    version: Option<i32>,
}

/// `PUT /projects/{id}`: conditional with `?version=` or `If-Match`;
/// otherwise saved on top of the latest version (the overwritten one stays
/// in the history).
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
        title: None,
        body: Some(body),
    };
    let project = projects::update(&state.ctx, &user, *id, update, Precondition::Latest).await?;
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "content-name": project.id.to_string(),
        "version": project.version,
    })))
}

/// `GET /assets/internalapi/asset/{md5}.{ext}/get/` and `GET /assets/{md5}.{ext}`.
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
pub async fn backpack_add(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    key: IdempotencyKey,
    username: web::Path<String>,
    body: web::Json<NewBackpackItem>,
) -> Result<HttpResponse, Problem> {
    own_backpack(&user, &username)?;
    let added = backpack::add(&state.ctx, &user, body.into_inner().into(), key.as_deref()).await?;
    Ok(HttpResponse::Ok().json(scratch_item(added.item)))
}

/// `DELETE /backpack/{username}/{id}`: exactly 200 `{"ok": true}`.
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
