//! Dashboard data over HTTP against the real binary, on SQLite and
//! PostgreSQL: every chart's numbers as the API answers them (a sum, a
//! funnel plain and cumulative with its conversions, a date bucket, a
//! ratio, NPS), and a saved view and a chart filtered by `$me` and a
//! calendar period answering each member with their own records.

use serde_json::{Value, json};

use crate::e2e;
use crate::harness::Server;

fn chart<'a>(data: &'a Value, id: &str) -> &'a Value {
    data["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no chart {id} in {data}"))
}

fn series(data: &Value, id: &str) -> Vec<(Value, Value)> {
    chart(data, id)["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].clone(), p["value"].clone()))
        .collect()
}

e2e!(dashboard_data_over_http, |srv: Server| async move {
    let owner = srv.demo().await;
    let who = srv.get("/api/v1/me", &owner).await.body;
    let me = who["user_id"].as_str().unwrap().to_owned();
    let zone: chrono_tz::Tz = who["tenant"]["time_zone"].as_str().unwrap().parse().unwrap();
    let ann = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "ann@dash.test", "password": "password-123", "role": "member"}),
        )
        .await;
    assert_eq!(ann.status, 201, "{}", ann.text);
    let ann_id = ann.body["user_id"].as_str().unwrap().to_owned();
    let ann_token = srv.login("demo", "ann@dash.test", "password-123").await;

    let app = srv.create_app(&owner, "Sales").await;
    let deals = srv
        .create_form(
            &owner,
            &app,
            json!({"name": "Deals", "fields": [
                {"key": "title", "label": "Title", "type": "text", "required": true},
                {"key": "stage", "label": "Stage", "type": "select",
                 "options": [{"value": "lead"}, {"value": "qualified"}, {"value": "proposal"}, {"value": "won"}]},
                {"key": "amount", "label": "Amount", "type": "money"},
                {"key": "closed", "label": "Closed", "type": "date"},
                {"key": "owner", "label": "Owner", "type": "member"},
                {"key": "score", "label": "Score", "type": "number", "min": 0, "max": 10}
            ]}),
        )
        .await;
    // Six deals: three leads, one qualified, none at proposal, two won.
    // The second lead closes today in the tenant's zone (so this week),
    // the rest in 2025.
    let today = chrono::Utc::now()
        .with_timezone(&zone)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let rows = [
        ("a", "lead", 100.0, "2025-01-10", &me, 10),
        ("b", "lead", 200.0, today.as_str(), &me, 9),
        ("c", "lead", 300.0, "2025-02-03", &ann_id, 7),
        ("d", "qualified", 400.0, "2025-02-20", &ann_id, 3),
        ("e", "won", 1000.0, "2025-03-01", &me, 10),
        ("f", "won", 1500.0, "2025-03-15", &ann_id, 0),
    ];
    for (title, stage, amount, closed, who, score) in rows {
        let r = srv
            .create_record(
                &owner,
                &deals,
                json!({"title": title, "stage": stage, "amount": amount, "closed": closed,
                       "owner": who, "score": score}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    let order = json!(["lead", "qualified", "proposal", "won"]);
    let def = json!({"name": "Pipeline", "charts": [
        {"id": "total", "kind": "number", "form_id": deals, "measure": {"op": "sum", "field": "amount"}},
        {"id": "stages", "kind": "funnel", "form_id": deals, "measure": {"op": "count"},
         "group_by": {"field": "stage"}, "order": order},
        {"id": "reached", "kind": "funnel", "form_id": deals, "measure": {"op": "count"},
         "group_by": {"field": "stage"}, "order": order, "cumulative": true},
        {"id": "monthly", "kind": "line", "form_id": deals, "measure": {"op": "sum", "field": "amount"},
         "filter": {"field": "closed", "op": "lt", "value": "2026-01-01"},
         "group_by": {"field": "closed", "bucket": "month"}},
        {"id": "win_rate", "kind": "number", "form_id": deals,
         "measure": {"op": "ratio", "numerator": {"field": "stage", "op": "eq", "value": "won"}}},
        {"id": "nps", "kind": "number", "form_id": deals, "measure": {"op": "nps", "field": "score"}},
        {"id": "mine", "kind": "number", "form_id": deals, "measure": {"op": "sum", "field": "amount"},
         "filter": {"field": "owner", "op": "eq", "value": "$me"}},
        {"id": "this_week", "kind": "number", "form_id": deals, "measure": {"op": "count"},
         "filter": {"field": "closed", "op": "in_period", "value": {"unit": "week"}}}
    ]});
    let d = srv
        .post(&format!("/api/v1/apps/{app}/dashboards"), &owner, def)
        .await;
    assert_eq!(d.status, 201, "{}", d.text);
    let id = d.body["id"].as_str().unwrap().to_owned();
    let r = srv.get(&format!("/api/v1/dashboards/{id}/data"), &owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = r.body;
    for c in data["charts"].as_array().unwrap() {
        assert!(c.get("error").is_none_or(Value::is_null), "{c}");
    }
    assert_eq!(chart(&data, "total")["value"].as_f64(), Some(3500.0), "{data}");
    assert_eq!(
        series(&data, "stages"),
        [
            (json!("lead"), json!(3)),
            (json!("qualified"), json!(1)),
            (json!("proposal"), json!(0)),
            (json!("won"), json!(2))
        ]
    );
    assert_eq!(
        series(&data, "reached"),
        [
            (json!("lead"), json!(6)),
            (json!("qualified"), json!(3)),
            (json!("proposal"), json!(2)),
            (json!("won"), json!(2))
        ]
    );
    let reached = &chart(&data, "reached")["series"];
    assert_eq!(reached[1]["conversion"], json!(0.5));
    assert_eq!(reached[3]["conversion"], json!(1.0));
    assert_eq!(reached[3]["overall"], json!(0.3333));
    let monthly: Vec<(String, f64)> = chart(&data, "monthly")["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap()[..7].to_owned(),
                p["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        monthly,
        [
            ("2025-01".to_owned(), 100.0),
            ("2025-02".to_owned(), 700.0),
            ("2025-03".to_owned(), 2500.0)
        ]
    );
    assert_eq!(chart(&data, "win_rate")["value"], json!(0.3333));
    // Promoters 9–10: a, b, e; detractors 0–6: d, f; of six: (3 - 2) / 6.
    assert_eq!(chart(&data, "nps")["value"], json!(16.7));
    assert_eq!(chart(&data, "mine")["value"].as_f64(), Some(1300.0));
    assert_eq!(chart(&data, "this_week")["value"].as_f64(), Some(1.0));

    // The same dashboard read by Ann: `$me` is Ann now.
    let r = srv
        .get(&format!("/api/v1/dashboards/{id}/data"), &ann_token)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(chart(&r.body, "mine")["value"].as_f64(), Some(2200.0));
    assert_eq!(chart(&r.body, "total")["value"].as_f64(), Some(3500.0));

    // A shared saved view of "my deals" lists each member's own.
    let view = srv
        .post(
            &format!("/api/v1/forms/{deals}/views"),
            &owner,
            json!({"name": "My deals", "shared": true,
                   "filter": {"field": "owner", "op": "eq", "value": "$me"}, "sort": [{"field": "title", "dir": "asc"}]}),
        )
        .await;
    assert_eq!(view.status, 201, "{}", view.text);
    let query = view.body["query"].clone();
    for (token, want) in [(&owner, ["a", "b", "e"]), (&ann_token, ["c", "d", "f"])] {
        let r = srv
            .post(
                &format!("/api/v1/forms/{deals}/records/query"),
                token,
                query.clone(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let titles: Vec<&str> = r.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["data"]["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, want);
    }
});
