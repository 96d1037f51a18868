//! Starts the real `formwork` binary on a free 127.0.0.1 port with its own
//! fresh database (a SQLite file in a temp dir, or a PostgreSQL database
//! `fw_e2e_<hex>` created through `FORMWORK_TEST_PG` and dropped `WITH
//! (FORCE)` afterwards), waits for `/readyz`, and kills it on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Method};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::{Value, json};

/// Password of the demo owner in every test server.
pub const DEMO_PASSWORD: &str = "demo-password-1";
/// Admin database for the PostgreSQL variant.
pub const DEFAULT_TEST_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database a test server owns.
struct TestDb {
    url: String,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    async fn create(backend: Backend) -> Option<Self> {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("fw-e2e-{hex}"));
                std::fs::create_dir_all(&dir).unwrap();
                let url = format!("sqlite://{}?mode=rwc", dir.join("formwork.db").display());
                Some(Self {
                    url,
                    dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin = std::env::var("FORMWORK_TEST_PG").unwrap_or_else(|_| DEFAULT_TEST_PG.to_owned());
                let required = std::env::var("FORMWORK_REQUIRE_PG").is_ok_and(|v| v == "1");
                let name = format!("fw_e2e_{}", &hex[..16]);
                match create_pg_db(&admin, &name).await {
                    Ok(()) => {}
                    Err(e) if required => panic!("PostgreSQL required (FORMWORK_REQUIRE_PG=1) but: {e}"),
                    Err(e) => {
                        eprintln!("SKIPPED postgres variant: PostgreSQL at {admin} unreachable ({e})");
                        return None;
                    }
                }
                let (base, query) = admin
                    .split_once('?')
                    .map_or((admin.as_str(), ""), |(b, q)| (b, q));
                let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
                let url = if query.is_empty() {
                    format!("{prefix}/{name}")
                } else {
                    format!("{prefix}/{name}?{query}")
                };
                // Uploaded files still need a directory of their own.
                let dir = std::env::temp_dir().join(format!("fw-e2e-{hex}"));
                std::fs::create_dir_all(&dir).unwrap();
                Some(Self {
                    url,
                    dir: Some(dir),
                    pg: Some((admin, name)),
                })
            }
        }
    }
}

async fn create_pg_db(admin: &str, name: &str) -> Result<(), String> {
    let mut opts = ConnectOptions::new(admin.to_owned());
    opts.connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    let conn = Database::connect(opts).await.map_err(|e| e.to_string())?;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs inside the test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(conn) = Database::connect(admin.as_str()).await {
                        let _ = conn
                            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Options for a server start.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// A running `formwork` process.
pub struct Server {
    pub base: String,
    pub client: Client,
    child: Option<Child>,
    log: Arc<Mutex<String>>,
    /// Shared with [`Server::peer`]s; dropped with the last of them.
    db: Arc<TestDb>,
    opts: Opts,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    /// Asserts status and error code, and that the error body is complete.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "unexpected status, body: {}", self.text);
        assert_eq!(self.code(), code, "unexpected code, body: {}", self.text);
        assert!(
            self.body["error"]["message"].is_string(),
            "no message: {}",
            self.text
        );
        assert!(
            self.body["error"]["details"].is_array(),
            "no details: {}",
            self.text
        );
    }
    /// The `field`s named in the details.
    pub fn detail_fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|x| x["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Server {
    /// Starts a server on a fresh database; `None` when the PostgreSQL variant is skipped.
    pub async fn start(backend: Backend, opts: Opts) -> Option<Self> {
        let db = TestDb::create(backend).await?;
        // Bounded, with room for the slowest call (a sample-data import on
        // PostgreSQL on a busy 2-core machine has come close to a minute).
        let client = Client::builder()
            .timeout(Duration::from_secs(180))
            .build()
            .unwrap();
        let mut srv = Self {
            base: String::new(),
            client,
            child: None,
            log: Arc::default(),
            db: Arc::new(db),
            opts,
        };
        srv.spawn().await;
        Some(srv)
    }

    /// Starts another process on this server's database, with the same
    /// options (a second node of one deployment).
    pub async fn peer(&self) -> Self {
        let mut srv = Self {
            base: String::new(),
            client: self.client.clone(),
            child: None,
            log: Arc::default(),
            db: Arc::clone(&self.db),
            opts: self.opts.clone(),
        };
        srv.spawn().await;
        srv
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let dir = self
            .db
            .dir
            .as_ref()
            .filter(|_| self.db.url.starts_with("sqlite:"))?;
        Some(dir.join("formwork.db"))
    }

    /// The directory the server keeps uploaded files in.
    pub fn data_dir(&self) -> PathBuf {
        self.db
            .dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join("data")
    }

    /// Uploads `bytes` as the multipart part `file` named `name`, declared
    /// with `content_type` (which the server must not trust).
    pub async fn upload(&self, token: &str, name: &str, content_type: &str, bytes: Vec<u8>) -> Resp {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(content_type)
            .unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let req = self
            .client
            .post(format!("{}/api/v1/files", self.base))
            .bearer_auth(token)
            .multipart(form);
        Self::read(req.send().await.expect("upload")).await
    }

    /// The captured stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    async fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_formwork"));
        cmd.env("DATABASE_URL", &self.db.url)
            .env("FORMWORK_BIND", "127.0.0.1:0")
            .env("FORMWORK_DEMO_PASSWORD", DEMO_PASSWORD)
            .env("FORMWORK_LOG", "info")
            .env("FORMWORK_LOG_FORMAT", "text")
            .env("FORMWORK_WORKERS", "2")
            .env("FORMWORK_LOGIN_RATE_PER_MINUTE", "6000")
            .env("FORMWORK_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("FORMWORK_DATA_DIR", self.data_dir())
            .env_remove("FORMWORK_DEMO")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn formwork");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on http://") {
                    let rest = &line[i + "listening on ".len()..];
                    let url: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
                        .collect();
                    let _ = tx.send(url);
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        self.log = log;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            if let Ok(url) = rx.try_recv() {
                break url;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("formwork exited with {status} before listening:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "formwork did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.base = base;
        loop {
            let ready = self.client.get(format!("{}/readyz", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(Instant::now() < deadline, "formwork not ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub async fn terminate(&mut self) -> Option<i32> {
        self.sigterm();
        self.wait_exit().await
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    /// Waits (up to 40 s) for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "formwork did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGKILL (no shutdown of any kind: open transactions are cut
    /// off) and waits for the process to be gone.
    pub fn kill9(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -KILL failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "formwork survived SIGKILL");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts the binary again on the same database, stopping a running
    /// process with SIGTERM first (none runs after [`Server::kill9`]).
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.terminate().await;
        }
        self.spawn().await;
    }

    /// Runs `formwork <args>` against this server's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_command(args).output().expect("run formwork")
    }

    /// The command [`Server::cli`] runs, to spawn it alongside requests.
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_formwork"));
        cmd.args(args)
            .env("DATABASE_URL", &self.db.url)
            .env("FORMWORK_LOG", "warn")
            .stdin(Stdio::null());
        cmd
    }

    /// Creates another tenant with the CLI and logs in as its owner.
    pub async fn tenant(&self, slug: &str) -> String {
        let email = format!("owner@{slug}.test");
        let out = self.cli(&[
            "admin",
            "create",
            "--tenant",
            slug,
            "--email",
            &email,
            "--password",
            "password-123",
        ]);
        assert!(
            out.status.success(),
            "admin create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.login(slug, &email, "password-123").await
    }

    /// Logs in and returns the bearer token.
    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({
                    "tenant": tenant, "email": email, "password": password
                })),
            )
            .await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Logs in as the demo owner.
    pub async fn demo(&self) -> String {
        self.login("demo", "admin@demo.local", DEMO_PASSWORD).await
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.send(method, path, token, body, &[]).await
    }

    /// A request with extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::read(req.send().await.expect("request")).await
    }

    /// A request with a raw body and content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        Self::read(req.send().await.expect("request")).await
    }

    async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Creates an app and returns its id.
    pub async fn create_app(&self, token: &str, name: &str) -> String {
        let r = self.post("/api/v1/apps", token, json!({"name": name})).await;
        assert_eq!(r.status, 201, "create app: {}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a form in an app and returns its id.
    pub async fn create_form(&self, token: &str, app: &str, def: Value) -> String {
        let r = self.post(&format!("/api/v1/apps/{app}/forms"), token, def).await;
        assert_eq!(r.status, 201, "create form: {}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a record and returns the whole answer.
    pub async fn create_record(&self, token: &str, form: &str, data: Value) -> Resp {
        self.post(
            &format!("/api/v1/forms/{form}/records"),
            token,
            json!({"data": data}),
        )
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The customers form used across tests.
pub fn customers_form() -> Value {
    json!({
        "name": "Customers",
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 50},
            {"key": "email", "label": "Email", "type": "email", "unique": true},
            {"key": "tier", "label": "Tier", "type": "select", "indexed": true,
             "options": [{"value": "VIP", "color": "#d4380d"}, {"value": "regular", "color": "#8c8c8c"}]},
            {"key": "total_spent", "label": "Total spent", "type": "number", "min": 0, "indexed": true},
            {"key": "joined", "label": "Joined", "type": "date"},
            {"key": "notes", "label": "Notes", "type": "textarea"}
        ]
    })
}
