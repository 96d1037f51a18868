//! sea-orm entities, one file per table. Ids are stored as canonical UUID
//! text on both backends, so a bound id and an id inlined into a partial-index
//! predicate compare equal on SQLite too.

pub mod app;
pub mod app_package;
pub mod audit_entry;
pub mod dashboard;
pub mod delivery;
pub mod department;
pub mod file;
pub mod form;
pub mod form_version;
pub mod idempotency_key;
pub mod import;
pub mod import_file;
pub mod job;
pub mod job_run;
pub mod login_failure;
pub mod member;
pub mod membership;
pub mod notification;
pub mod package_key;
pub mod public_link;
pub mod record;
pub mod record_history;
pub mod record_tag;
pub mod role;
pub mod rule;
pub mod rule_version;
pub mod serial_counter;
pub mod smtp_setting;
pub mod tag;
pub mod tenant;
pub mod token;
pub mod user;
pub mod view;
pub mod webhook;
pub mod workflow;
pub mod workflow_event;
pub mod workflow_instance;
pub mod workflow_task;
pub mod workflow_version;
