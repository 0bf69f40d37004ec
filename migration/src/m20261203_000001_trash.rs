//! The trash (G15): `projects.deleted_at`, NULL for a live project, the time
//! of the delete for one in its owner's trash. A trashed project keeps its
//! versions and shares, so a restore gives back exactly what was deleted.
//!
//! One index, `(deleted_at)`, for gc's search for projects trashed longer
//! ago than the retention. Deliberately no `(owner_id, deleted_at)`: a
//! save's `UPDATE … WHERE id = ? AND version = ? AND owner_id = ?` on MariaDB
//! was planned as a range scan of that index (EXPLAIN showed it), locking
//! the owner's whole range, so moving a project to the trash (which changes
//! that index) deadlocked with the owner's racing saves until the retries
//! ran out (503). An owner's trash and live count use `(owner_id, id)`: a
//! quota caps an owner's projects anyway.
//!
//! `down` drops the indexes, then the column (SQLite cannot drop an indexed
//! column). Trashed projects would then be live again: run `cubby gc` with a
//! zero retention first if they must not come back.

use crate::util::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [&[&str]; 1] = [&["deleted_at"]];

// sea-orm-migration declares `up`/`down` with `&SchemaManager` (lifetime
// hidden); under `async_trait` the impl must spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .add_column(ts_null("deleted_at"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            INDEXES
                .iter()
                .map(|c| index("projects", c, false))
                .collect(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for cols in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("ix_projects_{}", cols.join("_")))
                        .table("projects")
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .drop_column("deleted_at")
                    .to_owned(),
            )
            .await
    }
}
