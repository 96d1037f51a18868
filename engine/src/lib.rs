//! Formwork's metadata engine: apps, forms, fields, records, queries, tags,
//! tenants and users. No HTTP here: the server, the CLI and jobs call the same
//! use cases, each taking a [`ctx::Ctx`] (tenant, actor, now).

pub mod ctx;
pub mod error;
pub mod ids;
pub mod meta;
pub mod query;
pub mod script;
pub mod store;
