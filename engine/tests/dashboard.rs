//! Dashboards and saved views on real SQLite and real PostgreSQL: chart
//! series from the aggregate query (counts, sums, monthly buckets), the
//! computed measures (ratio, NPS, funnel conversion with empty stages),
//! definitions refused naming the chart, a chart that breaks later
//! answering an error while the others answer, and personal versus shared
//! views.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::TestDb;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::ids::{AppId, FormId};
use engine::meta::app::AppInput;
use engine::record::RecordInput;
use serde_json::{Map, Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).single().unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

struct Kit {
    owner: Ctx,
    app: AppId,
    deals: FormId,
    surveys: FormId,
}

async fn kit(t: &TestDb, slug: &str) -> Kit {
    let owner = t.tenant(slug).await.at(t0());
    let app = t
        .engine
        .create_app(
            &owner,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let deals = t
        .engine
        .create_form(
            &owner,
            app,
            json!({"name": "deals", "fields": [
                {"key": "stage", "label": "Stage", "type": "text"},
                {"key": "amount", "label": "Amount", "type": "number"},
                {"key": "orders", "label": "Orders", "type": "number"},
                {"key": "closed", "label": "Closed", "type": "date"}
            ]}),
        )
        .await
        .unwrap()
        .id;
    let surveys = t
        .engine
        .create_form(
            &owner,
            app,
            json!({"name": "surveys", "fields": [{"key": "nps", "label": "NPS", "type": "number"}]}),
        )
        .await
        .unwrap()
        .id;
    let rows = [
        ("初步接洽", 100, 0, "2026-01-10"),
        ("初步接洽", 200, 1, "2026-01-20"),
        ("初步接洽", 300, 2, "2026-02-05"),
        ("初步接洽", 400, 3, "2026-02-15"),
        ("需求确认", 500, 1, "2026-02-25"),
        ("需求确认", 600, 2, "2026-03-05"),
        ("赢单", 700, 5, "2026-03-15"),
    ];
    for (stage, amount, orders, closed) in rows {
        t.engine
            .create_record(
                &owner,
                deals,
                RecordInput {
                    data: obj(json!({"stage": stage, "amount": amount, "orders": orders, "closed": closed})),
                },
                None,
            )
            .await
            .unwrap();
    }
    for score in [10, 9, 9, 8, 7, 3, 10, 0, 9, 6] {
        t.engine
            .create_record(
                &owner,
                surveys,
                RecordInput {
                    data: obj(json!({"nps": score})),
                },
                None,
            )
            .await
            .unwrap();
    }
    Kit {
        owner,
        app,
        deals,
        surveys,
    }
}

fn chart<'a>(data: &'a Value, id: &str) -> &'a Value {
    data["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
}

async fn charts_answer(t: &TestDb) {
    let k = kit(t, "charts").await;
    let def = json!({"name": "Sales", "charts": [
        {"id": "total", "kind": "number", "form_id": k.deals, "measure": {"op": "sum", "field": "amount"}},
        {"id": "funnel", "kind": "funnel", "form_id": k.deals, "measure": {"op": "count"},
         "group_by": {"field": "stage"}, "order": ["初步接洽", "需求确认", "方案报价", "赢单"]},
        {"id": "reached", "kind": "funnel", "form_id": k.deals, "measure": {"op": "count"},
         "group_by": {"field": "stage"}, "order": ["初步接洽", "需求确认", "方案报价", "赢单"], "cumulative": true},
        {"id": "monthly", "kind": "line", "form_id": k.deals, "measure": {"op": "sum", "field": "amount"},
         "group_by": {"field": "closed", "bucket": "month"}},
        {"id": "repurchase", "kind": "number", "form_id": k.deals, "measure": {"op": "ratio",
         "numerator": {"field": "orders", "op": "gte", "value": 2},
         "denominator": {"field": "orders", "op": "gte", "value": 1}}},
        {"id": "nps", "kind": "number", "form_id": k.surveys, "measure": {"op": "nps", "field": "nps"}},
        {"id": "big", "kind": "bar", "form_id": k.deals, "filter": {"field": "amount", "op": "gt", "value": 350},
         "measure": {"op": "count"}, "group_by": {"field": "stage"}}
    ]});
    let d = t.engine.create_dashboard(&k.owner, k.app, def).await.unwrap();
    let data = serde_json::to_value(t.engine.dashboard_data(&k.owner, d.id).await.unwrap()).unwrap();
    assert_eq!(chart(&data, "total")["value"].as_f64(), Some(2800.0), "{data}");
    let funnel = &chart(&data, "funnel")["series"];
    let stages: Vec<(&str, i64)> = funnel
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p["value"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [("初步接洽", 4), ("需求确认", 2), ("方案报价", 0), ("赢单", 1)]
    );
    assert_eq!(funnel[1]["conversion"], json!(0.5));
    assert_eq!(funnel[3]["overall"], json!(0.25));
    assert!(funnel[0].get("conversion").is_none());
    // Cumulative: a stage counts every deal that reached it.
    let reached = &chart(&data, "reached")["series"];
    let stages: Vec<(&str, Value, Value)> = reached
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap(),
                p["value"].clone(),
                p["conversion"].clone(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("初步接洽", json!(7), Value::Null),
            ("需求确认", json!(3), json!(0.4286)),
            ("方案报价", json!(1), json!(0.3333)),
            ("赢单", json!(1), json!(1.0)),
        ]
    );
    assert_eq!(reached[3]["overall"], json!(0.1429));
    let monthly: Vec<(&str, f64)> = chart(&data, "monthly")["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        monthly,
        [("2026-01", 300.0), ("2026-02", 1200.0), ("2026-03", 1300.0)]
    );
    // 4 of the 6 deals with an order have at least two.
    let rep = chart(&data, "repurchase");
    assert_eq!(rep["value"], json!(0.6667));
    assert_eq!(rep["series"][0]["numerator"], json!(4));
    assert_eq!(rep["series"][0]["denominator"], json!(6));
    // 5 promoters (9-10), 3 detractors (0-6) of 10 answers: NPS 20.
    assert_eq!(chart(&data, "nps")["value"].as_f64(), Some(20.0));
    let big: Vec<i64> = chart(&data, "big")["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_i64().unwrap())
        .collect();
    assert_eq!(big.iter().sum::<i64>(), 4);
    assert!(
        data["charts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["error"].is_null())
    );

    // A field removed later breaks only its chart.
    t.engine
        .update_form(
            &k.owner,
            k.surveys,
            json!({"name": "surveys", "fields": [{"key": "comment", "label": "Comment", "type": "text"}]}),
            Default::default(),
        )
        .await
        .unwrap();
    let data = serde_json::to_value(t.engine.dashboard_data(&k.owner, d.id).await.unwrap()).unwrap();
    assert!(!chart(&data, "nps")["error"].is_null(), "{data}");
    assert_eq!(chart(&data, "total")["value"].as_f64(), Some(2800.0));
}
both_backends!(charts_answer, charts_answer);

async fn churn_rate_per_month(t: &TestDb) {
    let k = kit(t, "churnrate").await;
    let customers = t
        .engine
        .create_form(
            &k.owner,
            k.app,
            json!({"name": "customers", "fields": [
                {"key": "joined", "label": "Joined", "type": "date"},
                {"key": "lapsed", "label": "Lapsed", "type": "date"},
                {"key": "kind", "label": "Kind", "type": "text"}
            ]}),
        )
        .await
        .unwrap()
        .id;
    let rows = [
        (Some("2025-11-05"), None, "B2B"),
        (Some("2025-11-20"), Some("2026-01-10"), "B2B"),
        (Some("2025-12-01"), Some("2026-01-25"), "B2C"),
        (Some("2025-12-15"), Some("2026-03-02"), "B2B"),
        (Some("2026-01-05"), None, "B2C"),
        (Some("2026-02-10"), Some("2026-03-20"), "B2C"),
        (Some("2026-02-11"), None, "B2B"),
        // No start date: in no month's base.
        (None, None, "B2B"),
    ];
    for (joined, lapsed, kind) in rows {
        t.engine
            .create_record(
                &k.owner,
                customers,
                RecordInput {
                    data: obj(json!({"joined": joined, "lapsed": lapsed, "kind": kind})),
                },
                None,
            )
            .await
            .unwrap();
    }
    let def = json!({"name": "Churn", "charts": [
        {"id": "churn", "kind": "line", "form_id": customers,
         "measure": {"op": "churn_rate", "field": "joined"}, "group_by": {"field": "lapsed", "bucket": "month"}},
        {"id": "b2c", "kind": "line", "form_id": customers, "filter": {"field": "kind", "op": "eq", "value": "B2C"},
         "measure": {"op": "churn_rate", "field": "joined"}, "group_by": {"field": "lapsed", "bucket": "month"}}
    ]});
    let d = t.engine.create_dashboard(&k.owner, k.app, def).await.unwrap();
    let data = serde_json::to_value(t.engine.dashboard_data(&k.owner, d.id).await.unwrap()).unwrap();
    let points = |id: &str| -> Vec<(String, Value, Value, Value)> {
        chart(&data, id)["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().to_owned(),
                    p["numerator"].clone(),
                    p["denominator"].clone(),
                    p["value"].clone(),
                )
            })
            .collect()
    };
    // January: 2 of the 4 who joined before it; February (no loss) shows at
    // 0 of the 3 left; March: 2 of the 5 there on 1 March.
    assert_eq!(
        points("churn"),
        [
            ("2026-01".to_owned(), json!(2), json!(4), json!(0.5)),
            ("2026-02".to_owned(), json!(0), json!(3), json!(0.0)),
            ("2026-03".to_owned(), json!(2), json!(5), json!(0.4)),
        ],
        "{data}"
    );
    // The chart's filter narrows both sides: B2C has one lost in January of
    // one there, none of the one left in February, one of two (the January and
    // February joiners) in March.
    assert_eq!(
        points("b2c"),
        [
            ("2026-01".to_owned(), json!(1), json!(1), json!(1.0)),
            ("2026-02".to_owned(), json!(0), json!(1), json!(0.0)),
            ("2026-03".to_owned(), json!(1), json!(2), json!(0.5)),
        ],
        "{data}"
    );
}
both_backends!(churn_rate_per_month, churn_rate_per_month);

async fn definitions_are_checked(t: &TestDb) {
    let k = kit(t, "dashdefs").await;
    let cases = [
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "pie", "form_id": k.deals, "measure": {"op": "sum"}}]}),
            "charts/0/measure/field",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "pie", "form_id": k.deals, "measure": {"op": "count"},
                 "group_by": {"field": "nope"}}]}),
            "charts/0/group_by/field",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "pie", "form_id": "00000000-0000-7000-8000-000000000000",
                 "measure": {"op": "count"}}]}),
            "charts/0/form_id",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "pie", "form_id": k.deals, "measure": {"op": "ratio"}}]}),
            "charts/0/measure/numerator",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "pie", "form_id": k.deals, "measure": {"op": "count"}},
                 {"id": "a", "kind": "bar", "form_id": k.deals, "measure": {"op": "count"}}]}),
            "charts/1/id",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "bar", "form_id": k.deals, "measure": {"op": "count"},
                 "group_by": {"field": "stage"}, "order": ["赢单"], "cumulative": true}]}),
            "charts/0/cumulative",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "line", "form_id": k.deals,
                 "measure": {"op": "churn_rate", "field": "closed"}, "group_by": {"field": "stage"}}]}),
            "charts/0/group_by",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "line", "form_id": k.deals,
                 "measure": {"op": "churn_rate", "field": "stage"}, "group_by": {"field": "closed", "bucket": "month"}}]}),
            "charts/0/measure/field",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "line", "form_id": k.deals,
                 "measure": {"op": "churn_rate"}, "group_by": {"field": "closed", "bucket": "month"}}]}),
            "charts/0/measure/field",
        ),
        (
            json!({"name": "x", "charts": [{"id": "a", "kind": "radar", "form_id": k.deals, "measure": {"op": "count"}}]}),
            "/charts/0/kind",
        ),
    ];
    for (def, field) in cases {
        let err = t.engine.create_dashboard(&k.owner, k.app, def).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValidationFailed, "{field}: {err}");
        let fields: Vec<String> = err.details().into_iter().map(|d| d.field).collect();
        assert!(fields.iter().any(|f| f == field), "{field} not in {fields:?}");
    }
    let m = t.member(&k.owner, Role::Member).await;
    let ok = json!({"name": "x", "charts": []});
    assert_eq!(
        t.engine
            .create_dashboard(&m, k.app, ok.clone())
            .await
            .unwrap_err()
            .code(),
        ErrorCode::Forbidden
    );
    let d = t.engine.create_dashboard(&k.owner, k.app, ok).await.unwrap();
    let d2 = t
        .engine
        .update_dashboard(&k.owner, d.id, json!({"name": "y", "charts": []}))
        .await
        .unwrap();
    assert_eq!((d2.version, d2.name.as_str()), (2, "y"));
    assert_eq!(t.engine.list_dashboards(&m, k.app).await.unwrap().len(), 1);
    t.engine.delete_dashboard(&k.owner, d.id).await.unwrap();
    assert_eq!(
        t.engine.get_dashboard(&k.owner, d.id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
}
both_backends!(definitions_are_checked, definitions_are_checked);

async fn saved_views(t: &TestDb) {
    let k = kit(t, "views").await;
    let m = t.member(&k.owner, Role::Member).await;
    let other = t.member(&k.owner, Role::Member).await;
    let mine = t
        .engine
        .create_view(
            &m,
            k.deals,
            json!({"name": "Big deals", "filter": {"field": "amount", "op": "gte", "value": 500},
                   "sort": [{"field": "amount", "dir": "desc"}], "columns": ["stage", "amount"]}),
        )
        .await
        .unwrap();
    assert!(!mine.shared);
    // The saved query runs as the view says.
    let req = engine::query::model::QueryRequest::from_json(&mine.query).unwrap();
    let page = t.engine.query_records(&m, k.deals, req, false).await.unwrap();
    let amounts: Vec<f64> = page
        .records
        .iter()
        .map(|r| r.data["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(amounts, [700.0, 600.0, 500.0]);
    // Personal: another member neither lists nor reads it.
    assert!(t.engine.list_views(&other, k.deals).await.unwrap().is_empty());
    assert_eq!(
        t.engine.get_view(&other, mine.id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    // Members cannot share; admins can, and everyone sees shared views.
    let err = t
        .engine
        .create_view(&m, k.deals, json!({"name": "All", "shared": true}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    let shared = t
        .engine
        .create_view(
            &k.owner,
            k.deals,
            json!({"name": "Won", "shared": true,
                      "filter": {"field": "stage", "op": "eq", "value": "赢单"}}),
        )
        .await
        .unwrap();
    assert_eq!(t.engine.list_views(&other, k.deals).await.unwrap().len(), 1);
    assert_eq!(t.engine.list_views(&m, k.deals).await.unwrap().len(), 2);
    assert_eq!(
        t.engine.delete_view(&other, shared.id).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    // A view naming an unknown field, or a bad filter, is refused.
    let err = t
        .engine
        .create_view(&m, k.deals, json!({"name": "x", "columns": ["nope"]}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    let err = t
        .engine
        .create_view(
            &m,
            k.deals,
            json!({"name": "x", "filter": {"field": "nope", "op": "eq", "value": 1}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed, "{err}");
    let renamed = t
        .engine
        .update_view(
            &m,
            mine.id,
            json!({"name": "Bigger", "filter": {"field": "amount", "op": "gte", "value": 600}}),
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Bigger");
    t.engine.delete_view(&m, mine.id).await.unwrap();
    assert_eq!(t.engine.list_views(&m, k.deals).await.unwrap().len(), 1);
}
both_backends!(saved_views, saved_views);
