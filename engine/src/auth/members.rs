//! Members of a tenant: create (with a password, or by invite), accept an
//! invite, change role, department, manager or status, remove.
//!
//! Invariants: a tenant always keeps an active owner (`last_owner`); only
//! owners grant the owner role or change an owner; an invite's token is
//! shown once and stored as its SHA-256, like every other token. A
//! deactivated or removed member's sessions and personal tokens are revoked
//! in the same transaction, and `authenticate` refuses anyone not active.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Deserializer, Serialize};

use super::login::{KIND_PERSONAL, KIND_SESSION, new_token, token_hash, verify_password};
use super::policy::{Action, require};
use super::tenant::hash_password;
use super::{AuthError, LoginOutput, MemberStatus};
use crate::Engine;
use crate::ctx::{Ctx, Role};
use crate::error::FieldError;
use crate::ids::{DepartmentId, RoleId, TenantId, UserId};
use crate::store::entity::{department, member, role, token, user};
use crate::store::{StoreError, parse_id};

/// How long an invite may wait to be accepted.
pub const INVITE_DAYS: i64 = 7;
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Reads a present JSON key as `Some(value)` (`Some(None)` for `null`), so
/// an absent key (`None`) can mean "unchanged".
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /members`: a new member with a password, or an invite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// Login email.
    pub email: String,
    /// Initial password (at least 8 characters); exclusive with `invite`.
    #[serde(default)]
    pub password: Option<String>,
    /// Create a pending member and answer a one-time invite token.
    #[serde(default)]
    pub invite: bool,
    /// `owner`, `admin`, `member` or a custom role's name (default `member`).
    #[serde(default = "default_role")]
    pub role: String,
    /// Department.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Direct manager (a member of the tenant).
    #[serde(default)]
    pub manager_id: Option<UserId>,
    /// Display name for a new user (default: the email's local part).
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_role() -> String {
    Role::Member.as_str().to_owned()
}

/// `PATCH /members/{user_id}`: absent keys stay, `null` clears.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// New role name (built-in or custom).
    #[serde(default)]
    pub role: Option<String>,
    /// New department, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub department_id: Option<Option<DepartmentId>>,
    /// New manager, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub manager_id: Option<Option<UserId>>,
    /// `deactivated` to switch a member off, `active` to switch them back on.
    #[serde(default)]
    pub status: Option<MemberStatus>,
}

/// A member as the API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    /// The user.
    pub user_id: UserId,
    /// Login email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// The role held: a built-in name or the custom role's name.
    pub role: String,
    /// The built-in role checks use (`member` for custom roles).
    pub base_role: Role,
    /// The custom role held, if any.
    pub role_id: Option<RoleId>,
    /// Active, invited or deactivated.
    pub status: MemberStatus,
    /// Department.
    pub department_id: Option<DepartmentId>,
    /// Direct manager.
    pub manager_id: Option<UserId>,
    /// When they joined the tenant.
    pub created_at: DateTime<Utc>,
}

/// The answer to a create: the member, plus an invite's token, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedMember {
    /// The member.
    #[serde(flatten)]
    pub member: MemberView,
    /// The one-time invite token (invites only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_token: Option<String>,
    /// When the invite lapses (invites only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_expires_at: Option<DateTime<Utc>>,
}

/// `POST /invites/accept`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    /// The invite token.
    pub token: String,
    /// A new user's password; an existing user's current one.
    pub password: String,
}

fn not_found(id: impl ToString) -> AuthError {
    AuthError::NotFound {
        what: "member",
        id: id.to_string(),
    }
}

fn check_password(password: &str, errs: &mut Vec<FieldError>) {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        errs.push(FieldError::new("password", "must be at least 8 characters"));
    }
}

async fn hash_on_pool(password: &str) -> Result<String, AuthError> {
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| AuthError::Store(StoreError::Corrupt(e.to_string())))?
}

/// Resolves a role name to the built-in role checks use and the custom role.
pub(crate) async fn resolve_role<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
) -> Result<(Role, Option<RoleId>), AuthError> {
    if let Some(r) = Role::parse(name) {
        return Ok((r, None));
    }
    let found = role::Entity::find()
        .filter(role::Column::TenantId.eq(tenant.to_string()))
        .filter(role::Column::Name.eq(name))
        .one(conn)
        .await?;
    match found {
        Some(r) => Ok((Role::Member, Some(parse_id(&r.id)?))),
        None => Err(AuthError::Invalid(vec![FieldError::new(
            "role",
            format!("unknown role `{name}`: use owner, admin, member or a custom role's name"),
        )])),
    }
}

/// Checks that a department and a manager named in input exist here.
async fn check_refs<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    department: Option<DepartmentId>,
    manager: Option<UserId>,
    errs: &mut Vec<FieldError>,
) -> Result<(), AuthError> {
    if let Some(d) = department {
        let found = department::Entity::find()
            .filter(department::Column::TenantId.eq(tenant.to_string()))
            .filter(department::Column::Id.eq(d.to_string()))
            .count(conn)
            .await?;
        if found == 0 {
            errs.push(FieldError::new(
                "department_id",
                format!("department `{d}` does not exist"),
            ));
        }
    }
    if let Some(m) = manager {
        let found = member::Entity::find_by_id((tenant.to_string(), m.to_string()))
            .count(conn)
            .await?;
        if found == 0 {
            errs.push(FieldError::new(
                "manager_id",
                format!("`{m}` is not a member of this tenant"),
            ));
        }
    }
    Ok(())
}

/// Active owners of the tenant, locked on PostgreSQL so two concurrent
/// demotions cannot both see "another owner remains".
async fn active_owners(tx: &DatabaseTransaction, tenant: TenantId) -> Result<u64, AuthError> {
    let rows: Vec<String> = member::Entity::find()
        .select_only()
        .column(member::Column::UserId)
        .filter(member::Column::TenantId.eq(tenant.to_string()))
        .filter(member::Column::Role.eq(Role::Owner.as_str()))
        .filter(member::Column::Status.eq(MemberStatus::Active.as_str()))
        .lock_exclusive()
        .into_tuple()
        .all(tx)
        .await?;
    Ok(rows.len() as u64)
}

fn is_active_owner(m: &member::Model) -> bool {
    m.role == Role::Owner.as_str() && m.status == MemberStatus::Active.as_str()
}

/// Only owners touch owners or hand out the owner role.
fn guard_owner(ctx: &Ctx, target: &member::Model, new_role: Option<Role>) -> Result<(), AuthError> {
    let touches_owner = target.role == Role::Owner.as_str() || new_role == Some(Role::Owner);
    if touches_owner && ctx.role != Role::Owner {
        return Err(AuthError::Forbidden {
            role: ctx.role.as_str(),
            action: "change an owner or grant the owner role",
        });
    }
    Ok(())
}

/// Revokes a user's sessions and personal tokens in one tenant.
async fn revoke_tokens_of<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    token::Entity::update_many()
        .col_expr(token::Column::RevokedAt, sea_query::Expr::val(now))
        .filter(token::Column::TenantId.eq(tenant.to_string()))
        .filter(token::Column::UserId.eq(user.to_string()))
        .filter(token::Column::Kind.is_in([KIND_SESSION, KIND_PERSONAL]))
        .filter(token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

async fn view_of<C: ConnectionTrait>(conn: &C, m: member::Model) -> Result<MemberView, AuthError> {
    let u = user::Entity::find_by_id(m.user_id.clone())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("member `{}` has no user", m.user_id)))?;
    let names = role_names(conn, &m.tenant_id).await?;
    build_view(m, u, &names)
}

async fn role_names<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<(String, String)>, AuthError> {
    Ok(role::Entity::find()
        .select_only()
        .column(role::Column::Id)
        .column(role::Column::Name)
        .filter(role::Column::TenantId.eq(tenant))
        .into_tuple()
        .all(conn)
        .await?)
}

fn build_view(m: member::Model, u: user::Model, roles: &[(String, String)]) -> Result<MemberView, AuthError> {
    let base_role = Role::parse(&m.role).ok_or_else(|| StoreError::Corrupt(format!("role `{}`", m.role)))?;
    let role_name = match &m.role_id {
        Some(id) => roles
            .iter()
            .find(|(rid, _)| rid == id)
            .map_or_else(|| base_role.as_str().to_owned(), |(_, n)| n.clone()),
        None => base_role.as_str().to_owned(),
    };
    Ok(MemberView {
        user_id: parse_id(&m.user_id)?,
        email: u.email,
        display_name: u.display_name,
        role: role_name,
        base_role,
        role_id: m.role_id.as_deref().map(parse_id).transpose()?,
        status: MemberStatus::parse(&m.status)
            .ok_or_else(|| StoreError::Corrupt(format!("status `{}`", m.status)))?,
        department_id: m.department_id.as_deref().map(parse_id).transpose()?,
        manager_id: m.manager_id.as_deref().map(parse_id).transpose()?,
        created_at: m.created_at,
    })
}

impl Engine {
    /// Every member of the caller's tenant, by email.
    ///
    /// # Errors
    /// `forbidden`; `internal` on storage failure.
    pub async fn list_members(&self, ctx: &Ctx) -> Result<Vec<MemberView>, AuthError> {
        require(ctx, Action::ReadData)?;
        let conn = self.db().conn();
        let members = member::Entity::find()
            .filter(member::Column::TenantId.eq(ctx.tenant.to_string()))
            .all(conn)
            .await?;
        let ids: Vec<String> = members.iter().map(|m| m.user_id.clone()).collect();
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            users.extend(
                user::Entity::find()
                    .filter(user::Column::Id.is_in(chunk.iter().cloned()))
                    .all(conn)
                    .await?,
            );
        }
        let names = role_names(conn, &ctx.tenant.to_string()).await?;
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            if let Some(u) = users.iter().find(|u| u.id == m.user_id) {
                out.push(build_view(m, u.clone(), &names)?);
            }
        }
        out.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(out)
    }

    /// Adds a member: a new user with a password, an invite (pending until
    /// accepted), or an existing user of another tenant by invite.
    ///
    /// # Errors
    /// `forbidden`; `validation_failed` for a bad email, password, role,
    /// department or manager; `conflict` when the email is already a member
    /// here, or belongs to an existing user and a password was given (invite
    /// them instead: their password is theirs).
    pub async fn create_member(&self, ctx: &Ctx, input: MemberInput) -> Result<CreatedMember, AuthError> {
        require(ctx, Action::ManageMembers)?;
        let email = input.email.trim().to_lowercase();
        let mut errs = Vec::new();
        if !email.contains('@') || email.len() > 254 {
            errs.push(FieldError::new("email", "must be an email address"));
        }
        match (&input.password, input.invite) {
            (Some(pw), false) => check_password(pw, &mut errs),
            (None, true) => {}
            _ => errs.push(FieldError::new(
                "password",
                "give either `password` or `\"invite\": true`, not both or neither",
            )),
        }
        let conn = self.db().conn();
        let (base_role, role_id) = resolve_role(conn, ctx.tenant, &input.role).await?;
        check_refs(conn, ctx.tenant, input.department_id, input.manager_id, &mut errs).await?;
        if !errs.is_empty() {
            return Err(AuthError::Invalid(errs));
        }
        if base_role == Role::Owner && ctx.role != Role::Owner {
            return Err(AuthError::Forbidden {
                role: ctx.role.as_str(),
                action: "change an owner or grant the owner role",
            });
        }
        let hash = match &input.password {
            Some(pw) => Some(hash_on_pool(pw).await?),
            None => None,
        };
        let invite = input.invite.then(new_token);
        let now = ctx.now;
        let invite_expires_at = invite.as_ref().map(|_| now + Duration::days(INVITE_DAYS));
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let existing = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(&tx)
            .await?;
        let user_id = match existing {
            Some(u) => {
                let taken = member::Entity::find_by_id((ctx.tenant.to_string(), u.id.clone()))
                    .count(&tx)
                    .await?;
                if taken > 0 {
                    return Err(AuthError::Conflict(format!(
                        "`{email}` is already a member of this tenant"
                    )));
                }
                if hash.is_some() {
                    return Err(AuthError::Conflict(format!(
                        "a user with email `{email}` already exists; invite them instead"
                    )));
                }
                parse_id(&u.id)?
            }
            None => {
                let id = UserId::new();
                let display_name = input
                    .display_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map_or_else(
                        || email.split('@').next().unwrap_or_default().to_owned(),
                        str::to_owned,
                    );
                user::ActiveModel {
                    id: Set(id.to_string()),
                    email: Set(email.clone()),
                    display_name: Set(display_name),
                    // An invited user has no password until they accept; an
                    // empty hash never verifies.
                    password_hash: Set(hash.clone().unwrap_or_default()),
                    created_at: Set(now),
                    deactivated_at: Set(None),
                }
                .insert(&tx)
                .await?;
                id
            }
        };
        let row = member::ActiveModel {
            tenant_id: Set(ctx.tenant.to_string()),
            user_id: Set(user_id.to_string()),
            role: Set(base_role.as_str().to_owned()),
            created_at: Set(now),
            status: Set(if invite.is_some() {
                MemberStatus::Invited
            } else {
                MemberStatus::Active
            }
            .as_str()
            .to_owned()),
            department_id: Set(input.department_id.map(|d| d.to_string())),
            manager_id: Set(input.manager_id.map(|m| m.to_string())),
            role_id: Set(role_id.map(|r| r.to_string())),
            invite_hash: Set(invite.as_deref().map(token_hash)),
            invite_expires_at: Set(invite_expires_at),
        }
        .insert(&tx)
        .await?;
        let member = view_of(&tx, row).await?;
        crate::audit::record_view(&tx, ctx, "member.created", "member", &member.user_id, &member).await?;
        tx.commit().await?;
        Ok(CreatedMember {
            member,
            invite_token: invite,
            invite_expires_at,
        })
    }

    /// Accepts an invite: a new user sets their password, an existing user
    /// confirms theirs; the member becomes active and is logged in.
    ///
    /// # Errors
    /// `not_found` for an unknown, used or expired invite; `validation_failed`
    /// for a short password; `unauthorized` when an existing user's password
    /// is wrong.
    pub async fn accept_invite(&self, input: AcceptInvite) -> Result<LoginOutput, AuthError> {
        let conn = self.db().conn();
        let now = Utc::now();
        let hash = token_hash(input.token.trim());
        let invalid = || AuthError::NotFound {
            what: "invite",
            id: "(token)".to_owned(),
        };
        let m = member::Entity::find()
            .filter(member::Column::InviteHash.eq(hash.clone()))
            .filter(member::Column::Status.eq(MemberStatus::Invited.as_str()))
            .one(conn)
            .await?
            .filter(|m| m.invite_expires_at.is_some_and(|e| e > now))
            .ok_or_else(invalid)?;
        let u = user::Entity::find_by_id(m.user_id.clone())
            .one(conn)
            .await?
            .ok_or_else(invalid)?;
        let new_hash = if u.password_hash.is_empty() {
            let mut errs = Vec::new();
            check_password(&input.password, &mut errs);
            if !errs.is_empty() {
                return Err(AuthError::Invalid(errs));
            }
            Some(hash_on_pool(&input.password).await?)
        } else if verify_password(&input.password, &u.password_hash).await {
            None
        } else {
            return Err(AuthError::InvalidCredentials);
        };
        let tenant: TenantId = parse_id(&m.tenant_id)?;
        let user_id: UserId = parse_id(&m.user_id)?;
        let role = Role::parse(&m.role).ok_or_else(|| StoreError::Corrupt(format!("role `{}`", m.role)))?;
        {
            let db = self.db();
            let _w = db.write_lock().await;
            let tx = db.begin().await?;
            // Used once: only the update that still finds the invite wins.
            let done = member::Entity::update_many()
                .col_expr(
                    member::Column::Status,
                    sea_query::Expr::val(MemberStatus::Active.as_str()),
                )
                .col_expr(member::Column::InviteHash, sea_query::Expr::val(None::<String>))
                .col_expr(
                    member::Column::InviteExpiresAt,
                    sea_query::Expr::val(None::<DateTime<Utc>>),
                )
                .filter(member::Column::TenantId.eq(m.tenant_id.clone()))
                .filter(member::Column::UserId.eq(m.user_id.clone()))
                .filter(member::Column::InviteHash.eq(hash))
                .exec(&tx)
                .await?;
            if done.rows_affected != 1 {
                return Err(invalid());
            }
            if let Some(h) = new_hash {
                user::ActiveModel {
                    id: Set(u.id.clone()),
                    password_hash: Set(h),
                    ..Default::default()
                }
                .update(&tx)
                .await?;
            }
            tx.commit().await?;
        }
        self.issue_session(tenant, user_id, role).await
    }

    /// Changes a member's role, department, manager or status. Deactivating
    /// revokes their sessions and personal tokens at once.
    ///
    /// # Errors
    /// `forbidden` (only owners change owners); `not_found`;
    /// `validation_failed` for an unknown role, department or manager, a
    /// member managing themselves, or activating an unaccepted invite;
    /// `last_owner` when no active owner would remain.
    pub async fn update_member(
        &self,
        ctx: &Ctx,
        user_id: UserId,
        patch: MemberPatch,
    ) -> Result<MemberView, AuthError> {
        require(ctx, Action::ManageMembers)?;
        let conn = self.db().conn();
        let new_role = match &patch.role {
            Some(name) => Some(resolve_role(conn, ctx.tenant, name).await?),
            None => None,
        };
        let mut errs = Vec::new();
        check_refs(
            conn,
            ctx.tenant,
            patch.department_id.flatten(),
            patch.manager_id.flatten(),
            &mut errs,
        )
        .await?;
        if patch.manager_id == Some(Some(user_id)) {
            errs.push(FieldError::new(
                "manager_id",
                "a member cannot be their own manager",
            ));
        }
        if patch.status == Some(MemberStatus::Invited) {
            errs.push(FieldError::new("status", "must be `active` or `deactivated`"));
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let current = member::Entity::find_by_id((ctx.tenant.to_string(), user_id.to_string()))
            .one(&tx)
            .await?
            .ok_or_else(|| not_found(user_id))?;
        if current.status == MemberStatus::Invited.as_str() && patch.status == Some(MemberStatus::Active) {
            errs.push(FieldError::new(
                "status",
                "an invited member becomes active by accepting the invite",
            ));
        }
        if !errs.is_empty() {
            return Err(AuthError::Invalid(errs));
        }
        guard_owner(ctx, &current, new_role.map(|(r, _)| r))?;
        let stays_owner = new_role.is_none_or(|(r, _)| r == Role::Owner);
        let stays_active = patch.status.is_none_or(|s| s == MemberStatus::Active);
        if is_active_owner(&current)
            && !(stays_owner && stays_active)
            && active_owners(&tx, ctx.tenant).await? <= 1
        {
            return Err(AuthError::LastOwner);
        }
        let mut row: member::ActiveModel = current.clone().into();
        if let Some((r, custom)) = new_role {
            row.role = Set(r.as_str().to_owned());
            row.role_id = Set(custom.map(|c| c.to_string()));
        }
        if let Some(d) = patch.department_id {
            row.department_id = Set(d.map(|d| d.to_string()));
        }
        if let Some(m) = patch.manager_id {
            row.manager_id = Set(m.map(|m| m.to_string()));
        }
        let deactivating = patch.status == Some(MemberStatus::Deactivated)
            && current.status != MemberStatus::Deactivated.as_str();
        if let Some(s) = patch.status
            && current.status != MemberStatus::Invited.as_str()
        {
            row.status = Set(s.as_str().to_owned());
        }
        let row = row.update(&tx).await?;
        if deactivating {
            revoke_tokens_of(&tx, ctx.tenant, user_id, ctx.now).await?;
        }
        let view = view_of(&tx, row).await?;
        crate::audit::record_view(&tx, ctx, "member.updated", "member", &user_id, &view).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Removes a member from the tenant (the user account stays): their
    /// sessions and personal tokens are revoked, and they stop being anyone's
    /// manager here.
    ///
    /// # Errors
    /// `forbidden`; `not_found`; `last_owner`.
    pub async fn delete_member(&self, ctx: &Ctx, user_id: UserId) -> Result<(), AuthError> {
        require(ctx, Action::ManageMembers)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let current = member::Entity::find_by_id((ctx.tenant.to_string(), user_id.to_string()))
            .one(&tx)
            .await?
            .ok_or_else(|| not_found(user_id))?;
        guard_owner(ctx, &current, None)?;
        if is_active_owner(&current) && active_owners(&tx, ctx.tenant).await? <= 1 {
            return Err(AuthError::LastOwner);
        }
        member::Entity::delete_many()
            .filter(member::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(member::Column::UserId.eq(user_id.to_string()))
            .exec(&tx)
            .await?;
        revoke_tokens_of(&tx, ctx.tenant, user_id, ctx.now).await?;
        member::Entity::update_many()
            .col_expr(member::Column::ManagerId, sea_query::Expr::val(None::<String>))
            .filter(member::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(member::Column::ManagerId.eq(user_id.to_string()))
            .exec(&tx)
            .await?;
        department::Entity::update_many()
            .col_expr(
                department::Column::ManagerId,
                sea_query::Expr::val(None::<String>),
            )
            .filter(department::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(department::Column::ManagerId.eq(user_id.to_string()))
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "member.removed",
            "member",
            &user_id.to_string(),
            serde_json::Value::Null,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How much a role may do, for comparing two: owner above admin above member.
const fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 2,
        Role::Admin => 1,
        Role::Member => 0,
    }
}

impl Engine {
    /// The context queued work (an import, a template install) runs in: the
    /// member's role now, never above the role the work was queued with. A
    /// member demoted since the work was queued acts with the lower role; a
    /// caller whose token was scoped below its role keeps that limit.
    ///
    /// # Errors
    /// `forbidden` when the member has left the tenant, was deactivated, or
    /// has not accepted an invite.
    pub(crate) async fn queued_ctx(
        &self,
        tenant: TenantId,
        actor: UserId,
        queued: Role,
        now: DateTime<Utc>,
    ) -> Result<Ctx, AuthError> {
        let conn = self.db().conn();
        let m = member::Entity::find_by_id((tenant.to_string(), actor.to_string()))
            .one(conn)
            .await?
            .filter(|m| m.status == MemberStatus::Active.as_str())
            .ok_or(AuthError::NoLongerMember)?;
        let live = user::Entity::find_by_id(actor.to_string())
            .one(conn)
            .await?
            .is_some_and(|u| u.deactivated_at.is_none());
        if !live {
            return Err(AuthError::NoLongerMember);
        }
        let now_role = Role::parse(&m.role).unwrap_or(Role::Member);
        let role = if rank(now_role) < rank(queued) {
            now_role
        } else {
            queued
        };
        Ok(Ctx::new(tenant, actor, role).at(now))
    }
}
