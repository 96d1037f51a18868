//! Per-form permissions: for every combination of subject (role `member`, a
//! custom role, a parent department, one user), data scope (all, department,
//! own) and field limit (none, hidden, read-only), every record path answers
//! exactly what it should: list, query with total, get, search, aggregate,
//! export, history, create, batch, update, tag, delete. On SQLite and
//! PostgreSQL.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;

use common::TestDb;
use engine::auth::departments::DepartmentInput;
use engine::auth::members::MemberInput;
use engine::auth::roles::RoleInput;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::exchange::ExportRequest;
use engine::ids::{DepartmentId, FormId, RecordId, UserId};
use engine::meta::app::AppInput;
use engine::query::{AggregateRequest, QueryRequest};
use engine::record::RecordInput;
use serde_json::{Map, Value, json};

struct World {
    owner: Ctx,
    admin: Ctx,
    /// Sales-East, custom role `sales`.
    m1: Ctx,
    /// Sales-East.
    m2: Ctx,
    /// Service.
    m3: Ctx,
    sales: DepartmentId,
    form: FormId,
    /// name → (id, amount, created by, owner)
    records: Vec<(String, RecordId, f64)>,
}

fn data(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn member(t: &TestDb, owner: &Ctx, email: &str, role: &str, dept: Option<DepartmentId>) -> Ctx {
    let id: UserId = t
        .engine
        .create_member(
            owner,
            MemberInput {
                email: email.to_owned(),
                password: Some("password123".to_owned()),
                invite: false,
                role: role.to_owned(),
                department_id: dept,
                manager_id: None,
                display_name: None,
            },
        )
        .await
        .expect("member")
        .member
        .user_id;
    let r = if role == "admin" {
        Role::Admin
    } else {
        Role::Member
    };
    Ctx::new(owner.tenant, id, r).at(owner.now)
}

async fn dept(t: &TestDb, owner: &Ctx, name: &str, parent: Option<DepartmentId>) -> DepartmentId {
    t.engine
        .create_department(
            owner,
            DepartmentInput {
                name: name.to_owned(),
                parent_id: parent,
                manager_id: None,
            },
        )
        .await
        .expect("department")
        .id
}

async fn world(t: &TestDb) -> World {
    let owner = t.tenant("perm").await;
    let sales = dept(t, &owner, "Sales", None).await;
    let east = dept(t, &owner, "Sales East", Some(sales)).await;
    let service = dept(t, &owner, "Service", None).await;
    t.engine
        .create_role(
            &owner,
            RoleInput {
                name: Some("sales".into()),
                description: None,
            },
        )
        .await
        .expect("role");
    let admin = member(t, &owner, "a@perm.test", "admin", None).await;
    let m1 = member(t, &owner, "m1@perm.test", "sales", Some(east)).await;
    let m2 = member(t, &owner, "m2@perm.test", "member", Some(east)).await;
    let m3 = member(t, &owner, "m3@perm.test", "member", Some(service)).await;
    let app = t
        .engine
        .create_app(
            &owner,
            AppInput {
                name: "Deals".into(),
                description: String::new(),
            },
        )
        .await
        .expect("app")
        .id;
    let form = t
        .engine
        .create_form(
            &owner,
            app,
            json!({"name": "Deals", "fields": [
                {"key": "name", "label": "Name", "type": "text"},
                {"key": "amount", "label": "Amount", "type": "number"},
                {"key": "cost", "label": "Cost", "type": "text"},
                {"key": "note", "label": "Note", "type": "text"},
                {"key": "owner", "label": "Owner", "type": "member"}
            ]}),
        )
        .await
        .expect("form")
        .id;
    t.engine
        .create_tag(
            &owner,
            engine::meta::tag::TagInput {
                name: "checked".into(),
                color: None,
                description: String::new(),
            },
        )
        .await
        .expect("tag");
    let mut records = Vec::new();
    // r1 by m1, r2 by m2, r3 by m3, r4 by the owner for m1, r5 by the owner.
    let rows = [
        ("r1", &m1, 10.0, None),
        ("r2", &m2, 20.0, None),
        ("r3", &m3, 30.0, None),
        ("r4", &owner, 40.0, Some(m1.actor)),
        ("r5", &owner, 50.0, None),
    ];
    for (name, who, amount, owned_by) in rows {
        let mut d = json!({"name": format!("deal {name}"), "amount": amount,
                           "cost": format!("secret-{name}"), "note": "n"});
        if let Some(o) = owned_by {
            d["owner"] = json!(o);
        }
        let r = t
            .engine
            .create_record(who, form, RecordInput { data: data(d) }, None)
            .await
            .expect("record");
        records.push((name.to_owned(), r.id, amount));
    }
    World {
        owner,
        admin,
        m1,
        m2,
        m3,
        sales,
        form,
        records,
    }
}

fn code<E: HasCode>(r: Result<impl std::fmt::Debug, E>) -> ErrorCode {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

/// The short names (`r1`...) of listed records.
fn names_of(records: &[engine::record::RecordView]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| {
            r.data["name"]
                .as_str()
                .unwrap()
                .trim_start_matches("deal ")
                .to_owned()
        })
        .collect()
}

async fn visible_names(t: &TestDb, ctx: &Ctx, w: &World, req: QueryRequest) -> BTreeSet<String> {
    let page = t
        .engine
        .query_records(ctx, w.form, req, false)
        .await
        .expect("query");
    names_of(&page.records)
}

/// Every read and write path for `ctx`, expecting to reach exactly `reach`
/// and to see or write fields as `field` says.
#[allow(clippy::too_many_lines)]
async fn check_paths(t: &TestDb, w: &World, ctx: &Ctx, reach: &BTreeSet<String>, field: &str, label: &str) {
    let e = &t.engine;
    // List and query with total.
    let all = QueryRequest {
        total: true,
        limit: Some(100),
        ..QueryRequest::default()
    };
    let page = e
        .query_records(ctx, w.form, all.clone(), false)
        .await
        .expect("list");
    let names = names_of(&page.records);
    assert_eq!(&names, reach, "{label}: list");
    assert_eq!(page.total, Some(reach.len() as u64), "{label}: total");
    for r in &page.records {
        assert_eq!(
            r.data.contains_key("cost"),
            field != "hidden",
            "{label}: cost in list"
        );
    }
    // Get by id: reachable ones answer, others are not found.
    for (name, id, _) in &w.records {
        let got = e.get_record(ctx, w.form, *id).await;
        if reach.contains(name) {
            let got = got.expect("get");
            assert_eq!(
                got.data.contains_key("cost"),
                field != "hidden",
                "{label}: cost in get"
            );
            let history = e.record_history(ctx, w.form, *id).await.expect("history");
            let created = &history[0].changes;
            assert_eq!(
                created.get("cost").is_some(),
                field != "hidden",
                "{label}: cost in history"
            );
        } else {
            assert_eq!(code(got), ErrorCode::NotFound, "{label}: get {name}");
            assert_eq!(
                code(e.record_history(ctx, w.form, *id).await),
                ErrorCode::NotFound
            );
        }
    }
    // Search: by a visible value, and by a hidden one.
    let q = |s: &str| QueryRequest {
        q: Some(s.to_owned()),
        ..QueryRequest::default()
    };
    assert_eq!(&visible_names(t, ctx, w, q("deal")).await, reach, "{label}: q");
    let by_secret = visible_names(t, ctx, w, q("secret-r1")).await;
    if field == "hidden" || !reach.contains("r1") {
        assert!(
            by_secret.is_empty(),
            "{label}: search must not match a hidden field"
        );
    } else {
        assert_eq!(by_secret, BTreeSet::from(["r1".to_owned()]), "{label}: q secret");
    }
    // Filter, sort and group by the hidden field are unknown to the caller.
    let on_cost =
        QueryRequest::from_json(&json!({"filter": {"field": "cost", "op": "eq", "value": "secret-r1"}}))
            .unwrap();
    let sort_cost = QueryRequest::from_json(&json!({"sort": [{"field": "cost", "dir": "asc"}]})).unwrap();
    let group_cost =
        AggregateRequest::from_json(&json!({"group_by": [{"field": "cost"}], "metrics": [{"op": "count"}]}))
            .unwrap();
    if field == "hidden" {
        assert_eq!(
            code(e.query_records(ctx, w.form, on_cost, false).await),
            ErrorCode::InvalidQuery
        );
        assert_eq!(
            code(e.query_records(ctx, w.form, sort_cost, false).await),
            ErrorCode::InvalidQuery
        );
        assert_eq!(
            code(e.aggregate_records(ctx, w.form, group_cost).await),
            ErrorCode::InvalidQuery
        );
    } else {
        e.query_records(ctx, w.form, on_cost, false)
            .await
            .expect("filter cost");
        e.aggregate_records(ctx, w.form, group_cost)
            .await
            .expect("group cost");
    }
    // Aggregates count and sum only reachable records.
    let agg = e
        .aggregate_records(
            ctx,
            w.form,
            AggregateRequest::from_json(
                &json!({"metrics": [{"op": "count"}, {"op": "sum", "field": "amount", "as": "s"}]}),
            )
            .unwrap(),
        )
        .await
        .expect("aggregate");
    let want_sum: f64 = w
        .records
        .iter()
        .filter(|(n, _, _)| reach.contains(n))
        .map(|(_, _, a)| a)
        .sum();
    let values = &agg.groups[0].values;
    assert_eq!(
        values["count"].as_f64(),
        Some(reach.len() as f64),
        "{label}: count"
    );
    assert_eq!(values["s"].as_f64().unwrap_or(0.0), want_sum, "{label}: sum");
    // Export: reachable rows only, no hidden column.
    let csv = e
        .export_records(
            ctx,
            w.form,
            serde_json::from_value::<ExportRequest>(json!({"format": "csv"})).unwrap(),
        )
        .await
        .expect("export")
        .collect()
        .await
        .expect("csv");
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header.contains("Cost"),
        field != "hidden",
        "{label}: export header {header}"
    );
    assert_eq!(lines.count(), reach.len(), "{label}: export rows");
    // Writes: a limited field is refused by name, others go through.
    let limited = data(json!({"name": "deal new", "cost": "x"}));
    match field {
        "hidden" | "read_only" => {
            let err = e
                .create_record(
                    ctx,
                    w.form,
                    RecordInput {
                        data: limited.clone(),
                    },
                    None,
                )
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::Forbidden, "{label}: create limited");
            assert_eq!(err.details()[0].field, "cost");
            let err = e
                .batch_create_records(
                    ctx,
                    w.form,
                    vec![
                        RecordInput {
                            data: data(json!({"name": "ok"})),
                        },
                        RecordInput { data: limited },
                    ],
                )
                .await
                .unwrap_err();
            assert_eq!(err.code(), ErrorCode::Forbidden, "{label}: batch limited");
            assert_eq!(err.details()[0].field, "1/cost");
        }
        _ => {
            let r = e
                .create_record(ctx, w.form, RecordInput { data: limited }, None)
                .await
                .expect("create");
            e.delete_record(ctx, w.form, r.id, None)
                .await
                .expect("delete own new record");
        }
    }
    for (name, id, _) in &w.records {
        let patch = data(json!({"note": format!("edited by {label}")}));
        let updated = e.update_record(ctx, w.form, *id, patch, None).await;
        let tagged = e.add_record_tag(ctx, w.form, *id, "checked").await;
        if reach.contains(name) {
            updated.expect("update note");
            tagged.expect("tag");
            // The same value: checked, and the search above stays valid.
            let cost = e
                .update_record(
                    ctx,
                    w.form,
                    *id,
                    data(json!({"cost": format!("secret-{name}")})),
                    None,
                )
                .await;
            if field == "none" {
                cost.expect("update cost");
            } else {
                let err = cost.unwrap_err();
                assert_eq!(err.code(), ErrorCode::Forbidden, "{label}: update cost");
                assert_eq!(err.details()[0].field, "cost");
            }
        } else {
            assert_eq!(code(updated), ErrorCode::NotFound, "{label}: update {name}");
            assert_eq!(code(tagged), ErrorCode::NotFound, "{label}: tag {name}");
            assert_eq!(
                code(e.delete_record(ctx, w.form, *id, None).await),
                ErrorCode::NotFound
            );
        }
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn put(t: &TestDb, w: &World, doc: Value) {
    t.engine
        .put_form_permissions(&w.owner, w.form, &doc)
        .await
        .unwrap_or_else(|e| panic!("put {doc}: {e} {:?}", e.details()));
}

async fn permission_matrix(t: &TestDb) {
    let w = world(t).await;
    let everyone = set(&["r1", "r2", "r3", "r4", "r5"]);
    // Open form: every member reaches everything.
    check_paths(t, &w, &w.m3, &everyone, "none", "open").await;
    let subjects = [
        ("role member", json!({"role": "member"})),
        ("custom role", json!({"role": "sales"})),
        ("parent department", json!({"department": w.sales})),
        ("user", json!({"user": w.m1.actor})),
    ];
    let scopes = [
        ("all", everyone.clone()),
        ("department", set(&["r1", "r2", "r4"])),
        ("own", set(&["r1", "r4"])),
    ];
    let limits = [
        ("none", json!({})),
        ("hidden", json!({"cost": "hidden"})),
        ("read_only", json!({"cost": "read_only"})),
    ];
    for (subject_name, subject) in &subjects {
        for (scope, reach) in &scopes {
            for (limit, fields) in &limits {
                let label = format!("{subject_name}/{scope}/{limit}");
                put(
                    t,
                    &w,
                    json!({"entries": [{"subject": subject, "actions": ["view", "create", "edit", "delete", "export"],
                                         "data_scope": scope, "fields": fields}]}),
                )
                .await;
                check_paths(t, &w, &w.m1, reach, limit, &label).await;
                // Admins are never limited.
                check_paths(t, &w, &w.admin, &everyone, "none", &format!("{label}/admin")).await;
                // m3 (Service, plain member) is named only by the `member` role.
                let m3 = t
                    .engine
                    .query_records(&w.m3, w.form, QueryRequest::default(), false)
                    .await;
                if *subject_name == "role member" {
                    m3.expect("m3 as member");
                } else {
                    assert_eq!(code(m3), ErrorCode::Forbidden, "{label}: m3");
                    assert_eq!(
                        code(t.engine.get_record(&w.m3, w.form, w.records[2].1).await),
                        ErrorCode::Forbidden
                    );
                }
            }
        }
    }
}

async fn actions_union_and_reset(t: &TestDb) {
    let w = world(t).await;
    // View only, own records; plus a second entry for the department that
    // grants edit over the department: the union applies per action.
    put(
        t,
        &w,
        json!({"entries": [
            {"subject": {"role": "member"}, "actions": ["view"], "data_scope": "own", "fields": {"cost": "hidden", "note": "read_only"}},
            {"subject": {"department": w.sales}, "actions": ["edit"], "data_scope": "department", "fields": {"cost": "hidden"}}
        ]}),
    )
    .await;
    assert_eq!(
        visible_names(t, &w.m2, &w, QueryRequest::default()).await,
        set(&["r2"])
    );
    // Edit reaches the department (r1 by m1, r4 owned by m1), view does not.
    let r1 = w.records[0].1;
    assert_eq!(
        code(t.engine.get_record(&w.m2, w.form, r1).await),
        ErrorCode::NotFound
    );
    t.engine
        .update_record(&w.m2, w.form, r1, data(json!({"note": "dept edit"})), None)
        .await
        .expect("edit within the department");
    // `note` is read-only in one entry but not limited in the other: writable.
    // `cost` is hidden in both: hidden.
    let err = t
        .engine
        .update_record(&w.m2, w.form, r1, data(json!({"cost": "x"})), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    // No create, delete or export granted.
    assert_eq!(
        code(
            t.engine
                .create_record(
                    &w.m2,
                    w.form,
                    RecordInput {
                        data: data(json!({"name": "x"}))
                    },
                    None
                )
                .await
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(t.engine.delete_record(&w.m2, w.form, w.records[1].1, None).await),
        ErrorCode::Forbidden
    );
    let export = t
        .engine
        .export_records(
            &w.m2,
            w.form,
            serde_json::from_value::<ExportRequest>(json!({})).unwrap(),
        )
        .await;
    assert_eq!(export.err().map(|e| e.code()), Some(ErrorCode::Forbidden));
    // m3 is in no department: only the member entry applies.
    assert_eq!(
        visible_names(t, &w.m3, &w, QueryRequest::default()).await,
        set(&["r3"])
    );
    assert_eq!(
        code(
            t.engine
                .update_record(&w.m3, w.form, w.records[2].1, data(json!({"note": "x"})), None)
                .await
        ),
        ErrorCode::Forbidden
    );
    // Members may not read or change permissions.
    assert_eq!(
        code(t.engine.get_form_permissions(&w.m1, w.form).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            t.engine
                .put_form_permissions(&w.m1, w.form, &json!({"entries": []}))
                .await
        ),
        ErrorCode::Forbidden
    );
    // An empty list locks members out; deleting the permissions opens the form.
    put(t, &w, json!({"entries": []})).await;
    assert_eq!(
        code(
            t.engine
                .query_records(&w.m2, w.form, QueryRequest::default(), false)
                .await
        ),
        ErrorCode::Forbidden
    );
    let open = t
        .engine
        .delete_form_permissions(&w.owner, w.form)
        .await
        .expect("reset");
    assert!(!open.is_restricted);
    assert_eq!(
        visible_names(t, &w.m2, &w, QueryRequest::default()).await.len(),
        5
    );
    let _ = (&w.m1, &w.admin);
}

async fn bad_permissions_are_refused_by_path(t: &TestDb) {
    let w = world(t).await;
    let bad = json!({"owner_fields": ["name", "nope"], "entries": [
        {"subject": {"role": "admin"}, "actions": ["view"]},
        {"subject": {"role": "ghosts"}, "actions": ["view"], "fields": {"missing": "hidden"}},
        {"subject": {"department": UserId::new()}, "actions": ["view"]},
        {"subject": {"user": UserId::new()}, "actions": ["view"]}
    ]});
    let err = t
        .engine
        .put_form_permissions(&w.owner, w.form, &bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    let fields: Vec<String> = err.details().iter().map(|d| d.field.clone()).collect();
    assert_eq!(
        fields,
        vec![
            "/owner_fields/0",
            "/owner_fields/1",
            "/entries/0/subject/role",
            "/entries/1/subject/role",
            "/entries/1/fields/missing",
            "/entries/2/subject/department",
            "/entries/3/subject/user"
        ],
        "{:?}",
        err.details()
    );
    let shape =
        json!({"entries": [{"subject": {"role": "member"}, "actions": ["fly"], "data_scope": "team"}]});
    let err = t
        .engine
        .put_form_permissions(&w.owner, w.form, &shape)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert!(
        err.details()
            .iter()
            .any(|d| d.field.starts_with("/entries/0/actions")),
        "{:?}",
        err.details()
    );
    assert!(
        err.details().iter().any(|d| d.field == "/entries/0/data_scope"),
        "{:?}",
        err.details()
    );
    // Nothing was stored.
    assert!(
        !t.engine
            .get_form_permissions(&w.owner, w.form)
            .await
            .unwrap()
            .is_restricted
    );
}

both_backends!(permission_matrix_t, permission_matrix);
both_backends!(actions_union_and_reset_t, actions_union_and_reset);
both_backends!(
    bad_permissions_are_refused_by_path_t,
    bad_permissions_are_refused_by_path
);
