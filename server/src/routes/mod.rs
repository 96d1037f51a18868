//! The route table: every endpoint is one [`Endpoint`] row naming its method,
//! path, documentation and handler. The same rows register the actix routes
//! ([`configure`]) and produce the OpenAPI document ([`crate::openapi`]), so
//! the two cannot drift apart. One file per resource, each with a
//! `pub const ENDPOINTS` and a `pub fn configure(cfg)`.
//!
//! Within a file, static paths come before parameterised ones with the same
//! prefix (`records/batch` before `records/{id}`), because a path is matched
//! against resources in registration order.

pub mod aggregate;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod dashboards;
pub mod departments;
pub mod exchange;
pub mod files;
pub mod forms;
pub mod members;
pub mod notifications;
pub mod permissions;
pub mod public_links;
pub mod records;
pub mod roles;
pub mod rules;
pub mod settings;
pub mod system;
pub mod tags;
pub mod templates;
pub mod tokens;
pub mod v5;
pub mod webhooks;
pub mod workflows;

use actix_web::{Route, web};
use engine::error::ErrorCode;

/// An HTTP method of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Verb {
    /// Lower-case name, as OpenAPI keys operations.
    #[must_use]
    pub const fn as_lower(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// A request or response body in the document: a named component schema,
/// a list of one, or no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body (or an empty one).
    Empty,
    /// `#/components/schemas/<name>`.
    Ref(&'static str),
    /// Plain text (Prometheus exposition).
    Text,
    /// An HTML page.
    Html,
    /// `multipart/form-data` with one binary part named `file`.
    Multipart,
    /// Raw bytes of any media type (a file's content).
    Binary,
}

/// A query or header parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// `query` or `header`.
    pub location: &'static str,
    /// JSON Schema type: `string`, `integer`, `boolean`.
    pub kind: &'static str,
    /// What it means.
    pub description: &'static str,
}

/// `limit` of a paged log (runs, deliveries, notifications).
pub const LIMIT: Param = Param {
    name: "limit",
    location: "query",
    kind: "integer",
    description: "Page size, 1 to 200 (default 50).",
};

/// `cursor` of a paged log.
pub const CURSOR: Param = Param {
    name: "cursor",
    location: "query",
    kind: "string",
    description: "`next_cursor` of the previous page.",
};

/// `limit` and `cursor`.
pub const PAGE: &[Param] = &[LIMIT, CURSOR];

/// The `If-Match` header parameter.
pub const IF_MATCH: Param = Param {
    name: "If-Match",
    location: "header",
    kind: "string",
    description: "The record version last read, as returned in `ETag` (`\"3\"`); stale answers 412.",
};

/// The `Idempotency-Key` header parameter.
pub const IDEMPOTENCY_KEY: Param = Param {
    name: "Idempotency-Key",
    location: "header",
    kind: "string",
    description: "Up to 200 characters; a repeated key replays the first response.",
};

/// One row of the route table.
pub struct Endpoint {
    /// Method.
    pub verb: Verb,
    /// actix path pattern (`/api/v1/forms/{form_id}`), also the OpenAPI path.
    pub path: &'static str,
    /// OpenAPI `operationId`: the use case's name.
    pub operation_id: &'static str,
    /// Grouping tag.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Whether a bearer token or the session cookie is required.
    pub is_authenticated: bool,
    /// Query and header parameters.
    pub params: &'static [Param],
    /// Request body.
    pub request: Body,
    /// Success status.
    pub status: u16,
    /// Success body.
    pub response: Body,
    /// Error codes this endpoint answers besides `unauthorized` and `internal`.
    pub errors: &'static [ErrorCode],
    /// The handler, as an actix route without its method.
    pub handler: fn() -> Route,
}

/// Every endpoint, in registration order.
#[must_use]
pub fn all() -> Vec<&'static Endpoint> {
    [
        system::ENDPOINTS,
        auth::ENDPOINTS,
        members::ENDPOINTS,
        departments::ENDPOINTS,
        roles::ENDPOINTS,
        tokens::ENDPOINTS,
        apps::ENDPOINTS,
        forms::ENDPOINTS,
        records::ENDPOINTS,
        permissions::ENDPOINTS,
        public_links::ENDPOINTS,
        exchange::ENDPOINTS,
        files::ENDPOINTS,
        aggregate::ENDPOINTS,
        tags::ENDPOINTS,
        rules::ENDPOINTS,
        notifications::ENDPOINTS,
        webhooks::ENDPOINTS,
        settings::ENDPOINTS,
        workflows::ENDPOINTS,
        dashboards::ENDPOINTS,
        templates::ENDPOINTS,
        audit::ENDPOINTS,
        v5::meta::ENDPOINTS,
        v5::data::ENDPOINTS,
        v5::write::ENDPOINTS,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A `Content-Disposition` value (`attachment` or `inline`) naming a file:
/// an ASCII fallback and the UTF-8 name (RFC 6266 / 5987).
#[must_use]
pub fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Registers every resource's endpoints.
pub fn configure(cfg: &mut web::ServiceConfig) {
    system::configure(cfg);
    auth::configure(cfg);
    members::configure(cfg);
    departments::configure(cfg);
    roles::configure(cfg);
    tokens::configure(cfg);
    // Before apps: `/api/v1/apps/import` is not an `{app_id}`.
    templates::configure(cfg);
    apps::configure(cfg);
    forms::configure(cfg);
    records::configure(cfg);
    permissions::configure(cfg);
    public_links::configure(cfg);
    exchange::configure(cfg);
    files::configure(cfg);
    aggregate::configure(cfg);
    tags::configure(cfg);
    rules::configure(cfg);
    notifications::configure(cfg);
    webhooks::configure(cfg);
    settings::configure(cfg);
    workflows::configure(cfg);
    dashboards::configure(cfg);
    audit::configure(cfg);
}

/// Registers `endpoints`: one actix resource per distinct path, in first
/// appearance order, answering 405 with the error body for other methods.
pub fn register(cfg: &mut web::ServiceConfig, endpoints: &'static [Endpoint]) {
    let mut paths: Vec<&'static str> = Vec::new();
    for e in endpoints {
        if !paths.contains(&e.path) {
            paths.push(e.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path).default_service(web::to(crate::error::method_not_allowed));
        for e in endpoints.iter().filter(|e| e.path == path) {
            let mut route = (e.handler)().method(e.verb.route_method());
            // The v5 endpoints check their API key themselves and answer
            // in 简道云's error shape.
            if e.is_authenticated && e.path.starts_with("/api/v1/") {
                route = route.wrap(actix_web::middleware::from_fn(
                    crate::extract::auth::authenticate_first,
                ));
            }
            resource = resource.route(route);
        }
        cfg.service(resource);
    }
}

impl Verb {
    fn route_method(self) -> actix_web::http::Method {
        use actix_web::http::Method;
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn dispositions_name_files_in_ascii_and_utf8() {
        assert_eq!(
            disposition("inline", "合同 v1.pdf"),
            "inline; filename=\"___v1.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C%20v1.pdf"
        );
        assert_eq!(
            disposition("attachment", "a\"b"),
            "attachment; filename=\"a_b\"; filename*=UTF-8''a%22b"
        );
    }
}
