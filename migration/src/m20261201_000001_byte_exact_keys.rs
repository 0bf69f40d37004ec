//! S10: the identity keys and idempotency keys compare byte for byte on
//! MariaDB too.
//!
//! A MariaDB column takes its table's collation, which is the database's
//! default when the table was created: on a stock server `utf8mb4_general_ci`,
//! under which `7B` = `7b` = `7b ` (case-insensitive, and PAD SPACE ignores
//! trailing spaces), so two classes from the identity provider would become
//! one group and two users one account. Even `utf8mb4_bin` still pads. These
//! columns get `utf8mb4_nopad_bin` (binary, NO PAD); `MODIFY` keeps their
//! unique indexes, which then tell those values apart.
//!
//! PostgreSQL and SQLite already compare these columns byte for byte (PG's
//! collations are deterministic: strings that differ in any byte are never
//! equal; SQLite's default collation is BINARY, a `memcmp`), so on them this
//! migration does nothing.
//!
//! `down` gives the columns back their table's default collation (what they
//! had before). Where rows exist that differ byte for byte but are equal
//! under that collation, its `ALTER` of that table fails with a duplicate
//! key and leaves the table as it was, rather than merge them; `down` can be
//! run again once those rows are dealt with.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `(table, column)`: each a `varchar(255) NOT NULL` of the earlier migrations.
const TABLE_COLUMNS: [(&str, &[&str]); 3] = [
    ("users", &["subject", "username"]),
    ("groups", &["external_id"]),
    ("idempotency_keys", &["idem_key"]),
];

const BYTE_EXACT: &str = " CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";

/// `ALTER TABLE t MODIFY c varchar(255) <collation> NOT NULL, …`, one
/// statement per table (written out: sea-query has no column collation, and
/// its `extra` lands after `NOT NULL`, where `CHARACTER SET` is not allowed).
async fn modify(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DbBackend::MySql {
        return Ok(());
    }
    for (table, columns) in TABLE_COLUMNS {
        let changes: Vec<String> = columns
            .iter()
            .map(|c| format!("MODIFY `{c}` varchar(255){collation} NOT NULL"))
            .collect();
        let sql = format!("ALTER TABLE `{table}` {}", changes.join(", "));
        manager.get_connection().execute_unprepared(&sql).await?;
    }
    Ok(())
}

// sea-orm-migration declares `up`/`down` with `&SchemaManager` (lifetime
// hidden); under `async_trait` the impl must spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        modify(manager, BYTE_EXACT).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No collation: the table's default, as the columns were created.
        modify(manager, "").await
    }
}
