//! `get_record`, `record_history`, `query_records`, `aggregate_records`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{HistoryView, PageView, RecordError, RecordView};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FormId, RecordId};
use crate::query::aggregate::aggregate_records;
use crate::query::model::{AggregateRequest, AggregateResult, QueryRequest};
use crate::query::run::{RecordScope, list_records};
use crate::store::entity::record_history;
use crate::store::parse_id;

impl Engine {
    /// One live record.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_record(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
    ) -> Result<RecordView, RecordError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, form_id).await?;
        let row = self.record_row(ctx, form_id, id, false).await?;
        Ok(self
            .views(ctx, &form.def, std::slice::from_ref(&row))
            .await?
            .remove(0))
    }

    /// Every change of a record, oldest first (also while it is in the bin).
    ///
    /// # Errors
    /// `not_found`.
    pub async fn record_history(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
    ) -> Result<Vec<HistoryView>, RecordError> {
        require(ctx, Action::ReadData)?;
        self.load_form(ctx, form_id).await?;
        if self.record_row(ctx, form_id, id, false).await.is_err() {
            self.record_row(ctx, form_id, id, true).await?;
        }
        record_history::Entity::find()
            .filter(record_history::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record_history::Column::RecordId.eq(id.to_string()))
            .order_by_asc(record_history::Column::Version)
            .order_by_asc(record_history::Column::Id)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|h| {
                Ok(HistoryView {
                    version: h.version,
                    action: h.action,
                    actor: parse_id(&h.actor)?,
                    at: h.at,
                    changes: h.changes,
                })
            })
            .collect()
    }

    /// Filters, sorts and pages records (or the recycle bin when `deleted`).
    ///
    /// # Errors
    /// `invalid_query` with details; `not_found` for the form.
    pub async fn query_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        req: QueryRequest,
        deleted: bool,
    ) -> Result<PageView, RecordError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, form_id).await?;
        let scope = if deleted {
            RecordScope::Deleted
        } else {
            RecordScope::Live
        };
        let page = list_records(
            self.db(),
            ctx.tenant,
            form_id,
            self.field_types(),
            &form.def,
            &req,
            scope,
            ctx.now,
        )
        .await?;
        let mut records = self.views(ctx, &form.def, &page.rows).await?;
        if !req.expand.is_empty() {
            let mut expanded = self
                .expand_relations(ctx, &form.def, &page.rows, &req.expand)
                .await?;
            for r in &mut records {
                r.expanded = expanded.remove(&r.id.to_string());
            }
        }
        Ok(PageView {
            records,
            next_cursor: page.next_cursor,
            total: page.total,
        })
    }

    /// Group-by aggregates for dashboards.
    ///
    /// # Errors
    /// `invalid_query`; `not_found` for the form.
    pub async fn aggregate_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        req: AggregateRequest,
    ) -> Result<AggregateResult, RecordError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, form_id).await?;
        Ok(aggregate_records(
            self.db(),
            ctx.tenant,
            form_id,
            self.field_types(),
            &form.def,
            &req,
            ctx.now,
        )
        .await?)
    }
}
