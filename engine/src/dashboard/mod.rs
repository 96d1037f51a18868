//! Dashboards as metadata: charts over an app's forms, each one aggregate
//! query (form, filter, group by, measure), and `data` answering every
//! chart's series, with the computed measures the CRM needs: ratios
//! (repurchase rate, churn rate), NPS, and funnel conversion between
//! stages.

mod data;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jsonschema::Validator;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sea_query::Expr;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use data::{ChartData, DashboardData, Point};

use crate::Engine;
use crate::auth::AuthError;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::{AppId, DashboardId, FormId, UserId};
use crate::meta::MetaError;
use crate::meta::compile::{build_validator, meta_schema_errors};
use crate::query::QueryError;
use crate::query::model::Filter;
use crate::record::RecordError;
use crate::store::entity::dashboard;
use crate::store::{StoreError, parse_id};

static DASHBOARD_SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../schemas/dashboard.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

/// A failure of a dashboard use case.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// No such dashboard in this tenant.
    #[error("dashboard `{0}` does not exist")]
    NotFound(String),
    /// The definition is invalid; details name the chart.
    #[error("the dashboard has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// Metadata failure.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Query failure.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Record failure.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for DashboardError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl HasCode for DashboardError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Meta(e) => e.code(),
            Self::Query(e) => e.code(),
            Self::Record(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::Meta(e) => e.details(),
            Self::Query(e) => e.details(),
            Self::Record(e) => e.details(),
            Self::Auth(e) => e.details(),
            _ => Vec::new(),
        }
    }
}

/// A chart's measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// `count`, `sum`, `avg`, `min`, `max`, `ratio`, `nps` or `churn_rate`.
    pub op: String,
    /// The field measured (not for `count` and `ratio`); for `churn_rate`,
    /// the date records started on (the chart groups by the date they were
    /// lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `ratio`: the records counted above the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<Value>,
    /// `ratio`: the records counted below it (default: all in the filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<Value>,
}

/// Grouping of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartGroup {
    /// Field key or system field.
    pub field: String,
    /// `day`, `week` or `month` for dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
}

/// One chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Unique within the dashboard.
    pub id: String,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `number`, `bar`, `line`, `pie`, `funnel` or `table`.
    pub kind: String,
    /// The form (of the dashboard's app).
    pub form_id: String,
    /// Which records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Grouping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<ChartGroup>,
    /// What is measured.
    pub measure: Measure,
    /// Category order (funnel stages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<Value>,
    /// Funnels: each stage of `order` counts every record that reached it
    /// (its own value plus every later stage's), so a conversion compares
    /// stages passed, not where records stand now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cumulative: bool,
    /// At most this many points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A dashboard definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardDef {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Charts, in display order.
    pub charts: Vec<Chart>,
}

/// A dashboard as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardView {
    /// Id.
    pub id: DashboardId,
    /// Its app.
    pub app_id: AppId,
    /// Name.
    pub name: String,
    /// Changes with every save.
    pub version: i32,
    /// The definition.
    pub definition: Value,
    /// Creator.
    pub created_by: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

fn view(row: &dashboard::Model) -> Result<DashboardView, DashboardError> {
    Ok(DashboardView {
        id: parse_id(&row.id)?,
        app_id: parse_id(&row.app_id)?,
        name: row.name.clone(),
        version: row.version,
        definition: row.def.clone(),
        created_by: parse_id(&row.created_by)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl Engine {
    /// Checks a definition: the meta schema, unique chart ids, forms of the
    /// app, fields of those forms, filters that parse, a field where the
    /// measure needs one.
    async fn check_dashboard(
        &self,
        ctx: &Ctx,
        app: AppId,
        raw: &Value,
    ) -> Result<DashboardDef, DashboardError> {
        let errs = meta_schema_errors(DASHBOARD_SCHEMA.as_ref(), raw, "dashboard");
        if !errs.is_empty() {
            return Err(DashboardError::Invalid(errs));
        }
        let def: DashboardDef = serde_json::from_value(raw.clone())
            .map_err(|e| DashboardError::Invalid(vec![FieldError::new("", e.to_string())]))?;
        let mut errs = Vec::new();
        let mut ids = BTreeSet::new();
        for (i, c) in def.charts.iter().enumerate() {
            let at = |what: &str| format!("charts/{i}{what}");
            if !ids.insert(c.id.as_str()) {
                errs.push(FieldError::new(at("/id"), "chart ids must be unique"));
            }
            let form = match c.form_id.parse::<FormId>() {
                Ok(f) => self.load_form(ctx, f).await.ok().filter(|f| f.app_id == app),
                Err(_) => None,
            };
            let Some(form) = form else {
                errs.push(FieldError::new(at("/form_id"), "no such form in this app"));
                continue;
            };
            let known = |k: &str| k.starts_with('_') || form.def.fields.iter().any(|f| f.key == k);
            if let Some(g) = &c.group_by
                && !known(&g.field)
            {
                errs.push(FieldError::new(
                    at("/group_by/field"),
                    "no such field in the form",
                ));
            }
            let needs_field = matches!(
                c.measure.op.as_str(),
                "sum" | "avg" | "min" | "max" | "nps" | "churn_rate"
            );
            match (&c.measure.field, needs_field) {
                (None, true) => errs.push(FieldError::new(
                    at("/measure/field"),
                    "this measure needs a field",
                )),
                (Some(f), _) if !known(f) => {
                    errs.push(FieldError::new(at("/measure/field"), "no such field in the form"));
                }
                _ => {}
            }
            if c.cumulative
                && (c.kind != "funnel"
                    || c.order.is_empty()
                    || !matches!(c.measure.op.as_str(), "count" | "sum"))
            {
                errs.push(FieldError::new(
                    at("/cumulative"),
                    "only a funnel with a stage `order` and a count or sum measure adds up later stages",
                ));
            }
            if c.measure.op == "churn_rate" {
                let is_date = |k: &str| {
                    matches!(k, "_created_at" | "_updated_at")
                        || form
                            .def
                            .fields
                            .iter()
                            .any(|f| f.key == k && matches!(f.kind.as_str(), "date" | "datetime"))
                };
                if c.group_by
                    .as_ref()
                    .is_none_or(|g| g.bucket.is_none() || !is_date(&g.field))
                {
                    errs.push(FieldError::new(
                        at("/group_by"),
                        "a churn rate is grouped by the date records were lost, in day, week or month buckets",
                    ));
                }
                if c.measure
                    .field
                    .as_deref()
                    .is_some_and(|f| known(f) && !is_date(f))
                {
                    errs.push(FieldError::new(
                        at("/measure/field"),
                        "a churn rate needs the date field records started on",
                    ));
                }
            }
            if c.measure.op == "ratio" && c.measure.numerator.is_none() {
                errs.push(FieldError::new(
                    at("/measure/numerator"),
                    "a ratio needs a numerator filter",
                ));
            }
            for (what, f) in [
                ("/filter", &c.filter),
                ("/measure/numerator", &c.measure.numerator),
                ("/measure/denominator", &c.measure.denominator),
            ] {
                if let Some(f) = f
                    && let Err(e) = Filter::from_json(f)
                {
                    errs.push(FieldError::new(at(what), e.to_string()));
                }
            }
        }
        if errs.is_empty() {
            Ok(def)
        } else {
            Err(DashboardError::Invalid(errs))
        }
    }

    /// Creates a dashboard in an app.
    ///
    /// # Errors
    /// `validation_failed` naming the chart; `not_found` (app); `forbidden`.
    pub async fn create_dashboard(
        &self,
        ctx: &Ctx,
        app: AppId,
        raw: Value,
    ) -> Result<DashboardView, DashboardError> {
        require(ctx, Action::DesignApps)?;
        self.get_app(ctx, app).await?;
        let def = self.check_dashboard(ctx, app, &raw).await?;
        let row = dashboard::Model {
            id: DashboardId::new().to_string(),
            tenant_id: ctx.tenant.to_string(),
            app_id: app.to_string(),
            name: def.name,
            version: 1,
            def: raw,
            created_by: ctx.actor.to_string(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        dashboard::Entity::insert(dashboard::ActiveModel::from(row.clone()))
            .exec_without_returning(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "dashboard.created",
            "dashboard",
            &row.id,
            serde_json::json!({"name": row.name, "app_id": row.app_id}),
        )
        .await?;
        tx.commit().await?;
        view(&row)
    }

    /// An app's dashboards.
    ///
    /// # Errors
    /// `not_found` (app).
    pub async fn list_dashboards(&self, ctx: &Ctx, app: AppId) -> Result<Vec<DashboardView>, DashboardError> {
        require(ctx, Action::ReadData)?;
        self.get_app(ctx, app).await?;
        dashboard::Entity::find()
            .filter(dashboard::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(dashboard::Column::AppId.eq(app.to_string()))
            .order_by_asc(dashboard::Column::CreatedAt)
            .all(self.db().conn())
            .await?
            .iter()
            .map(view)
            .collect()
    }

    pub(crate) async fn dashboard_row(
        &self,
        ctx: &Ctx,
        id: DashboardId,
    ) -> Result<dashboard::Model, DashboardError> {
        dashboard::Entity::find_by_id(id.to_string())
            .filter(dashboard::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| DashboardError::NotFound(id.to_string()))
    }

    /// One dashboard.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_dashboard(&self, ctx: &Ctx, id: DashboardId) -> Result<DashboardView, DashboardError> {
        require(ctx, Action::ReadData)?;
        view(&self.dashboard_row(ctx, id).await?)
    }

    /// Replaces a dashboard's definition.
    ///
    /// # Errors
    /// As [`Engine::create_dashboard`]; `not_found`.
    pub async fn update_dashboard(
        &self,
        ctx: &Ctx,
        id: DashboardId,
        raw: Value,
    ) -> Result<DashboardView, DashboardError> {
        require(ctx, Action::DesignApps)?;
        let row = self.dashboard_row(ctx, id).await?;
        let app: AppId = parse_id(&row.app_id)?;
        let def = self.check_dashboard(ctx, app, &raw).await?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        dashboard::Entity::update_many()
            .col_expr(dashboard::Column::Def, Expr::val(raw.clone()))
            .col_expr(dashboard::Column::Name, Expr::val(def.name.clone()))
            .col_expr(dashboard::Column::Version, Expr::val(row.version + 1))
            .col_expr(dashboard::Column::UpdatedAt, Expr::val(ctx.now))
            .filter(dashboard::Column::Id.eq(row.id.clone()))
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "dashboard.updated",
            "dashboard",
            &row.id,
            serde_json::json!({"name": def.name, "version": row.version + 1}),
        )
        .await?;
        tx.commit().await?;
        view(&dashboard::Model {
            def: raw,
            name: def.name,
            version: row.version + 1,
            updated_at: ctx.now,
            ..row
        })
    }

    /// Deletes a dashboard.
    ///
    /// # Errors
    /// `not_found`; `forbidden`.
    pub async fn delete_dashboard(&self, ctx: &Ctx, id: DashboardId) -> Result<(), DashboardError> {
        require(ctx, Action::DesignApps)?;
        let row = self.dashboard_row(ctx, id).await?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        dashboard::Entity::delete_by_id(row.id.clone()).exec(&tx).await?;
        crate::audit::record(
            &tx,
            ctx,
            "dashboard.deleted",
            "dashboard",
            &row.id,
            serde_json::json!({"name": row.name}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The stored definition of a dashboard row.
pub(crate) fn parsed(row: &dashboard::Model) -> Result<DashboardDef, DashboardError> {
    serde_json::from_value(row.def.clone())
        .map_err(|e| StoreError::Corrupt(format!("dashboard definition: {e}")).into())
}
