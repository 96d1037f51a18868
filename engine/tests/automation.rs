//! Automation rules on real SQLite and real PostgreSQL: definitions and
//! their errors, record-event rules through the outbox, date-field and
//! schedule planning with a fake clock, effects applied atomically and
//! exactly once, limits, loop protection, auto-disable, test-runs and
//! manual runs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use common::TestDb;
use engine::automation::{ManualRunInput, SchedulerReport, TestRunInput, TickOptions};
use engine::ctx::Ctx;
use engine::error::{ErrorCode, HasCode};
use engine::ids::{AppId, FormId, RuleId};
use engine::jobs::{Worker, WorkerConfig};
use engine::meta::app::AppInput;
use engine::query::model::QueryRequest;
use engine::record::RecordInput;
use serde_json::{Map, Value, json};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

struct Kit {
    ctx: Ctx,
    app: AppId,
    customers: FormId,
    coupons: FormId,
    worker: Worker,
}

async fn kit(t: &TestDb, slug: &str) -> Kit {
    let ctx = t.tenant(slug).await.at(at(2026, 1, 1, 0));
    let app = t
        .engine
        .create_app(
            &ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let customers = t
        .engine
        .create_form(
            &ctx,
            app,
            json!({"name": "customers", "fields": [
                {"key": "name", "label": "Name", "type": "text", "required": true},
                {"key": "email", "label": "Email", "type": "email"},
                {"key": "tier", "label": "Tier", "type": "text"},
                {"key": "birthday", "label": "Birthday", "type": "date", "indexed": true},
                {"key": "total", "label": "Total", "type": "number"},
                {"key": "visits", "label": "Visits", "type": "number"}
            ]}),
        )
        .await
        .unwrap()
        .id;
    let coupons = t
        .engine
        .create_form(
            &ctx,
            app,
            json!({"name": "coupons", "fields": [
                {"key": "customer", "label": "Customer", "type": "text", "required": true},
                {"key": "code", "label": "Code", "type": "text", "required": true},
                {"key": "year", "label": "Year", "type": "number"},
                {"key": "on", "label": "On", "type": "date"}
            ]}),
        )
        .await
        .unwrap()
        .id;
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig {
            batch: 200,
            ..WorkerConfig::default()
        },
    );
    Kit {
        ctx,
        app,
        customers,
        coupons,
        worker,
    }
}

impl Kit {
    async fn rule(&self, t: &TestDb, def: Value) -> RuleId {
        t.engine
            .create_rule(&self.ctx, self.app, def)
            .await
            .expect("rule")
            .id
    }

    async fn customer(&self, t: &TestDb, data: Value, now: DateTime<Utc>) -> String {
        let ctx = self.ctx.clone().at(now);
        t.engine
            .create_record(&ctx, self.customers, RecordInput { data: obj(data) }, None)
            .await
            .expect("customer")
            .id
            .to_string()
    }

    async fn tick(&self, t: &TestDb, now: DateTime<Utc>) -> SchedulerReport {
        t.engine
            .scheduler_tick(&self.worker, now, TickOptions::default())
            .await
            .expect("tick")
    }

    async fn records(&self, t: &TestDb, form: FormId) -> Vec<Map<String, Value>> {
        let req = QueryRequest {
            limit: Some(1000),
            ..QueryRequest::default()
        };
        t.engine
            .query_records(&self.ctx, form, req, false)
            .await
            .unwrap()
            .records
            .into_iter()
            .map(|r| {
                let mut m = r.data;
                m.insert("_id".into(), json!(r.id));
                m.insert("_tags".into(), json!(r.tags));
                m
            })
            .collect()
    }
}

async fn definitions_are_checked(t: &TestDb) {
    let k = kit(t, "defs").await;
    let base = json!({"name": "r", "form_id": k.customers, "trigger": {"kind": "record_created"}, "script": "log(1);"});
    let with = |patch: Value| {
        let mut d = base.clone();
        for (key, v) in patch.as_object().unwrap() {
            d[key] = v.clone();
        }
        d
    };
    let e = t
        .engine
        .create_rule(&k.ctx, k.app, with(json!({"script": "let a = 1;\nlet b = ;"})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ScriptCompile);
    assert_eq!(e.code().as_str(), "script_syntax");
    let d = &e.details()[0];
    assert_eq!((d.field.as_str(), d.line), ("script", Some(2)), "{d:?}");
    assert!(d.column.is_some());
    let e = t
        .engine
        .create_rule(&k.ctx, k.app, with(json!({"trigger": {"kind": "sometimes"}})))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownKind);
    let e = t
        .engine
        .create_rule(
            &k.ctx,
            k.app,
            with(json!({"trigger": {"kind": "schedule", "cron": "0 9 * *"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    assert_eq!(e.details()[0].field, "/trigger/cron");
    let e = t
        .engine
        .create_rule(
            &k.ctx,
            k.app,
            with(json!({"trigger": {"kind": "date_field", "field": "name", "repeat": "yearly"}})),
        )
        .await
        .unwrap_err();
    assert_eq!(e.details()[0].field, "/trigger/field");
    let e = t
        .engine
        .create_rule(
            &k.ctx,
            k.app,
            with(json!({"actions": [{"kind": "add_tag", "name": "x"}]})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        ErrorCode::ValidationFailed,
        "script and actions together"
    );
    let e = t
        .engine
        .create_rule(&k.ctx, k.app, with(json!({"condition": "record.total >"})))
        .await
        .unwrap_err();
    assert_eq!(e.details()[0].field, "condition");
    // Versions: a save is a new version; the old one stays listed.
    let id = k.rule(t, base.clone()).await;
    let v2 = t
        .engine
        .update_rule(&k.ctx, id, with(json!({"script": "log(2);"})))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let versions = t.engine.rule_versions(&k.ctx, id).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1].definition["script"], "log(1);");
    // Another tenant sees nothing.
    let other = t.tenant("defs-other").await;
    assert_eq!(
        t.engine.get_rule(&other, id).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
}
both_backends!(definitions_are_checked, definitions_are_checked);

async fn record_rules_apply_effects_once(t: &TestDb) {
    let k = kit(t, "events").await;
    k.rule(
        t,
        json!({"name": "welcome", "form_id": k.customers, "trigger": {"kind": "record_created"},
               "condition": "record.tier == \"VIP\"",
               "script": "create(\"coupons\", #{customer: record.id, code: \"WELCOME-\" + record.name});\n\
                          tag(record.id, \"新客户\");\nlog(`welcomed ${record.name}`);"}),
    )
    .await;
    k.rule(
        t,
        json!({"name": "tier change", "form_id": k.customers,
               "trigger": {"kind": "record_updated", "fields": ["tier"]},
               "actions": [{"kind": "add_tag", "name": {"expr": "\"was-\" + old.tier"}}]}),
    )
    .await;
    let now = at(2026, 3, 1, 10);
    let vip = k.customer(t, json!({"name": "Ann", "tier": "VIP"}), now).await;
    k.customer(t, json!({"name": "Bob", "tier": "regular"}), now)
        .await;
    let r = k.tick(t, now).await;
    assert!(r.ran >= 2, "{r:?}");
    k.tick(t, now + TimeDelta::minutes(1)).await;
    let coupons = k.records(t, k.coupons).await;
    assert_eq!(coupons.len(), 1, "{coupons:?}");
    assert_eq!(coupons[0]["customer"], json!(vip));
    assert_eq!(coupons[0]["code"], "WELCOME-Ann");
    let customers = k.records(t, k.customers).await;
    let ann = customers.iter().find(|c| c["name"] == "Ann").unwrap();
    assert_eq!(ann["_tags"], json!(["新客户"]));
    // An update of another field does not fire the tier rule; a tier change does, with `old`.
    let ctx = k.ctx.clone().at(now + TimeDelta::hours(1));
    t.engine
        .update_record(
            &ctx,
            k.customers,
            vip.parse().unwrap(),
            obj(json!({"total": 5})),
            None,
        )
        .await
        .unwrap();
    t.engine
        .update_record(
            &ctx,
            k.customers,
            vip.parse().unwrap(),
            obj(json!({"tier": "gold"})),
            None,
        )
        .await
        .unwrap();
    k.tick(t, now + TimeDelta::hours(1)).await;
    let ann = t
        .engine
        .get_record(&k.ctx, k.customers, vip.parse().unwrap())
        .await
        .unwrap();
    let mut tags = ann.tags.clone();
    tags.sort();
    assert_eq!(tags, vec!["was-VIP".to_owned(), "新客户".to_owned()]);
    // The run log names rule, trigger, record and effects.
    let rules = t.engine.list_rules(&k.ctx, k.app).await.unwrap();
    let welcome = rules.iter().find(|r| r.name == "welcome").unwrap();
    let runs = t
        .engine
        .rule_runs(&k.ctx, welcome.id, 50, None)
        .await
        .unwrap()
        .runs;
    assert_eq!(runs.len(), 2, "one run per customer");
    let ok = runs.iter().find(|r| r.outcome.as_str() == "succeeded").unwrap();
    assert_eq!(ok.detail["record_id"], json!(vip));
    assert_eq!(ok.detail["trigger"], "record_created");
    assert_eq!(ok.detail["version"], 1);
    assert_eq!(ok.detail["effects"].as_array().unwrap().len(), 2);
    assert_eq!(ok.detail["logs"], json!(["welcomed Ann"]));
    assert!(
        runs.iter().any(|r| r.outcome.as_str() == "skipped"),
        "the condition was false for Bob"
    );
    // The app's rule list carries each rule's latest run (the newest row of its log).
    let last = welcome.last_run.as_ref().expect("welcome has run");
    assert_eq!(last.outcome, runs[0].outcome.as_str());
    assert_eq!(last.at, runs[0].finished_at);
    let tier = rules.iter().find(|r| r.name == "tier change").unwrap();
    assert!(tier.last_run.is_some(), "the tier rule ran for Ann's change");
    let single = t.engine.get_rule(&k.ctx, welcome.id).await.unwrap();
    assert!(single.last_run.is_none(), "only the list looks the last run up");
}
both_backends!(record_rules_apply_effects_once, record_rules_apply_effects_once);

async fn failed_effects_apply_nothing(t: &TestDb) {
    let k = kit(t, "atomic").await;
    let rule = k
        .rule(
            t,
            json!({"name": "half", "form_id": k.customers, "trigger": {"kind": "record_created"},
                   "script": "create(\"coupons\", #{customer: record.id, code: \"A\"});\n\
                              create(\"coupons\", #{customer: record.id});"}),
        )
        .await;
    let now = at(2026, 3, 1, 10);
    k.customer(t, json!({"name": "Ann"}), now).await;
    k.tick(t, now).await;
    assert!(
        k.records(t, k.coupons).await.is_empty(),
        "no effect of a failed run is applied"
    );
    let runs = t.engine.rule_runs(&k.ctx, rule, 10, None).await.unwrap().runs;
    assert_eq!(runs.len(), 1, "a validation failure is not retried");
    assert_eq!(runs[0].outcome.as_str(), "failed");
    assert_eq!(runs[0].detail["error"]["code"], "validation_failed");
    assert_eq!(runs[0].detail["error"]["details"][0]["field"], "effects/1/code");
}
both_backends!(failed_effects_apply_nothing, failed_effects_apply_nothing);

async fn runaway_scripts_are_stopped_and_disabled(t: &TestDb) {
    let k = kit(t, "runaway").await;
    let bad = k
        .rule(
            t,
            json!({"name": "spin", "form_id": k.customers, "trigger": {"kind": "record_created"},
                   "script": "loop { }"}),
        )
        .await;
    k.rule(
        t,
        json!({"name": "fine", "form_id": k.customers, "trigger": {"kind": "record_created"},
               "actions": [{"kind": "add_tag", "name": "ok"}]}),
    )
    .await;
    let start = at(2026, 3, 1, 10);
    for i in 0..6 {
        let now = start + TimeDelta::minutes(i);
        k.customer(t, json!({"name": format!("c{i}")}), now).await;
        k.tick(t, now).await;
    }
    let runs = t.engine.rule_runs(&k.ctx, bad, 50, None).await.unwrap().runs;
    assert_eq!(
        runs.len(),
        5,
        "the sixth firing finds the rule disabled and is not run"
    );
    assert!(runs.iter().all(|r| r.outcome.as_str() == "failed"));
    assert_eq!(runs[0].detail["error"]["code"], "script_limit");
    let rule = t.engine.get_rule(&k.ctx, bad).await.unwrap();
    assert!(!rule.enabled);
    assert!(rule.disabled_reason.unwrap().contains("5 failed runs"));
    let inbox = t
        .engine
        .list_notifications(&k.ctx, engine::notify::NotificationQuery::default())
        .await
        .unwrap();
    assert!(
        inbox.notifications.iter().any(|n| n.title.contains("spin")),
        "the owner is told"
    );
    // The other rule kept running.
    let tagged = k.records(t, k.customers).await;
    assert_eq!(tagged.iter().filter(|c| c["_tags"] == json!(["ok"])).count(), 6);
}
both_backends!(
    runaway_scripts_are_stopped_and_disabled,
    runaway_scripts_are_stopped_and_disabled
);

async fn rules_do_not_retrigger_themselves(t: &TestDb) {
    let k = kit(t, "loops").await;
    let rule = k
        .rule(
            t,
            json!({"name": "count visits", "form_id": k.customers, "trigger": {"kind": "record_updated"},
                   "script": "update(\"customers\", record.id, #{visits: (record.visits ?? 0) + 1});"}),
        )
        .await;
    let now = at(2026, 3, 1, 10);
    let id = k.customer(t, json!({"name": "Ann", "visits": 0}), now).await;
    let ctx = k.ctx.clone().at(now);
    t.engine
        .update_record(
            &ctx,
            k.customers,
            id.parse().unwrap(),
            obj(json!({"tier": "VIP"})),
            None,
        )
        .await
        .unwrap();
    for i in 0..5 {
        k.tick(t, now + TimeDelta::minutes(i)).await;
    }
    let ann = t
        .engine
        .get_record(&k.ctx, k.customers, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        ann.data["visits"],
        json!(1),
        "the rule's own update did not fire it again"
    );
    assert_eq!(
        t.engine
            .rule_runs(&k.ctx, rule, 50, None)
            .await
            .unwrap()
            .runs
            .len(),
        1
    );
}
both_backends!(
    rules_do_not_retrigger_themselves,
    rules_do_not_retrigger_themselves
);

async fn birthday_coupons_fire_once_a_year(t: &TestDb) {
    let k = kit(t, "birthdays").await;
    k.rule(
        t,
        json!({"name": "birthday coupon", "form_id": k.customers,
               "trigger": {"kind": "date_field", "field": "birthday", "offset_days": -3, "at": "09:00", "repeat": "yearly"},
               "script": "create(\"coupons\", #{customer: record.id, code: \"BDAY\", year: year(today()), on: today()});"}),
    )
    .await;
    let mut birthdays = BTreeMap::new();
    let created = at(2026, 12, 31, 12);
    for (i, (y, m, d)) in [
        (1990, 1, 2),
        (1988, 2, 29),
        (2000, 2, 29),
        (1975, 3, 1),
        (1999, 6, 15),
        (2001, 12, 31),
        (1960, 1, 1),
        (1985, 2, 28),
    ]
    .into_iter()
    .enumerate()
    {
        let b = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let id = k
            .customer(
                t,
                json!({"name": format!("c{i}"), "birthday": b.format("%Y-%m-%d").to_string()}),
                created,
            )
            .await;
        birthdays.insert(id, b);
    }
    // Two years, day by day, at 10:00 UTC; a second tick the same day plans nothing new.
    let mut day = at(2027, 1, 1, 10);
    while day < at(2029, 1, 1, 0) {
        k.tick(t, day).await;
        if day.day() == 1 {
            k.tick(t, day + TimeDelta::minutes(5)).await;
        }
        day += TimeDelta::days(1);
    }
    let coupons = k.records(t, k.coupons).await;
    assert_eq!(coupons.len(), birthdays.len() * 2, "{coupons:#?}");
    for (id, b) in &birthdays {
        for year in [2027, 2028] {
            let mine: Vec<_> = coupons
                .iter()
                .filter(|c| c["customer"] == json!(id) && c["year"] == json!(year))
                .collect();
            assert_eq!(mine.len(), 1, "customer born {b} in {year}: {mine:?}");
            // The firing three days before this year's or next year's
            // anniversary (29 February counts on the 28th in common years).
            let expected = [year, year + 1]
                .into_iter()
                .map(|y| {
                    NaiveDate::from_ymd_opt(y, b.month(), b.day())
                        .unwrap_or_else(|| NaiveDate::from_ymd_opt(y, 2, 28).unwrap())
                        - TimeDelta::days(3)
                })
                .find(|d| d.year() == year)
                .unwrap();
            assert_eq!(
                mine[0]["on"],
                json!(expected.format("%Y-%m-%d").to_string()),
                "born {b}"
            );
        }
    }
}
both_backends!(
    birthday_coupons_fire_once_a_year,
    birthday_coupons_fire_once_a_year
);

async fn schedules_fire_on_time_and_stop_when_disabled(t: &TestDb) {
    let k = kit(t, "cron").await;
    let def = json!({"name": "weekly", "form_id": k.customers,
                     "trigger": {"kind": "schedule", "cron": "0 9 * * 1", "timezone": "Asia/Shanghai"},
                     "script": "let n = count(\"customers\", ()); create(\"coupons\", #{customer: `${n}`, code: now()});"});
    let rule = k.rule(t, def.clone()).await;
    k.customer(t, json!({"name": "Ann"}), at(2026, 1, 1, 0)).await;
    // Mondays 2026-01-05 and 2026-01-12 at 09:00 Shanghai = 01:00 UTC.
    k.tick(t, at(2026, 1, 5, 0)).await;
    assert!(k.records(t, k.coupons).await.is_empty());
    k.tick(t, at(2026, 1, 5, 1)).await;
    k.tick(t, at(2026, 1, 13, 0)).await;
    let mut codes: Vec<String> = k
        .records(t, k.coupons)
        .await
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        vec!["2026-01-05T01:00:00Z", "2026-01-12T01:00:00Z"],
        "now() is the planned instant"
    );
    assert!(k.records(t, k.coupons).await.iter().all(|c| c["customer"] == "1"));
    // Disabled: nothing more fires, even after re-enabling (missed firings are not replayed).
    let mut off = def.clone();
    off["enabled"] = json!(false);
    t.engine
        .update_rule(&k.ctx.clone().at(at(2026, 1, 14, 0)), rule, off)
        .await
        .unwrap();
    k.tick(t, at(2026, 1, 20, 2)).await;
    t.engine
        .update_rule(&k.ctx.clone().at(at(2026, 1, 21, 0)), rule, def)
        .await
        .unwrap();
    k.tick(t, at(2026, 1, 21, 1)).await;
    assert_eq!(k.records(t, k.coupons).await.len(), 2);
    k.tick(t, at(2026, 1, 26, 1)).await;
    assert_eq!(k.records(t, k.coupons).await.len(), 3);
}
both_backends!(
    schedules_fire_on_time_and_stop_when_disabled,
    schedules_fire_on_time_and_stop_when_disabled
);

async fn test_runs_write_nothing(t: &TestDb) {
    let k = kit(t, "testrun").await;
    let rule = k
        .rule(
            t,
            json!({"name": "big spender", "form_id": k.customers, "trigger": {"kind": "manual"},
                   "condition": "record.total > 1000",
                   "script": "log(\"tagging\"); tag(record.id, \"VIP\"); email(record.email, \"Hi\", \"Thanks \" + record.name);"}),
        )
        .await;
    let now = at(2026, 3, 1, 10);
    let rich = k
        .customer(
            t,
            json!({"name": "Ann", "email": "ann@example.com", "total": 5000}),
            now,
        )
        .await;
    let poor = k
        .customer(
            t,
            json!({"name": "Bob", "email": "bob@example.com", "total": 10}),
            now,
        )
        .await;
    let out = t
        .engine
        .test_rule(
            &k.ctx,
            rule,
            TestRunInput {
                record_id: Some(rich.parse().unwrap()),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    assert!(out.condition);
    assert_eq!(out.logs, vec!["tagging"]);
    assert_eq!(out.effects.len(), 2);
    assert!(out.error.is_none());
    let out = t
        .engine
        .test_rule(
            &k.ctx,
            rule,
            TestRunInput {
                record: Some(obj(json!({"total": 5}))),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    assert!(!out.condition);
    let ann = t
        .engine
        .get_record(&k.ctx, k.customers, rich.parse().unwrap())
        .await
        .unwrap();
    assert!(ann.tags.is_empty(), "a test-run writes nothing");
    // A manual run over a filter: one job per record, watched to the end.
    let run = t
        .engine
        .run_rule(
            &k.ctx,
            rule,
            ManualRunInput {
                filter: Some(json!({"field": "total", "op": "gte", "value": 0})),
                ..ManualRunInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(run.total, 2);
    let before = t
        .engine
        .batch_progress(&k.ctx, rule, &run.batch_id)
        .await
        .unwrap();
    assert_eq!((before.pending, before.done), (2, false));
    k.tick(t, k.ctx.now).await;
    let after = t
        .engine
        .batch_progress(&k.ctx, rule, &run.batch_id)
        .await
        .unwrap();
    let runs = t.engine.rule_runs(&k.ctx, rule, 10, None).await.unwrap().runs;
    assert_eq!(
        (after.succeeded, after.skipped, after.done),
        (1, 1, true),
        "{after:?} {runs:#?}"
    );
    let ann = t
        .engine
        .get_record(&k.ctx, k.customers, rich.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(ann.tags, vec!["VIP"]);
    let bob = t
        .engine
        .get_record(&k.ctx, k.customers, poor.parse().unwrap())
        .await
        .unwrap();
    assert!(bob.tags.is_empty());
}
both_backends!(test_runs_write_nothing, test_runs_write_nothing);

async fn scripts_see_only_their_tenant(t: &TestDb) {
    let a = kit(t, "tenant-a").await;
    let b = kit(t, "tenant-b").await;
    b.customer(t, json!({"name": "Secret", "total": 9}), at(2026, 1, 1, 0))
        .await;
    let rule = a
        .rule(
            t,
            json!({"name": "peek", "form_id": a.customers, "trigger": {"kind": "manual"},
                   "script": format!("log(count(\"{}\", ())); log(find(\"{}\", (), 10).len());", b.customers, b.customers)}),
        )
        .await;
    let out = t
        .engine
        .test_rule(
            &a.ctx,
            rule,
            TestRunInput {
                record: Some(Map::new()),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    assert!(out.error.is_none(), "{out:?}");
    assert_eq!(out.logs, vec!["0", "0"], "another tenant's form finds nothing");
}
both_backends!(scripts_see_only_their_tenant, scripts_see_only_their_tenant);

async fn birthday_email_reaches_the_customer(t: &TestDb) {
    use common::smtp_sink::SmtpSink;
    use engine::notify::{SmtpInput, SmtpTls};
    let k = kit(t, "mail").await;
    let sink = SmtpSink::start().await;
    t.engine
        .put_smtp_settings(
            &k.ctx,
            SmtpInput {
                host: "127.0.0.1".into(),
                port: sink.port(),
                username: None,
                password: None,
                from_address: "Shop <noreply@shop.test>".into(),
                tls: SmtpTls::None,
            },
        )
        .await
        .unwrap();
    k.rule(
        t,
        json!({"name": "birthday mail", "form_id": k.customers,
               "trigger": {"kind": "date_field", "field": "birthday", "offset_days": 0, "at": "09:00", "repeat": "yearly"},
               "condition": "record.email != ()",
               "script": "let code = \"BDAY-\" + year(today()) + \"-\" + record.name;\n\
                          create(\"coupons\", #{customer: record.id, code: code});\n\
                          email(record.email, \"Happy birthday, \" + record.name, \"Your coupon: \" + code);"}),
    )
    .await;
    k.customer(
        t,
        json!({"name": "Ann", "email": "ann@example.com", "birthday": "1990-04-02"}),
        at(2026, 1, 1, 0),
    )
    .await;
    k.customer(
        t,
        json!({"name": "Bob", "birthday": "1990-04-02"}),
        at(2026, 1, 1, 0),
    )
    .await;
    k.tick(t, at(2026, 4, 2, 8)).await;
    assert!(sink.received().is_empty(), "not before 09:00");
    k.tick(t, at(2026, 4, 2, 10)).await;
    let mails = sink.wait_for(1, std::time::Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, vec!["ann@example.com"]);
    assert_eq!(mails[0].header("Subject").as_deref(), Some("Happy birthday, Ann"));
    assert!(
        mails[0].body().contains("Your coupon: BDAY-2026-Ann"),
        "{}",
        mails[0].body()
    );
    assert_eq!(
        k.records(t, k.coupons).await.len(),
        1,
        "Bob has no email: the condition skipped him"
    );
    let log = t
        .engine
        .list_email_deliveries(&k.ctx, engine::notify::DeliveryQuery::default())
        .await
        .unwrap();
    assert_eq!(log.deliveries.len(), 1);
}
both_backends!(
    birthday_email_reaches_the_customer,
    birthday_email_reaches_the_customer
);

/// The samples under `examples/rules/` are valid rules, and each one's
/// test-run gives the output written down for it in
/// `examples/rules/expected.json` (ids there are `{ann}`, `{ann12}` for its
/// first 8 characters, `{order}` and `{customers}`; `{owner}` is the
/// member's e-mail).
async fn example_rules_are_valid(t: &TestDb) {
    let ctx = t.tenant("samples").await;
    let app = t
        .engine
        .create_app(
            &ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let form = |name: &'static str, fields: Value| {
        let engine = t.engine.clone();
        let ctx = ctx.clone();
        async move {
            engine
                .create_form(&ctx, app, json!({"name": name, "fields": fields}))
                .await
                .unwrap()
                .id
        }
    };
    let customers = form(
        "customers",
        json!([
            {"key": "name", "label": "Name", "type": "text"},
            {"key": "email", "label": "Email", "type": "email"},
            {"key": "birthday", "label": "Birthday", "type": "date", "indexed": true},
            {"key": "tier", "label": "Tier", "type": "text"},
            {"key": "total_spent", "label": "Total spent", "type": "number"},
            {"key": "owner", "label": "Owner", "type": "text"}
        ]),
    )
    .await;
    let orders = form(
        "orders",
        json!([
            {"key": "customer", "label": "Customer", "type": "text"},
            {"key": "ordered_at", "label": "Ordered", "type": "date"},
            {"key": "amount", "label": "Amount", "type": "number"}
        ]),
    )
    .await;
    form(
        "coupons",
        json!([
            {"key": "customer", "label": "Customer", "type": "text", "required": true},
            {"key": "code", "label": "Code", "type": "text", "required": true},
            {"key": "valid_until", "label": "Valid until", "type": "date"}
        ]),
    )
    .await;
    form(
        "tasks",
        json!([
            {"key": "title", "label": "Title", "type": "text", "required": true},
            {"key": "customer", "label": "Customer", "type": "text"},
            {"key": "owner", "label": "Owner", "type": "text"},
            {"key": "due", "label": "Due", "type": "date"}
        ]),
    )
    .await;
    let owner = t.engine.me(&ctx).await.unwrap().email;
    let add = |form: FormId, data: Value| {
        let engine = t.engine.clone();
        let ctx = ctx.clone();
        async move {
            engine
                .create_record(&ctx, form, RecordInput { data: obj(data) }, None)
                .await
                .unwrap()
                .id
                .to_string()
        }
    };
    let ann = add(
        customers,
        json!({"name": "Ann", "email": "ann@example.com", "birthday": "1990-04-02",
               "total_spent": 12000, "owner": owner}),
    )
    .await;
    add(
        orders,
        json!({"customer": ann, "ordered_at": "2026-01-01", "amount": 300}),
    )
    .await;
    let order = add(
        orders,
        json!({"customer": ann, "ordered_at": "2026-01-31", "amount": 500}),
    )
    .await;
    let expected: Map<String, Value> =
        serde_json::from_str(include_str!("../../examples/rules/expected.json")).unwrap();
    let mut seen = Vec::new();
    for (name, text) in [
        (
            "birthday-coupon",
            include_str!("../../examples/rules/birthday-coupon.json"),
        ),
        (
            "churn-alert",
            include_str!("../../examples/rules/churn-alert.json"),
        ),
        (
            "order-clears-churn",
            include_str!("../../examples/rules/order-clears-churn.json"),
        ),
        (
            "vip-upgrade",
            include_str!("../../examples/rules/vip-upgrade.json"),
        ),
        (
            "holiday-greeting",
            include_str!("../../examples/rules/holiday-greeting.json"),
        ),
    ] {
        let text = text
            .replace("<customers form id>", &customers.to_string())
            .replace("<orders form id>", &orders.to_string());
        let def: Value = serde_json::from_str(&text).unwrap();
        let rule = match t.engine.create_rule(&ctx, app, def).await {
            Ok(r) => r,
            Err(e) => panic!("examples/rules/{name}.json: {e} {:?}", e.details()),
        };
        let case = expected
            .get(name)
            .unwrap_or_else(|| panic!("examples/rules/expected.json has no `{name}`"));
        let record_id = match case["record"].as_str() {
            Some("ann") => Some(ann.parse().unwrap()),
            Some("order") => Some(order.parse().unwrap()),
            _ => None,
        };
        let out = t
            .engine
            .test_rule(
                &ctx,
                rule.id,
                TestRunInput {
                    record_id,
                    old: case.get("old").and_then(Value::as_object).cloned(),
                    at: Some(case["at"].as_str().unwrap().parse().unwrap()),
                    ..TestRunInput::default()
                },
            )
            .await
            .unwrap();
        let text = serde_json::to_string(&json!({
            "condition": out.condition, "effects": out.effects, "logs": out.logs, "error": out.error,
        }))
        .unwrap()
        .replace(&customers.to_string(), "{customers}")
        .replace(&ann, "{ann}")
        .replace(&order, "{order}")
        // The short form is replaced only once every whole id is.
        .replace(&ann[ann.len() - 12..], "{ann12}")
        .replace(&owner, "{owner}");
        let got: Value = serde_json::from_str(&text).unwrap();
        for k in ["condition", "effects", "logs", "error"] {
            assert_eq!(got[k], case[k], "examples/rules/{name}: `{k}` differs:\n{got:#}");
        }
        seen.push(name);
    }
    assert_eq!(seen.len(), expected.len(), "every expected output has its sample");
}
both_backends!(example_rules_are_valid, example_rules_are_valid);

/// The tenant's time zone is settable and scripts' `today()` follows it.
async fn tenant_time_zone(t: &TestDb) {
    let k = kit(t, "zone").await;
    let rule = k
        .rule(
            t,
            json!({"name": "day", "form_id": k.customers, "trigger": {"kind": "record_created"},
                   "script": "log(today());"}),
        )
        .await;
    let evening = Utc.with_ymd_and_hms(2026, 1, 1, 20, 0, 0).single().unwrap();
    let run = |ctx: Ctx| async move {
        t.engine
            .test_rule(
                &ctx,
                rule,
                TestRunInput {
                    record: Some(obj(json!({"name": "x"}))),
                    at: Some(evening),
                    ..TestRunInput::default()
                },
            )
            .await
            .unwrap()
            .logs
    };
    assert_eq!(run(k.ctx.clone()).await, vec!["2026-01-01"]);
    let err = t
        .engine
        .update_tenant(
            &k.ctx,
            engine::auth::tenant::TenantPatch {
                time_zone: Some("Mars/Olympus".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert_eq!(err.details()[0].field, "time_zone");
    let member = Ctx::new(k.ctx.tenant, k.ctx.actor, engine::ctx::Role::Member);
    let err = t
        .engine
        .update_tenant(
            &member,
            engine::auth::tenant::TenantPatch {
                time_zone: Some("Asia/Shanghai".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let view = t
        .engine
        .update_tenant(
            &k.ctx,
            engine::auth::tenant::TenantPatch {
                time_zone: Some("Asia/Shanghai".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(view.time_zone, "Asia/Shanghai");
    // 20:00 UTC on 1 January is already 2 January in Shanghai.
    assert_eq!(run(k.ctx.clone()).await, vec!["2026-01-02"]);

    // The cron preview reads the expression in the tenant's zone, or in the
    // zone given, as the schedule trigger does.
    let preview = t
        .engine
        .preview_schedule(&k.ctx.clone().at(evening), "30 9 * * 1-5", None, 5)
        .await
        .unwrap();
    assert_eq!(preview.timezone, "Asia/Shanghai");
    let shown: Vec<String> = preview.times.iter().map(|t| t.to_rfc3339()).collect();
    // 2026-01-02 is a Friday; the next weekdays at 09:30 Shanghai are 01:30 UTC.
    assert_eq!(
        shown,
        [
            "2026-01-02T01:30:00+00:00",
            "2026-01-05T01:30:00+00:00",
            "2026-01-06T01:30:00+00:00",
            "2026-01-07T01:30:00+00:00",
            "2026-01-08T01:30:00+00:00"
        ]
    );
    let utc = t
        .engine
        .preview_schedule(&k.ctx.clone().at(evening), "0 0 1 * *", Some("UTC"), 99)
        .await
        .unwrap();
    assert_eq!(utc.times.len(), engine::automation::MAX_PREVIEW_TIMES);
    assert_eq!(utc.times[0].to_rfc3339(), "2026-02-01T00:00:00+00:00");
    let err = t
        .engine
        .preview_schedule(&k.ctx, "61 * * *", Some("Mars/Olympus"), 5)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    let fields: Vec<String> = err.details().into_iter().map(|d| d.field).collect();
    assert_eq!(fields, ["cron", "timezone"]);
}
both_backends!(tenant_time_zone, tenant_time_zone);
