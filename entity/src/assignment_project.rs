use sea_orm::entity::prelude::*;

/// The one project a student works in for an assignment: unique per
/// `(assignment_id, student_id)` (G16).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assignment_projects")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub assignment_id: i64,
    pub student_id: i64,
    /// `None` only inside the start that inserted the pair.
    pub project_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
