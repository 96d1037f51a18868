//! The audit log on real SQLite and real PostgreSQL: member, role, token,
//! permission and app-definition changes each leave one entry with who,
//! what and when, newest first, filtered and paged; no secret is logged;
//! members cannot read it and another tenant sees none of it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use chrono::{TimeZone, Utc};
use common::TestDb;
use engine::audit::AuditFilter;
use engine::ctx::Role;
use engine::error::{ErrorCode, HasCode};
use engine::meta::app::AppInput;
use engine::meta::form::UpdateFormOptions;
use serde_json::{Value, json};

async fn audit(t: &TestDb) {
    let ctx = t
        .tenant("audited")
        .await
        .at(Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).single().unwrap());
    let e = &t.engine;
    let created = e
        .create_member(
            &ctx,
            serde_json::from_value(json!({"email": "sales@audited.test", "password": "password-123"}))
                .unwrap(),
        )
        .await
        .unwrap();
    let user = created.member.user_id;
    e.update_member(
        &ctx,
        user,
        serde_json::from_value(json!({"role": "admin"})).unwrap(),
    )
    .await
    .unwrap();
    let token = e
        .create_token(
            &ctx,
            serde_json::from_value(json!({"name": "sync", "scope": "read"})).unwrap(),
        )
        .await
        .unwrap();
    e.revoke_token(&ctx, token.view.id).await.unwrap();
    let app = e
        .create_app(
            &ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    let form = e
        .create_form(
            &ctx,
            app.id,
            json!({"name": "Deals", "fields": [{"key": "title", "label": "Title", "type": "text"}]}),
        )
        .await
        .unwrap();
    e.update_form(
        &ctx,
        form.id,
        json!({"name": "Deals", "fields": [{"key": "title", "label": "Deal", "type": "text"}]}),
        UpdateFormOptions::default(),
    )
    .await
    .unwrap();
    e.put_form_permissions(
        &ctx,
        form.id,
        &json!({"entries": [{"subject": {"role": "member"}, "actions": ["view"]}]}),
    )
    .await
    .unwrap();
    e.delete_member(&ctx, user).await.unwrap();

    let page = e.list_audit(&ctx, AuditFilter::default()).await.unwrap();
    let actions: Vec<&str> = page.entries.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "member.removed",
            "permissions.updated",
            "form.updated",
            "form.created",
            "app.created",
            "token.revoked",
            "token.created",
            "member.updated",
            "member.created",
        ]
    );
    assert!(
        page.entries
            .iter()
            .all(|a| a.actor == ctx.actor && a.at == ctx.now)
    );
    assert_eq!(page.entries[2].target_id, form.id.to_string());
    assert_eq!(page.entries[2].detail.as_ref().unwrap()["version"], json!(2));
    assert_eq!(page.entries[7].detail.as_ref().unwrap()["role"], json!("admin"));
    let text = serde_json::to_string(&page).unwrap();
    assert!(!text.contains(&token.token), "the token secret is never logged");
    assert!(!text.contains("password-123"));

    // Filtered and paged.
    let members = e
        .list_audit(
            &ctx,
            AuditFilter {
                action: Some("member.".into()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(members.entries.len(), 3);
    let of_form = e
        .list_audit(
            &ctx,
            AuditFilter {
                target_id: Some(form.id.to_string()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(of_form.entries.len(), 3);
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let p = e
            .list_audit(
                &ctx,
                AuditFilter {
                    limit: Some(4),
                    cursor,
                    ..AuditFilter::default()
                },
            )
            .await
            .unwrap();
        seen.extend(p.entries.iter().map(|a| a.action.clone()));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, actions);

    // A failed template install says so.
    let mut files = engine::template::builtin("crm").unwrap().files().clone();
    files.insert(
        "rules/welcome_coupon.rhai".into(),
        Value::String("let x = ;".into()),
    );
    e.install_package(
        &ctx,
        &engine::template::Package::from_files(files),
        &engine::template::InstallOptions::default(),
    )
    .await
    .unwrap_err();
    let last = e.list_audit(&ctx, AuditFilter::default()).await.unwrap();
    assert_eq!(last.entries[0].action, "app.purged");

    // Members may not read it; another tenant sees nothing of it.
    let member = t.member(&ctx, Role::Member).await;
    assert_eq!(
        e.list_audit(&member, AuditFilter::default())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden
    );
    let other = t.tenant("elsewhere").await;
    assert!(
        e.list_audit(&other, AuditFilter::default())
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

both_backends!(audit_log, audit);
