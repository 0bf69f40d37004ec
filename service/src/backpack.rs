//! The backpack: a per-user list of costumes, sounds, sprites and scripts.
//! Bodies and thumbnails are stored as (deduplicated) assets; an item names
//! them as `{md5}.{ext}`. Only the owner sees or deletes an item. Concurrent
//! adds are independent inserts, so none is lost (G9).

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use entity::backpack_item as item;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::assets::{self, AssetName};
use crate::auth::User;
use crate::error::{Error, Result};
use crate::tx::{self, Kind};
use crate::{idempotency, now, Ctx};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: i64,
    #[serde(rename = "type")]
    pub item_type: String,
    pub mime: String,
    pub name: String,
    /// `{md5}.{ext}` of the body asset.
    pub body: String,
    /// `{md5}.{ext}` of the thumbnail asset.
    pub thumbnail: String,
    pub created_at: DateTime<Utc>,
}

/// A new item as the editor sends it: body and thumbnail base64-encoded.
#[derive(Clone, Debug)]
pub struct NewItem {
    pub item_type: String,
    pub mime: String,
    pub name: String,
    pub body_base64: String,
    pub thumbnail_base64: String,
}

#[derive(Clone, Debug)]
pub struct Added {
    pub item: Item,
    pub replayed: bool,
}

/// The body's extension for a `(type, mime)` the editor sends.
fn body_ext(item_type: &str, mime: &str) -> Result<&'static str> {
    let ext = match (item_type, mime) {
        ("costume", "image/svg+xml") => "svg",
        ("costume", "image/png") => "png",
        ("costume", "image/jpeg") => "jpg",
        ("sound", "audio/x-wav" | "audio/wav" | "audio/wave") => "wav",
        ("sound", "audio/mp3" | "audio/mpeg") => "mp3",
        ("sprite", "application/zip") => "sprite3",
        ("script", "application/json") => "json",
        ("costume" | "sound" | "sprite" | "script", _) => {
            return Err(Error::invalid(
                "unsupported_asset_type",
                format!("a {item_type} cannot have mime type {mime}"),
            ))
        }
        _ => {
            return Err(Error::invalid(
                "invalid_input",
                "type must be costume, sound, sprite or script",
            ))
        }
    };
    Ok(ext)
}

/// Thumbnails are JPEG or PNG; the extension comes from the bytes.
fn thumbnail_ext(bytes: &[u8]) -> Result<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok("jpg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok("png")
    } else {
        Err(Error::invalid(
            "invalid_input",
            "the thumbnail must be a JPEG or PNG image",
        ))
    }
}

fn decode(field: &str, text: &str) -> Result<Bytes> {
    // The editor sends plain base64; tolerate a data: URL prefix too.
    let data = text.split_once(";base64,").map_or(text, |(_, d)| d);
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map(Bytes::from)
        .map_err(|_| Error::invalid("invalid_base64", format!("{field} is not valid base64")))
}

fn check_name(name: &str) -> Result<()> {
    if name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_input",
            "name must be at most 255 characters, no control characters",
        ));
    }
    Ok(())
}

fn to_item(row: item::Model) -> Item {
    Item {
        id: row.id,
        item_type: row.item_type,
        mime: row.mime,
        name: row.name,
        body: row.body_asset,
        thumbnail: row.thumbnail_asset,
        created_at: row.created_at,
    }
}

/// Adds an item to the caller's backpack.
#[tracing::instrument(skip_all, fields(user.id = caller.id))]
pub async fn add(ctx: &Ctx, caller: &User, new: NewItem, idem_key: Option<&str>) -> Result<Added> {
    let ext = body_ext(&new.item_type, &new.mime)?;
    check_name(&new.name)?;
    let body = decode("body", &new.body_base64)?;
    let thumbnail = decode("thumbnail", &new.thumbnail_base64)?;
    for part in [&body, &thumbnail] {
        if part.len() as u64 > ctx.settings.max_body_bytes {
            return Err(Error::TooLarge {
                limit: ctx.settings.max_body_bytes,
            });
        }
    }
    let thumb_ext = thumbnail_ext(&thumbnail)?;
    // Assets are immutable and deduplicated: storing them first is safe even
    // if the insert below fails (they are then unreferenced, for gc).
    let body_name = assets::store_bytes(ctx, ext, body).await?;
    let thumbnail_name = assets::store_bytes(ctx, thumb_ext, thumbnail).await?;

    tx::run(
        &ctx.db,
        &ctx.retry,
        "backpack.add",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(k) = idem_key {
                if let Some(item) =
                    idempotency::claim::<Item>(txn, caller.id, k, "backpack.add", at).await?
                {
                    return Ok(Added {
                        item,
                        replayed: true,
                    });
                }
            }
            let res = item::Entity::insert(item::ActiveModel {
                owner_id: Set(caller.id),
                item_type: Set(new.item_type.clone()),
                mime: Set(new.mime.clone()),
                name: Set(new.name.clone()),
                body_asset: Set(body_name.clone()),
                thumbnail_asset: Set(thumbnail_name.clone()),
                created_at: Set(at),
                ..Default::default()
            })
            .exec(txn)
            .await?;
            let item = Item {
                id: res.last_insert_id,
                item_type: new.item_type.clone(),
                mime: new.mime.clone(),
                name: new.name.clone(),
                body: body_name.clone(),
                thumbnail: thumbnail_name.clone(),
                created_at: at,
            };
            if let Some(k) = idem_key {
                idempotency::store(txn, caller.id, k, 201, &item).await?;
            }
            Ok(Added {
                item,
                replayed: false,
            })
        },
    )
    .await
}

/// The caller's items, newest first.
pub async fn list(ctx: &Ctx, caller: &User, limit: u64, offset: u64) -> Result<Vec<Item>> {
    Ok(item::Entity::find()
        .filter(item::Column::OwnerId.eq(caller.id))
        .order_by_desc(item::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(to_item)
        .collect())
}

/// Deletes one of the caller's items; another user's item is `NotFound`.
pub async fn delete(ctx: &Ctx, caller: &User, id: i64) -> Result<()> {
    tx::run(
        &ctx.db,
        &ctx.retry,
        "backpack.delete",
        Kind::Edit,
        async |txn| {
            let gone = item::Entity::delete_many()
                .filter(item::Column::Id.eq(id))
                .filter(item::Column::OwnerId.eq(caller.id))
                .exec(txn)
                .await?;
            if gone.rows_affected == 0 {
                return Err(Error::NotFound);
            }
            Ok(())
        },
    )
    .await
}

/// A body or thumbnail named in an item (`GET /backpack/{file}`).
pub async fn file(ctx: &Ctx, name: &str) -> Result<(AssetName, crate::blob::ByteStream)> {
    let name = AssetName::parse_any(name).map_err(|_| Error::NotFound)?;
    let (_, stream) = assets::open(ctx, &name).await?;
    Ok((name, stream))
}
