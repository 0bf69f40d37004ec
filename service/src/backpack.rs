//! The backpack: a per-user list of costumes, sounds, sprites and scripts.
//! Bodies and thumbnails are stored as (deduplicated) assets; an item names
//! them as `{md5}.{ext}`. Only the owner sees or deletes an item. Concurrent
//! adds are independent inserts, so none is lost (G9).
//!
//! An add writes the files of its new assets first; then one transaction
//! (when any asset is new) locks the caller's row and inserts the asset rows,
//! charging the caller for those it created (S8), and inserts the item.
//! Refused or failed, it rolls back whole and deletes its files: no item, no
//! asset row, no file (G11).

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use entity::backpack_item as item;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::assets;
use crate::auth::User;
use crate::blob::delete_all;
use crate::error::{Code, Error, Result};
use crate::idempotency::Idempotency;
use crate::page::{Page, PageRequest};
use crate::storage_quota;
use crate::text::TextRule;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

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
                Code::UnsupportedAssetType,
                format!("a {item_type} cannot have mime type {mime}"),
            ))
        }
        _ => {
            return Err(Error::invalid(
                Code::InvalidInput,
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
            Code::InvalidInput,
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
        .map_err(|_| Error::invalid(Code::InvalidBase64, format!("{field} is not valid base64")))
}

/// An item's name (the editor may send an empty one).
const NAME: TextRule = TextRule::optional("name", 255);

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
    NAME.check(&new.name)?;
    let idempotency = Idempotency::new(idem_key, "backpack.add")?;
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
    let body = assets::prepare_bytes(ctx, ext, body).await?;
    let thumbnail = assets::prepare_bytes(ctx, thumb_ext, thumbnail).await?;
    let body_name = body.name.file_name();
    let thumbnail_name = thumbnail.name.file_name();
    let written: Vec<String> = [&body.key, &thumbnail.key]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    // The new assets' rows, inserted in one order (by name), so that two adds
    // never wait for each other's rows in a cycle; one row when the body and
    // the thumbnail are the same asset.
    let mut new_assets: Vec<&assets::Prepared> = [&body, &thumbnail]
        .into_iter()
        .filter(|p| p.key.is_some())
        .collect();
    new_assets.sort_by_key(|p| (&p.name.md5, p.name.asset_type.as_str()));
    new_assets.dedup_by_key(|p| (&p.name.md5, p.name.asset_type.as_str()));

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "backpack.add",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(item) = idempotency.replay(txn, caller.id, at).await? {
                let replayed = Added {
                    item,
                    replayed: true,
                };
                return Ok((replayed, Vec::new()));
            }
            // New assets: the caller's row first, then their rows (S8). An
            // item of stored assets costs nothing and takes no lock, so
            // such adds stay independent inserts (G9).
            let mut kept = Vec::new();
            if !new_assets.is_empty() {
                let mut usage = storage_quota::lock(txn, caller.id).await?;
                let mut charged = 0;
                for prepared in &new_assets {
                    let Some(file) = prepared.new_file() else {
                        continue;
                    };
                    let (_, created) =
                        assets::insert_row(txn, &prepared.name, &file, Some(caller.id)).await?;
                    if created {
                        charged += file.size;
                        kept.push(file.key.to_owned());
                    }
                }
                usage.charge(ctx, txn, charged).await?;
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
            idempotency.remember(txn, caller.id, 201, &item).await?;
            let added = Added {
                item,
                replayed: false,
            };
            Ok((added, kept))
        },
    )
    .await;

    // Only the files of asset rows this add committed stay.
    let kept: &[String] = result.as_ref().map_or(&[], |(_, kept)| kept.as_slice());
    let orphans: Vec<String> = written
        .iter()
        .filter(|key| !kept.contains(key))
        .cloned()
        .collect();
    delete_all(&ctx.blobs, &orphans).await;
    result.map(|(added, _)| added)
}

/// The caller's items, newest first. The editor pages by offset, so the
/// cursor here is an offset too.
pub async fn list(ctx: &Ctx, caller: &User, page: PageRequest) -> Result<Page<Item>> {
    let offset = page.after.unwrap_or(0);
    let rows = item::Entity::find()
        .filter(item::Column::OwnerId.eq(caller.id))
        .order_by_desc(item::Column::Id)
        .offset(u64::try_from(offset).unwrap_or(0))
        .limit(page.fetch())
        .all(&ctx.db)
        .await?;
    let next_offset = offset.saturating_add(i64::try_from(page.limit).unwrap_or(i64::MAX));
    Ok(Page::from_rows(rows, &page, |_| next_offset).map(to_item))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_takes_only_its_own_mime_types() {
        let cases: &[(&str, &str, Result<&str, Code>)] = &[
            ("costume", "image/svg+xml", Ok("svg")),
            ("costume", "image/png", Ok("png")),
            ("costume", "image/jpeg", Ok("jpg")),
            ("sound", "audio/x-wav", Ok("wav")),
            ("sound", "audio/mpeg", Ok("mp3")),
            ("sprite", "application/zip", Ok("sprite3")),
            ("script", "application/json", Ok("json")),
            ("costume", "text/html", Err(Code::UnsupportedAssetType)),
            ("sound", "image/png", Err(Code::UnsupportedAssetType)),
            (
                "script",
                "application/javascript",
                Err(Code::UnsupportedAssetType),
            ),
            ("virus", "application/zip", Err(Code::InvalidInput)),
            ("", "", Err(Code::InvalidInput)),
        ];
        for (item_type, mime, want) in cases {
            let got = body_ext(item_type, mime).map_err(|e| e.code());
            assert_eq!(got, *want, "{item_type} {mime}");
        }
    }

    #[test]
    fn a_thumbnail_is_known_by_its_magic_bytes() {
        assert_eq!(thumbnail_ext(b"\xFF\xD8\xFF\xE0rest").ok(), Some("jpg"));
        assert_eq!(thumbnail_ext(b"\x89PNG\r\n\x1a\nrest").ok(), Some("png"));
        for bad in [&b""[..], b"GIF89a", b"<svg>", b"\x89PNG"] {
            assert!(thumbnail_ext(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bodies_are_base64_with_or_without_a_data_url_prefix() {
        assert_eq!(decode("body", "aGk=").ok().as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            decode("body", "data:image/png;base64,aGk=").ok().as_deref(),
            Some(&b"hi"[..])
        );
        let err = decode("thumbnail", "not base64!").unwrap_err();
        assert_eq!(err.code(), Code::InvalidBase64);
    }
}
