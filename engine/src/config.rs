//! Engine limits and settings, filled by the server from flags and env.

use std::path::PathBuf;

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
    /// Where uploaded files are kept, and their limits.
    pub files: FileConfig,
}

/// Uploaded files: where they live and how much a tenant may keep.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// The data directory; files go under `<dir>/files/`.
    pub data_dir: PathBuf,
    /// Largest single file, in bytes.
    pub max_file_bytes: u64,
    /// Most bytes of files one tenant may keep (files waiting for removal
    /// count until they are removed).
    pub tenant_quota_bytes: u64,
    /// Days a file no record holds any more is kept (so a restored record
    /// or an undone change finds it again) before it is removed; uploads no
    /// record ever claimed are removed after one day.
    pub retention_days: u32,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("formwork-data"),
            max_file_bytes: 20 * 1024 * 1024,
            tenant_quota_bytes: 1024 * 1024 * 1024,
            retention_days: 30,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_record_bytes: 1024 * 1024,
            max_batch: 1000,
            script: ScriptLimits::default(),
            webhook_private: false,
            files: FileConfig::default(),
        }
    }
}
