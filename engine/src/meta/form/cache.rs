//! A short-lived cache of loaded forms, so record requests do not re-read
//! and re-parse the definition every time.
//!
//! Saves and deletes on this process evict the entry at once; other server
//! processes on the same database see a change within [`FORM_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::LoadedForm;
use crate::ids::{FormId, TenantId};

/// How long another process may keep serving a form definition it read.
pub const FORM_CACHE_TTL: Duration = Duration::from_secs(2);
/// Entries kept before the cache is emptied and refilled.
const MAX_ENTRIES: usize = 4096;

type Entry = (Instant, Arc<LoadedForm>);

/// Loaded forms by tenant and id.
#[derive(Default)]
pub struct FormCache {
    entries: RwLock<HashMap<(TenantId, FormId), Entry>>,
}

impl FormCache {
    /// A fresh entry, if any.
    pub fn get(&self, tenant: TenantId, form: FormId) -> Option<Arc<LoadedForm>> {
        let entries = self.entries.read().ok()?;
        let (at, form) = entries.get(&(tenant, form))?;
        (at.elapsed() < FORM_CACHE_TTL).then(|| Arc::clone(form))
    }

    /// Remembers a form just read.
    pub fn put(&self, tenant: TenantId, form: Arc<LoadedForm>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert((tenant, form.id), (Instant::now(), form));
        }
    }

    /// Forgets a form that was saved or deleted.
    pub fn evict(&self, tenant: TenantId, form: FormId) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(&(tenant, form));
        }
    }
}
