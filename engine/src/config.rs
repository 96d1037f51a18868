//! Engine limits and settings, filled by the server from flags and env.

use crate::script::ScriptLimits;

/// Settings of one engine instance.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Largest record `data`, serialised, in bytes.
    pub max_record_bytes: usize,
    /// Most records in one batch create.
    pub max_batch: usize,
    /// Limits for formulas and default expressions.
    pub script: ScriptLimits,
    /// Whether webhooks may reach loopback and private addresses (off:
    /// only public ones; see `notify::guard`).
    pub webhook_private: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_record_bytes: 1024 * 1024,
            max_batch: 1000,
            script: ScriptLimits::default(),
            webhook_private: false,
        }
    }
}
