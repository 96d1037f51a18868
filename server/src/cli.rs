//! The `formwork` command line: `serve` (the default), `migrate`,
//! `admin create`, `scheduler run` and `import`. `anyhow` is used here and in `main.rs` only.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;
use tracing_subscriber::EnvFilter;

use crate::app::{self, AppState};
use crate::config::{Config, LogFormat};
use crate::scheduler::Scheduler;

/// Formwork: multi-tenant forms, records and workflows.
#[derive(Debug, Parser)]
#[command(name = "formwork", version, about)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The rule scheduler.
    #[command(subcommand)]
    Scheduler(SchedulerCommand),
    /// Import a CSV or XLSX file into a form (all rows or none); prints a
    /// summary and exits non-zero when any row has an error.
    Import(ImportArgs),
    /// App packages: builtin templates, install, export.
    #[command(subcommand)]
    Template(TemplateCommand),
}

/// `formwork template ...`.
#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List the builtin templates.
    List,
    /// Install a builtin template, a package directory or an exported
    /// bundle as a new app of a tenant; prints the new app's id.
    Install {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Email of the admin or owner the install acts as.
        #[arg(long)]
        email: String,
        /// A builtin template key (`crm`), a package directory, or a bundle
        /// file (`.json`, as export writes).
        source: String,
        /// The new app's name (the package's when absent).
        #[arg(long)]
        name: Option<String>,
        /// Load the package's sample data.
        #[arg(long)]
        sample_data: bool,
    },
    /// Export an app as a package: a directory (the builtin template
    /// layout) or, for a path ending in `.json`, one bundle file.
    Export {
        /// Tenant slug.
        #[arg(long)]
        tenant: String,
        /// Email of the admin or owner the export acts as.
        #[arg(long)]
        email: String,
        /// The app.
        #[arg(long)]
        app: engine::ids::AppId,
        /// Output directory or `.json` file.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Carry the app's records as the package's sample data.
        #[arg(long)]
        records: bool,
    },
}

/// `formwork import ...`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Tenant slug.
    #[arg(long)]
    pub tenant: String,
    /// Email of the member the import acts as.
    #[arg(long)]
    pub email: String,
    /// Target form id.
    #[arg(long)]
    pub form: engine::ids::FormId,
    /// The CSV (UTF-8) or XLSX file.
    #[arg(long)]
    pub file: std::path::PathBuf,
    /// `insert` (default), `upsert` or `update`.
    #[arg(long, default_value = "insert")]
    pub mode: String,
    /// Key field for upsert and update.
    #[arg(long)]
    pub key: Option<String>,
    /// Only validate and report.
    #[arg(long)]
    pub dry_run: bool,
}

/// `formwork scheduler ...`.
#[derive(Debug, Subcommand)]
pub enum SchedulerCommand {
    /// Run everything due as of an instant (dispatch record events, plan
    /// schedule and date-field rules, run due jobs) against the configured
    /// database, then exit.
    Run {
        /// The instant, RFC 3339 (`2027-02-25T09:00:00+08:00`); now when absent.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

/// `formwork admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and its owner.
    Create {
        /// Tenant slug (lower-case letters, digits, dashes); used to log in.
        #[arg(long)]
        tenant: String,
        /// Owner's email.
        #[arg(long)]
        email: String,
        /// Owner's password (at least 8 characters); the environment keeps it out of `ps`.
        #[arg(long, env = "FORMWORK_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Tenant display name (defaults to the slug).
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// Sets up structured logging to stderr.
///
/// # Errors
/// When the filter does not parse.
pub fn init_logging(cfg: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&cfg.log).with_context(|| format!("invalid log filter `{}`", cfg.log))?;
    let is_tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(is_tty);
    match cfg.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// Runs the command.
///
/// # Errors
/// Start-up failures (database unreachable, port taken, bad input).
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cfg).await,
        Command::Migrate => {
            let engine = connect(&cfg).await?;
            engine.migrate().await.context("migration failed")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Scheduler(SchedulerCommand::Run { at }) => {
            let engine = open(&cfg).await?;
            let scheduler = Scheduler::new(engine, true, Duration::from_secs(cfg.misfire_window_secs));
            let at = at.map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc));
            let report = scheduler
                .tick(at)
                .await
                .map_err(|e| anyhow::anyhow!("scheduler run failed: {e}"))?;
            tracing::info!(
                at = %at,
                dispatched = report.dispatched,
                planned = report.planned,
                ran = report.ran,
                "scheduler run finished"
            );
            Ok(())
        }
        Command::Import(args) => import(&cfg, args).await,
        Command::Template(cmd) => template(&cfg, cmd).await,
        Command::Admin(AdminCommand::Create {
            tenant,
            email,
            password,
            name,
        }) => {
            let engine = open(&cfg).await?;
            let (tenant_id, user_id) = engine
                .create_tenant_with_owner(&tenant, &name, &email, &password)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create tenant `{tenant}`: {e}"))?;
            tracing::info!(%tenant_id, %user_id, "tenant `{tenant}` created with owner `{email}`");
            Ok(())
        }
    }
}

fn refused(what: &str, e: &engine::template::TemplateError) -> anyhow::Error {
    let details: Vec<String> = engine::error::HasCode::details(e)
        .iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect();
    anyhow::anyhow!("{what} refused: {e}\n{}", details.join("\n"))
}

/// `formwork template`: the same install and export as the HTTP API, run in
/// this process; results go to stdout.
async fn template(cfg: &Config, cmd: TemplateCommand) -> anyhow::Result<()> {
    use engine::template::{InstallOptions, Package, builtin, catalogue};
    let mut out = String::new();
    match cmd {
        TemplateCommand::List => {
            for t in catalogue().map_err(|e| refused("listing", &e))? {
                out.push_str(&format!("{}\t{}\t{}\t{}\n", t.key, t.version, t.name, t.hash));
            }
        }
        TemplateCommand::Install {
            tenant,
            email,
            source,
            name,
            sample_data,
        } => {
            let path = std::path::Path::new(&source);
            let pkg = if path.is_dir() {
                Package::from_dir(path).map_err(|e| refused("reading the package", &e))?
            } else if path.is_file() {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {source}"))?;
                let bundle: serde_json::Value =
                    serde_json::from_str(&text).with_context(|| format!("{source} is not JSON"))?;
                Package::from_bundle(&bundle).map_err(|e| refused("reading the package", &e))?
            } else {
                builtin(&source).map_err(|e| refused("install", &e))?
            };
            let engine = open(cfg).await?;
            let ctx = engine
                .member_ctx(&tenant, &email)
                .await
                .map_err(|e| anyhow::anyhow!("cannot act as `{email}` in `{tenant}`: {e}"))?;
            let opts = InstallOptions {
                name,
                sample_data,
                ..InstallOptions::default()
            };
            let done = engine
                .install_package(&ctx, &pkg, &opts)
                .await
                .map_err(|e| refused("install", &e))?;
            out.push_str(&format!(
                "{}\ninstalled: {} forms, {} rules, {} flows, {} views, {} dashboards, {} sample records\n",
                done.app,
                done.forms.len(),
                done.rules.len(),
                done.workflows.len(),
                done.views.len(),
                done.dashboards.len(),
                done.records
            ));
        }
        TemplateCommand::Export {
            tenant,
            email,
            app,
            out: target,
            records,
        } => {
            let engine = open(cfg).await?;
            let ctx = engine
                .member_ctx(&tenant, &email)
                .await
                .map_err(|e| anyhow::anyhow!("cannot act as `{email}` in `{tenant}`: {e}"))?;
            let exported = engine
                .export_app_with(&ctx, app, records)
                .await
                .map_err(|e| refused("export", &e))?;
            if target.extension().is_some_and(|x| x == "json") {
                let text = serde_json::to_string_pretty(&exported.to_bundle())?;
                std::fs::write(&target, text)
                    .with_context(|| format!("cannot write {}", target.display()))?;
            } else {
                exported
                    .package
                    .write_dir(&target)
                    .map_err(|e| refused("export", &e))?;
            }
            out.push_str(&format!("{}\n", exported.package.hash()));
            for w in &exported.warnings {
                out.push_str(&format!("left out: {}: {}\n", w.field, w.message));
            }
        }
    }
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
    Ok(())
}

/// `formwork import`: the same validation and all-or-nothing write as the
/// HTTP import, run in this process. The summary goes to stdout.
async fn import(cfg: &Config, args: ImportArgs) -> anyhow::Result<()> {
    use engine::exchange::{ImportMode, RunImportInput, XLSX_MIME};
    let engine = open(cfg).await?;
    let ctx = engine
        .member_ctx(&args.tenant, &args.email)
        .await
        .map_err(|e| anyhow::anyhow!("cannot act as `{}` in `{}`: {e}", args.email, args.tenant))?;
    let mode = ImportMode::parse(&args.mode)
        .ok_or_else(|| anyhow::anyhow!("--mode must be insert, upsert or update, not `{}`", args.mode))?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let is_xlsx = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let content_type = if is_xlsx { XLSX_MIME } else { "text/csv" };
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let input = RunImportInput {
        mapping: None,
        mode,
        key: args.key,
        dry_run: args.dry_run,
    };
    let view = engine
        .import_file(&ctx, args.form, content_type, &name, bytes, input)
        .await
        .map_err(|e| {
            let details: Vec<String> = engine::error::HasCode::details(&e)
                .iter()
                .map(|d| format!("{}: {}", d.field, d.message))
                .collect();
            anyhow::anyhow!("import refused: {e} {}", details.join("; "))
        })?;
    let summary = view.summary.unwrap_or_default();
    let mut out = format!(
        "import {} ({}, {} rows): {}{}\ninserted {}, updated {}, unchanged {}, rows with errors {}\n",
        view.id,
        view.format.as_str(),
        view.rows,
        view.status,
        if args.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.failed_rows
    );
    if let Some(failure) = &view.failure {
        out.push_str(&format!("{failure}\n"));
    }
    for e in &view.errors {
        out.push_str(&format!(
            "row {} {}: {}\n",
            e.row,
            e.column.as_deref().or(e.field.as_deref()).unwrap_or_default(),
            e.message
        ));
    }
    if view.error_count > view.errors.len() as u64 {
        out.push_str(&format!("... {} errors in all\n", view.error_count));
    }
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
    if view.error_count > 0 || view.status == "failed" {
        anyhow::bail!("the import has errors");
    }
    Ok(())
}

async fn connect(cfg: &Config) -> anyhow::Result<Engine> {
    Engine::connect(&cfg.database_url, cfg.engine_config())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn open(cfg: &Config) -> anyhow::Result<Engine> {
    Engine::open(&cfg.database_url, cfg.engine_config())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let engine = open(&cfg).await?;
    let scheduler = Arc::new(Scheduler::new(
        engine.clone(),
        cfg.allow_clock_override,
        Duration::from_secs(cfg.misfire_window_secs),
    ));
    let mut state = AppState::with_scheduler(engine.clone(), cfg.max_body, Arc::clone(&scheduler));
    state.v5_limiter = actix_web::web::Data::new(crate::routes::v5::RateLimiter::new(cfg.v5_rate_limit));
    state.limits = actix_web::web::Data::new(crate::limit::Limits::new(cfg.login_rate_per_minute));
    let mut server = actix_web::HttpServer::new(move || app::build(state.clone()))
        .shutdown_timeout(30)
        .bind(cfg.bind)
        .with_context(|| format!("cannot listen on {}", cfg.bind))?;
    if cfg.workers > 0 {
        server = server.workers(cfg.workers);
    }
    let addr = server.addrs().first().copied().unwrap_or(cfg.bind);
    let url = format!("http://{addr}");
    tracing::info!(%url, "formwork listening on {url}");
    if cfg.demo {
        seed_demo(&engine, &cfg, &url).await?;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = if cfg.allow_clock_override {
        tracing::info!("clock override allowed: the background scheduler is off");
        None
    } else if cfg.scheduler_interval_ms == 0 {
        tracing::info!("background scheduler off (--scheduler-interval-ms 0)");
        None
    } else {
        let interval = Duration::from_millis(cfg.scheduler_interval_ms.max(10));
        Some(tokio::spawn(
            Arc::clone(&scheduler).run_forever(interval, stopped),
        ))
    };
    let result = server.run().await.context("server failed");
    let _ = stop.send(true);
    if let Some(task) = background {
        let _ = task.await;
    }
    result?;
    // Close the pool before the runtime goes: SQLite then checkpoints its
    // write-ahead log and removes it, and PostgreSQL sees each session end.
    if let Err(e) = engine.db().conn().close_by_ref().await {
        tracing::warn!("closing the database: {e}");
    }
    tracing::info!("formwork stopped");
    Ok(())
}

/// Demo tenant slug.
pub const DEMO_TENANT: &str = "demo";
/// Demo owner email.
pub const DEMO_EMAIL: &str = "admin@demo.local";

/// On first start (no tenant yet) creates the demo tenant and prints how to log in.
async fn seed_demo(engine: &Engine, cfg: &Config, url: &str) -> anyhow::Result<()> {
    if !engine.is_empty().await.map_err(|e| anyhow::anyhow!("{e}"))? {
        return Ok(());
    }
    let password = cfg
        .demo_password
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    // Another replica starting on the same empty database may win the race:
    // that is not a reason to stop serving.
    if let Err(e) = engine
        .create_tenant_with_owner(DEMO_TENANT, "Demo", DEMO_EMAIL, &password)
        .await
    {
        tracing::warn!(error = %e, "demo tenant not created");
        return Ok(());
    }
    let login = format!(
        "curl -s {url}/api/v1/auth/login -H 'content-type: application/json' \
         -d '{{\"tenant\":\"{DEMO_TENANT}\",\"email\":\"{DEMO_EMAIL}\",\"password\":\"{password}\"}}'"
    );
    tracing::info!(tenant = DEMO_TENANT, email = DEMO_EMAIL, "demo tenant created");
    eprintln!(
        "\n==================== Formwork is ready ====================\n\
         URL:      {url}\n\
         tenant:   {DEMO_TENANT}\n\
         email:    {DEMO_EMAIL}\n\
         password: {password}\n\
         log in:   {login}\n\
         ===========================================================\n"
    );
    Ok(())
}
