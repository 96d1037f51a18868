//! Entity for the `login_failures` table: failed logins per tenant slug and
//! email, and until when further attempts are refused.

use sea_orm::entity::prelude::*;

/// One row of `login_failures`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "login_failures")]
pub struct Model {
    /// The tenant slug as typed.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_slug: String,
    /// The email, lower-cased.
    #[sea_orm(primary_key, auto_increment = false)]
    pub email: String,
    /// Failures in a row since the last success.
    pub failures: i32,
    /// Attempts are refused until then.
    pub locked_until: Option<DateTimeUtc>,
    pub last_failed_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
