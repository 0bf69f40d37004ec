//! The project a student works in for an assignment, made inside the
//! assignment's `start` transaction (so a start that fails or loses leaves
//! no project behind, G16): a copy of the starter with `parent_id` = the
//! starter, or an empty project. It counts toward the student's project
//! quota and storage quota like any create or copy (G8, S8).

use entity::{project, project_version};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QuerySelect};

use super::create::{insert_project, lock_owner_and_check_quota};
use super::rows::{find_version, live_by_id, shares_of, to_project, version_row, BodyFile};
use super::rules::{check_title, md5_hex};
use super::trash::untrash;
use super::Project;
use crate::error::{Error, Result};
use crate::{now, Ctx};

/// The smallest project the Scratch editor opens: a stage with the blank
/// backdrop and nothing else. The backdrop is the one the stock editor
/// bundles for its own default project (it never fetches it), so the
/// project needs no stored asset; the VM cannot load a stage without a
/// costume.
pub const EMPTY_PROJECT: &str = concat!(
    r#"{"targets":[{"isStage":true,"name":"Stage","variables":{},"lists":{},"broadcasts":{},"#,
    r#""blocks":{},"comments":{},"currentCostume":0,"costumes":[{"name":"backdrop1","#,
    r#""assetId":"cd21514d0531fdffb22204e0ec5ed84a","md5ext":"cd21514d0531fdffb22204e0ec5ed84a.svg","#,
    r#""dataFormat":"svg","rotationCenterX":240,"rotationCenterY":180}],"sounds":[],"volume":100,"#,
    r#""layerOrder":0,"tempo":60,"videoTransparency":50,"videoState":"on","textToSpeechLanguage":null}],"#,
    r#""monitors":[],"extensions":[],"meta":{"semver":"3.0.0","vm":"0.2.0","agent":"cubby"}}"#
);

/// Creates `owner_id`'s project titled `title`: a copy of `starter_id`'s
/// current body when that project still exists and is not in the trash (the assignment, not the
/// student's own access, grants the read), else [`EMPTY_PROJECT`]. The body
/// file is written here, inside the transaction; its key is pushed onto
/// `written` so the caller deletes it if the transaction fails.
pub(crate) async fn create_in(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    owner_id: i64,
    title: &str,
    starter_id: Option<i64>,
    written: &mut Vec<String>,
) -> Result<Project> {
    let title = check_title(title)?;
    let starter = match starter_id {
        // A shared lock, as for a copy: the starter's body cannot vanish (G6).
        Some(id) => live_by_id(id).lock_shared().one(txn).await?,
        None => None,
    };
    let (bytes, md5, parent) = match &starter {
        Some(s) => {
            let current = version_row(txn, s.id, s.version).await?;
            let bytes = ctx.blobs.get(&current.body_file).await?;
            (bytes, current.body_md5, Some(s.id))
        }
        None => {
            let bytes = EMPTY_PROJECT.as_bytes().to_vec();
            let md5 = md5_hex(&bytes);
            (bytes, md5, None)
        }
    };
    let size = bytes.len() as i64;
    let mut usage = lock_owner_and_check_quota(ctx, txn, owner_id).await?;
    usage.charge(ctx, txn, size).await?;
    let key = ctx.blobs.put(&bytes).await?;
    written.push(key.clone());
    let file = BodyFile {
        file: &key,
        size,
        md5: &md5,
    };
    let row = insert_project(txn, owner_id, &title, parent, &file, now()).await?;
    Ok(to_project(row, Vec::new()))
}

/// The project `id` as the API shows it (for a start that finds the
/// student's project already made; the pair row grants the read). A
/// student who put it in the trash and starts again gets it back from the
/// trash (quota checked as for any restore), never a second project.
pub(crate) async fn project_in(ctx: &Ctx, txn: &DatabaseTransaction, id: i64) -> Result<Project> {
    let p = project::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    let p = if p.deleted_at.is_some() {
        untrash(ctx, txn, p).await?
    } else {
        p
    };
    let shares = shares_of(txn, p.id).await?;
    Ok(to_project(p, shares))
}

/// The live project `id` (not in the trash), under a shared lock: what an
/// assignment's submit pins and a new assignment's starter must be.
pub(crate) async fn live_shared(txn: &DatabaseTransaction, id: i64) -> Result<project::Model> {
    live_by_id(id)
        .lock_shared()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)
}

/// The kept version row `version` of a project, if it is kept.
pub(crate) async fn version_in(
    db: &impl ConnectionTrait,
    project_id: i64,
    version: i32,
) -> Result<Option<project_version::Model>> {
    find_version(db, project_id, version).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_project_is_a_stage_with_the_bundled_backdrop() {
        let p: serde_json::Value = serde_json::from_str(EMPTY_PROJECT).unwrap();
        let stage = &p["targets"][0];
        assert_eq!(stage["isStage"], true);
        assert_eq!(
            stage["costumes"][0]["md5ext"],
            "cd21514d0531fdffb22204e0ec5ed84a.svg"
        );
        assert_eq!(p["targets"].as_array().map(Vec::len), Some(1));
        assert_eq!(p["meta"]["semver"], "3.0.0");
    }
}
