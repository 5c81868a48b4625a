//! Dashboard render benchmark: server time to render the release page and
//! the crash-group list of a release with 10 M sessions and 50 M samples in
//! ClickHouse, against the analyzer call alone (what the JSON API's health
//! endpoint does) as the baseline, in the same run. The pages are served
//! in-process through the real routes, session cookie and all.
//!
//!   VITALS_BENCH_CLICKHOUSE_URL=http://127.0.0.1:8123 \
//!     cargo bench -p vitals-web --bench render [-- SESSIONS SAMPLES]
//!
//! Reuses the gate benchmark's data set (kept with `VITALS_BENCH_KEEP=1`)
//! when it is there, else generates it.

#[path = "../../analyzer/benches/fill/mod.rs"]
mod fill;

use actix_web::{App, test, web};
use fill::{REPS, median};
use std::sync::Arc;
use std::time::Instant;
use vitals_analyzer::Analyzer;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::Policy;
use vitals_i18n::Lang;
use vitals_store::control::Role;
use vitals_store::users::SessionLimits;
use vitals_store::{ClickHouseConfig, ClickHouseStore, ControlPlane, Store};
use vitals_web::{WebSettings, WebState};

#[actix_web::main]
async fn main() {
    let (sessions, samples, url) = fill::args();
    let ch = ClickHouseStore::new(ClickHouseConfig {
        url,
        database: "vitals_bench".into(),
        ..Default::default()
    });
    fill::ensure_clickhouse(&ch, sessions, samples).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let cp = Arc::new(ControlPlane::open(dir.path().join("cp.sqlite")).expect("control plane"));
    let user = cp
        .create_user("bench-viewer", Role::Viewer, "a long bench password")
        .expect("user");
    let (cookie, _) = cp
        .create_web_session(&user, SessionLimits::default())
        .expect("session");
    let store: Arc<dyn Store> = Arc::new(ch.clone());
    let analyzer = Analyzer::new(store, cp, Policy::standard(), "Asia/Shanghai");
    let state = web::Data::new(WebState::new(
        analyzer.clone(),
        None,
        Lang::ZhCn,
        WebSettings::default(),
    ));
    let app =
        test::init_service(App::new().configure(move |c| vitals_web::configure(state.clone(), c)))
            .await;

    // Baseline: the analyzer call alone.
    let r = ReleaseRef::parse("9.0.0");
    let mut base = Vec::new();
    for _ in 0..REPS {
        let t = Instant::now();
        analyzer
            .evaluate("bench", &r, None, None)
            .await
            .expect("evaluate");
        base.push(t.elapsed().as_secs_f64());
    }
    let base = median(base);

    println!("| page | data in the release | analyzer call (baseline) | page render | ratio |");
    println!("|---|---|---|---|---|");
    for (name, path, must) in [
        ("release page", "/ui/apps/bench/releases/9.0.0", "9.0.0"),
        (
            "crash-group list",
            "/ui/apps/bench/crashes?release=9.0.0",
            "IllegalStateException",
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..REPS {
            let req = test::TestRequest::get()
                .uri(path)
                .insert_header(("cookie", format!("vitals_session={cookie}")))
                .to_request();
            let t = Instant::now();
            let resp = test::call_service(&app, req).await;
            let status = resp.status();
            let body = test::read_body(resp).await;
            times.push(t.elapsed().as_secs_f64());
            let text = String::from_utf8_lossy(&body);
            assert!(status.is_success(), "{path}: {status}: {text}");
            assert!(text.contains(must), "{path} lacks {must}");
        }
        let page = median(times);
        println!(
            "| {name} | {sessions} sessions + {samples} samples | {:.3} s | {:.3} s | {:.2}× |",
            base,
            page,
            page / base
        );
    }
    if std::env::var("VITALS_BENCH_KEEP").is_err() {
        ch.drop_database().await.ok();
    }
}
