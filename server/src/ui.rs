//! The web UI: the ES modules, HTML and CSS under `server/ui/`, embedded in
//! the binary with `include_bytes!` (no build step, no Node at run time) and
//! served at `/ui/<file>`. `index.html` also answers `/` and the client-side
//! routes (`/login`, `/f/<token>` of public links, `/templates`, `/inbox`,
//! `/inbox/<task>`, `/apps/...`), where the page's router takes over.
//!
//! Every asset carries a strong `ETag` (a hash of its bytes) and
//! `Cache-Control: no-cache`: the file names carry no version, so a browser
//! revalidates each load and gets `304 Not Modified` while the binary is the
//! same. Registered after the API routes in [`crate::app::build`], so `/api`,
//! `/healthz` and `/metrics` are matched first. The UI uses only the public
//! API, like any other client.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

/// One embedded file.
struct Asset {
    /// Path below `server/ui/` (and below `/ui/` in URLs).
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, bytes: include_bytes!(concat!("../ui/", $path)) }),*]
    };
}

/// Every file of `server/ui/`; a test checks that none is missing.
const ASSETS: &[Asset] = assets![
    "index.html",
    "app.css",
    "favicon.svg",
    "js/api.js",
    "js/app.js",
    "js/charts.js",
    "js/dom.js",
    "js/fields.js",
    "js/filter.js",
    "js/i18n.js",
    "js/messages.js",
    "js/views/dashboard.js",
    "js/views/designer.js",
    "js/views/exchange.js",
    "js/views/flows.js",
    "js/views/home.js",
    "js/views/inbox.js",
    "js/views/login.js",
    "js/views/public.js",
    "js/views/record.js",
    "js/views/rules.js",
    "js/views/share.js",
    "js/views/table.js",
    "js/views/templates.js",
];

/// An asset with its precomputed validator and content type.
struct Served {
    path: &'static str,
    bytes: &'static [u8],
    etag: String,
    content_type: &'static str,
}

static SERVED: LazyLock<Vec<Served>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| Served {
            path: a.path,
            bytes: a.bytes,
            etag: format!("\"{:016x}\"", fnv1a(a.bytes)),
            content_type: content_type(a.path),
        })
        .collect()
});

/// 64-bit FNV-1a: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn find(path: &str) -> Option<&'static Served> {
    SERVED.iter().find(|s| s.path == path)
}

/// Answers `asset`, or 304 when the request already holds this version.
fn respond(req: &HttpRequest, asset: &Served) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag || t.trim() == "*"));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, asset.etag.clone()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if asset.path.ends_with(".html") {
        res.insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ));
    }
    if fresh {
        return res.finish();
    }
    res.content_type(asset.content_type).body(asset.bytes)
}

async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    match find(&path) {
        Some(a) => respond(&req, a),
        None => crate::error::no_route().await,
    }
}

async fn index(req: HttpRequest) -> HttpResponse {
    match find("index.html") {
        Some(a) => respond(&req, a),
        None => crate::error::no_route().await,
    }
}

/// Registers `/ui/{file}`, `/` and the client-side routes. Call after the
/// API routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ui/{path:.+}")
            .route(web::get().to(asset))
            .route(web::head().to(asset)),
    );
    for path in [
        "/",
        "/login",
        "/f/{token}",
        "/templates",
        "/inbox",
        "/inbox/{task}",
        "/apps",
        "/apps/{tail:.*}",
    ] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(index))
                .route(web::head().to(index)),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use actix_web::App;
    use actix_web::http::StatusCode;
    use actix_web::test as web_test;

    use super::{ASSETS, configure};

    fn files(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, root, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }

    /// Every file under `server/ui/` is embedded, and nothing else.
    #[test]
    fn every_ui_file_is_embedded() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        files(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "server/ui/ and the ASSETS list in ui.rs differ");
    }

    #[actix_web::test]
    async fn assets_have_types_and_validators() {
        let app = web_test::init_service(App::new().configure(configure)).await;
        let res = web_test::call_service(
            &app,
            web_test::TestRequest::get().uri("/ui/js/app.js").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("text/javascript"), "{ct}");
        let etag = res.headers().get("etag").unwrap().to_str().unwrap().to_owned();
        let req = web_test::TestRequest::get()
            .uri("/ui/js/app.js")
            .insert_header(("if-none-match", etag.as_str()))
            .to_request();
        let res = web_test::call_service(&app, req).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        // Every route of the page's router, with `x` for each id: a reload
        // or a link to any page answers the page, never the API's 404.
        let router =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/js/app.js")).unwrap();
        let routes: Vec<String> = router
            .lines()
            .filter_map(|l| l.trim().strip_prefix("[/^"))
            .filter_map(|l| l.split_once("$/").map(|(re, _)| re))
            .map(|re| re.replace(r"([\w-]+)", "x").replace(r"\/", "/"))
            .collect();
        assert!(
            routes.len() > 15 && routes.iter().any(|r| r == "/inbox/x"),
            "{routes:?}"
        );
        for route in &routes {
            let res =
                web_test::call_service(&app, web_test::TestRequest::get().uri(route).to_request()).await;
            assert_eq!(res.status(), StatusCode::OK, "{route}");
            let ct = res.headers().get("content-type").unwrap().to_str().unwrap();
            assert!(ct.starts_with("text/html"), "{route}: {ct}");
        }
        let res =
            web_test::call_service(&app, web_test::TestRequest::get().uri("/ui/nope.js").to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
