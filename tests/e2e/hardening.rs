//! Hardening over HTTP against the real binary: the per-address login rate
//! limit, the failed-login lockout, CSRF refusal of cross-site cookie
//! writes, security headers, and webhook targets on private addresses
//! refused; on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::json;

use crate::e2e;
use crate::harness::{DEMO_PASSWORD, Opts, Resp, Server};

/// A login attempt as the demo owner.
async fn attempt(srv: &Server, password: &str) -> Resp {
    let body = json!({"tenant": "demo", "email": "admin@demo.local", "password": password});
    srv.call(Method::POST, "/api/v1/auth/login", None, Some(body))
        .await
}

/// The `Retry-After` seconds of a 429.
fn retry_after(r: &Resp) -> u64 {
    r.assert_error(429, "too_many_requests");
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

e2e!(
    login_rate_limit,
    Opts {
        env: vec![("FORMWORK_LOGIN_RATE_PER_MINUTE".into(), "3".into())],
    },
    |srv: Server| async move {
        // Three attempts per minute from one address, right or wrong.
        let ok = attempt(&srv, DEMO_PASSWORD).await;
        assert_eq!(ok.status, 200, "{}", ok.text);
        for _ in 0..2 {
            attempt(&srv, "wrong-password")
                .await
                .assert_error(401, "unauthorized");
        }
        let wait = retry_after(&attempt(&srv, DEMO_PASSWORD).await);
        assert!((1..=20).contains(&wait), "Retry-After {wait}");
        // Other endpoints are not limited by it.
        let token = ok.body["token"].as_str().unwrap().to_owned();
        assert_eq!(srv.get("/api/v1/me", &token).await.status, 200);
    }
);

e2e!(login_lockout, |srv: Server| async move {
    for _ in 0..5 {
        attempt(&srv, "wrong-password")
            .await
            .assert_error(401, "unauthorized");
    }
    // Now even the right password is refused, with the wait.
    let wait = retry_after(&attempt(&srv, DEMO_PASSWORD).await);
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    // The lockout is in the database: a restart does not lift it.
    let mut srv = srv;
    srv.restart().await;
    attempt(&srv, DEMO_PASSWORD)
        .await
        .assert_error(429, "too_many_requests");
});

e2e!(csrf_and_headers, |srv: Server| async move {
    let login = attempt(&srv, DEMO_PASSWORD).await;
    assert_eq!(login.status, 200);
    let token = login.body["token"].as_str().unwrap().to_owned();
    let set_cookie = login.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = format!("formwork_session={token}");
    let host = srv.base.trim_start_matches("http://").to_owned();
    let own_origin = srv.base.clone();
    let app = |name: &str| Some(json!({"name": name}));
    // A cookie write from another site is refused, by Sec-Fetch-Site or,
    // from a browser without it, by Origin; nothing is created.
    for headers in [
        vec![
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.test"),
        ],
        vec![("cookie", cookie.as_str()), ("sec-fetch-site", "same-site")],
        vec![("cookie", cookie.as_str()), ("origin", "http://evil.test")],
        vec![("cookie", cookie.as_str()), ("origin", "null")],
    ] {
        let r = srv
            .send(Method::POST, "/api/v1/apps", None, app("forged"), &headers)
            .await;
        r.assert_error(403, "csrf_rejected");
    }
    let apps = srv.get("/api/v1/apps", &token).await;
    assert!(
        !apps.text.contains("forged"),
        "a refused write created something: {}",
        apps.text
    );
    // The same write from this server's own pages passes.
    let same = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("origin", own_origin.as_str()),
    ];
    let r = srv
        .send(Method::POST, "/api/v1/apps", None, app("from the ui"), &same)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let by_origin = [
        ("cookie", cookie.as_str()),
        ("origin", own_origin.as_str()),
        ("host", host.as_str()),
    ];
    let r = srv
        .send(Method::POST, "/api/v1/apps", None, app("old browser"), &by_origin)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Reads with the cookie are not checked; bearer writes never are.
    let read = srv
        .send(
            Method::GET,
            "/api/v1/apps",
            None,
            None,
            &[("cookie", cookie.as_str()), ("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let bearer = srv
        .send(
            Method::POST,
            "/api/v1/apps",
            Some(&token),
            app("script"),
            &[("origin", "http://evil.test")],
        )
        .await;
    assert_eq!(bearer.status, 201, "{}", bearer.text);
    // Security headers: every API answer says nosniff; the UI page has a CSP
    // that forbids framing.
    assert_eq!(read.headers["x-content-type-options"], "nosniff");
    assert_eq!(read.headers["referrer-policy"], "same-origin");
    let page = srv.client.get(format!("{}/", srv.base)).send().await.unwrap();
    let csp = page
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{:?}", page.headers()));
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
});

e2e!(
    webhook_private_targets,
    Opts {
        env: vec![("FORMWORK_WEBHOOK_ALLOW_PRIVATE".into(), "false".into())],
    },
    |srv: Server| async move {
        let owner = srv.login("demo", "admin@demo.local", DEMO_PASSWORD).await;
        let hook = |url: &str| json!({"name": "h", "url": url, "events": ["record.created"]});
        // Loopback, private, link-local (cloud metadata) and this server's
        // own name are refused, naming the field; nothing is saved.
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://10.0.0.7/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:8080/hook",
        ] {
            let r = srv.post("/api/v1/webhooks", &owner, hook(url)).await;
            r.assert_error(422, "validation_failed");
            assert_eq!(r.body["error"]["details"][0]["field"], "url", "{url}: {}", r.text);
            assert!(r.text.contains("public addresses"), "{url}: {}", r.text);
        }
        assert_eq!(srv.get("/api/v1/webhooks", &owner).await.body, json!([]));
        // A public name is accepted.
        let r = srv
            .post(
                "/api/v1/webhooks",
                &owner,
                hook("https://hooks.example.com/formwork"),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
);
