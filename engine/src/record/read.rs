//! `get_record`, `record_history`, `query_records`, `aggregate_records`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};

use super::{HistoryView, PageView, RecordError, RecordView};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FormId, RecordId};
use crate::query::aggregate::aggregate_records;
use crate::query::model::{AggregateRequest, AggregateResult, Filter, QueryEnv, QueryRequest};
use crate::query::run::{RecordScope, list_records};
use crate::store::entity::record_history;
use crate::store::parse_id;

impl Engine {
    /// What a member's query is compiled against: the request's clock, the
    /// member `$me` stands for, and the tenant's zone (looked up only when
    /// the filter counts calendar periods).
    ///
    /// # Errors
    /// When the database fails.
    pub(crate) async fn query_env(
        &self,
        ctx: &Ctx,
        filter: Option<&Filter>,
    ) -> Result<QueryEnv, sea_orm::DbErr> {
        let zone = match filter {
            Some(f) if f.uses_period() => crate::store::tenant_zone(self.db().conn(), ctx.tenant).await?,
            _ => chrono_tz::Tz::UTC,
        };
        Ok(QueryEnv {
            now: ctx.now,
            me: Some(ctx.actor),
            zone,
        })
    }

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
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::View).await?;
        let row = self
            .reachable_row(ctx, &access, FormAction::View, form_id, id, false)
            .await?;
        Ok(self
            .views(ctx, &access.visible_def(&form.def), std::slice::from_ref(&row))
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
        let (_, access) = self.form_with_access(ctx, form_id, FormAction::View).await?;
        let view = FormAction::View;
        let row = match self.reachable_row(ctx, &access, view, form_id, id, false).await {
            Ok(row) => row,
            Err(_) => self.reachable_row(ctx, &access, view, form_id, id, true).await?,
        };
        let mut views = record_history::Entity::find()
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
            .collect::<Result<Vec<_>, RecordError>>()?;
        fill_created_values(&mut views, &row.data);
        for v in &mut views {
            access.strip_changes(&mut v.changes);
        }
        Ok(views)
    }

    /// Filters, sorts and pages records (or the recycle bin when `deleted`).
    ///
    /// # Errors
    /// `invalid_query` with details; `not_found` for the form.
    pub async fn query_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        mut req: QueryRequest,
        deleted: bool,
    ) -> Result<PageView, RecordError> {
        require(ctx, Action::ReadData)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::View).await?;
        let def = access.visible_def(&form.def);
        req.reach = access.reach(FormAction::View);
        let scope = if deleted {
            RecordScope::Deleted
        } else {
            RecordScope::Live
        };
        let env = self.query_env(ctx, req.filter.as_ref()).await?;
        let page = list_records(
            self.db(),
            ctx.tenant,
            form_id,
            self.field_types(),
            &def,
            &req,
            scope,
            env,
        )
        .await?;
        let mut records = self.views(ctx, &def, &page.rows).await?;
        if !req.expand.is_empty() {
            let mut expanded = self.expand_relations(ctx, &def, &page.rows, &req.expand).await?;
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
        mut req: AggregateRequest,
    ) -> Result<AggregateResult, RecordError> {
        require(ctx, Action::ReadData)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::View).await?;
        req.reach = access.reach(FormAction::View);
        let env = self.query_env(ctx, req.filter.as_ref()).await?;
        Ok(aggregate_records(
            self.db(),
            ctx.tenant,
            form_id,
            self.field_types(),
            &access.visible_def(&form.def),
            &req,
            env,
        )
        .await?)
    }
}

/// The `create` row stores no values (they would duplicate the record):
/// its changes are rebuilt here by undoing every later change, newest
/// first, starting from the stored data.
fn fill_created_values(views: &mut [HistoryView], data: &Value) {
    let mut state = data.as_object().cloned().unwrap_or_default();
    for view in views.iter_mut().rev() {
        if view.action == "create" {
            if view.changes.as_object().is_some_and(Map::is_empty) {
                let created: Map<String, Value> = state
                    .iter()
                    .map(|(k, v)| (k.clone(), json!({ "from": null, "to": v })))
                    .collect();
                view.changes = Value::Object(created);
            }
            continue;
        }
        let Some(changes) = view.changes.as_object() else {
            continue;
        };
        for (key, change) in changes.iter().filter(|(k, _)| !k.starts_with('_')) {
            match change.get("from") {
                Some(Value::Null) | None => {
                    state.remove(key);
                }
                Some(from) => {
                    state.insert(key.clone(), from.clone());
                }
            }
        }
    }
}
