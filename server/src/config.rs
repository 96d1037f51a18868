//! Server configuration from flags and environment variables.
//!
//! Each environment variable is a `const` beside its field; `--help` and the
//! README's configuration table are generated from the same doc comments
//! (a test keeps the README in step with [`ENV_VARS`]).

use std::net::SocketAddr;

use clap::Args;

/// Database URL (`sqlite://file.db?mode=rwc` or `postgres://...`).
pub const DATABASE_URL: &str = "DATABASE_URL";
/// Address the HTTP server listens on.
pub const FORMWORK_BIND: &str = "FORMWORK_BIND";
/// Largest accepted request body, in bytes.
pub const FORMWORK_MAX_BODY: &str = "FORMWORK_MAX_BODY";
/// Log filter in `tracing` syntax.
pub const FORMWORK_LOG: &str = "FORMWORK_LOG";
/// Log format: `text` or `json`.
pub const FORMWORK_LOG_FORMAT: &str = "FORMWORK_LOG_FORMAT";
/// Seed a demo tenant when the database is empty.
pub const FORMWORK_DEMO: &str = "FORMWORK_DEMO";
/// Password of the demo owner (random when unset).
pub const FORMWORK_DEMO_PASSWORD: &str = "FORMWORK_DEMO_PASSWORD";
/// Number of HTTP worker threads (0 = one per core).
pub const FORMWORK_WORKERS: &str = "FORMWORK_WORKERS";
/// Milliseconds between background scheduler ticks (0 = no background scheduler).
pub const FORMWORK_SCHEDULER_INTERVAL_MS: &str = "FORMWORK_SCHEDULER_INTERVAL_MS";
/// Accept `POST /api/v1/admin/scheduler/run` with a chosen instant.
pub const FORMWORK_ALLOW_CLOCK_OVERRIDE: &str = "FORMWORK_ALLOW_CLOCK_OVERRIDE";
/// Wall-clock limit of one script run, in milliseconds.
pub const FORMWORK_SCRIPT_TIMEOUT_MS: &str = "FORMWORK_SCRIPT_TIMEOUT_MS";
/// Missed firings older than this many seconds are skipped, not run.
pub const FORMWORK_MISFIRE_WINDOW_SECS: &str = "FORMWORK_MISFIRE_WINDOW_SECS";
/// Requests per second one API token may make to the v5 API.
pub const FORMWORK_V5_RATE_LIMIT: &str = "FORMWORK_V5_RATE_LIMIT";

/// Login attempts one client address may make per minute.
pub const FORMWORK_LOGIN_RATE_PER_MINUTE: &str = "FORMWORK_LOGIN_RATE_PER_MINUTE";
/// Env var of `--webhook-allow-private`.
pub const FORMWORK_WEBHOOK_ALLOW_PRIVATE: &str = "FORMWORK_WEBHOOK_ALLOW_PRIVATE";

/// Directory for uploaded files (created if missing).
pub const FORMWORK_DATA_DIR: &str = "FORMWORK_DATA_DIR";
/// Largest uploaded file, in bytes.
pub const FORMWORK_FILE_MAX_BYTES: &str = "FORMWORK_FILE_MAX_BYTES";
/// Bytes of files one tenant may keep.
pub const FORMWORK_TENANT_FILE_QUOTA_BYTES: &str = "FORMWORK_TENANT_FILE_QUOTA_BYTES";
/// Days a file no record holds any more is kept before removal.
pub const FORMWORK_FILE_RETENTION_DAYS: &str = "FORMWORK_FILE_RETENTION_DAYS";

/// Default database: a SQLite file in the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://formwork.db?mode=rwc";
/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default body limit: 2 MiB.
pub const DEFAULT_MAX_BODY: usize = 2 * 1024 * 1024;

/// Every environment variable the server reads, with its default, for docs and tests.
pub const ENV_VARS: [(&str, &str); 19] = [
    (DATABASE_URL, DEFAULT_DATABASE_URL),
    (FORMWORK_BIND, DEFAULT_BIND),
    (FORMWORK_MAX_BODY, "2097152"),
    (FORMWORK_LOG, "info"),
    (FORMWORK_LOG_FORMAT, "text"),
    (FORMWORK_DEMO, "true"),
    (FORMWORK_DEMO_PASSWORD, "(random)"),
    (FORMWORK_WORKERS, "0"),
    (FORMWORK_SCHEDULER_INTERVAL_MS, "1000"),
    (FORMWORK_ALLOW_CLOCK_OVERRIDE, "false"),
    (FORMWORK_SCRIPT_TIMEOUT_MS, "200"),
    (FORMWORK_MISFIRE_WINDOW_SECS, "86400"),
    (FORMWORK_V5_RATE_LIMIT, "50"),
    (FORMWORK_LOGIN_RATE_PER_MINUTE, "20"),
    (FORMWORK_WEBHOOK_ALLOW_PRIVATE, "false"),
    (FORMWORK_DATA_DIR, "formwork-data"),
    (FORMWORK_FILE_MAX_BYTES, "20971520"),
    (FORMWORK_TENANT_FILE_QUOTA_BYTES, "1073741824"),
    (FORMWORK_FILE_RETENTION_DAYS, "30"),
];

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs to start.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://file.db?mode=rwc` or `postgres://user@host/db`.
    #[arg(long, env = DATABASE_URL, default_value = DEFAULT_DATABASE_URL, hide_env_values = true, global = true)]
    pub database_url: String,

    /// Address the HTTP server listens on.
    #[arg(long, env = FORMWORK_BIND, default_value = DEFAULT_BIND, global = true)]
    pub bind: SocketAddr,

    /// Largest accepted request body in bytes; larger bodies answer 413.
    #[arg(long, env = FORMWORK_MAX_BODY, default_value_t = DEFAULT_MAX_BODY, global = true)]
    pub max_body: usize,

    /// Log filter in `tracing` syntax (`info`, `server=debug,engine=info`).
    #[arg(long, env = FORMWORK_LOG, default_value = "info", global = true)]
    pub log: String,

    /// Log format.
    #[arg(long, env = FORMWORK_LOG_FORMAT, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// Seed a demo tenant (`demo`, owner `admin@demo.local`) when the database is empty.
    #[arg(long, env = FORMWORK_DEMO, default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub demo: bool,

    /// Password of the demo owner; a random one is generated and printed when unset.
    #[arg(long, env = FORMWORK_DEMO_PASSWORD, hide_env_values = true, global = true)]
    pub demo_password: Option<String>,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = FORMWORK_WORKERS, default_value_t = 0, global = true)]
    pub workers: usize,

    /// Milliseconds between background scheduler ticks (dispatch record events, plan
    /// schedule and date-field rules, run due jobs); 0 turns the background scheduler off.
    #[arg(long, env = FORMWORK_SCHEDULER_INTERVAL_MS, default_value_t = 1000, global = true)]
    pub scheduler_interval_ms: u64,

    /// Accept `POST /api/v1/admin/scheduler/run` with `{"at": ...}` (tests and demos move
    /// the clock instead of sleeping). The background scheduler is then off: time moves only
    /// through that endpoint.
    #[arg(long, env = FORMWORK_ALLOW_CLOCK_OVERRIDE, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", global = true)]
    pub allow_clock_override: bool,

    /// Wall-clock limit of one script run (rule, condition, formula) in milliseconds.
    #[arg(long, env = FORMWORK_SCRIPT_TIMEOUT_MS, default_value_t = 200, global = true)]
    pub script_timeout_ms: u64,

    /// Missed firings older than this many seconds (after downtime) are logged as skipped
    /// instead of run late.
    #[arg(long, env = FORMWORK_MISFIRE_WINDOW_SECS, default_value_t = 86_400, global = true)]
    pub misfire_window_secs: u64,

    /// Requests per second one API token may make to the 简道云-compatible `/api/v5`
    /// (answered with code 8303 beyond it); 0 turns the limit off.
    #[arg(long, env = FORMWORK_V5_RATE_LIMIT, default_value_t = 50, global = true)]
    pub v5_rate_limit: u32,
    /// Login attempts one client address may make per minute (a token bucket); more
    /// answer 429 `too_many_requests` with `Retry-After`.
    #[arg(long, env = FORMWORK_LOGIN_RATE_PER_MINUTE, default_value_t = 20, global = true)]
    pub login_rate_per_minute: u32,
    /// Let webhooks reach loopback and private addresses (receivers on the
    /// server's own network); by default only public addresses are reached.
    #[arg(long, env = FORMWORK_WEBHOOK_ALLOW_PRIVATE, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", global = true)]
    pub webhook_allow_private: bool,
    /// Directory for uploaded files (attachments and images), created if missing; keep it
    /// with the database in backups.
    #[arg(long, env = FORMWORK_DATA_DIR, default_value = "formwork-data", global = true)]
    pub data_dir: std::path::PathBuf,
    /// Largest uploaded file in bytes; larger uploads answer 413 `payload_too_large`.
    #[arg(long, env = FORMWORK_FILE_MAX_BYTES, default_value_t = 20 * 1024 * 1024, global = true)]
    pub file_max_bytes: u64,
    /// Bytes of files one tenant may keep; an upload past it answers 413 `quota_exceeded`.
    #[arg(long, env = FORMWORK_TENANT_FILE_QUOTA_BYTES, default_value_t = 1024 * 1024 * 1024, global = true)]
    pub tenant_file_quota_bytes: u64,
    /// Days a file no record holds any more (removed from its field, or its record purged)
    /// is kept before it is deleted; uploads no record claims are deleted after a day.
    #[arg(long, env = FORMWORK_FILE_RETENTION_DAYS, default_value_t = 30, global = true)]
    pub file_retention_days: u32,
}

impl Config {
    /// The engine settings these flags imply.
    #[must_use]
    pub fn engine_config(&self) -> engine::EngineConfig {
        let mut cfg = engine::EngineConfig::default();
        cfg.script.max_duration = std::time::Duration::from_millis(self.script_timeout_ms.clamp(1, 60_000));
        cfg.webhook_private = self.webhook_allow_private;
        cfg.files = engine::config::FileConfig {
            data_dir: self.data_dir.clone(),
            max_file_bytes: self.file_max_bytes,
            tenant_quota_bytes: self.tenant_file_quota_bytes,
            retention_days: self.file_retention_days,
        };
        cfg
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::ENV_VARS;
    use crate::cli::Cli;

    const README: &str = include_str!("../../README.md");

    #[test]
    fn readme_documents_every_env_var() {
        for (var, _) in ENV_VARS {
            assert!(README.contains(&format!("`{var}`")), "README lacks `{var}`");
        }
    }

    #[test]
    fn every_env_var_is_a_flag() {
        let cmd = Cli::command();
        let envs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        for (var, _) in ENV_VARS {
            assert!(envs.iter().any(|e| e == var), "no flag reads {var}");
        }
        cmd.debug_assert();
    }
}
