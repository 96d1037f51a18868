//! App packages: the builtin templates embedded in the binary, install (a
//! clone into a tenant with fresh ids and every internal reference
//! remapped), export (the same format back out) and import, and upgrades of
//! an installed template to a newer version (three-way, the tenant's own
//! edits kept).
//!
//! Objects of a package name each other by key: a relation field's
//! `form_id`, a rule's, flow's or view's `form`, a chart's `form_id`. The
//! installed app remembers each object's key (`package_keys`), so scripts
//! may name forms by key (`create("surveys", ...)`) and an export writes
//! the keys back.

mod builtin;
mod error;
mod export;
mod install;
pub mod job;
mod keys;
mod package;
mod purge;
mod upgrade;

pub use builtin::{TemplateInfo, builtin, builtins, catalogue};
pub use error::TemplateError;
pub use export::Exported;
pub use install::{InstallOptions, Installed};
pub(crate) use keys::form_by_key;
pub use package::{FORMAT, Manifest, Object, Package, Parts, map_relations, parse_file, relation_targets};
pub use upgrade::{Change, UpgradePlan};
