//! `get_form_permissions`, `put_form_permissions`, `delete_form_permissions`:
//! owners and admins set who may do what with a form's records.

use std::sync::LazyLock;

use jsonschema::Validator;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde::Serialize;
use serde_json::Value;

use super::AccessError;
use super::model::{FormPermissions, Subject};
use crate::Engine;
use crate::auth::is_builtin_role;
use crate::auth::policy::{Action, require};
use crate::ctx::{Ctx, Role};
use crate::error::FieldError;
use crate::ids::FormId;
use crate::meta::compile::{build_validator, meta_schema_errors};
use crate::meta::field_type::member;
use crate::meta::form::LoadedForm;
use crate::store::entity::{department, form, member as membership, role};

static PERMISSIONS_SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../../schemas/permissions.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

/// A form's permissions as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct PermissionsView {
    /// The form.
    pub form_id: FormId,
    /// False while the form is open to every member (no permissions set).
    pub is_restricted: bool,
    /// The permissions (empty entries while open).
    #[serde(flatten)]
    pub permissions: FormPermissions,
}

fn view(form: &LoadedForm) -> PermissionsView {
    PermissionsView {
        form_id: form.id,
        is_restricted: form.permissions.is_some(),
        permissions: form.permissions.clone().unwrap_or_default(),
    }
}

impl Engine {
    /// A form's permissions.
    ///
    /// # Errors
    /// `not_found`; `forbidden` for members.
    pub async fn get_form_permissions(
        &self,
        ctx: &Ctx,
        form_id: FormId,
    ) -> Result<PermissionsView, AccessError> {
        require(ctx, Action::DesignApps)?;
        let form = self.load_form(ctx, form_id).await?;
        Ok(view(&form))
    }

    /// Replaces a form's permissions (`schemas/permissions.schema.json`).
    /// Every named field, owner field, role, department and user must exist.
    ///
    /// # Errors
    /// `validation_failed` naming each fault by JSON path; `not_found`;
    /// `forbidden` for members.
    pub async fn put_form_permissions(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        raw: &Value,
    ) -> Result<PermissionsView, AccessError> {
        require(ctx, Action::DesignApps)?;
        let form = self.load_form(ctx, form_id).await?;
        let errs = meta_schema_errors(PERMISSIONS_SCHEMA.as_ref(), raw, "permissions document");
        if !errs.is_empty() {
            return Err(AccessError::Invalid(errs));
        }
        let perms: FormPermissions = serde_json::from_value(raw.clone())
            .map_err(|e| AccessError::Invalid(vec![FieldError::new("", e.to_string())]))?;
        self.check_permissions(ctx, &form, &perms).await?;
        let stored = serde_json::to_value(&perms)
            .map_err(|e| AccessError::Invalid(vec![FieldError::new("", e.to_string())]))?;
        self.store_permissions(ctx, form_id, Some(stored)).await?;
        let form = self.load_form(ctx, form_id).await?;
        Ok(view(&form))
    }

    /// Removes a form's permissions: it is open to every member again.
    ///
    /// # Errors
    /// `not_found`; `forbidden` for members.
    pub async fn delete_form_permissions(
        &self,
        ctx: &Ctx,
        form_id: FormId,
    ) -> Result<PermissionsView, AccessError> {
        require(ctx, Action::DesignApps)?;
        self.load_form(ctx, form_id).await?;
        self.store_permissions(ctx, form_id, None).await?;
        let form = self.load_form(ctx, form_id).await?;
        Ok(view(&form))
    }

    async fn store_permissions(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        value: Option<Value>,
    ) -> Result<(), AccessError> {
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await.map_err(crate::auth::AuthError::from)?;
        let action = if value.is_some() {
            "permissions.updated"
        } else {
            "permissions.cleared"
        };
        let detail = value.clone().unwrap_or(Value::Null);
        form::Entity::update_many()
            .col_expr(form::Column::Permissions, Expr::val(value))
            .filter(form::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(form::Column::Id.eq(form_id.to_string()))
            .filter(form::Column::DeletedAt.is_null())
            .exec(&tx)
            .await
            .map_err(crate::auth::AuthError::from)?;
        crate::audit::record(&tx, ctx, action, "form", &form_id.to_string(), detail)
            .await
            .map_err(crate::auth::AuthError::from)?;
        tx.commit().await.map_err(crate::auth::AuthError::from)?;
        self.form_cache().evict(ctx.tenant, form_id);
        Ok(())
    }

    /// Every reference of `perms` must exist in the tenant and the form.
    async fn check_permissions(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        perms: &FormPermissions,
    ) -> Result<(), AccessError> {
        let conn = self.db().conn();
        let mut errs = Vec::new();
        for (i, key) in perms.owner_fields.iter().flatten().enumerate() {
            match form.def.field(key) {
                Some(f) if f.kind == member::KIND => {}
                Some(_) => errs.push(FieldError::new(
                    format!("/owner_fields/{i}"),
                    format!("field `{key}` is not a member field"),
                )),
                None => errs.push(FieldError::new(
                    format!("/owner_fields/{i}"),
                    format!("unknown field `{key}`"),
                )),
            }
        }
        for (i, e) in perms.entries.iter().enumerate() {
            let at = format!("/entries/{i}");
            match &e.subject {
                Subject::Role(name) if name == Role::Member.as_str() => {}
                Subject::Role(name) if is_builtin_role(name) => errs.push(FieldError::new(
                    format!("{at}/subject/role"),
                    format!("role `{name}` is never limited; name `member` or a custom role"),
                )),
                Subject::Role(name) => {
                    let found = role::Entity::find()
                        .filter(role::Column::TenantId.eq(ctx.tenant.to_string()))
                        .filter(role::Column::Name.eq(name.as_str()))
                        .one(conn)
                        .await
                        .map_err(crate::auth::AuthError::from)?;
                    if found.is_none() {
                        errs.push(FieldError::new(
                            format!("{at}/subject/role"),
                            format!("role `{name}` does not exist"),
                        ));
                    }
                }
                Subject::Department(d) => {
                    let found = department::Entity::find()
                        .filter(department::Column::TenantId.eq(ctx.tenant.to_string()))
                        .filter(department::Column::Id.eq(d.to_string()))
                        .one(conn)
                        .await
                        .map_err(crate::auth::AuthError::from)?;
                    if found.is_none() {
                        errs.push(FieldError::new(
                            format!("{at}/subject/department"),
                            format!("department `{d}` does not exist"),
                        ));
                    }
                }
                Subject::User(u) => {
                    let found = membership::Entity::find_by_id((ctx.tenant.to_string(), u.to_string()))
                        .one(conn)
                        .await
                        .map_err(crate::auth::AuthError::from)?;
                    if found.is_none() {
                        errs.push(FieldError::new(
                            format!("{at}/subject/user"),
                            format!("user `{u}` is not a member"),
                        ));
                    }
                }
            }
            for key in e.fields.keys() {
                if form.def.field(key).is_none() {
                    errs.push(FieldError::new(
                        format!("{at}/fields/{key}"),
                        format!("unknown field `{key}`"),
                    ));
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(AccessError::Invalid(errs))
        }
    }
}
