//! API tokens: `/api/v1/tokens`. The secret is answered once, at creation;
//! lists show created, last-used and expiry times.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::auth::tokens::TokenInput;
use engine::error::ErrorCode;
use engine::ids::TokenId;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const FB: ErrorCode = ErrorCode::Forbidden;
const SC: ErrorCode = ErrorCode::InsufficientScope;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "tokens",
            summary: $summary,
            is_authenticated: true,
            params: &[],
            request: $req,
            status: $status,
            response: $resp,
            errors: $errors,
            handler: || web::route().to($op),
        }
    };
}

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    ep!(Get "/api/v1/tokens", list_tokens,
        "List live API tokens: one's own, and for owners and admins every token of the tenant",
        Body::Empty, 200, Body::Ref("ApiTokenList"), &[FB]),
    ep!(Post "/api/v1/tokens", create_token,
        "Create a personal or tenant token with a scope and optional expiry; the secret is answered once",
        Body::Ref("ApiTokenInput"), 201, Body::Ref("CreatedApiToken"),
        &[ErrorCode::BadRequest, ErrorCode::ValidationFailed, FB, SC]),
    ep!(Delete "/api/v1/tokens/{id}", revoke_token, "Revoke an API token at once",
        Body::Empty, 204, Body::Empty, &[ErrorCode::NotFound, SC]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let time_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    let scope = json!({"enum": ["read", "write", "admin"],
        "description": "`read`: reads only; `write`: record writes too; `admin`: everything the role allows."});
    let kind = json!({"enum": ["personal", "tenant"],
        "description": "`personal` acts as its member; `tenant` acts as `admin` when scoped `admin`, else as `member`, and survives its creator leaving."});
    m.insert(
        "ApiTokenInput".to_owned(),
        json!({"type": "object", "required": ["name", "scope"], "additionalProperties": false,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                "scope": scope, "kind": kind, "expires_at": time_or_null}}),
    );
    let props = json!({"id": id, "name": {"type": "string"}, "kind": kind, "scope": scope,
        "user_id": id, "created_at": time, "last_used_at": time_or_null, "expires_at": time_or_null});
    m.insert(
        "ApiToken".to_owned(),
        json!({"type": "object", "properties": props}),
    );
    let mut created = props.clone();
    if let Some(o) = created.as_object_mut() {
        o.insert(
            "token".to_owned(),
            json!({"type": "string", "description": "`Authorization: Bearer <token>`; shown this once."}),
        );
    }
    m.insert(
        "CreatedApiToken".to_owned(),
        json!({"type": "object", "properties": created}),
    );
    m.insert(
        "ApiTokenList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/ApiToken"}}),
    );
}

async fn list_tokens(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_tokens(&caller).await?))
}

async fn create_token(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<TokenInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_token(&caller, body.into_inner()).await?))
}

async fn revoke_token(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<TokenId>,
) -> Result<HttpResponse, ApiError> {
    engine.revoke_token(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
