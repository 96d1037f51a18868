//! Tenant-level tag definitions (name, colour, description).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::MetaError;
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::TagId;
use crate::store::entity::tag;
use crate::store::{parse_id, unique_violation};

/// Input to create a tag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagInput {
    /// Unique name in the tenant (1–50 characters).
    pub name: String,
    /// `#rrggbb`; default grey.
    #[serde(default)]
    pub color: Option<String>,
    /// Optional description.
    #[serde(default)]
    pub description: String,
}

/// A tag as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TagView {
    /// Id.
    pub id: TagId,
    /// Name.
    pub name: String,
    /// Colour `#rrggbb`.
    pub color: String,
    /// Description.
    pub description: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<tag::Model> for TagView {
    type Error = MetaError;
    fn try_from(m: tag::Model) -> Result<Self, MetaError> {
        Ok(Self {
            id: parse_id(&m.id)?,
            name: m.name,
            color: m.color,
            description: m.description,
            created_at: m.created_at,
        })
    }
}

fn is_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s.chars().skip(1).all(|c| c.is_ascii_hexdigit())
}

impl Engine {
    /// The tenant's tags, A–Z.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn list_tags(&self, ctx: &Ctx) -> Result<Vec<TagView>, MetaError> {
        require(ctx, Action::ReadData)?;
        tag::Entity::find()
            .filter(tag::Column::TenantId.eq(ctx.tenant.to_string()))
            .order_by_asc(tag::Column::Name)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(TagView::try_from)
            .collect()
    }

    /// Defines a tag.
    ///
    /// # Errors
    /// `validation_failed` for a bad name or colour; `conflict` when the
    /// name is taken; `forbidden` for members.
    pub async fn create_tag(&self, ctx: &Ctx, input: TagInput) -> Result<TagView, MetaError> {
        require(ctx, Action::DesignApps)?;
        let name = input.name.trim().to_owned();
        let mut errs = Vec::new();
        if name.is_empty() || name.chars().count() > 50 {
            errs.push(FieldError::new("name", "must be 1 to 50 characters"));
        }
        let color = input.color.unwrap_or_else(|| "#8c8c8c".to_owned());
        if !is_color(&color) {
            errs.push(FieldError::new("color", "must be a colour like `#1677ff`"));
        }
        if !errs.is_empty() {
            return Err(MetaError::Invalid(errs));
        }
        let _w = self.db().write_lock().await;
        let row = tag::ActiveModel {
            id: Set(TagId::new().to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            name: Set(name.clone()),
            color: Set(color),
            description: Set(input.description),
            created_at: Set(ctx.now),
        }
        .insert(self.db().conn())
        .await
        .map_err(|e| {
            if unique_violation(&e).is_some() {
                MetaError::TagExists(name.clone())
            } else {
                e.into()
            }
        })?;
        row.try_into()
    }

    /// A tag by name (or by id).
    ///
    /// # Errors
    /// `not_found`.
    pub async fn find_tag(&self, ctx: &Ctx, name_or_id: &str) -> Result<tag::Model, MetaError> {
        let by_name = tag::Entity::find()
            .filter(tag::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(tag::Column::Name.eq(name_or_id))
            .one(self.db().conn())
            .await?;
        if let Some(t) = by_name {
            return Ok(t);
        }
        tag::Entity::find()
            .filter(tag::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(tag::Column::Id.eq(name_or_id))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| MetaError::TagNotFound(name_or_id.to_owned()))
    }
}
