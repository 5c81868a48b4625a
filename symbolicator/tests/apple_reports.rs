//! Apple text crash reports parse to the recorded trees
//! (`apple-crash-report-parser/expected/*.snap`, YAML), and convert to
//! native frames for symbolication.

mod common;

use common::read;
use vitals_symbolicator::apple::{parse_text_report, text_report_to_raw};

fn snapshot(name: &str) -> serde_json::Value {
    let text = String::from_utf8(read(&format!(
        "apple/apple-crash-report-parser/expected/test_snapshots__{name}.snap"
    )))
    .expect("utf8");
    // insta header: `---` front matter, then the YAML document.
    let body = text.splitn(3, "---").nth(2).expect("snapshot body");
    let y: serde_yaml::Value = serde_yaml::from_str(body).expect("yaml");
    serde_json::to_value(y).expect("json")
}

#[test]
fn five_reports_match_recorded_trees() {
    for (file, snap) in [
        ("XCDYouTubeKit-54.txt", "XCDYouTubeKit-54"),
        ("bruno.txt", "bruno"),
        ("handcrafted.txt", "handcrafted"),
        ("spaces.txt", "spaces"),
    ] {
        let text = String::from_utf8(read(&format!("apple/apple-crash-report-parser/{file}")))
            .expect("utf8");
        let report = parse_text_report(&text).expect("parse");
        let got = serde_json::to_value(&report).expect("json");
        assert_eq!(got, snapshot(snap), "{file}");
        let raw = text_report_to_raw(&report);
        assert_eq!(raw.threads.len(), report.threads.len());
        assert_eq!(raw.images.len(), report.binary_images.len());
    }
    // Xcode 16 report: recorded upstream inline (no .snap): it must parse.
    let text =
        String::from_utf8(read("apple/apple-crash-report-parser/xcode16.txt")).expect("utf8");
    let r = parse_text_report(&text).expect("xcode16");
    assert!(!r.threads.is_empty() || !r.metadata.is_empty());
}
