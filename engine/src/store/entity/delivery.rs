//! Entity for the `deliveries` table: one attempt to deliver a webhook call
//! or an email.

use sea_orm::entity::prelude::*;

/// One row of `deliveries`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    /// `webhook` or `email`.
    pub channel: String,
    /// The webhook id, or the email address.
    pub target: String,
    /// The webhook event (`record.created`); null for email.
    pub event: Option<String>,
    pub job_id: String,
    pub attempt: i32,
    /// `succeeded` or `failed`.
    pub status: String,
    /// The HTTP status or the SMTP reply code.
    pub response_status: Option<i32>,
    /// The start of the response body, or the SMTP reply text.
    #[sea_orm(column_type = "Text", nullable)]
    pub response: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
