//! SeaORM entities: one module per table created by the `migration` crate.
//!
//! Plain data shapes with no logic. The business rules, locks and transactions
//! that use them live in the `service` crate.

pub mod asset;
pub mod assignment;
pub mod assignment_project;
pub mod backpack_item;
pub mod feedback;
pub mod group;
pub mod idempotency_key;
pub mod login_state;
pub mod membership;
pub mod project;
pub mod project_share;
pub mod project_thumbnail;
pub mod project_version;
pub mod session;
pub mod submission;
pub mod user;
