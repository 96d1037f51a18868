//! Flow management: create (one active flow per form), list, read, replace
//! (a new version; running instances keep theirs) and versions.

use std::sync::LazyLock;

use jsonschema::Validator;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sea_query::Expr;
use serde_json::Value;

use super::def::{FlowDef, check};
use super::{WorkflowError, WorkflowVersionView, WorkflowView};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FormId, WorkflowId};
use crate::meta::compile::{build_validator, meta_schema_errors};
use crate::meta::form::LoadedForm;
use crate::store::entity::{workflow, workflow_version};
use crate::store::parse_id;

static FLOW_SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../schemas/workflow.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

fn view(row: &workflow::Model) -> Result<WorkflowView, WorkflowError> {
    Ok(WorkflowView {
        id: parse_id(&row.id)?,
        app_id: parse_id(&row.app_id)?,
        form_id: parse_id(&row.form_id)?,
        name: row.name.clone(),
        active: row.active,
        version: row.version,
        definition: row.def.clone(),
        created_by: parse_id(&row.created_by)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl Engine {
    /// Checks a definition against the meta schema, then its graph against
    /// the form.
    fn check_flow(&self, form: &LoadedForm, raw: &Value) -> Result<FlowDef, WorkflowError> {
        let errs = meta_schema_errors(FLOW_SCHEMA.as_ref(), raw, "flow");
        if !errs.is_empty() {
            return Err(WorkflowError::Invalid(errs));
        }
        let def: FlowDef =
            serde_json::from_value(raw.clone()).map_err(|e| WorkflowError::invalid("", e.to_string()))?;
        let errs = check(&def, &form.def, self.sandbox());
        if !errs.is_empty() {
            return Err(WorkflowError::Invalid(errs));
        }
        Ok(def)
    }

    /// Creates a flow for a form. Unless `"active": false`, it becomes the
    /// form's active flow (the previous one stops taking new records; its
    /// running instances go on).
    ///
    /// # Errors
    /// `validation_failed` naming the node, edge or field; `script_syntax`
    /// positions are in the details; `not_found` (form); `forbidden`.
    pub async fn create_workflow(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        raw: Value,
    ) -> Result<WorkflowView, WorkflowError> {
        require(ctx, Action::DesignApps)?;
        let form = self.load_form(ctx, form_id).await?;
        let def = self.check_flow(&form, &raw)?;
        let active = def.active.unwrap_or(true);
        let id = WorkflowId::new();
        let row = workflow::Model {
            id: id.to_string(),
            tenant_id: ctx.tenant.to_string(),
            app_id: form.app_id.to_string(),
            form_id: form_id.to_string(),
            name: def.name.clone(),
            active,
            version: 1,
            def: raw,
            created_by: ctx.actor.to_string(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        if active {
            deactivate_others(&tx, ctx, form_id, &row.id).await?;
        }
        workflow::Entity::insert(workflow::ActiveModel::from(row.clone()))
            .exec_without_returning(&tx)
            .await?;
        insert_version(&tx, ctx, &row.id, 1, row.def.clone()).await?;
        crate::audit::record(
            &tx,
            ctx,
            "workflow.created",
            "workflow",
            &row.id,
            serde_json::json!({"name": row.name, "form_id": row.form_id, "active": active}),
        )
        .await?;
        tx.commit().await?;
        view(&row)
    }

    /// A form's flows, newest first.
    ///
    /// # Errors
    /// `not_found` (form).
    pub async fn list_workflows(
        &self,
        ctx: &Ctx,
        form_id: FormId,
    ) -> Result<Vec<WorkflowView>, WorkflowError> {
        require(ctx, Action::ReadData)?;
        self.load_form(ctx, form_id).await?;
        workflow::Entity::find()
            .filter(workflow::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow::Column::FormId.eq(form_id.to_string()))
            .order_by_desc(workflow::Column::CreatedAt)
            .all(self.db().conn())
            .await?
            .iter()
            .map(view)
            .collect()
    }

    async fn workflow_row(&self, ctx: &Ctx, id: WorkflowId) -> Result<workflow::Model, WorkflowError> {
        workflow::Entity::find_by_id(id.to_string())
            .filter(workflow::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| WorkflowError::not_found("workflow", id))
    }

    /// One flow.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_workflow(&self, ctx: &Ctx, id: WorkflowId) -> Result<WorkflowView, WorkflowError> {
        require(ctx, Action::ReadData)?;
        view(&self.workflow_row(ctx, id).await?)
    }

    /// Saves a new version of a flow. Instances already running keep the
    /// version they started with; new records take this one.
    ///
    /// # Errors
    /// As [`Engine::create_workflow`]; `not_found`.
    pub async fn update_workflow(
        &self,
        ctx: &Ctx,
        id: WorkflowId,
        raw: Value,
    ) -> Result<WorkflowView, WorkflowError> {
        require(ctx, Action::DesignApps)?;
        let row = self.workflow_row(ctx, id).await?;
        let form_id: FormId = parse_id(&row.form_id)?;
        let form = self.load_form(ctx, form_id).await?;
        let def = self.check_flow(&form, &raw)?;
        let active = def.active.unwrap_or(row.active);
        let version = row.version + 1;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let moved = workflow::Entity::update_many()
            .col_expr(workflow::Column::Version, Expr::val(version))
            .col_expr(workflow::Column::Def, Expr::val(raw.clone()))
            .col_expr(workflow::Column::Name, Expr::val(def.name.clone()))
            .col_expr(workflow::Column::Active, Expr::val(active))
            .col_expr(workflow::Column::UpdatedAt, Expr::val(ctx.now))
            .filter(workflow::Column::Id.eq(row.id.clone()))
            .filter(workflow::Column::Version.eq(row.version))
            .exec(&tx)
            .await?;
        if moved.rows_affected != 1 {
            return Err(WorkflowError::Conflict(
                "the flow was saved by someone else meanwhile; reload it".to_owned(),
            ));
        }
        if active {
            deactivate_others(&tx, ctx, form_id, &row.id).await?;
        }
        insert_version(&tx, ctx, &row.id, version, raw.clone()).await?;
        crate::audit::record(
            &tx,
            ctx,
            "workflow.updated",
            "workflow",
            &row.id,
            serde_json::json!({"name": def.name, "version": version, "active": active}),
        )
        .await?;
        tx.commit().await?;
        view(&workflow::Model {
            version,
            def: raw,
            name: def.name,
            active,
            updated_at: ctx.now,
            ..row
        })
    }

    /// Every saved version of a flow, newest first.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn workflow_versions(
        &self,
        ctx: &Ctx,
        id: WorkflowId,
    ) -> Result<Vec<WorkflowVersionView>, WorkflowError> {
        require(ctx, Action::ReadData)?;
        self.workflow_row(ctx, id).await?;
        workflow_version::Entity::find()
            .filter(workflow_version::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_version::Column::WorkflowId.eq(id.to_string()))
            .order_by_desc(workflow_version::Column::Version)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|v| {
                Ok(WorkflowVersionView {
                    version: v.version,
                    definition: v.def,
                    created_by: parse_id(&v.created_by)?,
                    created_at: v.created_at,
                })
            })
            .collect()
    }
}

async fn deactivate_others<C: sea_orm::ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    form: FormId,
    keep: &str,
) -> Result<(), WorkflowError> {
    workflow::Entity::update_many()
        .col_expr(workflow::Column::Active, Expr::val(false))
        .col_expr(workflow::Column::UpdatedAt, Expr::val(ctx.now))
        .filter(workflow::Column::TenantId.eq(ctx.tenant.to_string()))
        .filter(workflow::Column::FormId.eq(form.to_string()))
        .filter(workflow::Column::Active.eq(true))
        .filter(workflow::Column::Id.ne(keep.to_owned()))
        .exec(conn)
        .await?;
    Ok(())
}

async fn insert_version<C: sea_orm::ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    id: &str,
    version: i32,
    def: Value,
) -> Result<(), WorkflowError> {
    workflow_version::Entity::insert(workflow_version::ActiveModel {
        tenant_id: Set(ctx.tenant.to_string()),
        workflow_id: Set(id.to_owned()),
        version: Set(version),
        def: Set(def),
        created_by: Set(ctx.actor.to_string()),
        created_at: Set(ctx.now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
