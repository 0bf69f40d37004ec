//! Statements whose SQL text never changes, built once per backend.
//!
//! sea-query builds a statement's text anew on every call: for the queries
//! every request runs (the session lookup) that is a sizeable share of the
//! request's instructions (docs/PERFORMANCE.md). A [`FixedSql`] keeps the
//! text the first build gave, per backend, and binds each call's values to
//! it. The values a caller passes must be the ones its builder binds, in
//! order: in debug builds (every test) each call builds the statement
//! anyway and checks text and values against the cached ones.

use std::sync::OnceLock;

use sea_orm::{DbBackend, Statement, StatementBuilder, Value};

/// The cached SQL text of one statement shape, one per backend.
pub struct FixedSql {
    texts: [OnceLock<String>; 3],
}

impl Default for FixedSql {
    fn default() -> Self {
        Self::new()
    }
}

impl FixedSql {
    pub const fn new() -> Self {
        FixedSql {
            texts: [const { OnceLock::new() }; 3],
        }
    }

    /// The statement `build()` would give for `backend`, with `values` (the
    /// values `build()` binds, in order). `build` runs the first time per
    /// backend, and on every call in debug builds to check the cache.
    pub fn statement<S: StatementBuilder>(
        &self,
        backend: DbBackend,
        values: Vec<Value>,
        build: impl Fn() -> S,
    ) -> Statement {
        let Some(text) = self.slot(backend) else {
            return backend.build(&build());
        };
        let mut built = None;
        let sql = text.get_or_init(|| built.insert(backend.build(&build())).sql.clone());
        let statement = Statement::from_sql_and_values(backend, sql.clone(), values);
        if cfg!(debug_assertions) {
            let fresh = built.unwrap_or_else(|| backend.build(&build()));
            assert_eq!(
                statement, fresh,
                "FixedSql: cached text or values differ from a fresh build"
            );
        }
        statement
    }

    fn slot(&self, backend: DbBackend) -> Option<&OnceLock<String>> {
        match backend {
            DbBackend::MySql => Some(&self.texts[0]),
            DbBackend::Postgres => Some(&self.texts[1]),
            DbBackend::Sqlite => Some(&self.texts[2]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use entity::project;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

    use super::*;

    fn by_owner_and_version(owner: i64, version: i32) -> sea_orm::sea_query::SelectStatement {
        project::Entity::find()
            .filter(project::Column::OwnerId.eq(owner))
            .filter(project::Column::Version.gt(version))
            .into_query()
    }

    #[test]
    fn binds_each_calls_values_to_the_text_built_once_per_backend() {
        let sql = FixedSql::new();
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            for (owner, version) in [(1, 2), (7, 30)] {
                let values = vec![owner.into(), version.into()];
                let got = sql.statement(backend, values, || by_owner_and_version(owner, version));
                assert_eq!(got, backend.build(&by_owner_and_version(owner, version)));
            }
        }
        assert!(sql.texts.iter().all(|t| t.get().is_some()));
    }

    #[test]
    #[should_panic(expected = "FixedSql")]
    fn values_in_the_wrong_order_are_caught_in_debug_builds() {
        let sql = FixedSql::new();
        let wrong = vec![2_i32.into(), 1_i64.into()];
        sql.statement(DbBackend::Postgres, wrong, || by_owner_and_version(1, 2));
    }
}
