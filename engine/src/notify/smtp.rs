//! A tenant's outgoing mail server. Owners and admins only; the password is
//! stored as given (it is needed to log in) and never shown.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::{NotifyError, SmtpTls};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::store::StoreError;
use crate::store::entity::smtp_setting;

/// Longest host name.
const MAX_HOST_LEN: usize = 253;
/// Longest user name or password.
const MAX_CREDENTIAL_CHARS: usize = 200;
/// What a set password looks like in answers.
pub const MASKED_PASSWORD: &str = "********";

/// The whole new SMTP settings of the tenant (`PUT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpInput {
    /// Server host name or address.
    pub host: String,
    /// Server port (1 to 65535): usually 587 for `starttls`, 465 for `tls`.
    pub port: u16,
    /// Login user; absent or null for a server without login.
    #[serde(default)]
    pub username: Option<String>,
    /// Login password. Absent or null keeps the stored one; `""` clears it.
    #[serde(default)]
    pub password: Option<String>,
    /// The `From` of every email: `a@example.com` or `Name <a@example.com>`.
    pub from_address: String,
    /// `none`, `starttls` or `tls`.
    pub tls: SmtpTls,
}

/// The SMTP settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpSettingsView {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Login user.
    pub username: Option<String>,
    /// [`MASKED_PASSWORD`] when a password is set, else `None`.
    pub password: Option<String>,
    /// The `From` of every email.
    pub from_address: String,
    /// Connection security.
    pub tls: SmtpTls,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<smtp_setting::Model> for SmtpSettingsView {
    type Error = NotifyError;
    fn try_from(m: smtp_setting::Model) -> Result<Self, NotifyError> {
        Ok(Self {
            port: u16::try_from(m.port)
                .map_err(|_| StoreError::Corrupt(format!("smtp port `{}`", m.port)))?,
            tls: SmtpTls::parse(&m.tls)
                .ok_or_else(|| StoreError::Corrupt(format!("smtp tls `{}`", m.tls)))?,
            host: m.host,
            username: m.username,
            password: m
                .password
                .filter(|p| !p.is_empty())
                .map(|_| MASKED_PASSWORD.to_owned()),
            from_address: m.from_address,
            updated_at: m.updated_at,
        })
    }
}

fn check(input: &SmtpInput) -> Result<(), NotifyError> {
    let mut errs = Vec::new();
    let host = input.host.trim();
    if host.is_empty() || host.len() > MAX_HOST_LEN || host.chars().any(|c| c.is_whitespace() || c == '/') {
        errs.push(FieldError::new("host", "must be a host name or address"));
    }
    if input.port == 0 {
        errs.push(FieldError::new("port", "must be 1 to 65535"));
    }
    let long = |s: &Option<String>| {
        s.as_ref()
            .is_some_and(|s| s.chars().count() > MAX_CREDENTIAL_CHARS)
    };
    if long(&input.username) {
        errs.push(FieldError::new(
            "username",
            format!("must be at most {MAX_CREDENTIAL_CHARS} characters"),
        ));
    }
    if long(&input.password) {
        errs.push(FieldError::new(
            "password",
            format!("must be at most {MAX_CREDENTIAL_CHARS} characters"),
        ));
    }
    if input
        .from_address
        .trim()
        .parse::<lettre::message::Mailbox>()
        .is_err()
    {
        errs.push(FieldError::new(
            "from_address",
            "must be an email address, optionally with a name: `Name <a@example.com>`",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(NotifyError::Invalid(errs))
    }
}

impl Engine {
    /// The tenant's SMTP settings, password masked.
    ///
    /// # Errors
    /// `not_found` when none are set; `forbidden` for members; `internal`.
    pub async fn get_smtp_settings(&self, ctx: &Ctx) -> Result<SmtpSettingsView, NotifyError> {
        require(ctx, Action::DesignApps)?;
        smtp_setting::Entity::find()
            .filter(smtp_setting::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or(NotifyError::SmtpNotConfigured)?
            .try_into()
    }

    /// Sets the tenant's SMTP settings (all of them; see
    /// [`SmtpInput::password`] for keeping the password). Emails already
    /// queued use the settings in force when they are sent.
    ///
    /// # Errors
    /// `validation_failed`; `forbidden` for members; `internal`.
    pub async fn put_smtp_settings(
        &self,
        ctx: &Ctx,
        input: SmtpInput,
    ) -> Result<SmtpSettingsView, NotifyError> {
        require(ctx, Action::DesignApps)?;
        check(&input)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let old = smtp_setting::Entity::find()
            .filter(smtp_setting::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(&tx)
            .await?;
        let password = match input.password {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(p),
            None => old.as_ref().and_then(|o| o.password.clone()),
        };
        let username = input
            .username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        let row = smtp_setting::ActiveModel {
            tenant_id: Set(ctx.tenant.to_string()),
            host: Set(input.host.trim().to_owned()),
            port: Set(i32::from(input.port)),
            username: Set(username),
            password: Set(password),
            from_address: Set(input.from_address.trim().to_owned()),
            tls: Set(input.tls.as_str().to_owned()),
            updated_at: Set(ctx.now),
        };
        // An upsert, so two first-time saves racing do not collide.
        smtp_setting::Entity::insert(row)
            .on_conflict(
                OnConflict::column(smtp_setting::Column::TenantId)
                    .update_columns([
                        smtp_setting::Column::Host,
                        smtp_setting::Column::Port,
                        smtp_setting::Column::Username,
                        smtp_setting::Column::Password,
                        smtp_setting::Column::FromAddress,
                        smtp_setting::Column::Tls,
                        smtp_setting::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
        let saved = smtp_setting::Entity::find()
            .filter(smtp_setting::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(&tx)
            .await?
            .ok_or(NotifyError::SmtpNotConfigured)?;
        tx.commit().await?;
        saved.try_into()
    }
}

/// The stored settings of a tenant, for the email job.
pub(super) async fn load(
    conn: &impl sea_orm::ConnectionTrait,
    tenant: crate::ids::TenantId,
) -> Result<Option<smtp_setting::Model>, NotifyError> {
    Ok(smtp_setting::Entity::find()
        .filter(smtp_setting::Column::TenantId.eq(tenant.to_string()))
        .one(conn)
        .await?)
}
