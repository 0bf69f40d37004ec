//! Header parameters and the shapes of the Scratch editor's answers: types
//! that exist for the OpenAPI document only (the handlers read the headers
//! with `crate::extract` and build these answers with `json!`).

use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::schemas::{AnyText, IdempotencyKey, IfMatch};

/// `Idempotency-Key` on the routes that create something.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Makes a retried create safe: the same key again gets the first
    /// answer and creates nothing.
    #[param(rename = "Idempotency-Key", schema_with = IdempotencyKey::schema)]
    pub key: Option<String>,
}

/// `If-Match` on saves.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// The version the client read, as its ETag (or send `version`).
    #[param(rename = "If-Match", schema_with = IfMatch::schema)]
    pub version: Option<String>,
}

/// `If-None-Match` on asset downloads.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfNoneMatchHeader {
    /// `"<md5>"` (or `*`): 304 when the asset is stored.
    #[param(rename = "If-None-Match", schema_with = AnyText::schema)]
    pub etag: Option<String>,
}

/// `POST /projects/`: the new project.
#[derive(ToSchema)]
pub struct ScratchCreated {
    /// Always `ok`.
    pub status: String,
    /// The new project's id.
    #[schema(rename = "content-name")]
    pub content_name: String,
    /// Its title.
    #[schema(rename = "content-title")]
    pub content_title: String,
}

/// `PUT /projects/{id}`: the saved project.
#[derive(ToSchema)]
pub struct ScratchSaved {
    /// Always `ok`.
    pub status: String,
    /// The project's id.
    #[schema(rename = "content-name")]
    pub content_name: String,
    /// The new version.
    pub version: i32,
}

/// `POST /assets/{name}`: the stored asset.
#[derive(ToSchema)]
pub struct ScratchAssetSaved {
    /// Always `ok`.
    pub status: String,
    /// `{md5}.{ext}`.
    #[schema(rename = "content-name")]
    pub content_name: String,
}

/// `POST /internalapi/project/thumbnail/{id}/set/`: stored.
#[derive(ToSchema)]
pub struct ScratchThumbnailSaved {
    /// Always `ok`.
    pub status: String,
    /// The project id, as a string.
    #[schema(rename = "content-name")]
    pub content_name: String,
}

/// A backpack item as the Scratch editor reads it.
#[derive(ToSchema)]
pub struct ScratchBackpackItem {
    pub id: i64,
    /// `costume`, `sound`, `sprite` or `script`.
    #[schema(rename = "type")]
    pub item_type: String,
    pub mime: String,
    pub name: String,
    /// `{md5}.{ext}` of the body (download it from `/backpack/{body}`).
    pub body: String,
    /// `{md5}.{ext}` of the thumbnail.
    pub thumbnail: String,
}

/// `DELETE /backpack/{username}/{id}`.
#[derive(ToSchema)]
pub struct ScratchDeleted {
    /// Always `true`.
    pub ok: bool,
}
