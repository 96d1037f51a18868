//! Schema migrations, listed in order. A shipped migration is never edited:
//! add a new file `mYYYYMMDD_HHMMSS_<verb>_<object>.rs` instead.

use sea_orm_migration::prelude::*;

mod m20261123_000001_create_core;
mod m20261123_000002_create_jobs;
mod m20261123_000003_create_automation;
mod m20261123_000004_create_notify;
mod m20261123_000005_create_workflow;
mod m20261123_000006_create_members;
mod m20261123_000008_create_views_dashboards;
mod m20261123_000009_create_imports;
mod m20261204_000012_add_form_permissions;
mod m20261204_000013_create_login_failures;
mod m20261204_000014_create_app_packages;
mod m20261204_000015_create_audit_log;
mod m20261204_000020_add_webhook_format;
mod m20261206_000021_create_public_links;
mod m20261207_000022_create_files;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_core::Migration),
            Box::new(m20261123_000002_create_jobs::Migration),
            Box::new(m20261123_000003_create_automation::Migration),
            Box::new(m20261123_000004_create_notify::Migration),
            Box::new(m20261123_000005_create_workflow::Migration),
            Box::new(m20261123_000006_create_members::Migration),
            Box::new(m20261123_000008_create_views_dashboards::Migration),
            Box::new(m20261123_000009_create_imports::Migration),
            Box::new(m20261204_000012_add_form_permissions::Migration),
            Box::new(m20261204_000013_create_login_failures::Migration),
            Box::new(m20261204_000014_create_app_packages::Migration),
            Box::new(m20261204_000015_create_audit_log::Migration),
            Box::new(m20261204_000020_add_webhook_format::Migration),
            Box::new(m20261206_000021_create_public_links::Migration),
            Box::new(m20261207_000022_create_files::Migration),
        ]
    }
}
