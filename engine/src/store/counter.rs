//! Gap-free per-form counters for serial-number fields.
//!
//! The counter row is bumped inside the record's own transaction with an
//! upsert, so a rolled-back insert rolls its number back too (no gaps) and
//! concurrent inserts serialise on the row lock (no duplicates).

use sea_orm::ConnectionTrait;
use sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};

use super::StoreError;
use crate::ids::{FormId, TenantId};

/// Reserves the next `n` numbers of `(tenant, form, field, period)`
/// (starting at 1) and returns the last of them.
///
/// # Errors
/// `internal` on storage failure.
pub async fn next_serial<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    form: FormId,
    field_key: &str,
    period: &str,
    n: i64,
) -> Result<i64, StoreError> {
    let table = Alias::new("serial_counters");
    let value = Alias::new("value");
    let stmt = Query::insert()
        .into_table(table.clone())
        .columns([
            Alias::new("tenant_id"),
            Alias::new("form_id"),
            Alias::new("field_key"),
            Alias::new("period"),
            value.clone(),
        ])
        .values_panic([
            tenant.to_string().into(),
            form.to_string().into(),
            field_key.to_owned().into(),
            period.to_owned().into(),
            n.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                Alias::new("tenant_id"),
                Alias::new("form_id"),
                Alias::new("field_key"),
                Alias::new("period"),
            ])
            .value(value.clone(), Expr::col((table, value.clone())).add(n))
            .to_owned(),
        )
        .returning_col(value)
        .to_owned();
    let row = conn
        .query_one(&stmt)
        .await?
        .ok_or_else(|| StoreError::Corrupt("serial counter upsert returned nothing".to_owned()))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}
