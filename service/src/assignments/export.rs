//! The classroom as `.sb3` files: one submission (its pinned body and the
//! assets it names), and a class export — a zip holding `<username>.sb3`
//! for each current student member's latest submission. Both stream
//! through the `.sb3` writer (`crate::sb3`): the class export writes each
//! student's archive straight into its entry of the outer zip, reading one
//! submitted body at a time, so memory stays flat however big the class.

use std::io::Write;

use bytes::Bytes;
use entity::{membership, submission, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{assignment_for, review::may_see};
use crate::auth::{Role, User};
use crate::error::{Error, Result};
use crate::sb3::{self, asset_entries, write_zip, ChannelWriter, Export, CHANNEL_CHUNKS};
use crate::Ctx;

/// `GET /api/v1/submissions/{id}/sb3`: whoever may read the submission.
#[tracing::instrument(skip_all, fields(user.id = caller.id, submission.id = id))]
pub async fn submission_sb3(ctx: &Ctx, caller: &User, id: i64) -> Result<Export> {
    let s = submission::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    may_see(&ctx.db, caller, &s).await?;
    let body = ctx.blobs.get(&s.body_file).await?;
    sb3::export_body(ctx, body, format!("submission-{id}.sb3")).await
}

/// `GET /api/v1/assignments/{id}/export`: a teacher of the group.
#[tracing::instrument(skip_all, fields(user.id = caller.id, assignment.id = id))]
pub async fn export(ctx: &Ctx, caller: &User, id: i64) -> Result<Export> {
    let (a, member) = assignment_for(&ctx.db, caller, id).await?;
    member.require_teacher()?;
    let member_ids: Vec<i64> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::GroupId.eq(a.group_id))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let students = user::Entity::find()
        .filter(user::Column::Id.is_in(member_ids))
        .filter(user::Column::Role.eq(Role::Student.as_str()))
        .order_by_asc(user::Column::Username)
        .all(&ctx.db)
        .await?;
    // (username, the latest submission's body file), read up front: the
    // rows are small; the bodies are read one at a time while streaming.
    let mut latest = Vec::new();
    for s in students {
        let row = submission::Entity::find()
            .filter(submission::Column::AssignmentId.eq(a.id))
            .filter(submission::Column::StudentId.eq(s.id))
            .order_by_desc(submission::Column::Id)
            .one(&ctx.db)
            .await?;
        if let Some(row) = row {
            latest.push((s.username, row.body_file));
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_CHUNKS);
    let ctx = ctx.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        if let Err(err) = write_class(&handle, &ctx, &latest, ChannelWriter::new(tx.clone())) {
            tracing::warn!(error = %err, "class export broke off");
            let _ = tx.blocking_send(Err(err));
        }
    });
    let bytes = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(Export {
        file_name: format!("assignment-{id}.zip"),
        bytes: Box::pin(bytes),
    })
}

fn write_class(
    handle: &tokio::runtime::Handle,
    ctx: &Ctx,
    latest: &[(String, String)],
    writer: ChannelWriter,
) -> std::io::Result<()> {
    let mut zip = ZipWriter::new_stream(writer);
    // Each `.sb3` is a zip already: stored, not compressed again.
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (username, key) in latest {
        let body = handle
            .block_on(ctx.blobs.get(key))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let entries = handle
            .block_on(asset_entries(ctx, &body))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        zip.start_file(format!("{}.sb3", entry_name(username)), stored)
            .map_err(std::io::Error::other)?;
        write_zip(handle, &ctx.blobs, &body, &entries, &mut zip)?;
    }
    let mut inner = zip.finish().map_err(std::io::Error::other)?;
    inner.flush()
}

/// A username as a file name in the zip: letters, digits, `-`, `_` and `.`
/// kept, anything else (a `/`, a `\\`, a control character) `_`, and no
/// leading dot — nothing in it can climb out of the folder it unpacks into.
fn entry_name(username: &str) -> String {
    let name: String = username
        .chars()
        .map(|c| match c {
            c if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') => c,
            _ => '_',
        })
        .collect();
    let name = name.trim_start_matches('.');
    if name.is_empty() {
        "student".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::entry_name;

    #[test]
    fn entry_names_cannot_leave_the_folder() {
        assert_eq!(entry_name("ann"), "ann");
        assert_eq!(entry_name("../etc/passwd"), "_etc_passwd");
        assert_eq!(entry_name("a\\b"), "a_b");
        assert_eq!(entry_name(".."), "student");
        assert_eq!(entry_name("jürgen.k"), "jürgen.k");
    }
}
