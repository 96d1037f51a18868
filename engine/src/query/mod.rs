//! The query language: filters (and/or/not over field conditions and tags),
//! sorts, cursor pagination, text search and group-by aggregates, compiled
//! through the field registry into sea-query expressions with bound values.

pub mod expr;
