//! The package key of each object of an installed app (`package_keys`) and
//! the package an app came from (`app_packages`).

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::ids::{AppId, TenantId};
use crate::store::entity::{app_package, package_key};

/// Object kinds that carry a package key.
pub(crate) const FORM: &str = "form";
pub(crate) const RULE: &str = "rule";
pub(crate) const WORKFLOW: &str = "workflow";
pub(crate) const VIEW: &str = "view";
pub(crate) const DASHBOARD: &str = "dashboard";
pub(crate) const TAG: &str = "tag";
/// A tag the app's install created rather than reused (keyed by its name):
/// written as soon as the tag is, so removing a failed or interrupted
/// install (in this attempt or a later one) knows which tags it brought.
pub(crate) const NEW_TAG: &str = "new_tag";

/// Records `(kind, key, object id)` for an app.
pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    app: AppId,
    rows: &[(&str, String, String)],
) -> Result<(), sea_orm::DbErr> {
    for chunk in rows.chunks(200) {
        let models = chunk.iter().map(|(kind, key, id)| {
            package_key::ActiveModel::from(package_key::Model {
                tenant_id: tenant.to_string(),
                app_id: app.to_string(),
                kind: (*kind).to_owned(),
                key: key.clone(),
                object_id: id.clone(),
            })
        });
        package_key::Entity::insert_many(models)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// `(kind, object id) → key` for an app.
pub(crate) async fn by_object<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    app: AppId,
) -> Result<BTreeMap<(String, String), String>, sea_orm::DbErr> {
    Ok(package_key::Entity::find()
        .filter(package_key::Column::TenantId.eq(tenant.to_string()))
        .filter(package_key::Column::AppId.eq(app.to_string()))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| ((r.kind, r.object_id), r.key))
        .collect())
}

/// The id of the object of `kind` with `key` in an app.
pub(crate) async fn object_id<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    app: AppId,
    kind: &str,
    key: &str,
) -> Result<Option<String>, sea_orm::DbErr> {
    Ok(package_key::Entity::find()
        .filter(package_key::Column::TenantId.eq(tenant.to_string()))
        .filter(package_key::Column::AppId.eq(app.to_string()))
        .filter(package_key::Column::Kind.eq(kind))
        .filter(package_key::Column::Key.eq(key))
        .one(conn)
        .await?
        .map(|r| r.object_id))
}

/// The package row of an app, if it was installed from one.
pub(crate) async fn package_of<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    app: AppId,
) -> Result<Option<app_package::Model>, sea_orm::DbErr> {
    app_package::Entity::find_by_id(app.to_string())
        .filter(app_package::Column::TenantId.eq(tenant.to_string()))
        .one(conn)
        .await
}

/// The form of an app with a package key (scripts name forms so).
pub(crate) async fn form_by_key<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    app: AppId,
    key: &str,
) -> Result<Option<crate::ids::FormId>, sea_orm::DbErr> {
    Ok(object_id(conn, tenant, app, FORM, key)
        .await?
        .and_then(|id| id.parse().ok()))
}
