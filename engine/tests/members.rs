//! Members, invites, departments, custom roles, org lookups and API tokens,
//! on SQLite and PostgreSQL.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use chrono::{Duration, Utc};
use common::TestDb;
use engine::auth::departments::{DepartmentInput, DepartmentPatch};
use engine::auth::members::{AcceptInvite, MemberInput, MemberPatch};
use engine::auth::org;
use engine::auth::roles::RoleInput;
use engine::auth::tokens::{TokenInput, TokenKind};
use engine::auth::{AuthError, MemberStatus};
use engine::ctx::{Ctx, Role, Scope};
use engine::error::{ErrorCode, HasCode};
use engine::ids::{DepartmentId, UserId};
use engine::meta::app::AppInput;

fn input(email: &str, role: &str) -> MemberInput {
    MemberInput {
        email: email.to_owned(),
        password: Some("password123".to_owned()),
        invite: false,
        role: role.to_owned(),
        department_id: None,
        manager_id: None,
        display_name: None,
    }
}

async fn add(t: &TestDb, owner: &Ctx, email: &str, role: &str) -> UserId {
    t.engine
        .create_member(owner, input(email, role))
        .await
        .expect("member")
        .member
        .user_id
}

async fn dept(
    t: &TestDb,
    owner: &Ctx,
    name: &str,
    parent: Option<DepartmentId>,
    manager: Option<UserId>,
) -> DepartmentId {
    t.engine
        .create_department(
            owner,
            DepartmentInput {
                name: name.to_owned(),
                parent_id: parent,
                manager_id: manager,
            },
        )
        .await
        .expect("department")
        .id
}

fn code<T: std::fmt::Debug>(r: Result<T, AuthError>) -> ErrorCode {
    r.expect_err("should fail").code()
}

async fn invite_and_accept(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    // A member with a password logs in at once.
    add(t, &owner, "ann@acme.test", "member").await;
    e.login("acme", "ann@acme.test", "password123")
        .await
        .expect("ann logs in");
    // An invite is pending: no login until accepted, token shown once.
    let mut inv = input("bob@acme.test", "admin");
    inv.password = None;
    inv.invite = true;
    let created = e.create_member(&owner, inv).await.expect("invite");
    assert_eq!(created.member.status, MemberStatus::Invited);
    let token = created.invite_token.clone().expect("invite token");
    assert!(e.login("acme", "bob@acme.test", "").await.is_err());
    // Both `password` and `invite`, or neither, is refused.
    let mut both = input("x@acme.test", "member");
    both.invite = true;
    assert_eq!(
        code(e.create_member(&owner, both).await),
        ErrorCode::ValidationFailed
    );
    // A short password is refused; then the right one activates and logs in.
    let short = e
        .accept_invite(AcceptInvite {
            token: token.clone(),
            password: "short".to_owned(),
        })
        .await;
    assert_eq!(code(short), ErrorCode::ValidationFailed);
    let out = e
        .accept_invite(AcceptInvite {
            token: token.clone(),
            password: "bob-password".to_owned(),
        })
        .await
        .expect("accept");
    assert_eq!(out.role, Role::Admin);
    let ctx = e.authenticate(&out.token).await.expect("session works");
    assert_eq!(ctx.actor, created.member.user_id);
    // The invite is used up.
    let again = e
        .accept_invite(AcceptInvite {
            token,
            password: "bob-password".to_owned(),
        })
        .await;
    assert_eq!(code(again), ErrorCode::NotFound);
    e.login("acme", "bob@acme.test", "bob-password")
        .await
        .expect("bob logs in");
    // Adding the same email again conflicts; an existing user of another
    // tenant cannot be given a password, only invited.
    assert_eq!(
        code(e.create_member(&owner, input("ann@acme.test", "member")).await),
        ErrorCode::Conflict
    );
    let other = t.tenant("other").await;
    assert_eq!(
        code(e.create_member(&other, input("ann@acme.test", "member")).await),
        ErrorCode::Conflict
    );
    let mut inv = input("ann@acme.test", "member");
    inv.password = None;
    inv.invite = true;
    let created = e.create_member(&other, inv).await.expect("invite existing user");
    let wrong = e
        .accept_invite(AcceptInvite {
            token: created.invite_token.clone().unwrap(),
            password: "new-password-1".to_owned(),
        })
        .await;
    assert_eq!(
        code(wrong),
        ErrorCode::Unauthorized,
        "an existing user's password is not reset"
    );
    e.accept_invite(AcceptInvite {
        token: created.invite_token.unwrap(),
        password: "password123".to_owned(),
    })
    .await
    .expect("accept with own password");
    e.login("other", "ann@acme.test", "password123")
        .await
        .expect("ann in other");
    // Members (not admins) may list but not manage.
    let ann = e.login("acme", "ann@acme.test", "password123").await.unwrap();
    let ann = e.authenticate(&ann.token).await.unwrap();
    assert_eq!(e.list_members(&ann).await.unwrap().len(), 3);
    assert_eq!(
        code(e.create_member(&ann, input("c@acme.test", "member")).await),
        ErrorCode::Forbidden
    );
}
both_backends!(invite_and_accept_t, invite_and_accept);

async fn deactivation_stops_sessions_and_tokens(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    let ann = add(t, &owner, "ann@acme.test", "member").await;
    let session = e.login("acme", "ann@acme.test", "password123").await.unwrap();
    let ann_ctx = e.authenticate(&session.token).await.unwrap();
    let api = e
        .create_token(
            &ann_ctx,
            TokenInput {
                name: "ci".to_owned(),
                scope: Scope::Write,
                kind: TokenKind::Personal,
                expires_at: None,
            },
        )
        .await
        .unwrap();
    e.authenticate(&api.token).await.expect("token works");
    let patch = MemberPatch {
        status: Some(MemberStatus::Deactivated),
        ..MemberPatch::default()
    };
    let v = e.update_member(&owner, ann, patch).await.unwrap();
    assert_eq!(v.status, MemberStatus::Deactivated);
    assert_eq!(
        code(e.authenticate(&session.token).await),
        ErrorCode::Unauthorized
    );
    assert_eq!(code(e.authenticate(&api.token).await), ErrorCode::Unauthorized);
    assert!(e.login("acme", "ann@acme.test", "password123").await.is_err());
    assert!(!org::is_active_member(e.db(), owner.tenant, ann).await.unwrap());
    // Reactivated: a fresh login works; the old credentials stay revoked.
    let patch = MemberPatch {
        status: Some(MemberStatus::Active),
        ..MemberPatch::default()
    };
    e.update_member(&owner, ann, patch).await.unwrap();
    assert!(org::is_active_member(e.db(), owner.tenant, ann).await.unwrap());
    assert_eq!(code(e.authenticate(&api.token).await), ErrorCode::Unauthorized);
    let fresh = e.login("acme", "ann@acme.test", "password123").await.unwrap();
    e.authenticate(&fresh.token).await.expect("fresh session");
    // Removed from the tenant: refused too.
    e.delete_member(&owner, ann).await.unwrap();
    assert_eq!(code(e.authenticate(&fresh.token).await), ErrorCode::Unauthorized);
    assert_eq!(code(e.delete_member(&owner, ann).await), ErrorCode::NotFound);
}
both_backends!(
    deactivation_stops_sessions_and_tokens_t,
    deactivation_stops_sessions_and_tokens
);

async fn last_owner_is_protected(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    let demote = MemberPatch {
        role: Some("admin".to_owned()),
        ..MemberPatch::default()
    };
    let off = MemberPatch {
        status: Some(MemberStatus::Deactivated),
        ..MemberPatch::default()
    };
    assert_eq!(
        code(e.update_member(&owner, owner.actor, demote.clone()).await),
        ErrorCode::LastOwner
    );
    assert_eq!(
        code(e.update_member(&owner, owner.actor, off.clone()).await),
        ErrorCode::LastOwner
    );
    assert_eq!(
        code(e.delete_member(&owner, owner.actor).await),
        ErrorCode::LastOwner
    );
    // An admin may not touch owners or make owners.
    let adm = add(t, &owner, "adm@acme.test", "admin").await;
    let adm_ctx = Ctx::new(owner.tenant, adm, Role::Admin);
    assert_eq!(
        code(e.update_member(&adm_ctx, owner.actor, off).await),
        ErrorCode::Forbidden
    );
    let promote = MemberPatch {
        role: Some("owner".to_owned()),
        ..MemberPatch::default()
    };
    assert_eq!(
        code(e.update_member(&adm_ctx, adm, promote.clone()).await),
        ErrorCode::Forbidden
    );
    // With a second owner the first may step down.
    e.update_member(&owner, adm, promote).await.unwrap();
    let v = e.update_member(&owner, owner.actor, demote).await.unwrap();
    assert_eq!(v.role, "admin");
    assert_eq!(
        org::members_with_role(e.db(), owner.tenant, "owner")
            .await
            .unwrap(),
        vec![adm]
    );
}
both_backends!(last_owner_is_protected_t, last_owner_is_protected);

async fn departments_and_managers(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    let ceo = add(t, &owner, "ceo@acme.test", "member").await;
    let head = add(t, &owner, "head@acme.test", "member").await;
    let lead = add(t, &owner, "lead@acme.test", "member").await;
    let dev = add(t, &owner, "dev@acme.test", "member").await;
    let company = dept(t, &owner, "Company", None, Some(ceo)).await;
    let eng = dept(t, &owner, "Engineering", Some(company), Some(head)).await;
    let team = dept(t, &owner, "Team A", Some(eng), None).await;
    let put = |d: DepartmentId| MemberPatch {
        department_id: Some(Some(d)),
        ..MemberPatch::default()
    };
    e.update_member(&owner, dev, put(team)).await.unwrap();
    e.update_member(&owner, head, put(eng)).await.unwrap();
    // Team A has no manager: walk up to Engineering's.
    assert_eq!(
        org::manager_of(e.db(), owner.tenant, dev).await.unwrap(),
        Some(head)
    );
    // The head IS Engineering's manager: walk up to the company's.
    assert_eq!(
        org::manager_of(e.db(), owner.tenant, head).await.unwrap(),
        Some(ceo)
    );
    // A direct manager wins.
    let direct = MemberPatch {
        manager_id: Some(Some(lead)),
        ..MemberPatch::default()
    };
    e.update_member(&owner, dev, direct).await.unwrap();
    assert_eq!(
        org::manager_of(e.db(), owner.tenant, dev).await.unwrap(),
        Some(lead)
    );
    // An inactive manager does not count: back to the department walk.
    let off = MemberPatch {
        status: Some(MemberStatus::Deactivated),
        ..MemberPatch::default()
    };
    e.update_member(&owner, lead, off.clone()).await.unwrap();
    assert_eq!(
        org::manager_of(e.db(), owner.tenant, dev).await.unwrap(),
        Some(head)
    );
    e.update_member(&owner, head, off).await.unwrap();
    assert_eq!(
        org::manager_of(e.db(), owner.tenant, dev).await.unwrap(),
        Some(ceo)
    );
    assert_eq!(org::manager_of(e.db(), owner.tenant, ceo).await.unwrap(), None);
    // Cycles are refused, naming the problem.
    let move_under = |p: DepartmentId| DepartmentPatch {
        parent_id: Some(Some(p)),
        ..DepartmentPatch::default()
    };
    let r = e.update_department(&owner, company, move_under(team)).await;
    assert_eq!(code(r), ErrorCode::DepartmentCycle);
    let r = e.update_department(&owner, eng, move_under(eng)).await;
    assert_eq!(code(r), ErrorCode::DepartmentCycle);
    // A legal move; then deleting a non-empty department is refused.
    let ops = dept(t, &owner, "Ops", Some(company), None).await;
    e.update_department(&owner, team, move_under(ops)).await.unwrap();
    let err = e.delete_department(&owner, ops).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::DepartmentNotEmpty);
    assert!(
        err.to_string().contains("1 sub-department(s) and 0 member(s)"),
        "{err}"
    );
    assert_eq!(
        code(e.delete_department(&owner, team).await),
        ErrorCode::DepartmentNotEmpty
    );
    let away = MemberPatch {
        department_id: Some(None),
        ..MemberPatch::default()
    };
    e.update_member(&owner, dev, away).await.unwrap();
    e.delete_department(&owner, team).await.unwrap();
    e.delete_department(&owner, ops).await.unwrap();
    assert_eq!(e.list_departments(&owner).await.unwrap().len(), 2);
    // Another tenant sees none of it.
    let other = t.tenant("other").await;
    assert!(e.list_departments(&other).await.unwrap().is_empty());
    assert_eq!(code(e.delete_department(&other, eng).await), ErrorCode::NotFound);
    assert_eq!(
        code(e.update_member(&other, dev, MemberPatch::default()).await),
        ErrorCode::NotFound
    );
    assert_eq!(org::manager_of(e.db(), other.tenant, dev).await.unwrap(), None);
}
both_backends!(departments_and_managers_t, departments_and_managers);

async fn custom_roles(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    let sales = e
        .create_role(
            &owner,
            RoleInput {
                name: Some("sales".to_owned()),
                description: None,
            },
        )
        .await
        .unwrap();
    let dup = RoleInput {
        name: Some("sales".to_owned()),
        description: None,
    };
    assert_eq!(code(e.create_role(&owner, dup).await), ErrorCode::Conflict);
    let builtin = RoleInput {
        name: Some("admin".to_owned()),
        description: None,
    };
    assert_eq!(
        code(e.create_role(&owner, builtin).await),
        ErrorCode::ValidationFailed
    );
    let s = add(t, &owner, "s@acme.test", "sales").await;
    let m = add(t, &owner, "m@acme.test", "member").await;
    assert_eq!(
        code(e.create_member(&owner, input("x@acme.test", "nope")).await),
        ErrorCode::ValidationFailed
    );
    // A custom-role holder logs in and acts as a member.
    let out = e.login("acme", "s@acme.test", "password123").await.unwrap();
    assert_eq!(out.role, Role::Member);
    let members = e.list_members(&owner).await.unwrap();
    let sv = members.iter().find(|v| v.user_id == s).unwrap();
    assert_eq!((sv.role.as_str(), sv.base_role), ("sales", Role::Member));
    assert_eq!(
        org::members_with_role(e.db(), owner.tenant, "sales")
            .await
            .unwrap(),
        vec![s]
    );
    assert_eq!(
        org::members_with_role(e.db(), owner.tenant, "member")
            .await
            .unwrap(),
        vec![m]
    );
    assert!(
        org::members_with_role(e.db(), owner.tenant, "ghost")
            .await
            .unwrap()
            .is_empty()
    );
    // Held roles cannot be deleted; renamed ones stay held.
    assert_eq!(code(e.delete_role(&owner, sales.id).await), ErrorCode::Conflict);
    let rename = RoleInput {
        name: Some("field sales".to_owned()),
        description: None,
    };
    e.update_role(&owner, sales.id, rename).await.unwrap();
    assert_eq!(
        org::members_with_role(e.db(), owner.tenant, "field sales")
            .await
            .unwrap(),
        vec![s]
    );
    let back = MemberPatch {
        role: Some("member".to_owned()),
        ..MemberPatch::default()
    };
    e.update_member(&owner, s, back).await.unwrap();
    e.delete_role(&owner, sales.id).await.unwrap();
    assert!(e.list_roles(&owner).await.unwrap().is_empty());
}
both_backends!(custom_roles_t, custom_roles);

async fn token_scopes(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    let mk = |scope: Scope, kind: TokenKind, expires_at| TokenInput {
        name: format!("{scope:?}"),
        scope,
        kind,
        expires_at,
    };
    let read = e
        .create_token(&owner, mk(Scope::Read, TokenKind::Personal, None))
        .await
        .unwrap();
    let write = e
        .create_token(&owner, mk(Scope::Write, TokenKind::Personal, None))
        .await
        .unwrap();
    let read_ctx = e.authenticate(&read.token).await.unwrap();
    let write_ctx = e.authenticate(&write.token).await.unwrap();
    assert_eq!((read_ctx.role, read_ctx.scope), (Role::Owner, Scope::Read));
    let app = AppInput {
        name: "A".to_owned(),
        description: String::new(),
    };
    // Reads pass; design needs `admin`; a read token cannot mint tokens.
    e.list_members(&read_ctx).await.expect("read ok");
    let denied = e
        .create_app(&write_ctx, app.clone())
        .await
        .expect_err("write token designs");
    assert_eq!(denied.code(), ErrorCode::InsufficientScope);
    let denied = e.create_member(&write_ctx, input("x@acme.test", "member")).await;
    assert_eq!(code(denied), ErrorCode::InsufficientScope);
    let denied = e
        .create_token(&read_ctx, mk(Scope::Admin, TokenKind::Personal, None))
        .await;
    assert_eq!(code(denied), ErrorCode::InsufficientScope);
    e.create_app(&owner, app).await.expect("session designs");
    // Tenant tokens: owners and admins only; they act as admin when so scoped.
    let m = add(t, &owner, "m@acme.test", "member").await;
    let m_ctx = Ctx::new(owner.tenant, m, Role::Member);
    let denied = e
        .create_token(&m_ctx, mk(Scope::Read, TokenKind::Tenant, None))
        .await;
    assert_eq!(code(denied), ErrorCode::Forbidden);
    let mine = e
        .create_token(&m_ctx, mk(Scope::Admin, TokenKind::Personal, None))
        .await
        .unwrap();
    let tenant_tok = e
        .create_token(&owner, mk(Scope::Admin, TokenKind::Tenant, None))
        .await
        .unwrap();
    assert_eq!(e.authenticate(&tenant_tok.token).await.unwrap().role, Role::Admin);
    // Listing: a member sees their own; the owner sees all four.
    assert_eq!(e.list_tokens(&m_ctx).await.unwrap().len(), 1);
    assert_eq!(e.list_tokens(&owner).await.unwrap().len(), 4);
    // A member cannot revoke the owner's token (404), only their own.
    assert_eq!(
        code(e.revoke_token(&m_ctx, read.view.id).await),
        ErrorCode::NotFound
    );
    e.revoke_token(&m_ctx, mine.view.id).await.unwrap();
    assert_eq!(code(e.authenticate(&mine.token).await), ErrorCode::Unauthorized);
    // Expired: refused. A past expiry is refused at creation.
    let past = e
        .create_token(
            &owner,
            mk(
                Scope::Read,
                TokenKind::Personal,
                Some(Utc::now() - Duration::hours(1)),
            ),
        )
        .await;
    assert_eq!(code(past), ErrorCode::ValidationFailed);
    let soon = owner.clone().at(Utc::now() - Duration::hours(2));
    let short = e
        .create_token(
            &soon,
            mk(
                Scope::Read,
                TokenKind::Personal,
                Some(Utc::now() - Duration::hours(1)),
            ),
        )
        .await
        .unwrap();
    assert_eq!(code(e.authenticate(&short.token).await), ErrorCode::Unauthorized);
    // Another tenant cannot revoke it.
    let other = t.tenant("other").await;
    assert_eq!(
        code(e.revoke_token(&other, tenant_tok.view.id).await),
        ErrorCode::NotFound
    );
    assert!(e.list_tokens(&other).await.unwrap().is_empty());
}
both_backends!(token_scopes_t, token_scopes);

async fn login_lockout(t: &TestDb) {
    let owner = t.tenant("acme").await;
    let e = &t.engine;
    add(t, &owner, "ann@acme.test", "member").await;
    add(t, &owner, "bob@acme.test", "member").await;
    let t0 = Utc::now();
    // Four failures: still answered as wrong credentials, and the right
    // password still works and clears the count.
    for i in 0..4 {
        let at = t0 + Duration::seconds(i);
        assert_eq!(
            code(e.login_at("acme", "ann@acme.test", "wrong", at).await),
            ErrorCode::Unauthorized
        );
    }
    e.login_at("acme", "ann@acme.test", "password123", t0 + Duration::seconds(5))
        .await
        .expect("fourth failure does not lock");
    // Five in a row lock the email out, even with the right password, and
    // say for how long.
    for i in 0..5 {
        let at = t0 + Duration::seconds(10 + i);
        assert_eq!(
            code(e.login_at("acme", "ann@acme.test", "wrong", at).await),
            ErrorCode::Unauthorized
        );
    }
    let at = t0 + Duration::seconds(20);
    let locked = e.login_at("acme", "ann@acme.test", "password123", at).await;
    let Err(err) = locked else {
        panic!("not locked out")
    };
    assert_eq!(err.code(), ErrorCode::TooManyRequests);
    let wait = err.retry_after_secs().expect("retry after");
    assert!((20..=30).contains(&wait), "waits {wait} s");
    // Another email of the same tenant is not affected; case and spaces in
    // the email do not dodge the lockout.
    e.login_at("acme", "bob@acme.test", "password123", at)
        .await
        .expect("bob");
    assert_eq!(
        code(e.login_at("acme", " ANN@acme.test ", "password123", at).await),
        ErrorCode::TooManyRequests
    );
    // After the wait, one more failure doubles the backoff.
    let later = at + Duration::seconds(31);
    assert_eq!(
        code(e.login_at("acme", "ann@acme.test", "wrong", later).await),
        ErrorCode::Unauthorized
    );
    let Err(err) = e.login_at("acme", "ann@acme.test", "password123", later).await else {
        panic!("not locked again")
    };
    assert_eq!(err.retry_after_secs(), Some(60));
    // The backoff is capped at 15 minutes.
    let mut now = later;
    for _ in 0..10 {
        now += Duration::seconds(901);
        assert_eq!(
            code(e.login_at("acme", "ann@acme.test", "wrong", now).await),
            ErrorCode::Unauthorized
        );
    }
    let Err(err) = e.login_at("acme", "ann@acme.test", "password123", now).await else {
        panic!("not locked")
    };
    assert_eq!(err.retry_after_secs(), Some(900));
    // Once it passes, the right password works and clears the record.
    now += Duration::seconds(901);
    e.login_at("acme", "ann@acme.test", "password123", now)
        .await
        .expect("after the lockout");
    assert_eq!(
        code(e.login_at("acme", "ann@acme.test", "wrong", now).await),
        ErrorCode::Unauthorized
    );
    e.login_at("acme", "ann@acme.test", "password123", now)
        .await
        .expect("one failure is not a lockout");
}
both_backends!(login_lockout_t, login_lockout);
