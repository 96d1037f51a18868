//! Members of the caller's tenant: `/api/v1/members`, one member, and the
//! unauthenticated invite acceptance. Owners and admins manage; every member
//! may list.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::auth::members::{AcceptInvite, MemberInput, MemberPatch};
use engine::error::ErrorCode;
use engine::ids::UserId;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::{Caller, session_cookie};

const NF: ErrorCode = ErrorCode::NotFound;
const FB: ErrorCode = ErrorCode::Forbidden;
const SC: ErrorCode = ErrorCode::InsufficientScope;
const BAD: ErrorCode = ErrorCode::BadRequest;
const INVALID: ErrorCode = ErrorCode::ValidationFailed;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $tag:literal, $auth:literal, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: $tag,
            summary: $summary,
            is_authenticated: $auth,
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
    ep!(Get "/api/v1/members", list_members, "members", true,
        "List the tenant's members (every status)", Body::Empty, 200, Body::Ref("MemberList"), &[FB]),
    ep!(Post "/api/v1/members", create_member, "members", true,
        "Add a member with a password, or invite one (the invite token is answered once)",
        Body::Ref("MemberInput"), 201, Body::Ref("CreatedMember"),
        &[BAD, INVALID, ErrorCode::Conflict, FB, SC, ErrorCode::PayloadTooLarge]),
    ep!(Patch "/api/v1/members/{user_id}", update_member, "members", true,
        "Change a member's role, department, manager, or status (`deactivated` ends their sessions and tokens at once)",
        Body::Ref("MemberPatch"), 200, Body::Ref("Member"), &[NF, BAD, INVALID, FB, SC, ErrorCode::LastOwner]),
    ep!(Delete "/api/v1/members/{user_id}", delete_member, "members", true,
        "Remove a member from the tenant; their sessions and personal tokens are revoked",
        Body::Empty, 204, Body::Empty, &[NF, FB, SC, ErrorCode::LastOwner]),
    ep!(Post "/api/v1/invites/accept", accept_invite, "auth", false,
        "Accept an invite: set a password (or confirm an existing user's) and log in",
        Body::Ref("AcceptInvite"), 200, Body::Ref("LoginOutput"), &[NF, BAD, INVALID, ErrorCode::Unauthorized]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let id_or_null = json!({"type": ["string", "null"], "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let status = json!({"enum": ["active", "invited", "deactivated"]});
    let role =
        json!({"type": "string", "description": "`owner`, `admin`, `member` or a custom role's name."});
    m.insert(
        "MemberInput".to_owned(),
        json!({"type": "object", "required": ["email"], "additionalProperties": false,
            "description": "Give `password` (at least 8 characters) or `\"invite\": true`, not both.",
            "properties": {
                "email": {"type": "string", "format": "email"},
                "password": {"type": "string", "minLength": 8},
                "invite": {"type": "boolean", "default": false},
                "role": role, "department_id": id_or_null, "manager_id": id_or_null,
                "display_name": {"type": "string"}}}),
    );
    m.insert(
        "MemberPatch".to_owned(),
        json!({"type": "object", "additionalProperties": false,
            "description": "Absent keys stay unchanged; `null` clears department or manager.",
            "properties": {"role": role, "department_id": id_or_null, "manager_id": id_or_null,
                           "status": {"enum": ["active", "deactivated"]}}}),
    );
    let member_props = json!({
        "user_id": id, "email": {"type": "string"}, "display_name": {"type": "string"},
        "role": role, "base_role": {"enum": ["owner", "admin", "member"]}, "role_id": id_or_null,
        "status": status, "department_id": id_or_null, "manager_id": id_or_null, "created_at": time});
    m.insert(
        "Member".to_owned(),
        json!({"type": "object", "properties": member_props}),
    );
    let mut created = member_props.clone();
    if let Some(o) = created.as_object_mut() {
        o.insert(
            "invite_token".to_owned(),
            json!({"type": "string", "description": "Invites only; shown this once."}),
        );
        o.insert("invite_expires_at".to_owned(), time.clone());
    }
    m.insert(
        "CreatedMember".to_owned(),
        json!({"type": "object", "properties": created}),
    );
    m.insert(
        "MemberList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Member"}}),
    );
    m.insert(
        "AcceptInvite".to_owned(),
        json!({"type": "object", "required": ["token", "password"], "additionalProperties": false,
            "properties": {"token": {"type": "string"},
                "password": {"type": "string", "description": "A new user's password (at least 8 characters), or an existing user's current one."}}}),
    );
}

async fn list_members(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_members(&caller).await?))
}

async fn create_member(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<MemberInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_member(&caller, body.into_inner()).await?))
}

async fn update_member(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<UserId>,
    body: web::Json<MemberPatch>,
) -> Result<HttpResponse, ApiError> {
    let view = engine
        .update_member(&caller, id.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn delete_member(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_member(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn accept_invite(
    engine: web::Data<Engine>,
    body: web::Json<AcceptInvite>,
) -> Result<HttpResponse, ApiError> {
    let out = engine.accept_invite(body.into_inner()).await?;
    Ok(HttpResponse::Ok().cookie(session_cookie(&out.token)).json(out))
}
