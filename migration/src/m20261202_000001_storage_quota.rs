//! S8: the per-user storage count.
//!
//! * `users.storage_bytes`: the bytes the user has made cubby store (the
//!   kept versions of the user's projects, and the assets the user was
//!   charged for). The service keeps it in the same transaction as every
//!   write that changes it, under the user's row lock, which is what makes
//!   the quota exact (docs/GUARANTEES.md, S8).
//! * `assets.created_by`: the user whose upload created the asset row, the
//!   one charged for it; NULL for assets stored before this migration (their
//!   uploader was never recorded). No foreign key: SQLite cannot add one to
//!   an existing table, and users are never deleted.
//!
//! `up` fills `storage_bytes` from the versions already kept; the assets
//! stored before it charge nobody. `down` drops both columns (every row
//! stays). One change per `ALTER`: SQLite takes no more.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every user's kept version bytes. PostgreSQL's `SUM(bigint)` is a
/// `numeric`, which the assignment casts back to `bigint`.
const BACKFILL: &str = "UPDATE users SET storage_bytes = (\
     SELECT COALESCE(SUM(v.body_size), 0) FROM project_versions v \
     JOIN projects p ON p.id = v.project_id WHERE p.owner_id = users.id)";

// sea-orm-migration declares `up`/`down` with `&SchemaManager` (lifetime
// hidden); under `async_trait` the impl must spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(big_integer("storage_bytes").default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("assets")
                    .add_column(big_integer_null("created_by"))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("assets")
                    .drop_column("created_by")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("storage_bytes")
                    .to_owned(),
            )
            .await
    }
}
