//! Browser tests: the web UI in Debian's chromium, driven by playwright-core
//! (`tests/browser/`). Starts the real binary on a fresh SQLite database and
//! runs `node tests/browser/ui.test.mjs` against it; any failed step or
//! console error in the page fails the test. Screenshots of every case's
//! final state land in `<target>/tmp/browser/`.
//!
//! Needs node, `tests/browser/node_modules` (`npm ci` there) and chromium
//! (`FORMWORK_CHROMIUM`, default `/usr/bin/chromium`); `.ci/run` installs
//! them. Without them the test skips with a note, except under `CI=true`,
//! where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Backend, DEMO_PASSWORD, Opts, Server};

/// The whole browser run, server start excluded.
const TIMEOUT: Duration = Duration::from_secs(300);

fn missing_prerequisite(dir: &Path, chromium: &Path) -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("`node` is not on PATH".to_owned());
    }
    if !dir.join("node_modules/playwright-core/package.json").is_file() {
        return Some(format!(
            "playwright-core is not installed (run `npm ci` in {})",
            dir.display()
        ));
    }
    if !chromium.is_file() {
        return Some(format!("chromium is not at {}", chromium.display()));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    let chromium =
        PathBuf::from(std::env::var("FORMWORK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if let Some(why) = missing_prerequisite(&dir, &chromium) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "browser tests cannot run under CI=true: {why}"
        );
        eprintln!("SKIPPED browser tests: {why}");
        return;
    }
    let srv = Server::start(Backend::Sqlite, Opts::default()).await.unwrap();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let stdout_path = artifacts.join("output.txt");
    let stderr_path = artifacts.join("stderr.txt");
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg("ui.test.mjs")
        .current_dir(&dir)
        .env("FW_BASE", &srv.base)
        .env("FW_TENANT", "demo")
        .env("FW_EMAIL", "admin@demo.local")
        .env("FW_PASSWORD", DEMO_PASSWORD)
        .env("FW_ARTIFACTS", &artifacts)
        .env("FW_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("run node");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    eprintln!(
        "browser tests ({:.1} s):\n{stdout}{stderr}",
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "browser tests failed ({s}):\n{stdout}\n{stderr}\nserver log:\n{}",
            srv.log()
        ),
        None => panic!("browser tests did not finish in {TIMEOUT:?}:\n{stdout}\n{stderr}"),
    }
}
