//! Clock-driven firings: each happens exactly once, across years, a
//! SIGKILL in the middle of a tick, and several processes on one database.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde_json::{Value, json};

use super::{
    assert_coupons, birthday_rule, clock, count, coupon_day, crm, customers_born, next_new_year, records,
    runs, spread_birthdays, tick, utc, ymd,
};
use crate::e2e;
use crate::harness::{Backend, Server};

e2e!(birthday_coupons_two_years, clock(), |srv: Server| async move {
    let started = Instant::now();
    let c = crm(&srv, "bday").await;
    birthday_rule(&srv, &c).await;
    let born = customers_born(&srv, &c, &spread_birthdays(500)).await;
    assert!(born.values().filter(|b| (b.month(), b.day()) == (2, 29)).count() >= 6);
    let setup = started.elapsed();

    let first = next_new_year();
    let end = ymd(first.year() + 2, 1, 1);
    let mut day = first;
    let (mut ticks, mut ran) = (0, 0);
    let stepping = Instant::now();
    while day < end {
        let report = tick(&srv, &c.token, utc(day, 10, 0)).await;
        ran += report["ran"].as_u64().unwrap();
        ticks += 1;
        if day.day() == 1 {
            // A second tick the same day finds nothing left to do.
            let again = tick(&srv, &c.token, utc(day, 10, 5)).await;
            assert_eq!(
                (&again["dispatched"], &again["planned"], &again["ran"]),
                (&json!(0), &json!(0), &json!(0)),
                "second tick on {day}: {again}"
            );
        }
        day = day.succ_opt().unwrap();
    }
    let stepped = stepping.elapsed();

    let coupons = records(&srv, &c.token, &c.coupons, Value::Null).await;
    assert_coupons(&coupons, &born, &[first.year(), first.year() + 1]);
    assert_eq!(ran, 1000, "one job per firing");
    eprintln!(
        "birthday_coupons_two_years: setup {setup:?}, {ticks} ticks in {stepped:?} ({:?} each), total {:?}",
        stepped / ticks,
        started.elapsed()
    );
});

/// How many records the query at `url` matches; `None` when the server is
/// gone.
async fn coupon_total(client: &reqwest::Client, url: &str, token: &str) -> Option<u64> {
    let r = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({"limit": 1, "total": true}))
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    v["total"].as_u64()
}

e2e!(
    restart_mid_tick_fires_once,
    clock(),
    |mut srv: Server| async move {
        let started = Instant::now();
        let c = crm(&srv, "restart").await;
        let rule = birthday_rule(&srv, &c).await;
        let year = next_new_year().year();
        // Two busy days (so a tick runs long enough to be cut off) and a spread.
        let busy = [ymd(1980, 3, 13), ymd(1985, 8, 23)];
        let mut days = Vec::new();
        for b in busy {
            days.extend(std::iter::repeat_n(b, 80));
        }
        days.extend(spread_birthdays(40));
        let born = customers_born(&srv, &c, &days).await;
        let busy_ticks: Vec<NaiveDate> = busy.iter().map(|b| coupon_day(*b, year)).collect();

        let mut day = ymd(year, 1, 1);
        let mut cut = 0;
        while day.year() == year {
            let at = utc(day, 10, 0);
            if !busy_ticks.contains(&day) {
                tick(&srv, &c.token, at).await;
                day = day.succ_opt().unwrap();
                continue;
            }
            // Start the tick, wait for its first coupon, then SIGKILL.
            let query_url = format!("{}/api/v1/forms/{}/records/query", srv.base, c.coupons);
            let before = coupon_total(&srv.client, &query_url, &c.token).await.unwrap();
            let (client, url, token) = (
                srv.client.clone(),
                format!("{}/api/v1/admin/scheduler/run", srv.base),
                c.token.clone(),
            );
            let running = tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"at": at.to_rfc3339()}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            while !running.is_finished() {
                let now = coupon_total(&srv.client, &query_url, &c.token).await.unwrap();
                if now > before {
                    break;
                }
                assert!(Instant::now() < deadline, "the busy tick made no coupon");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            srv.kill9();
            let answer = running.await.unwrap();
            if answer.is_err() {
                cut += 1;
            }
            let due = born.values().filter(|b| coupon_day(**b, year) == day).count() as u64;
            srv.restart().await;
            let partial = count(&srv, &c.token, &c.coupons, Value::Null).await - before;
            eprintln!("killed the tick of {day}: answer {answer:?}, {partial} of {due} coupons made");
            // The killed process's leases (300 s from `at`) must expire before
            // its jobs run again; pending ones are still within the misfire
            // window.
            let report = tick(&srv, &c.token, at + TimeDelta::seconds(301)).await;
            eprintln!("after restart: {report}");
            assert_eq!(
                count(&srv, &c.token, &c.coupons, Value::Null).await - before,
                due,
                "the busy day's coupons after the restart"
            );
            day = day.succ_opt().unwrap();
        }
        assert!(cut > 0, "no SIGKILL landed in the middle of a tick");
        let coupons = records(&srv, &c.token, &c.coupons, Value::Null).await;
        assert_coupons(&coupons, &born, &[year]);
        // The run log: one success per firing; the jobs the killed process
        // held were taken over (a second attempt), none failed.
        let log: Vec<Value> = runs(&srv, &c.token, &rule)
            .await
            .into_iter()
            .filter(|r| r["detail"]["reason"] != "missed")
            .collect();
        assert!(log.iter().all(|r| r["outcome"] == "succeeded"), "{log:#?}");
        let keys: BTreeSet<&str> = log
            .iter()
            .map(|r| r["idempotency_key"].as_str().unwrap())
            .collect();
        assert_eq!((keys.len(), log.len()), (born.len(), born.len()));
        assert!(
            log.iter().any(|r| r["attempt"].as_i64() > Some(1)),
            "no job held by the killed process was run again"
        );
        eprintln!(
            "restart_mid_tick_fires_once: {cut} tick(s) cut off, total {:?}",
            started.elapsed()
        );
    }
);

/// How the two processes of [`two_processes`] tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ticking {
    /// Both at every instant, at the same time.
    Concurrent,
    /// Both at every instant, one after the other.
    TakingTurns,
}

/// Starts `formwork scheduler run --at` on the server's database.
fn spawn_cli_tick(srv: &Server, at: DateTime<Utc>) -> std::process::Child {
    srv.cli_command(&["scheduler", "run", "--at", &at.to_rfc3339()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn formwork scheduler run")
}

/// Waits for a [`spawn_cli_tick`] to end well.
async fn wait_cli_tick(mut child: std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "formwork scheduler run hangs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "formwork scheduler run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two server processes on one database (and now and then the CLI) tick
/// the same instants over half a year; every firing happens once.
async fn two_processes(backend: Backend, ticking: Ticking) {
    let Some(srv) = Server::start(backend, clock()).await else {
        return;
    };
    let started = Instant::now();
    let peer = srv.peer().await;
    let c = crm(&srv, "twins").await;
    let rule = birthday_rule(&srv, &c).await;
    let year = next_new_year().year();
    // 240 customers on four birthdays, so each busy tick has 60 firings,
    // more than one lease takes (50).
    let mut days = Vec::new();
    for b in [
        ymd(1971, 1, 10),
        ymd(1972, 2, 20),
        ymd(1973, 4, 10),
        ymd(1974, 5, 20),
    ] {
        days.extend(std::iter::repeat_n(b, 60));
    }
    let born = customers_born(&srv, &c, &days).await;
    let mut day = ymd(year, 1, 1);
    let (mut ran_a, mut ran_b, mut cli_ticks) = (0, 0, 0);
    while day < ymd(year, 7, 1) {
        let at = utc(day, 10, 0);
        // On the 17th (a busy instant: birthdays on the 20th) the CLI ticks
        // too: at the same time as the servers, or before them.
        let cli = day.day() == 17;
        cli_ticks += usize::from(cli);
        let (a, b) = match ticking {
            Ticking::Concurrent if cli => {
                // The servers join in once the CLI has made its first coupon.
                let before = count(&srv, &c.token, &c.coupons, Value::Null).await;
                let mut child = spawn_cli_tick(&srv, at);
                let deadline = Instant::now() + Duration::from_secs(30);
                while child.try_wait().unwrap().is_none()
                    && count(&srv, &c.token, &c.coupons, Value::Null).await == before
                {
                    assert!(Instant::now() < deadline, "the CLI made no coupon");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let (_, a, b) = tokio::join!(
                    wait_cli_tick(child),
                    tick(&srv, &c.token, at),
                    tick(&peer, &c.token, at)
                );
                (a, b)
            }
            Ticking::Concurrent => tokio::join!(tick(&srv, &c.token, at), tick(&peer, &c.token, at)),
            // Both at every instant, one after the other, the first one
            // changing month by month; the second finds nothing to do.
            Ticking::TakingTurns => {
                if cli {
                    wait_cli_tick(spawn_cli_tick(&srv, at)).await;
                }
                if day.month().is_multiple_of(2) {
                    let a = tick(&srv, &c.token, at).await;
                    (a, tick(&peer, &c.token, at).await)
                } else {
                    let b = tick(&peer, &c.token, at).await;
                    (tick(&srv, &c.token, at).await, b)
                }
            }
        };
        ran_a += a["ran"].as_u64().unwrap();
        ran_b += b["ran"].as_u64().unwrap();
        day = day.succ_opt().unwrap();
    }
    let coupons = records(&srv, &c.token, &c.coupons, Value::Null).await;
    assert_coupons(&coupons, &born, &[year]);
    // Firings due before the stepped clock began are logged as missed.
    let log: Vec<Value> = runs(&srv, &c.token, &rule)
        .await
        .into_iter()
        .filter(|r| r["detail"]["reason"] != "missed")
        .collect();
    let keys: BTreeSet<&str> = log
        .iter()
        .map(|r| r["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), log.len(), "a firing ran twice");
    assert_eq!(log.len(), 240);
    assert!(
        log.iter()
            .all(|r| r["outcome"] == "succeeded" && r["attempt"] == 1),
        "{:?}",
        log.iter()
            .find(|r| r["outcome"] != "succeeded" || r["attempt"] != 1)
    );
    let by_servers = ran_a + ran_b;
    match ticking {
        Ticking::Concurrent => assert!((120..240).contains(&by_servers), "{by_servers}"),
        Ticking::TakingTurns => assert_eq!(by_servers, 120, "the CLI ran those of the 17th"),
    }
    eprintln!(
        "two_processes ({backend:?}, {ticking:?}): jobs run by A {ran_a}, by B {ran_b}, by {cli_ticks} CLI ticks {}; total {:?}",
        240 - ran_a - ran_b,
        started.elapsed()
    );
}

/// Not through `e2e!`: SQLite also runs a variant where the processes and the
/// CLI take turns.
pub mod two_processes_fire_once {
    use super::{Backend, Ticking, two_processes};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn e2e_postgres() {
        two_processes(Backend::Postgres, Ticking::Concurrent).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn e2e_sqlite() {
        two_processes(Backend::Sqlite, Ticking::Concurrent).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn e2e_sqlite_taking_turns() {
        two_processes(Backend::Sqlite, Ticking::TakingTurns).await;
    }
}
