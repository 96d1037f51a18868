//! Removing a failed or interrupted install: every row the install wrote,
//! in one transaction, so a refused package leaves the tenant as it was.

use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::TemplateError;
use super::keys::{NEW_TAG, TAG};
use crate::Engine;
use crate::ctx::Ctx;
use crate::ids::{AppId, FormId};
use crate::jobs::cancel_pending;
use crate::meta::form::wanted_indexes;
use crate::store::entity::{
    app, app_package, dashboard, form, form_version, package_key, record, record_history, record_tag, rule,
    rule_version, serial_counter, tag, view, workflow, workflow_event, workflow_instance, workflow_task,
    workflow_version,
};
use crate::store::form_index;

impl Engine {
    /// Deletes an app and everything in it for good: records with their
    /// history and tags, serial counters, form versions and indexes, rules
    /// with their versions and pending firings, flows with their instances,
    /// views, dashboards and package keys; and the tags its install created
    /// (its `new_tag` keys) where nothing else of the tenant uses them (no
    /// other app's package names them, no record outside the app carries
    /// them). Only for an app nobody has used yet (a failed or interrupted
    /// install); users delete apps into the recycle bin.
    pub(crate) async fn purge_app(&self, ctx: &Ctx, id: AppId) -> Result<(), TemplateError> {
        let tenant = ctx.tenant.to_string();
        let app_id = id.to_string();
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let forms = form::Entity::find()
            .filter(form::Column::TenantId.eq(&tenant))
            .filter(form::Column::AppId.eq(&app_id))
            .all(&tx)
            .await?;
        let form_ids: Vec<String> = forms.iter().map(|f| f.id.clone()).collect();
        for f in &forms {
            let Ok(fid) = f.id.parse::<FormId>() else { continue };
            if let Ok(def) = serde_json::from_value(f.definition.clone()) {
                let current = wanted_indexes(self.field_types(), &def);
                form_index::sync(&tx, db.backend(), fid, &current, &[]).await?;
            }
        }
        let records: Vec<String> = record::Entity::find()
            .select_only()
            .column(record::Column::Id)
            .filter(record::Column::TenantId.eq(&tenant))
            .filter(record::Column::FormId.is_in(form_ids.clone()))
            .into_tuple()
            .all(&tx)
            .await?;
        for chunk in records.chunks(500) {
            record_tag::Entity::delete_many()
                .filter(record_tag::Column::TenantId.eq(&tenant))
                .filter(record_tag::Column::RecordId.is_in(chunk.to_vec()))
                .exec(&tx)
                .await?;
        }
        record_history::Entity::delete_many()
            .filter(record_history::Column::TenantId.eq(&tenant))
            .filter(record_history::Column::FormId.is_in(form_ids.clone()))
            .exec(&tx)
            .await?;
        crate::files::detach_forms(&tx, &tenant, form_ids.clone(), ctx.now).await?;
        record::Entity::delete_many()
            .filter(record::Column::TenantId.eq(&tenant))
            .filter(record::Column::FormId.is_in(form_ids.clone()))
            .exec(&tx)
            .await?;
        serial_counter::Entity::delete_many()
            .filter(serial_counter::Column::TenantId.eq(&tenant))
            .filter(serial_counter::Column::FormId.is_in(form_ids.clone()))
            .exec(&tx)
            .await?;
        let rules: Vec<String> = rule::Entity::find()
            .select_only()
            .column(rule::Column::Id)
            .filter(rule::Column::TenantId.eq(&tenant))
            .filter(rule::Column::AppId.eq(&app_id))
            .into_tuple()
            .all(&tx)
            .await?;
        for r in &rules {
            cancel_pending(&tx, ctx.tenant, &crate::automation::firing_prefix(r)).await?;
        }
        rule_version::Entity::delete_many()
            .filter(rule_version::Column::TenantId.eq(&tenant))
            .filter(rule_version::Column::RuleId.is_in(rules.clone()))
            .exec(&tx)
            .await?;
        rule::Entity::delete_many()
            .filter(rule::Column::TenantId.eq(&tenant))
            .filter(rule::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        let instances: Vec<String> = workflow_instance::Entity::find()
            .select_only()
            .column(workflow_instance::Column::Id)
            .filter(workflow_instance::Column::TenantId.eq(&tenant))
            .filter(workflow_instance::Column::AppId.eq(&app_id))
            .into_tuple()
            .all(&tx)
            .await?;
        workflow_event::Entity::delete_many()
            .filter(workflow_event::Column::TenantId.eq(&tenant))
            .filter(workflow_event::Column::InstanceId.is_in(instances))
            .exec(&tx)
            .await?;
        workflow_task::Entity::delete_many()
            .filter(workflow_task::Column::TenantId.eq(&tenant))
            .filter(workflow_task::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        workflow_instance::Entity::delete_many()
            .filter(workflow_instance::Column::TenantId.eq(&tenant))
            .filter(workflow_instance::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        let flows: Vec<String> = workflow::Entity::find()
            .select_only()
            .column(workflow::Column::Id)
            .filter(workflow::Column::TenantId.eq(&tenant))
            .filter(workflow::Column::AppId.eq(&app_id))
            .into_tuple()
            .all(&tx)
            .await?;
        workflow_version::Entity::delete_many()
            .filter(workflow_version::Column::TenantId.eq(&tenant))
            .filter(workflow_version::Column::WorkflowId.is_in(flows))
            .exec(&tx)
            .await?;
        workflow::Entity::delete_many()
            .filter(workflow::Column::TenantId.eq(&tenant))
            .filter(workflow::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        view::Entity::delete_many()
            .filter(view::Column::TenantId.eq(&tenant))
            .filter(view::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        dashboard::Entity::delete_many()
            .filter(dashboard::Column::TenantId.eq(&tenant))
            .filter(dashboard::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        crate::auth::public_link::delete_for_forms(&tx, ctx.tenant, form_ids.clone()).await?;
        form_version::Entity::delete_many()
            .filter(form_version::Column::TenantId.eq(&tenant))
            .filter(form_version::Column::FormId.is_in(form_ids))
            .exec(&tx)
            .await?;
        form::Entity::delete_many()
            .filter(form::Column::TenantId.eq(&tenant))
            .filter(form::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        let brought: Vec<String> = package_key::Entity::find()
            .select_only()
            .column(package_key::Column::ObjectId)
            .filter(package_key::Column::TenantId.eq(&tenant))
            .filter(package_key::Column::AppId.eq(&app_id))
            .filter(package_key::Column::Kind.eq(NEW_TAG))
            .into_tuple()
            .all(&tx)
            .await?;
        package_key::Entity::delete_many()
            .filter(package_key::Column::TenantId.eq(&tenant))
            .filter(package_key::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        let named_elsewhere: BTreeSet<String> = package_key::Entity::find()
            .select_only()
            .column(package_key::Column::ObjectId)
            .filter(package_key::Column::TenantId.eq(&tenant))
            .filter(package_key::Column::Kind.is_in([TAG, NEW_TAG]))
            .filter(package_key::Column::ObjectId.is_in(brought.clone()))
            .into_tuple::<String>()
            .all(&tx)
            .await?
            .into_iter()
            .collect();
        let carried: BTreeSet<String> = record_tag::Entity::find()
            .select_only()
            .column(record_tag::Column::TagId)
            .filter(record_tag::Column::TenantId.eq(&tenant))
            .filter(record_tag::Column::TagId.is_in(brought.clone()))
            .into_tuple::<String>()
            .all(&tx)
            .await?
            .into_iter()
            .collect();
        let tags: Vec<String> = brought
            .into_iter()
            .filter(|t| !named_elsewhere.contains(t) && !carried.contains(t))
            .collect();
        app_package::Entity::delete_many()
            .filter(app_package::Column::TenantId.eq(&tenant))
            .filter(app_package::Column::AppId.eq(&app_id))
            .exec(&tx)
            .await?;
        app::Entity::delete_many()
            .filter(app::Column::TenantId.eq(&tenant))
            .filter(app::Column::Id.eq(&app_id))
            .exec(&tx)
            .await?;
        tag::Entity::delete_many()
            .filter(tag::Column::TenantId.eq(&tenant))
            .filter(tag::Column::Id.is_in(tags))
            .exec(&tx)
            .await?;
        // The log keeps what the install did; this entry says it was undone.
        crate::audit::record(
            &tx,
            ctx,
            "app.purged",
            "app",
            &app_id,
            serde_json::json!({"reason": "the install failed"}),
        )
        .await?;
        tx.commit().await?;
        for f in forms.iter().filter_map(|f| f.id.parse().ok()) {
            self.form_cache().evict(ctx.tenant, f);
        }
        Ok(())
    }
}
