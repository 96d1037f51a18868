//! Finding an instance by its id or its record's id, and closing a running
//! instance by an owner or admin (简道云's 结束流程实例). Callers: the v5
//! API's workflow endpoints.

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use serde_json::Value;

use super::run::clean_comment;
use super::state::{CLOSED, RUNNING, State, Step};
use super::{InstanceView, WorkflowError};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FormId, RecordId, UserId};
use crate::store::entity::workflow_instance;
use crate::store::{StoreError, parse_id};

impl Engine {
    /// The form and record of the tenant's instance whose id, or whose
    /// record's id, is `id` (简道云 uses the record id as the instance id).
    /// Whether the caller may see it is left to [`Engine::instance_view`].
    ///
    /// # Errors
    /// `not_found`.
    pub async fn locate_instance(&self, ctx: &Ctx, id: &str) -> Result<(FormId, RecordId), WorkflowError> {
        require(ctx, Action::ReadData)?;
        let inst = workflow_instance::Entity::find()
            .filter(workflow_instance::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(
                Condition::any()
                    .add(workflow_instance::Column::Id.eq(id.to_owned()))
                    .add(workflow_instance::Column::RecordId.eq(id.to_owned())),
            )
            .one(self.db().conn())
            .await?
            .ok_or_else(|| WorkflowError::not_found("instance", id))?;
        Ok((parse_id(&inst.form_id)?, parse_id(&inst.record_id)?))
    }

    /// Ends a running instance as `closed`: its open tasks are cancelled,
    /// the history records who closed it and why, the initiator is told,
    /// and the record is editable again.
    ///
    /// # Errors
    /// `forbidden` unless the caller is an owner or admin; `not_found`;
    /// `conflict` when the flow already finished or someone acted meanwhile.
    pub async fn close_instance(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        record_id: RecordId,
        comment: Option<&str>,
    ) -> Result<InstanceView, WorkflowError> {
        require(ctx, Action::DesignApps)?;
        let comment = clean_comment(comment)?;
        let inst = workflow_instance::Entity::find()
            .filter(workflow_instance::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_instance::Column::FormId.eq(form_id.to_string()))
            .filter(workflow_instance::Column::RecordId.eq(record_id.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| WorkflowError::not_found("instance", record_id))?;
        if inst.status != RUNNING {
            return Err(WorkflowError::Conflict(format!(
                "the flow is already {}",
                inst.status
            )));
        }
        let flow = self
            .flow_version(ctx.tenant, &inst.workflow_id, inst.workflow_version)
            .await?;
        let row = self
            .record_row(ctx, form_id, record_id, false)
            .await
            .map_err(WorkflowError::from)?;
        let state: State = serde_json::from_value(inst.state.clone())
            .map_err(|e| StoreError::Corrupt(format!("workflow state: {e}")))?;
        let initiator: UserId = parse_id(&inst.initiator)?;
        let values = row.data.as_object().cloned().unwrap_or_default();
        let people = self.flow_people(ctx.tenant, &flow, initiator, &values).await?;
        let mut step = Step::new(
            &flow,
            state,
            values,
            initiator,
            &people,
            self.sandbox(),
            ctx.now,
            RUNNING,
        );
        let me = Some(ctx.actor);
        step.event("closed", None, None, me, comment, Value::Null);
        step.finish(CLOSED, me, None);
        let db = self.db();
        {
            let _w = db.write_lock().await;
            let tx = db.begin().await?;
            self.flush(&tx, ctx, &inst, step, row.version, false).await?;
            tx.commit().await?;
        }
        self.instance_view(ctx, form_id, record_id).await
    }
}
