//! Members, invites, departments, custom roles and API tokens over HTTP
//! against the real binary, on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::json;

use crate::e2e;
use crate::harness::{Server, customers_form};

e2e!(members_invites_and_deactivation, |srv: Server| async move {
    let owner = srv.demo().await;
    // A member with a password.
    let ann = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "ann@demo.test", "password": "password-123", "role": "member"}),
        )
        .await;
    assert_eq!(ann.status, 201, "{}", ann.text);
    assert!(ann.body.get("invite_token").is_none());
    let ann_id = ann.body["user_id"].as_str().unwrap().to_owned();
    // An invite: pending, with a one-time token; accepted through the API.
    let bob = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "bob@demo.test", "invite": true, "role": "admin"}),
        )
        .await;
    assert_eq!(bob.status, 201, "{}", bob.text);
    assert_eq!(bob.body["status"], "invited");
    let invite = bob.body["invite_token"].as_str().unwrap().to_owned();
    let accept = |password: &'static str| {
        let invite = invite.clone();
        let srv = &srv;
        async move {
            srv.call(
                Method::POST,
                "/api/v1/invites/accept",
                None,
                Some(json!({"token": invite, "password": password})),
            )
            .await
        }
    };
    accept("short").await.assert_error(422, "validation_failed");
    let ok = accept("bob-password-1").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["role"], "admin");
    accept("bob-password-1").await.assert_error(404, "not_found");
    let bob_token = srv.login("demo", "bob@demo.test", "bob-password-1").await;
    assert_eq!(srv.get("/api/v1/me", &bob_token).await.status, 200);
    // Members list; a plain member may list but not manage.
    let ann_session = srv.login("demo", "ann@demo.test", "password-123").await;
    let list = srv.get("/api/v1/members", &ann_session).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body.as_array().unwrap().len(), 3);
    srv.post(
        "/api/v1/members",
        &ann_session,
        json!({"email": "x@demo.test", "password": "password-123"}),
    )
    .await
    .assert_error(403, "forbidden");
    // Ann's personal token works on an existing route.
    let tok = srv
        .post(
            "/api/v1/tokens",
            &ann_session,
            json!({"name": "script", "scope": "write"}),
        )
        .await;
    assert_eq!(tok.status, 201, "{}", tok.text);
    let ann_api = tok.body["token"].as_str().unwrap().to_owned();
    assert_eq!(srv.get("/api/v1/apps", &ann_api).await.status, 200);
    // Deactivated: the session and the token fail on the very next request.
    let path = format!("/api/v1/members/{ann_id}");
    let off = srv
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"status": "deactivated"})),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["status"], "deactivated");
    srv.get("/api/v1/me", &ann_session)
        .await
        .assert_error(401, "unauthorized");
    srv.get("/api/v1/apps", &ann_api)
        .await
        .assert_error(401, "unauthorized");
    // Reactivated; then removed from the tenant.
    let on = srv
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    let again = srv.login("demo", "ann@demo.test", "password-123").await;
    let del = srv.call(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(del.status, 204, "{}", del.text);
    srv.get("/api/v1/me", &again)
        .await
        .assert_error(401, "unauthorized");
    // The last owner can neither be demoted, deactivated nor removed.
    let me = srv.get("/api/v1/me", &owner).await;
    let me_path = format!("/api/v1/members/{}", me.body["user_id"].as_str().unwrap());
    srv.call(
        Method::PATCH,
        &me_path,
        Some(&owner),
        Some(json!({"role": "member"})),
    )
    .await
    .assert_error(409, "last_owner");
    srv.call(Method::DELETE, &me_path, Some(&owner), None)
        .await
        .assert_error(409, "last_owner");
    // An admin may not touch the owner.
    srv.call(
        Method::PATCH,
        &me_path,
        Some(&bob_token),
        Some(json!({"status": "deactivated"})),
    )
    .await
    .assert_error(403, "forbidden");
});

e2e!(departments_tree_and_roles, |srv: Server| async move {
    let owner = srv.demo().await;
    let create = |name: &'static str, parent: Option<String>| {
        let srv = &srv;
        let owner = owner.clone();
        async move {
            let r = srv
                .post(
                    "/api/v1/departments",
                    &owner,
                    json!({"name": name, "parent_id": parent}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["id"].as_str().unwrap().to_owned()
        }
    };
    let company = create("Company", None).await;
    let eng = create("Engineering", Some(company.clone())).await;
    let team = create("Team", Some(eng.clone())).await;
    // Moving the root under its grandchild is a cycle, named as such.
    let r = srv
        .call(
            Method::PATCH,
            &format!("/api/v1/departments/{company}"),
            Some(&owner),
            Some(json!({"parent_id": team})),
        )
        .await;
    r.assert_error(409, "department_cycle");
    // A manager and a member in the team; deleting a non-empty department fails.
    let boss = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "boss@demo.test", "password": "password-123"}),
        )
        .await;
    let boss = boss.body["user_id"].as_str().unwrap().to_owned();
    let r = srv
        .call(
            Method::PATCH,
            &format!("/api/v1/departments/{eng}"),
            Some(&owner),
            Some(json!({"manager_id": boss})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["manager_id"], boss.as_str());
    let dev = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "dev@demo.test", "password": "password-123", "department_id": team}),
        )
        .await;
    assert_eq!(dev.status, 201, "{}", dev.text);
    let r = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/departments/{team}"),
            Some(&owner),
            None,
        )
        .await;
    r.assert_error(409, "department_not_empty");
    assert!(r.text.contains("1 member(s)"), "{}", r.text);
    let list = srv.get("/api/v1/departments", &owner).await;
    assert_eq!(list.body.as_array().unwrap().len(), 3);
    // Custom roles: created, assigned, shown by name, acting as member.
    let role = srv.post("/api/v1/roles", &owner, json!({"name": "sales"})).await;
    assert_eq!(role.status, 201, "{}", role.text);
    srv.post("/api/v1/roles", &owner, json!({"name": "admin"}))
        .await
        .assert_error(422, "validation_failed");
    let s = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "s@demo.test", "password": "password-123", "role": "sales"}),
        )
        .await;
    assert_eq!(s.status, 201, "{}", s.text);
    assert_eq!(s.body["role"], "sales");
    assert_eq!(s.body["base_role"], "member");
    let s_token = srv.login("demo", "s@demo.test", "password-123").await;
    srv.post("/api/v1/apps", &s_token, json!({"name": "x"}))
        .await
        .assert_error(403, "forbidden");
    let roles = srv.get("/api/v1/roles", &owner).await;
    assert_eq!(roles.body[0]["members"], 1);
    srv.call(
        Method::DELETE,
        &format!("/api/v1/roles/{}", role.body["id"].as_str().unwrap()),
        Some(&owner),
        None,
    )
    .await
    .assert_error(409, "conflict");
});

e2e!(api_token_scopes, |srv: Server| async move {
    let owner = srv.demo().await;
    let mint = |scope: &'static str, extra: serde_json::Value| {
        let srv = &srv;
        let owner = owner.clone();
        async move {
            let mut body = json!({"name": format!("{scope} token"), "scope": scope});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = srv.post("/api/v1/tokens", &owner, body).await;
            assert_eq!(r.status, 201, "{}", r.text);
            (
                r.body["token"].as_str().unwrap().to_owned(),
                r.body["id"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (read, _) = mint("read", json!({})).await;
    let (write, write_id) = mint("write", json!({})).await;
    let (admin, _) = mint("admin", json!({"kind": "tenant"})).await;
    // Admin scope designs; write scope writes records but cannot design.
    let app = srv.create_app(&admin, "Token app").await;
    let form = srv.create_form(&admin, &app, customers_form()).await;
    srv.post("/api/v1/apps", &write, json!({"name": "nope"}))
        .await
        .assert_error(403, "insufficient_scope");
    let rec = srv
        .post(
            &format!("/api/v1/forms/{form}/records"),
            &write,
            json!({"data": {"name": "Via token"}}),
        )
        .await;
    assert_eq!(rec.status, 201, "{}", rec.text);
    // Read scope reads, and is refused on writes with a stable code.
    let got = srv.get(&format!("/api/v1/forms/{form}/records"), &read).await;
    assert_eq!(got.status, 200, "{}", got.text);
    srv.post(
        &format!("/api/v1/forms/{form}/records"),
        &read,
        json!({"data": {"name": "nope"}}),
    )
    .await
    .assert_error(403, "insufficient_scope");
    srv.post(
        "/api/v1/tokens",
        &read,
        json!({"name": "escalate", "scope": "admin"}),
    )
    .await
    .assert_error(403, "insufficient_scope");
    srv.post(
        "/api/v1/members",
        &write,
        json!({"email": "x@demo.test", "invite": true}),
    )
    .await
    .assert_error(403, "insufficient_scope");
    // Listed with last use, never with the secret.
    let list = srv.get("/api/v1/tokens", &owner).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body.as_array().unwrap().len(), 3);
    assert!(!list.text.contains(&write));
    let w = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == write_id.as_str())
        .unwrap();
    assert!(w["last_used_at"].is_string(), "{w}");
    // Revoked: 401 at once.
    let del = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{write_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.text);
    srv.get("/api/v1/apps", &write)
        .await
        .assert_error(401, "unauthorized");
    // Expired: 401; an expiry in the past is refused at creation.
    srv.post(
        "/api/v1/tokens",
        &owner,
        json!({"name": "old", "scope": "read", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await
    .assert_error(422, "validation_failed");
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (brief, _) = mint("read", json!({"expires_at": soon})).await;
    assert_eq!(srv.get("/api/v1/apps", &brief).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    srv.get("/api/v1/apps", &brief)
        .await
        .assert_error(401, "unauthorized");
});
