//! The updates page's 5.4b section, served in-process through the real
//! route with a session: per platform the newest version, the users due an
//! upgrade prompt and those shown one with their answers, and the gate's own
//! verdict and evidence, in English and Chinese.

use actix_web::{App, test, web};
use std::collections::HashSet;
use std::sync::Arc;
use vitals_analyzer::Analyzer;
use vitals_analyzer::policy::Policy;
use vitals_i18n::Lang;
use vitals_protocol::*;
use vitals_store::control::Role;
use vitals_store::releases::ReleaseMeta;
use vitals_store::users::SessionLimits;
use vitals_store::{ControlPlane, SqliteStore, Store};
use vitals_web::{WebSettings, WebState};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One user's batch on `version`: a session, and prompts for `target`.
fn visit(version: &str, user: u64, ts: i64, prompts: &[UpgradeOutcome]) -> AcceptedBatch {
    let mut events = vec![Event::Session(SessionEvent {
        ts,
        session_id: format!("s{version}-{user}"),
        phase: SessionPhase::Start,
        status: None,
        duration_ms: 0,
        foreground_ms: 0,
    })];
    events.extend(prompts.iter().map(|o| {
        Event::UpgradePrompt(UpgradePromptEvent {
            ts: ts + 1,
            target_version: "2.0.0".into(),
            outcome: *o,
            placement: "home".into(),
        })
    }));
    AcceptedBatch {
        app_id: "syn".into(),
        received_at_ms: ts,
        client_ip: None,
        batch: Batch {
            v: 1,
            batch_id: format!("b{version}-{user}"),
            app_id: "syn".into(),
            release: Release {
                version: version.into(),
                build: String::new(),
            },
            platform: Platform::Android,
            device: Device {
                model: "SM-S9180".into(),
                class: DeviceClass::Phone,
                os_version: "14".into(),
                screen: Screen {
                    width: 1080,
                    height: 2340,
                    density: 2.75,
                },
                abi: "arm64-v8a".into(),
                rooted: false,
                emulator: false,
                device_id: None,
            },
            network: Network::default(),
            install_id: format!("i{user}"),
            user_id: Some(format!("u{user}")),
            consent: Consent::default(),
            environment: None,
            sent_at: None,
            events,
        },
    }
}

#[actix_web::test]
async fn the_updates_page_shows_who_was_prompted_to_upgrade() {
    use UpgradeOutcome::*;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("t.sqlite")).unwrap();
    store.migrate().await.unwrap();
    let now = now_ms();
    let released = now - 3_600_000;
    let mut data: Vec<AcceptedBatch> = (0..10)
        .map(|u| {
            let prompts: &[UpgradeOutcome] = match u {
                0..3 => &[Shown, Accepted],
                3 => &[Declined],
                4..6 => &[Shown],
                _ => &[],
            };
            visit("1.0.0", u, now - 600_000, prompts)
        })
        .collect();
    data.push(visit("2.0.0", 99, now - 300_000, &[]));
    store.insert(&data, &HashSet::new(), false).await.unwrap();

    let cp = Arc::new(ControlPlane::open(dir.path().join("cp.sqlite")).unwrap());
    cp.ensure_app("syn", None).unwrap();
    cp.put_release(&ReleaseMeta {
        app_id: "syn".into(),
        version: "2.0.0".into(),
        build: String::new(),
        notes: "n".into(),
        package_sizes: vec![],
        min_version: None,
        released_at: released / 1000,
        min_os: Default::default(),
    })
    .unwrap();
    let user = cp
        .create_user("page-viewer", Role::Viewer, "a long enough password")
        .unwrap();
    let (cookie, _) = cp
        .create_web_session(&user, SessionLimits::default())
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let analyzer = Analyzer::new(store, cp, Policy::standard(), "Asia/Shanghai");
    let state = web::Data::new(WebState::new(
        analyzer,
        None,
        Lang::ZhCn,
        WebSettings::default(),
    ));
    let app =
        test::init_service(App::new().configure(move |c| vitals_web::configure(state.clone(), c)))
            .await;
    let page = |release: &str, lang: &str| {
        test::TestRequest::get()
            .uri(&format!(
                "/ui/apps/syn/updates?release={release}&lang={lang}"
            ))
            .insert_header(("cookie", format!("vitals_session={cookie}")))
            .to_request()
    };
    let section = |html: &str| {
        html.split("data-testid=\"upgrade-prompts\"")
            .nth(1)
            .and_then(|s| s.split("</section>").next())
            .expect("a 5.4b section")
            .to_string()
    };
    let body = test::call_and_read_body(&app, page("1.0.0", "en")).await;
    let en = section(&String::from_utf8_lossy(&body));
    // 10 users of 1.0.0 since 2.0.0 came out, 6 shown a prompt for it: 3
    // accepted, 1 declined (an answer alone counts as shown), none later.
    let row = en
        .split("data-platform=\"android\"")
        .nth(1)
        .expect("an android row");
    let cells: Vec<&str> = row
        .split("<td")
        .skip(1)
        .map(|c| {
            c.split('>')
                .nth(1)
                .unwrap_or("")
                .split('<')
                .next()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(cells[0], "android");
    assert_eq!(cells[1], "2.0.0");
    assert_eq!(
        &cells[3..],
        ["10", "6", "60.0%", "3", "1", "0", "0"],
        "{row}"
    );
    assert!(en.contains("In-app upgrade prompts (5.4b)"), "{en}");
    assert!(en.contains("6 of 10 users were shown a prompt"), "{en}");
    // Fewer than the rule's 100 users, but 6 of 10 is proven under 90 %
    // (the Wilson interval's upper end is 80 %): the gate's verdict, fail.
    assert!(en.contains("✗</span> fail"), "{en}");
    assert!(
        en.contains("already proves the threshold is exceeded"),
        "{en}"
    );
    let body = test::call_and_read_body(&app, page("1.0.0", "zh-CN")).await;
    let zh = section(&String::from_utf8_lossy(&body));
    assert!(
        zh.contains("应用内升级提示（5.4b）") && zh.contains("10 个用户中 6 个"),
        "{zh}"
    );
    // The newest release has nothing to prompt for.
    let body = test::call_and_read_body(&app, page("2.0.0", "en")).await;
    let newest = section(&String::from_utf8_lossy(&body));
    assert!(newest.contains("this is the newest release"), "{newest}");
    assert!(!newest.contains("data-platform"));
}
