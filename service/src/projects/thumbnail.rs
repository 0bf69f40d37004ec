//! Project thumbnails: one PNG or JPEG per project (the editor page sends a
//! stage snapshot after each save; the home page shows it).
//!
//! Files follow the project rules (G11): the new image is written before the
//! transaction that names it; the old one is deleted only after that commit;
//! a failed transaction deletes the new file. Storage (S8): a thumbnail's
//! bytes count toward the owner's storage like a body; replacing one charges
//! only the difference, and deleting the project gives them back.

use entity::project_thumbnail;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait};

use super::read::readable;
use super::rows::lock_for_owner;
use crate::access::access;
use crate::auth::User;
use crate::blob::{delete_all, BlobError, ByteStream};
use crate::error::{Code, Error, Result};
use crate::storage_quota;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// The largest thumbnail accepted, in bytes.
pub const MAX_THUMBNAIL_BYTES: u64 = 512 * 1024;

/// How often a read starts again when a replacement deletes the file it found.
const READ_ATTEMPTS: usize = 5;

/// The content type of PNG or JPEG bytes, judged by their magic numbers.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
    if bytes.starts_with(PNG) {
        Some("image/png")
    } else if bytes.starts_with(JPEG) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// A stored thumbnail, for download.
pub struct Thumbnail {
    pub content_type: String,
    pub size: i64,
    pub bytes: ByteStream,
}

/// `PUT /api/v1/projects/{id}/thumbnail` and the editor's
/// `POST /internalapi/project/thumbnail/{id}/set/`: owner only.
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn set_thumbnail(ctx: &Ctx, caller: &User, id: i64, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 > MAX_THUMBNAIL_BYTES {
        return Err(Error::TooLarge {
            limit: MAX_THUMBNAIL_BYTES,
        });
    }
    // Who may comes before what was sent: a stranger learns nothing more
    // than 404, a reader 403. Checked again under the lock below.
    let p = readable(ctx, caller, id).await?;
    access(&ctx.db, caller, &p).await?.require_owner()?;
    let content_type = image_type(bytes).ok_or_else(|| {
        Error::invalid(
            Code::InvalidImage,
            "a thumbnail must be a PNG or JPEG image",
        )
    })?;
    let size = bytes.len() as i64;
    let key = ctx.blobs.put(bytes).await?;
    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.thumbnail",
        Kind::Edit,
        async |txn| {
            let p = lock_for_owner(txn, caller, id).await?;
            let old = project_thumbnail::Entity::find_by_id(id).one(txn).await?;
            let freed = old.as_ref().map_or(0, |o| o.size);
            storage_quota::change(ctx, txn, p.owner_id, size - freed).await?;
            let row = project_thumbnail::ActiveModel {
                project_id: Set(id),
                blob_file: Set(key.clone()),
                content_type: Set(content_type.to_owned()),
                size: Set(size),
                updated_at: Set(now()),
            };
            if old.is_some() {
                project_thumbnail::Entity::update(row).exec(txn).await?;
            } else {
                project_thumbnail::Entity::insert(row)
                    .exec_without_returning(txn)
                    .await?;
            }
            Ok(old.map(|o| o.blob_file))
        },
    )
    .await;
    match result {
        Ok(old) => {
            delete_all(&ctx.blobs, &old.into_iter().collect::<Vec<_>>()).await;
            Ok(())
        }
        Err(err) => {
            delete_all(&ctx.blobs, &[key]).await;
            Err(err)
        }
    }
}

/// `GET /api/v1/projects/{id}/thumbnail`: whoever may read the project;
/// `NotFound` when it has none.
pub async fn thumbnail(ctx: &Ctx, caller: &User, id: i64) -> Result<Thumbnail> {
    for _ in 0..READ_ATTEMPTS {
        readable(ctx, caller, id).await?;
        let row = project_thumbnail::Entity::find_by_id(id)
            .one(&ctx.db)
            .await?
            .ok_or(Error::NotFound)?;
        match ctx.blobs.open(&row.blob_file).await {
            Ok((_, bytes)) => {
                return Ok(Thumbnail {
                    content_type: row.content_type,
                    size: row.size,
                    bytes,
                })
            }
            // Replaced (and the old file deleted) between our two reads.
            Err(BlobError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Busy)
}

/// Inside a project's delete: removes its thumbnail row and returns its file
/// (to delete after the commit) and its size (to give back).
pub(super) async fn take(txn: &DatabaseTransaction, id: i64) -> Result<Option<(String, i64)>> {
    let Some(row) = project_thumbnail::Entity::find_by_id(id).one(txn).await? else {
        return Ok(None);
    };
    project_thumbnail::Entity::delete_by_id(id)
        .exec(txn)
        .await?;
    Ok(Some((row.blob_file, row.size)))
}

#[cfg(test)]
mod tests {
    use super::image_type;

    #[test]
    fn only_png_and_jpeg_magic_numbers_are_images() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(image_type(png), Some("image/png"));
        assert_eq!(
            image_type(b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Some("image/jpeg")
        );
        for bad in [
            &b""[..],
            b"\x89PNG",
            b"\x89PNG\r\n\x1a",
            b"\xff\xd8",
            b"GIF89a",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            b"BM",
        ] {
            assert_eq!(image_type(bad), None, "{bad:?}");
        }
    }
}
