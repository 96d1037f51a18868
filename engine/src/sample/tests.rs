use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::{SampleError, generate};
use crate::error::{ErrorCode, HasCode};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).single().unwrap()
}

fn small() -> Value {
    json!({
        "seed": 42,
        "pools": {"names": ["甲", "乙", "丙"]},
        "forms": [
            {"form": "customers", "count": 20,
             "vars": {"gap": {"int": [10, 30]}, "ago": {"int": [0, 20]}},
             "segments": [
                {"name": "late", "share": 1, "vars": {"ago": {"int": [200, 220]}}},
                {"name": "normal", "share": 3}
             ],
             "fields": {"name": {"pool": "names"}, "phone": {"phone": "138"}, "owner": "@owner",
                        "joined_on": {"date": [-700, -400]},
                        "birthday": {"birthday": {}, "age": [20, 40]}}},
            {"form": "orders", "per": "customers",
             "series": {"field": "ordered_on", "gap": {"var": "gap"}, "last_days_ago": {"var": "ago"},
                        "not_before": {"parent": "joined_on"}},
             "fields": {"customer": {"parent": "id"}, "amount": {"float": [10, 100], "decimals": 2},
                        "paid_on": {"after": {"field": "ordered_on"}, "days": [0, 5], "not_after": 0}}}
        ],
        "rollups": [{"form": "customers", "from": "orders", "via": "customer", "fields": {
            "order_count": {"count": true}, "total": {"sum": "amount"},
            "last_order_on": {"max": "ordered_on"}, "first_order_on": {"min": "ordered_on"},
            "gap": {"avg_gap_days": "ordered_on"}}}],
        "derive": [{"form": "customers", "fields": {
            "stage": {"case": [{"if": {"field": "last_order_on", "before": -180}, "then": "dormant"}], "else": "active"}}}]
    })
}

#[test]
fn same_spec_and_now_give_identical_output() {
    let a = generate(&small(), now()).unwrap();
    let b = generate(&small(), now()).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let mut other = small();
    other["seed"] = json!(43);
    assert_ne!(a, generate(&other, now()).unwrap(), "another seed, other data");
}

#[test]
fn rollups_match_the_children_and_ids_come_first() {
    let out = generate(&small(), now()).unwrap();
    let customers: Vec<_> = out.iter().filter(|r| r.form == "customers").collect();
    assert_eq!(customers.len(), 20);
    let mut seen = std::collections::BTreeSet::new();
    let mut phones = std::collections::BTreeSet::new();
    for r in &out {
        if r.form == "orders" {
            assert!(
                seen.contains(r.data["customer"].as_str().unwrap()),
                "parents come first"
            );
            assert!(r.data["paid_on"].as_str().unwrap() >= r.data["ordered_on"].as_str().unwrap());
            assert!(r.data["paid_on"].as_str().unwrap() <= "2026-12-04");
        } else {
            assert!(
                phones.insert(r.data["phone"].as_str().unwrap().to_owned()),
                "phones are unique"
            );
            assert_eq!(r.data["phone"].as_str().unwrap().len(), 11);
            assert_eq!(r.data["owner"], "@owner");
        }
        seen.insert(r.id.clone());
    }
    let mut dormant = 0;
    for c in &customers {
        let orders: Vec<_> = out
            .iter()
            .filter(|o| o.form == "orders" && o.data["customer"] == json!(c.id))
            .collect();
        assert_eq!(c.data["order_count"], json!(orders.len()));
        let total: f64 = orders.iter().map(|o| o.data["amount"].as_f64().unwrap()).sum();
        assert!((c.data["total"].as_f64().unwrap() - total).abs() < 0.01);
        let last = orders
            .iter()
            .map(|o| o.data["ordered_on"].as_str().unwrap())
            .max();
        assert_eq!(c.data.get("last_order_on").and_then(Value::as_str), last);
        assert!(
            orders
                .iter()
                .all(|o| o.data["ordered_on"].as_str().unwrap() >= c.data["joined_on"].as_str().unwrap())
        );
        if orders.len() < 2 {
            assert!(c.data.get("gap").is_none());
        }
        if c.data["stage"] == "dormant" {
            dormant += 1;
            assert!(last.unwrap() < "2026-06-07");
        }
    }
    assert_eq!(dormant, 5, "a quarter of the customers is in the late segment");
}

#[test]
fn birthdays_within_fall_in_the_coming_days() {
    let spec = json!({"seed": 1, "forms": [{"form": "c", "count": 50, "fields": {
        "b": {"birthday": {}, "age": [30, 30], "within": [1, 10]}}}]});
    for r in generate(&spec, now()).unwrap() {
        let b = r.data["b"].as_str().unwrap();
        assert!(
            b.starts_with("1996-12-") && ("1996-12-05".."1996-12-15").contains(&b),
            "{b}"
        );
    }
}

#[test]
fn oversized_specs_are_refused() {
    let spec = json!({"seed": 1, "forms": [{"form": "c", "count": 200_000, "fields": {}}]});
    let e = generate(&spec, now()).unwrap_err();
    assert!(matches!(e, SampleError::TooLarge { limit: 100_000 }));
    assert_eq!(e.code(), ErrorCode::PayloadTooLarge);
    // Children multiply: 500 parents × 500 children is refused while generating.
    let spec = json!({"seed": 1, "forms": [
        {"form": "p", "count": 500, "fields": {}},
        {"form": "c", "per": "p", "count": 500, "fields": {}}]});
    assert!(matches!(
        generate(&spec, now()).unwrap_err(),
        SampleError::TooLarge { .. }
    ));
    let spec = json!({"seed": 1, "max_records": 10, "forms": [{"form": "c", "count": 11, "fields": {}}]});
    assert!(matches!(
        generate(&spec, now()).unwrap_err(),
        SampleError::TooLarge { limit: 10 }
    ));
    let spec =
        json!({"seed": 1, "scale": 4, "max_records": 10, "forms": [{"form": "c", "count": 3, "fields": {}}]});
    assert!(
        matches!(
            generate(&spec, now()).unwrap_err(),
            SampleError::TooLarge { limit: 10 }
        ),
        "scale counts"
    );
}

#[test]
fn bad_specs_name_the_path() {
    let cases = [
        (json!({"forms": []}), "seed"),
        (
            json!({"seed": 1, "forms": [{"form": "c", "count": 1, "fields": {"x": {"dice": 6}}}]}),
            "forms/0/fields/x",
        ),
        (
            json!({"seed": 1, "forms": [{"form": "c", "per": "p", "count": 1}]}),
            "forms/0/per",
        ),
        (
            json!({"seed": 1, "forms": [{"form": "c", "count": 1, "fields": {"a": {"field": "b"}, "b": {"field": "a"}}}]}),
            "forms/0/fields",
        ),
        (
            json!({"seed": 1, "forms": [{"form": "c", "count": 1, "fields": {"a": {"case": [{"if": {"field": "b", "near": 1}, "then": 1}]}}}]}),
            "forms/0/fields/a/case/0/if/near",
        ),
        (json!({"seed": 1, "colour": "red", "forms": []}), "/colour"),
    ];
    for (spec, path) in cases {
        let e = generate(&spec, now()).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ValidationFailed, "{spec}");
        assert_eq!(e.details()[0].field, path, "{spec}: {:?}", e.details());
    }
}

#[test]
fn the_crm_spec_is_valid_and_bounded() {
    let spec: Value = serde_json::from_str(include_str!(
        "../../../builtin-templates/crm/sample/generator.json"
    ))
    .unwrap();
    let out = generate(&spec, now()).unwrap();
    let customers = out.iter().filter(|r| r.form == "customers").count();
    assert!((200..=400).contains(&customers), "{customers}");
    assert!(out.len() < super::MAX_RECORDS);
    let mut per_form = std::collections::BTreeMap::new();
    for r in &out {
        *per_form.entry(r.form.as_str()).or_insert(0) += 1;
    }
    eprintln!("{} records: {per_form:?}", out.len());
    assert_eq!(out, generate(&spec, now()).unwrap());
}
