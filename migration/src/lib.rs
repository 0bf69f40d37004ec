//! Database schema for cubby, as sea-orm-migration steps.
//!
//! This crate stands alone (it depends on no other cubby crate): each migration
//! creates tables, unique constraints, foreign keys and indexes with plain
//! sea-query builders, and every one has a working `down`. Uniqueness that the
//! guarantees in docs/GUARANTEES.md rely on (slugs, `(md5, asset_type)`, memberships,
//! shares, idempotency keys) lives here, in the database, never only in code.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::MigrationStatus;

mod m20261123_000001_identity;
mod m20261123_000002_projects;
mod m20261123_000003_assets;
mod m20261201_000001_byte_exact_keys;
mod m20261201_000020_login_binding_and_refresh_lease;
mod m20261202_000001_storage_quota;
mod m20261203_000001_trash;
mod m20261203_000002_thumbnails;
mod m20261203_000003_local_groups;
mod m20261203_000004_assignments;
mod util;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_identity::Migration),
            Box::new(m20261123_000002_projects::Migration),
            Box::new(m20261123_000003_assets::Migration),
            Box::new(m20261201_000001_byte_exact_keys::Migration),
            Box::new(m20261201_000020_login_binding_and_refresh_lease::Migration),
            Box::new(m20261202_000001_storage_quota::Migration),
            Box::new(m20261203_000001_trash::Migration),
            Box::new(m20261203_000002_thumbnails::Migration),
            Box::new(m20261203_000003_local_groups::Migration),
            Box::new(m20261203_000004_assignments::Migration),
        ]
    }
}
