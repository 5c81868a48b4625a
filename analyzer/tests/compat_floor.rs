//! 5.2b: the required OS cells start at the minimum OS the release declares
//! (its release metadata), not at the standard's iOS 9 / Android 5, so a
//! release that cannot be installed on iOS 14 is not asked to cover it.

mod common;

use common::*;
use std::collections::BTreeMap;
use vitals_analyzer::evaluate::{Evidence, Verdict};
use vitals_analyzer::policy::Metric;
use vitals_protocol::*;
use vitals_store::ControlPlane;
use vitals_store::releases::ReleaseMeta;

/// 100 healthy sessions of users `first..first+100` on `platform` at OS
/// major `major`.
fn cell(platform: Platform, major: u32, first: u64, ts: i64) -> Vec<AcceptedBatch> {
    (first..first + 100)
        .map(|u| {
            let mut b = batch(
                format!("c{u}"),
                "3.0.0",
                u,
                vec![start(ts, format!("s{u}"))],
            );
            b.batch.platform = platform;
            b.batch.device.os_version = format!("{major}.1");
            b
        })
        .collect()
}

#[tokio::test]
async fn os_cells_start_at_the_declared_minimum_os() {
    let ts = now_ms() - 3_600_000;
    let mut data = Vec::new();
    let mut user = 0;
    for (platform, majors) in [(Platform::Ios, 15..=18), (Platform::Android, 14..=16)] {
        for m in majors {
            data.extend(cell(platform, m, user, ts));
            user += 100;
        }
    }
    let b = backends(&data).await;
    for (store, dir) in b.iter() {
        let who = store.backend();
        let coverage = |e: &vitals_analyzer::Evaluation| {
            let r = e
                .results
                .iter()
                .find(|r| r.metric == Metric::OsVersionCoverage)
                .unwrap();
            (r.value, r.verdict, r.evidence.clone())
        };
        // Nothing declared: iOS 9-18 and Android 5-16 are required; only
        // the 7 cells of this fleet are covered.
        let e = eval(store.clone(), dir, "3.0.0", None).await;
        let (value, verdict, evidence) = coverage(&e);
        assert_eq!(value, Some(7.0 / 22.0), "{who}");
        assert_eq!(verdict, Verdict::Fail);
        let Evidence::Coverage { missing, .. } = evidence else {
            panic!("{evidence:?}")
        };
        assert!(missing.contains(&"iOS 9".to_string()) && missing.contains(&"Android 5".into()));
        // The release declares iOS 15 and Android 14: every required cell
        // is one this fleet covers.
        let cp = ControlPlane::open(dir.join("cp.sqlite")).unwrap();
        cp.ensure_app("syn", None).unwrap();
        cp.put_release(&ReleaseMeta {
            app_id: "syn".into(),
            version: "3.0.0".into(),
            build: String::new(),
            notes: "n".into(),
            package_sizes: vec![],
            min_version: None,
            released_at: 0,
            min_os: BTreeMap::from([
                ("ios".to_string(), "15.0".to_string()),
                ("android".to_string(), "14".to_string()),
            ]),
        })
        .unwrap();
        drop(cp);
        let e = eval(store.clone(), dir, "3.0.0", None).await;
        let (value, verdict, evidence) = coverage(&e);
        assert_eq!(
            (value, verdict),
            (Some(1.0), Verdict::Pass),
            "{who}: {evidence:?}"
        );
        let names: Vec<&str> = e
            .facts
            .cells
            .iter()
            .filter(|c| c.clause == "5.2b")
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "iOS 15",
                "iOS 16",
                "iOS 17",
                "iOS 18",
                "Android 14",
                "Android 15",
                "Android 16"
            ]
        );
    }
}
