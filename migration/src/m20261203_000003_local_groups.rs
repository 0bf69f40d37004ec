//! Classes a teacher makes in cubby, beside the identity provider's.
//!
//! * `groups.source`: `idp` (from the provider's claims, every group that
//!   existed before this migration) or `local` (made by a teacher).
//! * `groups.external_id` becomes nullable: a local group has none. Its
//!   unique index stays and keeps working for `idp` groups, since NULLs are
//!   distinct in a unique index on all three databases. On MariaDB it keeps
//!   S10's byte-exact collation (`utf8mb4_nopad_bin`).
//! * `groups.join_code`: the local group's current join code (NULL for idp
//!   groups), unique among live codes (`ux_groups_join_code`; NULLs distinct
//!   again). Codes are stored in upper case only, from an alphabet of digits
//!   and capitals, so the collation does not matter for it.
//!
//! SQLite cannot drop a `NOT NULL` with `ALTER TABLE`, and rebuilding
//! `groups` is not possible here: the migrations run in one transaction with
//! foreign keys on (see `service::db::migrate_lock`), and dropping the old
//! table would cascade-delete every membership and share. So the column
//! definition is edited in the stored schema (`writable_schema`), the
//! procedure SQLite documents for removing a `NOT NULL` constraint (it does
//! not change the file format), followed by a bump of `schema_version` so
//! every connection reloads the schema.
//!
//! `down` deletes the local groups first (their memberships and shares go
//! with them by the foreign keys' cascade): an `idp`-only schema has no way
//! to keep a group without an external id. Then the columns go and
//! `external_id` is `NOT NULL` again.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::util::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The column as `m20261123_000001_identity` made it, and nullable.
const SQLITE_NOT_NULL: &str = "\"external_id\" varchar NOT NULL UNIQUE";
const SQLITE_NULL: &str = "\"external_id\" varchar UNIQUE";

async fn sqlite_rewrite_column(
    manager: &SchemaManager<'_>,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'groups'",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("table groups not found".into()))?;
    let sql: String = row.try_get("", "sql")?;
    if !sql.contains(from) {
        return Err(DbErr::Migration(format!(
            "groups.external_id is not as expected: {sql}"
        )));
    }
    let version_row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA schema_version",
        ))
        .await?
        .ok_or_else(|| DbErr::Migration("no schema_version".into()))?;
    let version: i64 = version_row.try_get_by_index(0)?;
    conn.execute_unprepared("PRAGMA writable_schema = ON")
        .await?;
    let edited = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'groups'",
            [sql.replacen(from, to, 1).into()],
        ))
        .await;
    let bumped = conn
        .execute_unprepared(&format!("PRAGMA schema_version = {}", version + 1))
        .await;
    conn.execute_unprepared("PRAGMA writable_schema = OFF")
        .await?;
    edited?;
    bumped?;
    Ok(())
}

/// `external_id` nullable or not, per backend.
async fn external_id_nullable(manager: &SchemaManager<'_>, nullable: bool) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    match manager.get_database_backend() {
        DbBackend::Postgres => {
            let change = if nullable { "DROP" } else { "SET" };
            conn.execute_unprepared(&format!(
                "ALTER TABLE \"groups\" ALTER COLUMN \"external_id\" {change} NOT NULL"
            ))
            .await?;
        }
        DbBackend::MySql => {
            let null = if nullable { "NULL" } else { "NOT NULL" };
            conn.execute_unprepared(&format!(
                "ALTER TABLE `groups` MODIFY `external_id` varchar(255) \
                 CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin {null}"
            ))
            .await?;
        }
        DbBackend::Sqlite => {
            if nullable {
                sqlite_rewrite_column(manager, SQLITE_NOT_NULL, SQLITE_NULL).await?;
            } else {
                sqlite_rewrite_column(manager, SQLITE_NULL, SQLITE_NOT_NULL).await?;
            }
        }
        other => return Err(DbErr::Migration(format!("unsupported backend {other:?}"))),
    }
    Ok(())
}

// sea-orm-migration declares `up`/`down` with `&SchemaManager` (lifetime
// hidden); under `async_trait` the impl must spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One change per `ALTER`: SQLite takes no more.
        manager
            .alter_table(
                Table::alter()
                    .table("groups")
                    .add_column(string_len("source", 8).default("idp"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("groups")
                    .add_column(string_len_null("join_code", 16))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("groups", &["join_code"], true))
            .await?;
        external_id_nullable(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Local groups cannot exist without these columns: they go, and
        // their memberships and shares with them (ON DELETE CASCADE).
        manager
            .get_connection()
            .execute_unprepared(match manager.get_database_backend() {
                DbBackend::MySql => "DELETE FROM `groups` WHERE `source` <> 'idp'",
                _ => "DELETE FROM \"groups\" WHERE \"source\" <> 'idp'",
            })
            .await?;
        external_id_nullable(manager, false).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_groups_join_code")
                    .table("groups")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("groups")
                    .drop_column("join_code")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("groups")
                    .drop_column("source")
                    .to_owned(),
            )
            .await
    }
}
