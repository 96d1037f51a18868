//! Progress of imports running in this process.
//!
//! The `imports` row carries progress between phases (and, on PostgreSQL,
//! during writing). While an import writes inside its transaction on SQLite
//! the row cannot be updated (one writer), so this process keeps the live
//! count here and `get_import` prefers it. Keyed by import id, so engines
//! sharing a process (tests) never mix them up.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde::Serialize;

use crate::ids::ImportId;

/// Where an import run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for a run.
    Idle,
    /// Reading the file.
    Reading,
    /// Converting and checking rows.
    Validating,
    /// Writing records (inside one transaction).
    Writing,
    /// Finished.
    Done,
}

impl Phase {
    /// Stored form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Reading => "reading",
            Self::Validating => "validating",
            Self::Writing => "writing",
            Self::Done => "done",
        }
    }
}

/// Rows processed out of the rows of the file, in a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// Rows done in this phase.
    pub processed: u64,
    /// Rows of this phase.
    pub total: u64,
}

static LIVE: LazyLock<Mutex<HashMap<ImportId, Progress>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Sets the live progress of an import.
pub(crate) fn set(id: ImportId, p: Progress) {
    if let Ok(mut m) = LIVE.lock() {
        m.insert(id, p);
    }
}

/// The live progress of an import running in this process.
pub(crate) fn get(id: ImportId) -> Option<Progress> {
    LIVE.lock().ok().and_then(|m| m.get(&id).copied())
}

/// Forgets an import that finished.
pub(crate) fn clear(id: ImportId) {
    if let Ok(mut m) = LIVE.lock() {
        m.remove(&id);
    }
}
