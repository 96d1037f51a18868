//! Public form links (外链): a form publishes a link with a random token;
//! anyone holding it may create records of that form, filling the fields
//! the link lists, at a rate per client address, until an optional end
//! date. Nothing else is reachable with it: the token is no bearer token,
//! and a submission runs with a context ([`Ctx::link`]) that the one
//! permission check of [`super::access`] turns into "create records of
//! this form, these fields only".
//!
//! Owners and admins manage links (`DesignApps`); every change writes an
//! audit entry. The token is kept readable, unlike API tokens, so the link
//! can be copied again from the form's settings as 简道云 lets one do: it
//! grants only what it publishes, and it is revoked by deleting the link.
//!
//! A visitor fills only fields a stranger may be shown: not computed ones
//! (formula, serial), not member or relation pickers (their choices would
//! list the tenant's people and records), not files (a visitor uploads
//! none), not fields marked hidden.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::AuthError;
use super::policy::{Action, require};
use crate::Engine;
use crate::ctx::{Cause, Ctx, LinkGrant, Role, Scope};
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::{FormId, PublicLinkId, TenantId, UserId};
use crate::meta::MetaError;
use crate::meta::field_type::FieldTypes;
use crate::meta::form::{LoadedForm, load_form_in};
use crate::meta::model::FieldDef;
use crate::record::{RecordError, RecordInput, RecordView};
use crate::store::entity::public_link;
use crate::store::{StoreError, parse_id};

/// Most links one form may have.
pub const MAX_LINKS_PER_FORM: u64 = 20;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Submissions per client address and minute: the allowed range.
pub const RATE_RANGE: std::ops::RangeInclusive<i32> = 1..=600;
/// Submissions per client address and minute when not given.
pub const DEFAULT_RATE: i32 = 10;

/// Failures of public links.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No live link has this token (or id, for its managers).
    #[error("this public link does not exist")]
    NotFound,
    /// Switched off, or past its end date.
    #[error("this form no longer accepts submissions through this link")]
    Closed,
    /// The input is invalid; details name each fault.
    #[error("the public link has {} invalid part(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The form is gone.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Not allowed, or storage failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<sea_orm::DbErr> for LinkError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Auth(AuthError::Store(e.into()))
    }
}

impl From<StoreError> for LinkError {
    fn from(e: StoreError) -> Self {
        Self::Auth(AuthError::Store(e))
    }
}

impl HasCode for LinkError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::Closed => ErrorCode::LinkClosed,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Meta(e) => e.code(),
            Self::Auth(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::Meta(e) => e.details(),
            Self::Auth(e) => e.details(),
            Self::NotFound | Self::Closed => Vec::new(),
        }
    }
}

/// A link to create, or the whole new state of one (`PUT`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicLinkInput {
    /// Up to 100 characters (default: the form's name).
    #[serde(default)]
    pub name: Option<String>,
    /// The field keys the link shows and accepts, in any order (the form's
    /// order is kept); absent or null for every field a visitor can fill.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Submissions per client address and minute, 1 to 600 (default 10).
    #[serde(default)]
    pub rate_per_minute: Option<i32>,
    /// No submissions after this instant; must lie in the future.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether it accepts submissions (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A link as its managers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicLinkView {
    /// Id.
    pub id: PublicLinkId,
    /// The form it submits to.
    pub form_id: FormId,
    /// Name.
    pub name: String,
    /// The secret part of the link.
    pub token: String,
    /// The page a visitor opens: `/f/<token>`.
    pub path: String,
    /// The field keys it shows; `None` for every field a visitor can fill.
    pub fields: Option<Vec<String>>,
    /// Submissions per client address and minute.
    pub rate_per_minute: i32,
    /// End date.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether it accepts submissions.
    pub enabled: bool,
    /// Records created through it.
    pub submissions: i32,
    /// The last of them.
    pub last_submitted_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub created_by: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A link that accepts submissions, as found by its token.
#[derive(Debug, Clone)]
pub struct OpenLink {
    /// Id.
    pub id: PublicLinkId,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Submissions per client address and minute.
    pub rate_per_minute: u32,
    grant: Arc<LinkGrant>,
    form: Arc<LoadedForm>,
}

/// What a visitor's page shows: the form's name and description and the
/// fields the link accepts, in form order.
#[derive(Debug, Clone, Serialize)]
pub struct PublicForm {
    /// Form name.
    pub name: String,
    /// Form description.
    pub description: String,
    /// The fields to fill.
    pub fields: Vec<FieldDef>,
}

fn view(m: public_link::Model) -> Result<PublicLinkView, LinkError> {
    let fields = match m.fields {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v)
                .map_err(|e| StoreError::Corrupt(format!("public link `{}` fields: {e}", m.id)))?,
        ),
    };
    Ok(PublicLinkView {
        id: parse_id(&m.id)?,
        form_id: parse_id(&m.form_id)?,
        name: m.name,
        path: format!("/f/{}", m.token),
        token: m.token,
        fields,
        rate_per_minute: m.rate_per_minute,
        expires_at: m.expires_at,
        enabled: m.enabled,
        submissions: m.submissions,
        last_submitted_at: m.last_submitted_at,
        created_by: parse_id(&m.created_by)?,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// A fresh token: `fwl_` and 64 random hex digits (two v4 UUIDs).
fn new_token() -> String {
    format!(
        "fwl_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Why a visitor may not fill `field`, or `None` when they may.
fn unfillable(types: &FieldTypes, field: &FieldDef) -> Option<&'static str> {
    if field.hidden {
        return Some("is hidden in the form");
    }
    let Ok(kind) = types.get(&field.kind) else {
        return Some("has an unknown type");
    };
    if kind.is_computed() {
        return Some("is computed by the engine");
    }
    if kind.reference(field).is_some() {
        return Some("picks members or records of the tenant, which a public link does not show");
    }
    if kind.file_rule().is_some() {
        return Some("holds uploaded files, and a public link uploads none");
    }
    field
        .sub_fields()
        .iter()
        .find_map(|f| unfillable(types, f))
        .map(|_| "holds sub-fields a visitor cannot fill")
}

/// The fields a link shows: the listed ones, or every fillable field.
fn link_fields(types: &FieldTypes, form: &LoadedForm, listed: Option<&[String]>) -> BTreeSet<String> {
    match listed {
        Some(keys) => keys.iter().cloned().collect(),
        None => form
            .def
            .fields
            .iter()
            .filter(|f| unfillable(types, f).is_none())
            .map(|f| f.key.clone())
            .collect(),
    }
}

/// Checked input.
struct Checked {
    name: String,
    fields: Option<Vec<String>>,
    rate: i32,
    expires_at: Option<DateTime<Utc>>,
    enabled: bool,
}

fn check(
    types: &FieldTypes,
    form: &LoadedForm,
    input: PublicLinkInput,
    now: DateTime<Utc>,
) -> Result<Checked, LinkError> {
    let mut errs = Vec::new();
    let name = input
        .name
        .map_or_else(|| form.def.name.clone(), |n| n.trim().to_owned());
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errs.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let fields = input.fields.map(|keys| {
        let mut seen = BTreeSet::new();
        keys.into_iter()
            .filter(|k| seen.insert(k.clone()))
            .collect::<Vec<_>>()
    });
    if let Some(keys) = &fields {
        if keys.is_empty() {
            errs.push(FieldError::new(
                "fields",
                "must name at least one field, or be null for every field a visitor can fill",
            ));
        }
        for (i, key) in keys.iter().enumerate() {
            match form.def.field(key) {
                None => errs.push(FieldError::new(
                    format!("fields/{i}"),
                    format!("the form has no field `{key}`"),
                )),
                Some(f) => {
                    if let Some(why) = unfillable(types, f) {
                        errs.push(FieldError::new(
                            format!("fields/{i}"),
                            format!("field `{key}` {why}"),
                        ));
                    }
                }
            }
        }
    }
    let shown = link_fields(types, form, fields.as_deref());
    if shown.is_empty() && fields.is_none() {
        errs.push(FieldError::new(
            "fields",
            "the form has no field a visitor can fill",
        ));
    }
    for f in &form.def.fields {
        if f.required
            && f.default.is_none()
            && !shown.contains(&f.key)
            && !types.get(&f.kind).is_ok_and(|k| k.is_computed())
        {
            errs.push(FieldError::new(
                "fields",
                format!(
                    "required field `{}` has no default, so the link must show it",
                    f.key
                ),
            ));
        }
    }
    let rate = input.rate_per_minute.unwrap_or(DEFAULT_RATE);
    if !RATE_RANGE.contains(&rate) {
        errs.push(FieldError::new(
            "rate_per_minute",
            format!("must be {} to {}", RATE_RANGE.start(), RATE_RANGE.end()),
        ));
    }
    if input.expires_at.is_some_and(|t| t <= now) {
        errs.push(FieldError::new("expires_at", "must lie in the future"));
    }
    if !errs.is_empty() {
        return Err(LinkError::Invalid(errs));
    }
    Ok(Checked {
        name,
        fields,
        rate,
        expires_at: input.expires_at,
        enabled: input.enabled.unwrap_or(true),
    })
}

impl Engine {
    /// A link of the tenant by id.
    async fn link_row(&self, ctx: &Ctx, id: PublicLinkId) -> Result<public_link::Model, LinkError> {
        public_link::Entity::find_by_id(id.to_string())
            .filter(public_link::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or(LinkError::NotFound)
    }

    /// The public links of a form, oldest first.
    ///
    /// # Errors
    /// `forbidden` below admin; `not_found` for an unknown form.
    pub async fn list_public_links(
        &self,
        ctx: &Ctx,
        form_id: FormId,
    ) -> Result<Vec<PublicLinkView>, LinkError> {
        require(ctx, Action::DesignApps)?;
        self.load_form(ctx, form_id).await?;
        public_link::Entity::find()
            .filter(public_link::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(public_link::Column::FormId.eq(form_id.to_string()))
            .order_by_asc(public_link::Column::Id)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(view)
            .collect()
    }

    /// Publishes a new link of a form with a fresh token.
    ///
    /// # Errors
    /// `forbidden` below admin; `not_found` for an unknown form;
    /// `validation_failed` naming each bad part (also past
    /// [`MAX_LINKS_PER_FORM`]).
    pub async fn create_public_link(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        input: PublicLinkInput,
    ) -> Result<PublicLinkView, LinkError> {
        require(ctx, Action::DesignApps)?;
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        let form = load_form_in(&tx, ctx, form_id).await?;
        let checked = check(self.field_types(), &form, input, ctx.now)?;
        let count = public_link::Entity::find()
            .filter(public_link::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(public_link::Column::FormId.eq(form_id.to_string()))
            .count(&tx)
            .await?;
        if count >= MAX_LINKS_PER_FORM {
            return Err(LinkError::Invalid(vec![FieldError::new(
                "form_id",
                format!("a form has at most {MAX_LINKS_PER_FORM} public links; delete one first"),
            )]));
        }
        let row = public_link::Model {
            id: PublicLinkId::new().to_string(),
            tenant_id: ctx.tenant.to_string(),
            form_id: form_id.to_string(),
            token: new_token(),
            name: checked.name,
            fields: checked.fields.as_ref().map(|f| json!(f)),
            rate_per_minute: checked.rate,
            expires_at: checked.expires_at,
            enabled: checked.enabled,
            submissions: 0,
            last_submitted_at: None,
            created_by: ctx.actor.to_string(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        public_link::Entity::insert(public_link::ActiveModel::from(row.clone()))
            .exec_without_returning(&tx)
            .await?;
        let out = view(row)?;
        crate::audit::record(
            &tx,
            ctx,
            "public_link.created",
            "public_link",
            &out.id.to_string(),
            audit_detail(&out),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Replaces a link's settings; its token stays.
    ///
    /// # Errors
    /// `forbidden` below admin; `not_found`; `validation_failed`.
    pub async fn update_public_link(
        &self,
        ctx: &Ctx,
        id: PublicLinkId,
        input: PublicLinkInput,
    ) -> Result<PublicLinkView, LinkError> {
        require(ctx, Action::DesignApps)?;
        let row = self.link_row(ctx, id).await?;
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        let form = load_form_in(&tx, ctx, parse_id(&row.form_id)?).await?;
        let checked = check(self.field_types(), &form, input, ctx.now)?;
        let mut active: public_link::ActiveModel = row.into();
        active.name = Set(checked.name);
        active.fields = Set(checked.fields.as_ref().map(|f| json!(f)));
        active.rate_per_minute = Set(checked.rate);
        active.expires_at = Set(checked.expires_at);
        active.enabled = Set(checked.enabled);
        active.updated_at = Set(ctx.now);
        let out = view(active.update(&tx).await?)?;
        crate::audit::record(
            &tx,
            ctx,
            "public_link.updated",
            "public_link",
            &id.to_string(),
            audit_detail(&out),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Deletes a link: its token stops working at once. Records created
    /// through it stay.
    ///
    /// # Errors
    /// `forbidden` below admin; `not_found`.
    pub async fn delete_public_link(&self, ctx: &Ctx, id: PublicLinkId) -> Result<(), LinkError> {
        require(ctx, Action::DesignApps)?;
        let row = self.link_row(ctx, id).await?;
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        public_link::Entity::delete_by_id(row.id.clone())
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "public_link.deleted",
            "public_link",
            &row.id,
            json!({"form_id": row.form_id, "name": row.name}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The link a visitor's token names, if it accepts submissions now.
    ///
    /// # Errors
    /// `not_found` for an unknown token or a deleted form; `link_closed`
    /// when the link is switched off or past its end date.
    pub async fn open_public_link(&self, token: &str, now: DateTime<Utc>) -> Result<OpenLink, LinkError> {
        if !token.starts_with("fwl_") || token.len() > 100 {
            return Err(LinkError::NotFound);
        }
        let row = public_link::Entity::find()
            .filter(public_link::Column::Token.eq(token))
            .one(self.db().conn())
            .await?
            .ok_or(LinkError::NotFound)?;
        if !row.enabled || row.expires_at.is_some_and(|t| t <= now) {
            return Err(LinkError::Closed);
        }
        let link = view(row.clone())?;
        let tenant: TenantId = parse_id(&row.tenant_id)?;
        let lookup = Ctx::new(tenant, UserId::ANONYMOUS, Role::Member).at(now);
        let form = self.load_form(&lookup, link.form_id).await.map_err(|e| match e {
            MetaError::FormNotFound(_) => LinkError::NotFound,
            other => LinkError::Meta(other),
        })?;
        let fields = link_fields(self.field_types(), &form, link.fields.as_deref());
        let grant = LinkGrant {
            link: link.id,
            form: link.form_id,
            // Fields the form dropped or hid since the link was saved are
            // no longer shown.
            fields: fields
                .into_iter()
                .filter(|k| {
                    form.def
                        .field(k)
                        .is_some_and(|f| unfillable(self.field_types(), f).is_none())
                })
                .collect(),
        };
        Ok(OpenLink {
            id: link.id,
            tenant,
            rate_per_minute: u32::try_from(link.rate_per_minute).unwrap_or(1).max(1),
            grant: Arc::new(grant),
            form,
        })
    }

    /// What the visitor's page shows.
    #[must_use]
    pub fn public_form(&self, link: &OpenLink) -> PublicForm {
        let def = &link.form.def;
        PublicForm {
            name: def.name.clone(),
            description: def.description.clone(),
            fields: def
                .fields
                .iter()
                .filter(|f| link.grant.fields.contains(&f.key))
                .cloned()
                .map(|mut f| {
                    // The page needs what to show and check; how defaults are
                    // computed stays with the form's designers.
                    if matches!(f.default, Some(crate::meta::model::DefaultValue::Expr { .. })) {
                        f.default = None;
                    }
                    f
                })
                .collect(),
        }
    }

    /// Creates one record through the link, as nobody signed in: the
    /// record's author is [`UserId::ANONYMOUS`], rules and flows run as for
    /// any new record, and the answer holds only the link's fields.
    ///
    /// # Errors
    /// As [`Engine::create_record`]: `validation_failed` with the fields;
    /// `forbidden` naming each field the link does not accept.
    pub async fn submit_public(
        &self,
        link: &OpenLink,
        data: Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<RecordView, RecordError> {
        let ctx = Ctx {
            tenant: link.tenant,
            actor: UserId::ANONYMOUS,
            role: Role::Member,
            scope: Scope::Write,
            now,
            cause: Cause::default(),
            start_flow: true,
            link: Some(Arc::clone(&link.grant)),
        };
        let out = self
            .create_record(&ctx, link.grant.form, RecordInput { data }, None)
            .await?;
        // The count is a statistic for the link's managers: a failure here
        // leaves the committed record as it is.
        let _w = self.db().write_lock().await;
        let counted = public_link::Entity::update_many()
            .col_expr(
                public_link::Column::Submissions,
                sea_orm::sea_query::ExprTrait::add(Expr::col(public_link::Column::Submissions), 1),
            )
            .col_expr(public_link::Column::LastSubmittedAt, Expr::value(now))
            .filter(public_link::Column::Id.eq(link.id.to_string()))
            .exec(self.db().conn())
            .await;
        if let Err(e) = counted {
            tracing::warn!(link = %link.id, error = %e, "public link submission not counted");
        }
        Ok(out)
    }
}

/// The audit entry's detail: the settings, never the token.
fn audit_detail(v: &PublicLinkView) -> Value {
    json!({
        "form_id": v.form_id,
        "name": v.name,
        "fields": v.fields,
        "rate_per_minute": v.rate_per_minute,
        "expires_at": v.expires_at,
        "enabled": v.enabled,
    })
}

/// Drops the links of forms that no longer exist (an app removed whole).
///
/// # Errors
/// The database's.
pub(crate) async fn delete_for_forms<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    forms: Vec<String>,
) -> Result<(), sea_orm::DbErr> {
    if forms.is_empty() {
        return Ok(());
    }
    public_link::Entity::delete_many()
        .filter(public_link::Column::TenantId.eq(tenant.to_string()))
        .filter(public_link::Column::FormId.is_in(forms))
        .exec(conn)
        .await?;
    Ok(())
}
