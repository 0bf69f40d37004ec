//! `/api/v1/assets/{md5}.{ext}`: streamed, deduplicated uploads and cached
//! downloads. The name is checked before any byte is read or file touched.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use service::Code;

use crate::dto::AssetDto;
use crate::extract::AuthUser;
use crate::headers::stored_file;
use crate::openapi::params::IfNoneMatchHeader;
use crate::openapi::responses::{
    BadRequest, Forbidden, NotFound, RequestTimeout, ServerError, TooLarge, Unauthenticated,
    Unavailable,
};
use crate::openapi::schemas::{AssetName as AssetNameSchema, Bytes, UploadName};
use crate::problem::{too_large, Problem};
use crate::state::AppState;
use service::assets::{self, AssetName};

/// Rejects a declared `Content-Length` over the limit before reading the body.
pub fn check_declared_length(req: &HttpRequest, limit: u64) -> Result<(), Problem> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Upload an asset's raw bytes under its md5 name.
#[utoipa::path(post, path = "/api/v1/assets/{name}", tag = "assets", operation_id = "upload_asset",
    params(("name" = inline(UploadName), Path)),
    request_body(content = inline(Option<Bytes>), content_type = "application/octet-stream",
                 description = "The raw bytes (any `Content-Type`; none: an empty asset); their md5 must be the name's"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = AssetDto, description = "stored by this request"),
              (status = 200, body = AssetDto, description = "already stored (`created: false`)"),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 408, response = RequestTimeout), (status = 413, response = TooLarge), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn upload(
    state: web::Data<AppState>,
    AuthUser(user): AuthUser,
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let asset = store(&state, &user, &req, &name, body).await?;
    let mut resp = if asset.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(resp.json(AssetDto::from(asset)))
}

/// Shared by `/api/v1/assets` and the Scratch `/assets` route; `user` is
/// charged for a new asset (S8).
pub async fn store(
    state: &AppState,
    user: &service::auth::User,
    req: &HttpRequest,
    name: &str,
    body: web::Payload,
) -> Result<service::assets::Asset, Problem> {
    let name = AssetName::parse_uploadable(name)?;
    check_declared_length(req, state.ctx.settings.max_body_bytes)?;
    let body = body.map(|chunk| chunk.map_err(body_error));
    Ok(assets::upload(&state.ctx, user, &name, body).await?)
}

/// Why a streamed body stopped: its deadline passed (408), or it broke off.
pub(crate) fn body_error(err: actix_web::error::PayloadError) -> service::Error {
    if crate::body_deadline::is_timeout(&err) {
        service::Error::invalid(
            Code::RequestTimeout,
            "the request body did not arrive in time",
        )
    } else {
        service::Error::invalid(Code::IncompleteBody, format!("the upload broke off: {err}"))
    }
}

/// The asset's bytes, immutable and cacheable; `If-None-Match` → 304.
#[utoipa::path(method(get, head), path = "/api/v1/assets/{name}", tag = "assets", operation_id = "download_asset",
    params(("name" = inline(AssetNameSchema), Path), IfNoneMatchHeader),
    responses((status = 200, description = "the bytes, cacheable forever", content(
                  ("image/svg+xml"), ("image/png"), ("image/jpeg"), ("image/gif"), ("image/bmp"),
                  ("audio/wav"), ("audio/mpeg"), ("application/x.scratch.sprite3"), ("application/json")),
                headers(("ETag" = String, description = "`\"<md5>\"`"), ("Cache-Control" = String))),
              (status = 304, description = "not modified"),
              (status = 400, response = BadRequest), (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let name = AssetName::parse_any(&name)?;
    serve(&state, &req, &name).await
}

/// Streams an asset with its caching headers (also used by the Scratch routes).
pub async fn serve(
    state: &AppState,
    req: &HttpRequest,
    name: &AssetName,
) -> Result<HttpResponse, Problem> {
    let etag = format!("\"{}\"", name.md5);
    let cache = "public, max-age=31536000, immutable";
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        });
    if not_modified && assets::exists(&state.ctx, name).await? {
        return Ok(stored_file(&mut HttpResponse::NotModified())
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    let (asset, stream) = assets::open(&state.ctx, name).await?;
    Ok(stored_file(&mut HttpResponse::Ok())
        .content_type(assets::content_type(&asset.ext))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        // Media is compressed already: keep the compression middleware off it.
        .insert_header(header::ContentEncoding::Identity)
        .no_chunking(u64::try_from(asset.size).unwrap_or(0))
        .streaming(stream))
}
