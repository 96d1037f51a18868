//! Every built-in field type: config schema file, value schema (valid and
//! invalid values through a compiled form), import parsing and display.

// Helpers outside `#[test]` fns are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use chrono::{TimeZone, Utc};
use engine::meta::compile::{build_validator, compile_form, validate};
use engine::meta::field_type::serial::{render_serial, serial_period};
use engine::meta::field_type::{FieldTypes, SqlCast, builtin};
use engine::meta::model::{FieldDef, FormDef};
use serde_json::{Value, json};

fn types() -> FieldTypes {
    builtin().unwrap()
}

fn field(v: Value) -> FieldDef {
    let mut v = v;
    let obj = v.as_object_mut().unwrap();
    obj.entry("key").or_insert(json!("f"));
    obj.entry("label").or_insert(json!("F"));
    serde_json::from_value(v).unwrap()
}

/// Validation messages of `{"f": value}` against a form holding only `f`.
fn check(f: &FieldDef, value: Value) -> Vec<String> {
    let def = FormDef {
        name: "t".into(),
        description: String::new(),
        fields: vec![f.clone()],
        removed_fields: vec![],
        title_field: None,
        layout: Value::Null,
    };
    let schema = compile_form(&types(), &def);
    let v = build_validator(&schema).unwrap_or_else(|e| panic!("{e}: {schema}"));
    validate(&v, &json!({ "f": value }))
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect()
}

fn ok(f: &FieldDef, value: Value) {
    let errors = check(f, value.clone());
    assert!(
        errors.is_empty(),
        "{value} should be valid for {}: {errors:?}",
        f.kind
    );
}

fn bad(f: &FieldDef, value: Value, message: &str) {
    let errors = check(f, value.clone());
    assert!(
        errors.iter().any(|e| e.contains(message)),
        "{value} should fail for {} with `{message}`: {errors:?}",
        f.kind
    );
}

fn import(f: &FieldDef, cell: &str) -> Result<Value, String> {
    types().get(&f.kind).unwrap().parse_import(cell, f)
}

fn display(f: &FieldDef, v: Value) -> String {
    types().get(&f.kind).unwrap().display(&v, f)
}

fn normalize(f: &FieldDef, v: Value) -> Value {
    types().get(&f.kind).unwrap().normalize(v, f)
}

#[test]
fn every_kind_has_a_valid_config_schema_file() {
    let types = types();
    let kinds: Vec<&str> = types.kinds().collect();
    assert_eq!(
        kinds,
        [
            "attachment",
            "checkbox",
            "date",
            "datetime",
            "email",
            "formula",
            "image",
            "member",
            "money",
            "multiselect",
            "number",
            "phone",
            "rating",
            "relation",
            "select",
            "serial",
            "subform",
            "text",
            "textarea",
            "url"
        ]
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/field");
    for kind in kinds {
        let path = dir.join(format!("{kind}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind}.json: {e}"));
        let t = types.get(kind).unwrap();
        assert_eq!(
            t.config_schema(),
            &file,
            "{kind}: embedded schema differs from the file"
        );
        assert!(
            jsonschema::meta::is_valid(&file),
            "{kind}.json is not a valid JSON Schema"
        );
        assert_eq!(
            file["additionalProperties"],
            json!(false),
            "{kind}.json must refuse unknown keys"
        );
        assert_eq!(
            file["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{kind}"
        );
        assert!(build_validator(&file).is_ok(), "{kind}");
    }
    let form: Value = serde_json::from_str(include_str!("../../schemas/form.schema.json")).unwrap();
    assert!(jsonschema::meta::is_valid(&form));
}

#[test]
fn casts_and_flags() {
    let types = types();
    let cast = |k: &str| types.get(k).unwrap().sql_cast();
    assert_eq!(cast("number"), SqlCast::Numeric);
    assert_eq!(cast("money"), SqlCast::Numeric);
    assert_eq!(cast("rating"), SqlCast::Numeric);
    assert_eq!(cast("date"), SqlCast::Date);
    assert_eq!(cast("datetime"), SqlCast::DateTime);
    assert_eq!(cast("checkbox"), SqlCast::Bool);
    assert_eq!(cast("multiselect"), SqlCast::Array);
    assert_eq!(cast("subform"), SqlCast::None);
    assert_eq!(cast("text"), SqlCast::Text);
    let member = types.get("member").unwrap();
    assert_eq!(
        member.sql_cast_for(&field(json!({"type": "member", "multiple": true}))),
        SqlCast::Array
    );
    assert_eq!(
        member.sql_cast_for(&field(json!({"type": "member"}))),
        SqlCast::Text
    );
    let formula = types.get("formula").unwrap();
    assert_eq!(
        formula.sql_cast_for(&field(json!({"type": "formula", "expr": "1", "result": "date"}))),
        SqlCast::Date
    );
    let computed: Vec<&str> = types
        .kinds()
        .filter(|k| types.get(k).unwrap().is_computed())
        .collect();
    assert_eq!(computed, ["formula", "serial"]);
    let searchable: Vec<&str> = types
        .kinds()
        .filter(|k| types.get(k).unwrap().is_searchable())
        .collect();
    assert_eq!(
        searchable,
        ["email", "phone", "select", "serial", "text", "textarea", "url"]
    );
}

#[test]
fn text_and_textarea() {
    let f = field(json!({"type": "text", "max_length": 5, "min_length": 2}));
    ok(&f, json!("abc"));
    ok(&f, Value::Null);
    bad(&f, json!("abcdef"), "f: must be at most 5 characters");
    bad(&f, json!("a"), "must be at least 2 characters");
    bad(&f, json!(12), "must be text");
    let p = field(json!({"type": "text", "pattern": "^[A-Z]+$"}));
    ok(&p, json!("ABC"));
    bad(&p, json!("abc"), "must match the pattern");
    let long = field(json!({"type": "text"}));
    bad(&long, json!("x".repeat(2001)), "at most 2000");
    let area = field(json!({"type": "textarea"}));
    ok(&area, json!("x".repeat(2001)));
    bad(&area, json!("x".repeat(20001)), "at most 20000");
    assert_eq!(import(&f, "  hi "), Ok(json!("hi")));
    assert_eq!(import(&f, "   "), Ok(Value::Null));
    assert_eq!(import(&area, "a\r\nb"), Ok(json!("a\nb")));
    assert_eq!(display(&f, json!("hi")), "hi");
    assert_eq!(display(&f, Value::Null), "");
}

#[test]
fn number() {
    let f = field(json!({"type": "number", "min": 0, "max": 100, "precision": 2}));
    ok(&f, json!(3));
    ok(&f, json!(99.5));
    bad(&f, json!(101), "must be at most 100");
    bad(&f, json!(-1), "must be at least 0");
    bad(&f, json!("3"), "must be a number");
    ok(&f, json!(1.23));
    ok(&f, json!(0.3));
    bad(&f, json!(1.234), "must have at most 2 decimals");
    let whole = field(json!({"type": "number", "precision": 0}));
    ok(&whole, json!(7));
    ok(&whole, json!(7.0));
    bad(&whole, json!(7.5), "must be a whole number");
    assert_eq!(import(&f, "1,234.5"), Ok(json!(1234.5)));
    assert_eq!(import(&f, "-12"), Ok(json!(-12)));
    assert_eq!(import(&f, "(7)"), Ok(json!(-7)));
    assert_eq!(import(&f, ""), Ok(Value::Null));
    assert!(import(&f, "abc").unwrap_err().contains("is not a number"));
    assert_eq!(display(&f, json!(1.23456)), "1.23");
    assert_eq!(normalize(&f, json!(1.23456)), json!(1.23));
    assert_eq!(normalize(&f, json!(3)), json!(3));
}

#[test]
fn money() {
    let f = field(json!({"type": "money", "min": 0}));
    ok(&f, json!(1234.5));
    bad(&f, json!(-1), "must be at least 0");
    bad(&f, json!("¥1"), "must be a number");
    assert_eq!(import(&f, "¥1,234.50"), Ok(json!(1234.5)));
    assert_eq!(import(&f, "￥ 88"), Ok(json!(88)));
    assert_eq!(import(&f, "USD 12.345"), Ok(json!(12.35)));
    assert_eq!(import(&f, "100元"), Ok(json!(100)));
    assert_eq!(import(&f, "-$3.5"), Ok(json!(-3.5)));
    assert!(import(&f, "lots").is_err());
    assert_eq!(display(&f, json!(1234.5)), "¥1,234.50");
    assert_eq!(display(&f, json!(-1234567)), "-¥1,234,567.00");
    let usd = field(json!({"type": "money", "currency": "USD", "scale": 0}));
    assert_eq!(display(&usd, json!(1999.6)), "$2,000");
    let chf = field(json!({"type": "money", "currency": "CHF"}));
    assert_eq!(display(&chf, json!(5)), "CHF 5.00");
    assert_eq!(normalize(&f, json!(10.005)), json!(10.01));
    assert_eq!(normalize(&f, json!(0.1 + 0.2)), json!(0.3));
}

#[test]
fn date_and_datetime() {
    let d = field(json!({"type": "date"}));
    ok(&d, json!("2026-11-23"));
    bad(&d, json!("2026-13-01"), "must be a date (yyyy-mm-dd)");
    bad(&d, json!("23/11/2026"), "must be a date");
    for cell in ["2026-11-23", "2026/11/23", "2026年11月23日", "2026/1/5 "] {
        assert!(import(&d, cell).is_ok(), "{cell}");
    }
    assert_eq!(import(&d, "2026年11月23日"), Ok(json!("2026-11-23")));
    assert_eq!(import(&d, "2026/1/5"), Ok(json!("2026-01-05")));
    assert!(import(&d, "yesterday").is_err());
    assert_eq!(display(&d, json!("2026-11-23")), "2026-11-23");

    let t = field(json!({"type": "datetime"}));
    ok(&t, json!("2026-11-23T14:05:00Z"));
    ok(&t, json!("2026-11-23T14:05:00.123+08:00"));
    bad(&t, json!("2026-11-23 14:05"), "must be a date and time");
    assert_eq!(
        import(&t, "2026-11-23 14:05"),
        Ok(json!("2026-11-23T14:05:00.000Z"))
    );
    assert_eq!(
        import(&t, "2026-11-23T22:05:00+08:00"),
        Ok(json!("2026-11-23T14:05:00.000Z"))
    );
    assert!(import(&t, "soon").is_err());
    assert_eq!(
        normalize(&t, json!("2026-11-23T22:05:00+08:00")),
        json!("2026-11-23T14:05:00.000Z")
    );
    assert_eq!(
        normalize(&t, json!("2026-11-23T14:05:00.5Z")),
        json!("2026-11-23T14:05:00.500Z")
    );
    assert_eq!(
        display(&t, json!("2026-11-23T14:05:00.000Z")),
        "2026-11-23 14:05 UTC"
    );

    let bounded = field(json!({"type": "date", "min": "2026-01-01", "max": "2026-12-31"}));
    ok(&bounded, json!("2026-01-01"));
    ok(&bounded, json!("2026-12-31"));
    bad(
        &bounded,
        json!("2025-12-31"),
        "must not be earlier than 2026-01-01",
    );
    bad(&bounded, json!("2027-01-01"), "must not be later than 2026-12-31");
    let tb = field(json!({"type": "datetime", "min": "2026-11-23T00:00:00+08:00"}));
    ok(&tb, json!("2026-11-22T16:00:00Z"));
    bad(&tb, json!("2026-11-22T15:59:59Z"), "must not be earlier than");
}

fn tiers(kind: &str) -> FieldDef {
    field(json!({"type": kind, "options": [
        {"value": "vip", "label": "VIP", "color": "#ff0000"},
        {"value": "regular", "label": "普通"}
    ]}))
}

#[test]
fn select() {
    let f = tiers("select");
    ok(&f, json!("vip"));
    ok(&f, Value::Null);
    bad(&f, json!("gold"), "must be one of: vip, regular");
    assert_eq!(import(&f, "vip"), Ok(json!("vip")));
    assert_eq!(import(&f, "普通"), Ok(json!("regular")));
    assert_eq!(import(&f, "Vip"), Ok(json!("vip")));
    assert!(import(&f, "gold").unwrap_err().contains("not an option"));
    assert_eq!(display(&f, json!("regular")), "普通");
}

#[test]
fn multiselect() {
    let f = field(
        json!({"type": "multiselect", "min_items": 1, "max_items": 2, "options": [
            {"value": "a", "label": "Apple"}, {"value": "b", "label": "Banana"}, {"value": "c", "label": "橙子"}
        ]}),
    );
    ok(&f, json!(["a", "b"]));
    bad(&f, json!(["a", "a"]), "must not repeat a value");
    bad(&f, json!([]), "must have at least 1 item");
    bad(&f, json!(["a", "b", "c"]), "must have at most 2 items");
    bad(&f, json!(["z"]), "f/0: must be one of: a, b, c");
    bad(&f, json!("a"), "must be a list");
    assert_eq!(import(&f, "Apple, 橙子；b"), Ok(json!(["a", "c", "b"])));
    assert_eq!(import(&f, "a，a"), Ok(json!(["a"])));
    assert!(import(&f, "a, kiwi").is_err());
    assert_eq!(display(&f, json!(["a", "c"])), "Apple, 橙子");
}

#[test]
fn checkbox() {
    let f = field(json!({"type": "checkbox"}));
    ok(&f, json!(true));
    bad(&f, json!("yes"), "must be true or false");
    for (cell, want) in [
        ("是", true),
        ("否", false),
        ("TRUE", true),
        ("no", false),
        ("1", true),
        ("0", false),
        ("✓", true),
    ] {
        assert_eq!(import(&f, cell), Ok(json!(want)), "{cell}");
    }
    assert!(import(&f, "maybe").is_err());
    assert_eq!(display(&f, json!(true)), "是");
    assert_eq!(display(&f, json!(false)), "否");
}

#[test]
fn phone_email_url() {
    let p = field(json!({"type": "phone"}));
    ok(&p, json!("+86 138-0013-8000"));
    ok(&p, json!("010-6552 9988"));
    bad(&p, json!("(010) 6552 9988"), "must be a phone number");
    bad(&p, json!("call me"), "must be a phone number");
    assert_eq!(import(&p, " 13800138000 "), Ok(json!("13800138000")));
    assert_eq!(import(&p, "13800138000.0"), Ok(json!("13800138000")));
    assert!(import(&p, "abc").is_err());
    assert_eq!(normalize(&p, json!(" 123456 ")), json!("123456"));
    let custom = field(json!({"type": "phone", "pattern": "^1[0-9]{10}$"}));
    ok(&custom, json!("13800138000"));
    bad(&custom, json!("+86 13800138000"), "must match the pattern");

    let e = field(json!({"type": "email"}));
    ok(&e, json!("li.lei@example.com"));
    bad(&e, json!("not-an-email"), "must be an email address");
    assert_eq!(import(&e, " Li@Example.COM "), Ok(json!("Li@example.com")));
    assert!(import(&e, "li@").is_err());
    assert_eq!(normalize(&e, json!(" a@B.cn")), json!("a@b.cn"));

    let u = field(json!({"type": "url"}));
    ok(&u, json!("https://example.com/a?b=1"));
    ok(&u, json!("http://example.com"));
    bad(
        &u,
        json!("ftp://example.com"),
        "must start with http:// or https://",
    );
    bad(&u, json!("example.com"), "f: must");
    assert_eq!(
        import(&u, "www.example.com"),
        Ok(json!("https://www.example.com"))
    );
    assert!(import(&u, "javascript:alert(1)").is_err());
    assert_eq!(display(&u, json!("https://x.cn")), "https://x.cn");
}

#[test]
fn member_and_relation() {
    let id = "0195f4a0-0000-7000-8000-000000000001";
    let id2 = "0195f4a0-0000-7000-8000-000000000002";
    let m = field(json!({"type": "member"}));
    ok(&m, json!(id));
    bad(&m, json!("bob"), "must be a uuid");
    bad(&m, json!([id]), "must be text");
    assert_eq!(import(&m, &format!(" {} ", id.to_uppercase())), Ok(json!(id)));
    assert!(import(&m, "bob").unwrap_err().contains("not a uuid"));
    let many = field(json!({"type": "member", "multiple": true}));
    ok(&many, json!([id, id2]));
    bad(&many, json!([id, id]), "must not repeat");
    bad(&many, json!(id), "must be a list");
    assert_eq!(import(&many, &format!("{id}, {id2}")), Ok(json!([id, id2])));
    assert_eq!(display(&many, json!([id, id2])), format!("{id}, {id2}"));

    let r = field(json!({"type": "relation", "form_id": id}));
    ok(&r, json!(id2));
    bad(&r, json!(42), "must be text");
    let rm = field(json!({"type": "relation", "form_id": id, "multiple": true}));
    ok(&rm, json!([id2]));
    assert_eq!(import(&rm, id2), Ok(json!([id2])));
}

#[test]
fn subform() {
    let f = field(
        json!({"type": "subform", "min_rows": 1, "max_rows": 3, "fields": [
            {"key": "sku", "label": "SKU", "type": "text", "required": true},
            {"key": "qty", "label": "Qty", "type": "number", "min": 1},
            {"key": "kind", "label": "Kind", "type": "select", "options": [{"value": "a"}]}
        ]}),
    );
    ok(
        &f,
        json!([{"sku": "A1", "qty": 2}, {"sku": "B", "qty": null, "kind": "a"}]),
    );
    bad(&f, json!([]), "must have at least 1 item");
    bad(&f, json!([{"qty": 2}]), "f/0/sku: is required");
    bad(&f, json!([{"sku": "A", "qty": 0}]), "f/0/qty: must be at least 1");
    bad(
        &f,
        json!([{"sku": "A", "other": 1}]),
        "f/0/other: is not a field of this form",
    );
    bad(
        &f,
        json!([{"sku": "A", "kind": "b"}]),
        "f/0/kind: must be one of: a",
    );
    bad(&f, json!({"sku": "A"}), "must be a list");
    assert!(import(&f, "x").unwrap_err().contains("cannot be imported"));
    assert_eq!(display(&f, json!([{}, {}])), "2 rows");
    assert_eq!(types().get("subform").unwrap().sql_cast(), SqlCast::None);
}

#[test]
fn serial() {
    let f = field(json!({"type": "serial", "pattern": "SO-{yyyy}{mm}{dd}-{seq:4}"}));
    ok(&f, json!("SO-20261123-0001"));
    bad(&f, json!(1), "must be text");
    assert!(import(&f, "SO-1").unwrap_err().contains("cannot be imported"));
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap();
    assert_eq!(
        render_serial("SO-{yyyy}{mm}{dd}-{seq:4}", 42, now),
        "SO-20261123-0042"
    );
    assert_eq!(render_serial("C{yy}-{seq:2}", 12345, now), "C26-12345");
    assert_eq!(serial_period("SO-{yyyy}{mm}-{seq:4}", now), "SO-202611-");
    assert_eq!(serial_period("{seq:6}", now), "");
    let s = types();
    let serial = s.get("serial").unwrap();
    assert!(serial.check_config(&f).is_empty());
    for bad_pattern in [
        "SO-{seq:4}-{seq:2}",
        "SO",
        "{seq:13}",
        "{hh}{seq:3}",
        "{seq:3",
        "a}{seq:2}",
    ] {
        let g = field(json!({"type": "serial", "pattern": bad_pattern}));
        assert_eq!(serial.check_config(&g).len(), 1, "{bad_pattern}");
    }
}

#[test]
fn formula() {
    let f = field(json!({"type": "formula", "expr": "record.a * 2"}));
    ok(&f, json!(4));
    ok(&f, Value::Null);
    bad(&f, json!("4"), "must be a number");
    let t = field(json!({"type": "formula", "expr": "\"x\"", "result": "text"}));
    ok(&t, json!("x"));
    let c = field(json!({"type": "formula", "expr": "true", "result": "checkbox"}));
    ok(&c, json!(true));
    assert_eq!(display(&c, json!(true)), "是");
    let d = field(json!({"type": "formula", "expr": "now", "result": "date"}));
    bad(&d, json!("tomorrow"), "must be a date");
    assert!(import(&f, "4").unwrap_err().contains("cannot be imported"));
}

#[test]
fn rating() {
    let f = field(json!({"type": "rating"}));
    ok(&f, json!(0));
    ok(&f, json!(5));
    bad(&f, json!(6), "must be at most 5");
    bad(&f, json!(2.5), "must be a whole number");
    let ten = field(json!({"type": "rating", "max": 10}));
    ok(&ten, json!(10));
    assert_eq!(import(&f, "4"), Ok(json!(4)));
    assert_eq!(import(&f, "★★★☆☆"), Ok(json!(3)));
    assert!(import(&f, "7").is_err());
    assert!(import(&f, "2.5").is_err());
    assert_eq!(display(&f, json!(3)), "★★★☆☆");
}

#[test]
fn required_fields_refuse_null_and_absence() {
    let f = field(json!({"type": "number", "required": true}));
    ok(&f, json!(1));
    bad(&f, Value::Null, "must be a number");
    let def = FormDef {
        name: "t".into(),
        description: String::new(),
        fields: vec![f],
        removed_fields: vec![],
        title_field: None,
        layout: Value::Null,
    };
    let v = build_validator(&compile_form(&types(), &def)).unwrap();
    let errors = validate(&v, &json!({}));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "f");
    assert_eq!(errors[0].message, "is required");
}

#[test]
fn file_fields_hold_arrays_of_file_ids_or_file_objects() {
    let id = "01a24e74-9f54-75c8-a5b6-ad8cb75514fb";
    for kind in ["attachment", "image"] {
        let f = field(json!({"type": kind, "max_files": 2}));
        ok(&f, json!([id]));
        ok(
            &f,
            json!([{"id": id, "name": "a.png", "size": 3, "mime": "image/png"}]),
        );
        ok(&f, json!([]));
        bad(&f, json!(id), "");
        bad(&f, json!(["not-a-uuid"]), "");
        bad(&f, json!([{"name": "no id"}]), "");
        bad(&f, json!([id, id, id]), "");
        assert_eq!(types().get(kind).unwrap().sql_cast(), SqlCast::None);
        assert_eq!(import(&f, "  "), Ok(Value::Null));
        assert!(import(&f, "a.png").is_err());
        assert_eq!(
            display(
                &f,
                json!([{"id": id, "name": "a.png"}, {"id": id, "name": "b.pdf"}])
            ),
            "a.png, b.pdf"
        );
    }
}
