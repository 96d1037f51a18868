//! The query language: filters (and/or/not over field conditions and tags),
//! sorts, cursor pagination, text search and group-by aggregates, compiled
//! through the field registry into sea-query expressions with bound values.
//!
//! Invariants: every statement starts its `WHERE` with `tenant_id = ?`, then
//! the form id inlined as a constant and `deleted_at IS [NOT] NULL`, matching
//! the per-form partial indexes of `store::form_index`; a field name reaches
//! SQL only after lookup in the active form definition; operands are always
//! bound. Called by the record listing use cases, views and dashboards.
//!
//! - [`model`] holds the request/response shapes (serde);
//! - [`compile`] turns filters and search into a `Condition`;
//! - [`sort`] builds the order and keyset cursors;
//! - [`run`] has [`list_records`];
//! - [`aggregate`] has [`aggregate_records`];
//! - [`access`] narrows every statement to the records a member may reach.

pub mod access;
pub mod aggregate;
pub mod compile;
pub mod due;
pub mod error;
pub mod expr;
pub mod field;
pub mod model;
pub mod run;
pub mod sort;

pub use aggregate::aggregate_records;
pub use error::QueryError;
pub use model::{
    AggregateGroup, AggregateRequest, AggregateResult, Bucket, Filter, GroupBy, Metric, MetricOp, Op,
    QueryRequest, SortDir, SortKey,
};
pub use run::{Page, RecordScope, list_records};
