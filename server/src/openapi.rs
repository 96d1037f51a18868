//! The OpenAPI 3.1 document, generated from the route table
//! ([`crate::routes::all`]) and the component schemas below. Served at
//! `/api/v1/openapi.json`; a test checks that every registered route is in it.

use std::collections::BTreeMap;

use engine::error::ErrorCode;
use serde_json::{Map, Value, json};

use crate::error::status_of;
use crate::routes::{self, Body, Endpoint};

/// Builds the whole document.
#[must_use]
pub fn document() -> Value {
    let mut paths = Map::new();
    for e in routes::all() {
        let item = paths.entry(e.path).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            item.insert(e.verb.as_lower().to_owned(), operation(e));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Formwork API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Multi-tenant forms, records and queries. Errors are \
                `{\"error\":{\"code\",\"message\",\"details\":[{\"field\",\"message\"}]}}` with stable codes.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::extract::auth::SESSION_COOKIE},
            },
        },
    })
}

fn body(b: Body) -> Option<Value> {
    match b {
        Body::Empty => None,
        Body::Ref(name) => {
            Some(json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}))
        }
        Body::Text => Some(json!({"text/plain": {"schema": {"type": "string"}}})),
        Body::Html => Some(json!({"text/html": {"schema": {"type": "string"}}})),
        Body::Multipart => Some(json!({"multipart/form-data": {"schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
            "required": ["file"],
        }}})),
        Body::Binary => Some(
            json!({"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}),
        ),
    }
}

fn operation(e: &Endpoint) -> Value {
    let mut params: Vec<Value> = e
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if name.ends_with("id") {
                json!({"type": "string", "format": "uuid"})
            } else {
                json!({"type": "string"})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    params.extend(e.params.iter().map(|p| {
        json!({"name": p.name, "in": p.location, "required": false,
               "description": p.description, "schema": {"type": p.kind}})
    }));
    let mut responses = Map::new();
    let mut ok = json!({"description": "success"});
    if let (Some(content), Some(obj)) = (body(e.response), ok.as_object_mut()) {
        obj.insert("content".to_owned(), content);
        if e.response == Body::Ref("Record") {
            let etag = json!({"description": "The record version, quoted: pass it back in `If-Match`.",
                              "schema": {"type": "string"}});
            obj.insert("headers".to_owned(), json!({"ETag": etag}));
        }
    }
    responses.insert(e.status.to_string(), ok);
    let mut codes: Vec<ErrorCode> = e.errors.to_vec();
    if e.is_authenticated {
        codes.push(ErrorCode::Unauthorized);
    }
    codes.push(ErrorCode::Internal);
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for code in codes {
        by_status
            .entry(status_of(code).as_u16())
            .or_default()
            .push(code.as_str());
    }
    for (status, codes) in by_status {
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("error: {}", codes.join(", ")),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }),
        );
    }
    let mut op = json!({
        "operationId": e.operation_id,
        "summary": e.summary,
        "tags": [e.tag],
        "parameters": params,
        "responses": responses,
    });
    if let Some(obj) = op.as_object_mut() {
        if let Some(content) = body(e.request) {
            obj.insert(
                "requestBody".to_owned(),
                json!({"required": true, "content": content}),
            );
        }
        let security = if e.is_authenticated {
            json!([{"bearer": []}, {"session": []}])
        } else {
            json!([])
        };
        obj.insert("security".to_owned(), security);
    }
    op
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn list_of(name: &str) -> Value {
    json!({"type": "array", "items": r(name)})
}

/// The component schemas referenced by the route table.
#[allow(clippy::too_many_lines)] // one literal table
fn schemas() -> Value {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let mut m = Map::new();
    m.insert(
        "Error".to_owned(),
        json!({
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": {
                        "type": "object", "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
                }}},
        }),
    );
    let names = json!({"type": "array", "items": {"type": "string"}});
    m.insert(
        "Kinds".to_owned(),
        json!({"type": "object", "properties": {
            "field_types": names, "trigger_kinds": names, "action_kinds": names,
            "workflow_events": names, "flow_statuses": names}}),
    );
    m.insert(
        "Health".to_owned(),
        json!({"type": "object", "properties": {"status": {"type": "string"}}}),
    );
    m.insert("LoginInput".to_owned(), json!({
            "type": "object", "required": ["tenant", "email", "password"], "additionalProperties": false,
            "properties": {"tenant": {"type": "string"}, "email": {"type": "string"}, "password": {"type": "string"}},
        }));
    m.insert(
        "LoginOutput".to_owned(),
        json!({
            "type": "object",
            "properties": {"token": {"type": "string"}, "user_id": id, "tenant_id": id,
                           "role": {"enum": ["owner", "admin", "member"]}},
        }),
    );
    m.insert("Me".to_owned(), json!({
            "type": "object",
            "properties": {
                "user_id": id, "email": {"type": "string"}, "display_name": {"type": "string"},
                "role": {"enum": ["owner", "admin", "member"]},
                "tenant": {"type": "object", "properties": {
                    "id": id, "slug": {"type": "string"}, "name": {"type": "string"}, "time_zone": {"type": "string"}}},
            },
        }));
    m.insert("AppInput".to_owned(), json!({
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": "string"}},
        }));
    m.insert(
        "AppPatch".to_owned(),
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
        }),
    );
    m.insert(
        "App".to_owned(),
        json!({
            "type": "object",
            "properties": {"id": id, "name": {"type": "string"}, "description": {"type": "string"},
                           "created_at": time, "updated_at": time},
        }),
    );
    m.insert("AppList".to_owned(), list_of("App"));
    m.insert("Field".to_owned(), json!({
            "type": "object", "required": ["key", "label", "type"],
            "description": "A field; per-type settings (options, min, max, max_length, pattern, ...) sit beside these keys. \
                The full meta schema is schemas/form.schema.json.",
            "properties": {
                "key": {"type": "string", "pattern": engine::meta::KEY_PATTERN},
                "label": {"type": "string"}, "type": {"type": "string"},
                "required": {"type": "boolean"}, "unique": {"type": "boolean"}, "indexed": {"type": "boolean"},
                "hidden": {"type": "boolean"}, "help": {"type": "string"}, "default": {},
            },
        }));
    m.insert(
        "FormInput".to_owned(),
        json!({
            "type": "object", "required": ["name", "fields"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "fields": list_of("Field"), "title_field": {"type": "string"}, "layout": {}},
        }),
    );
    m.insert(
        "Form".to_owned(),
        json!({
            "type": "object",
            "properties": {"id": id, "app_id": id, "name": {"type": "string"}, "version": {"type": "integer"},
                           "description": {"type": "string"}, "fields": list_of("Field"),
                           "created_at": time, "updated_at": time},
        }),
    );
    m.insert("FormList".to_owned(), list_of("Form"));
    m.insert("FormVersion".to_owned(), json!({
            "type": "object",
            "properties": {"version": {"type": "integer"}, "created_at": time, "created_by": id, "definition": {}},
        }));
    m.insert("FormVersionList".to_owned(), list_of("FormVersion"));
    m.insert(
        "JsonSchema".to_owned(),
        json!({"type": "object", "description": "A JSON Schema (draft 2020-12) for record data."}),
    );
    m.insert(
        "RecordInput".to_owned(),
        json!({
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "object"}},
        }),
    );
    m.insert("RecordPatch".to_owned(), json!({
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "object", "description": "Fields to change; null clears a field."},
                           "version": {"type": "integer", "description": "Alternative to `If-Match`."}},
        }));
    m.insert("Record".to_owned(), json!({
            "type": "object",
            "properties": {"id": id, "form_id": id, "data": {"type": "object"}, "version": {"type": "integer"},
                           "tags": {"type": "array", "items": {"type": "string"}},
                           "created_at": time, "updated_at": time, "created_by": id, "updated_by": id,
                           "deleted_at": {"type": ["string", "null"], "format": "date-time"},
                           "expanded": {"type": "object", "description": "Relation field → target id and title."}},
        }));
    m.insert(
        "BatchInput".to_owned(),
        json!({
            "type": "object", "required": ["records"],
            "properties": {"records": {"type": "array", "maxItems": 1000, "items": r("RecordInput")}},
        }),
    );
    m.insert(
        "BatchOutput".to_owned(),
        json!({
            "type": "object", "properties": {"records": list_of("Record")},
        }),
    );
    m.insert("Filter".to_owned(), json!({
            "description": "`{\"and\":[...]}`, `{\"or\":[...]}`, `{\"not\":{...}}`, `{\"tag\":\"VIP\"}` or \
                `{\"field\":\"tier\",\"op\":\"eq\",\"value\":\"VIP\"}`; ops eq ne in nin gt gte lt lte between \
                contains starts_with empty not_empty within_days days_ago in_period \
                (`{\"unit\":\"week\",\"offset\":0}`, a calendar period in the tenant's zone); the value \
                `\"$me\"` on member fields and `_created_by`/`_updated_by` is the caller.",
            "type": "object",
        }));
    m.insert(
        "QueryRequest".to_owned(),
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "filter": r("Filter"),
                "sort": {"type": "array", "items": {"type": "object", "required": ["field"],
                    "properties": {"field": {"type": "string"}, "dir": {"enum": ["asc", "desc"]}}}},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                "cursor": {"type": "string"}, "q": {"type": "string", "maxLength": 200},
                "total": {"type": "boolean"},
                "expand": {"type": "array", "items": {"type": "string"},
                           "description": "Relation fields whose targets' titles load with the page."},
            },
        }),
    );
    m.insert(
        "RecordPage".to_owned(),
        json!({
            "type": "object",
            "properties": {"records": list_of("Record"), "next_cursor": {"type": ["string", "null"]},
                           "total": {"type": ["integer", "null"]}},
        }),
    );
    m.insert("History".to_owned(), json!({
            "type": "object",
            "properties": {"version": {"type": "integer"}, "action": {"type": "string"}, "actor": id, "at": time,
                           "changes": {"type": "object"}},
        }));
    m.insert("HistoryList".to_owned(), list_of("History"));
    m.insert("AggregateRequest".to_owned(), json!({
            "type": "object", "required": ["metrics"], "additionalProperties": false,
            "properties": {
                "filter": r("Filter"),
                "group_by": {"type": "array", "maxItems": 2, "items": {"type": "object", "required": ["field"],
                    "properties": {"field": {"type": "string"}, "bucket": {"enum": ["day", "week", "month"]}}}},
                "metrics": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "object",
                    "required": ["op"], "properties": {"op": {"enum": ["count", "sum", "avg", "min", "max"]},
                    "field": {"type": "string"}, "as": {"type": "string"}}}},
            },
        }));
    m.insert(
        "AggregateResult".to_owned(),
        json!({
            "type": "object",
            "properties": {"groups": {"type": "array", "items": {"type": "object",
                "properties": {"key": {"type": "object"}, "values": {"type": "object"}}}}},
        }),
    );
    m.insert("TagInput".to_owned(), json!({
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "color": {"type": "string"}, "description": {"type": "string"}},
        }));
    m.insert(
        "Tag".to_owned(),
        json!({
            "type": "object",
            "properties": {"id": id, "name": {"type": "string"}, "color": {"type": "string"},
                           "description": {"type": "string"}, "created_at": time},
        }),
    );
    m.insert("TagList".to_owned(), list_of("Tag"));
    crate::routes::rules::components(&mut m);
    crate::routes::templates::components(&mut m);
    crate::routes::audit::components(&mut m);
    crate::routes::members::components(&mut m);
    crate::routes::departments::components(&mut m);
    crate::routes::roles::components(&mut m);
    crate::routes::permissions::components(&mut m);
    crate::routes::public_links::components(&mut m);
    crate::routes::files::components(&mut m);
    crate::routes::tokens::components(&mut m);
    crate::routes::exchange::components(&mut m);
    crate::routes::workflows::components(&mut m);
    crate::routes::dashboards::components(&mut m);
    crate::routes::notifications::components(&mut m);
    crate::routes::webhooks::components(&mut m);
    crate::routes::settings::components(&mut m);
    crate::routes::v5::components(&mut m);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::document;
    use crate::routes;

    #[test]
    fn every_registered_route_is_documented() {
        let doc = document();
        for e in routes::all() {
            let op = &doc["paths"][e.path][e.verb.as_lower()];
            assert!(
                op.is_object(),
                "{} {} is not in the document",
                e.verb.as_lower(),
                e.path
            );
            assert_eq!(op["operationId"], e.operation_id);
            let params = op["parameters"].as_array().map(Vec::len).unwrap_or(0);
            assert!(
                params >= e.path.matches('{').count(),
                "{} lacks path parameters",
                e.path
            );
        }
    }

    #[test]
    fn routes_are_unique_and_static_before_dynamic() {
        let all = routes::all();
        let mut seen = HashSet::new();
        for e in &all {
            assert!(
                seen.insert((e.verb, e.path)),
                "duplicate route {} {}",
                e.verb.as_lower(),
                e.path
            );
        }
        let ids: HashSet<_> = all.iter().map(|e| e.operation_id).collect();
        assert_eq!(ids.len(), all.len(), "duplicate operationId");
        // `records/batch` must be registered before `records/{id}`.
        let pos = |p: &str| all.iter().position(|e| e.path == p);
        assert!(pos("/api/v1/forms/{form_id}/records/batch") < pos("/api/v1/forms/{form_id}/records/{id}"));
        assert!(pos("/api/v1/forms/{form_id}/records/query") < pos("/api/v1/forms/{form_id}/records/{id}"));
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            assert!(
                doc["components"]["schemas"][&name].is_object(),
                "missing schema {name}"
            );
        }
    }
}
