//! Source-map lookups against `tests/fixtures/sourcemaps` (17 + 5
//! recorded lookups), and JS frames of a crash event through the store.

mod common;

use common::{read, symbolicator};
use serde_json::Value;
use vitals_protocol::{CrashEvent, Frame, Thread};
use vitals_symbolicator::js::{JsLocation, build_sourcemapcache, lookup_in};
use vitals_symbolicator::store::UploadHints;

fn text(rel: &str) -> String {
    String::from_utf8(read(rel)).expect("utf8")
}

fn lookup(dir: &str, minified: &str, map: &str, pos: &Value) -> Option<JsLocation> {
    let min = if minified.is_empty() {
        String::new()
    } else {
        text(&format!("{dir}/{minified}"))
    };
    let cache = build_sourcemapcache(&min, &text(&format!("{dir}/{map}"))).expect("cache");
    lookup_in(
        &cache,
        pos[0].as_u64().expect("l") as u32,
        pos[1].as_u64().expect("c") as u32,
    )
    .expect("lookup")
}

#[test]
fn symbolic_sourcemapcache_17_lookups() {
    let dir = "sourcemaps/symbolic-sourcemapcache";
    let v: Value =
        serde_json::from_slice(&read(&format!("{dir}/expected_lookups.json"))).expect("json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 17);
    for c in cases {
        let what = format!("{} {}", c["map"], c["pos"]);
        let got = lookup(
            dir,
            c["minified"].as_str().expect("m"),
            c["map"].as_str().expect("map"),
            &c["pos"],
        );
        if c.get("result").is_some_and(Value::is_null) {
            assert!(got.is_none(), "{what}: {got:?}");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{what}: no result"));
        if let Some(f) = c.get("file").and_then(Value::as_str) {
            assert_eq!(got.file.as_deref(), Some(f), "{what}");
        }
        assert_eq!(
            u64::from(got.line),
            c["line"].as_u64().expect("line"),
            "{what}"
        );
        assert_eq!(
            u64::from(got.col),
            c["col"].as_u64().expect("col"),
            "{what}"
        );
        match c["scope"].as_str().expect("scope") {
            "anonymous" => assert_eq!(got.scope_kind, "anonymous", "{what}"),
            "unknown" => assert_eq!(got.scope_kind, "unknown", "{what}"),
            name => assert_eq!(got.function.as_deref(), Some(name), "{what}"),
        }
        if let Some(n) = c.get("name").and_then(Value::as_str) {
            assert_eq!(got.name.as_deref(), Some(n), "{what}");
        }
        if let Some(l) = c.get("line_contents").and_then(Value::as_str) {
            assert_eq!(
                got.context_line.as_deref(),
                Some(l.trim_end_matches('\n')),
                "{what}"
            );
        }
    }
    // Files without sourcesContent still look up, without context.
    let m = &v["missing_source_contents"];
    let cache = build_sourcemapcache(
        &text(&format!("{dir}/preact.module.js")),
        &text(&format!("{dir}/{}", m["map"].as_str().expect("map"))),
    )
    .expect("cache");
    let smc = symbolic_sourcemapcache::SourceMapCache::parse(&cache).expect("parse");
    let files: Vec<_> = smc.files().collect();
    assert_eq!(files.len() as u64, m["file_count"].as_u64().expect("n"));
    let without: Vec<&str> = files
        .iter()
        .filter(|f| f.source().is_none())
        .filter_map(|f| f.name())
        .collect();
    let mut exp: Vec<&str> = m["files_without_source"]
        .as_array()
        .expect("a")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut without_sorted = without.clone();
    without_sorted.sort();
    exp.sort();
    assert_eq!(without_sorted, exp);
}

#[test]
fn rust_sourcemap_5_hermes_metro_lookups() {
    let dir = "sourcemaps/rust-sourcemap";
    let v: Value =
        serde_json::from_slice(&read(&format!("{dir}/expected_lookups.json"))).expect("json");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5);
    for c in cases {
        let what = format!("{} {}", c["map"], c["pos"]);
        let got = lookup(dir, "", c["map"].as_str().expect("map"), &c["pos"])
            .unwrap_or_else(|| panic!("{what}"));
        let e = &c["expected"];
        assert_eq!(got.file.as_deref(), e[0].as_str(), "{what}");
        assert_eq!(u64::from(got.line), e[1].as_u64().expect("l"), "{what}");
        assert_eq!(u64::from(got.col), e[2].as_u64().expect("c"), "{what}");
        let scope = c
            .get("function")
            .or_else(|| c.get("scope"))
            .and_then(Value::as_str)
            .expect("scope");
        assert_eq!(got.function.as_deref(), Some(scope), "{what}");
    }
}

#[test]
fn js_crash_event_through_store_by_release_and_url() {
    let (_d, s) = symbolicator();
    let dir = "sourcemaps/symbolic-sourcemapcache/webpack";
    let hints = |url: &str| UploadHints {
        release: Some("1.0".into()),
        url: Some(url.into()),
        ..Default::default()
    };
    s.store()
        .put(
            "web",
            "bundle.js",
            &read(&format!("{dir}/bundle.js")),
            &hints("~/static/bundle.js"),
        )
        .expect("js");
    s.store()
        .put(
            "web",
            "bundle.js.map",
            &read(&format!("{dir}/bundle.js.map")),
            &hints("~/static/bundle.js.map"),
        )
        .expect("map");
    let ev = CrashEvent {
        ts: 0,
        crash_id: "js1".into(),
        session_id: None,
        exception_type: "Error".into(),
        message: "wat".into(),
        fatal: true,
        handled: false,
        threads: vec![Thread {
            id: 0,
            name: String::new(),
            crashed: true,
            frames: vec![Frame {
                file: Some("https://cdn.bank.example/static/bundle.js".into()),
                function: Some("r.exports".into()),
                line: Some(1),
                col: Some(85),
                ..Default::default()
            }],
        }],
        images: Vec::new(),
        raw: None,
        fingerprint: None,
        notes: Vec::new(),
    };
    let c = s.symbolicate_blocking("web", Some("1.0"), &ev);
    let f = &c.crashed_thread().expect("t").frames[0];
    assert_eq!(f.file.as_deref(), Some("webpack:///./foo.js"));
    assert_eq!((f.line, f.col), (Some(2), Some(9)));
    assert_eq!(f.function.as_deref(), Some("module.exports"));
    assert_eq!(
        f.context_line.as_deref(),
        Some("  throw new Error(\"wat\");")
    );
    assert_eq!(c.status, vitals_symbolicator::Status::Complete);
    // Another release has no map: named as missing.
    let c2 = s.symbolicate_blocking("web", Some("2.0"), &ev);
    assert_eq!(c2.missing.len(), 1);
    assert_eq!(
        c2.missing[0].key(),
        "url:2.0:https://cdn.bank.example/static/bundle.js"
    );
}

/// One webpack bundle and its map uploaded for release 1.0 at `upload`;
/// a crash with one frame of `frame_url` (line 1, column 85: `foo.js:2:9`).
fn crash_at(upload: &str, frame_url: &str) -> vitals_symbolicator::SymbolicatedCrash {
    crash_with(&[upload], frame_url, None)
}

fn crash_with(
    uploads: &[&str],
    frame_url: &str,
    debug_id: Option<(&str, &str)>,
) -> vitals_symbolicator::SymbolicatedCrash {
    let (_d, s) = symbolicator();
    let dir = "sourcemaps/symbolic-sourcemapcache/webpack";
    for upload in uploads {
        let hints = |url: String| UploadHints {
            release: Some("1.0".into()),
            url: Some(url),
            ..Default::default()
        };
        s.store()
            .put(
                "web",
                "bundle.js",
                &read(&format!("{dir}/bundle.js")),
                &hints(upload.to_string()),
            )
            .expect("js");
        s.store()
            .put(
                "web",
                "bundle.js.map",
                &read(&format!("{dir}/bundle.js.map")),
                &hints(format!("{upload}.map")),
            )
            .expect("map");
    }
    let ev = CrashEvent {
        ts: 0,
        crash_id: "js2".into(),
        session_id: None,
        exception_type: "Error".into(),
        message: "wat".into(),
        fatal: true,
        handled: false,
        threads: vec![Thread {
            id: 0,
            name: String::new(),
            crashed: true,
            frames: vec![Frame {
                file: Some(frame_url.into()),
                function: Some("r.exports".into()),
                line: Some(1),
                col: Some(85),
                ..Default::default()
            }],
        }],
        images: debug_id
            .map(|(name, id)| vitals_protocol::Image {
                debug_id: id.into(),
                name: name.into(),
                arch: "js".into(),
                ..Default::default()
            })
            .into_iter()
            .collect(),
        raw: None,
        fingerprint: None,
        notes: Vec::new(),
    };
    s.symbolicate_blocking("web", Some("1.0"), &ev)
}

fn resolved(c: &vitals_symbolicator::SymbolicatedCrash) -> bool {
    let f = &c.crashed_thread().expect("t").frames[0];
    f.status == Some(vitals_symbolicator::FrameStatus::Symbolicated)
        && f.file.as_deref() == Some("webpack:///./foo.js")
        && c.status == vitals_symbolicator::Status::Complete
}

/// Issue #17: a frame whose URL matches no upload but shares the file name
/// of another upload is "missing source map", never resolved against the
/// other bundle, and the crash is not complete.
#[test]
fn a_shared_file_name_is_no_match() {
    for (upload, frame) in [
        (
            "~/static/other/bundle.js",
            "https://cdn.bank.example/static/bundle.js",
        ),
        ("~/vendor/bundle.js", "dist/x/bundle.js"),
        ("/srv/www/admin/bundle.js", "/srv/www/app/bundle.js"),
        (
            "https://cdn.bank.example/static/bundle.js",
            "https://evil.example/static/bundle.js",
        ),
        ("app:///bundle.js", "file:///data/bundle.js"),
        ("https://cdn.bank.example/static/bundle.js", "bundle.js"),
    ] {
        let c = crash_at(upload, frame);
        let f = &c.crashed_thread().expect("t").frames[0];
        assert_eq!(
            f.status,
            Some(vitals_symbolicator::FrameStatus::Missing),
            "{upload} vs {frame}: {f:?}"
        );
        assert_eq!(f.file.as_deref(), Some(frame), "{upload} vs {frame}");
        assert_eq!(
            c.status,
            vitals_symbolicator::Status::Partial,
            "{upload} vs {frame}"
        );
        assert_eq!(c.missing.len(), 1, "{upload} vs {frame}");
        assert_eq!(c.missing[0].label, "source map");
        assert_eq!(c.missing[0].name, frame);
        let msg = c.missing[0].message(vitals_i18n::Lang::En);
        assert!(msg.starts_with("missing source map"), "{msg}");
    }
}

/// The documented prefix rules (docs/protocol.md §14): each frame URL
/// form finds the upload it names.
#[test]
fn documented_url_forms_match() {
    for (upload, frame) in [
        (
            "~/static/bundle.js",
            "https://cdn.bank.example/static/bundle.js?v=3",
        ),
        ("~/static/bundle.js", "app:///static/bundle.js"),
        ("~/dist/x/bundle.js", "dist/x/bundle.js"),
        ("~/dist/x/bundle.js", "file:///dist/x/bundle.js"),
        ("app:///bundle.js", "app:///bundle.js"),
        ("/srv/www/app/bundle.js", "file:///srv/www/app/bundle.js"),
        ("file:///srv/www/app/bundle.js", "/srv/www/app/bundle.js"),
        ("dist/x/bundle.js", "./dist/x/bundle.js"),
        (
            "https://CDN.bank.example/static/bundle.js",
            "https://cdn.bank.example/static/./bundle.js",
        ),
    ] {
        assert!(resolved(&crash_at(upload, frame)), "{upload} vs {frame}");
    }
    // The more specific of two matching uploads wins: the other bundle at
    // the same path on any host loses to the exact host.
    let c = crash_with(
        &[
            "https://cdn.bank.example/static/bundle.js",
            "~/static/bundle.js",
        ],
        "https://cdn.bank.example/static/bundle.js",
        None,
    );
    assert!(resolved(&c));
}

/// A frame whose script carries a debug id finds its map by that id even
/// when no upload has its URL; an unknown id with no URL match is missing
/// and named by the id.
#[test]
fn debug_id_matches_without_url() {
    let dir = "sourcemaps/symbolic-sourcemapcache/webpack";
    let (_d, s) = symbolicator();
    let id = "2f259f80-58b7-44cb-d7cd-de1505e7e718";
    s.store()
        .put(
            "web",
            "bundle.js.map",
            &read(&format!("{dir}/bundle.js.map")),
            &UploadHints {
                js_debug_id: Some(id.into()),
                ..Default::default()
            },
        )
        .expect("map");
    let mut ev = serde_json::from_value::<CrashEvent>(serde_json::json!({
        "ts": 0, "crash_id": "js3", "exception_type": "Error", "message": "wat",
        "fatal": true, "handled": false,
        "threads": [{"id": 0, "crashed": true, "frames": [
            {"file": "https://cdn.bank.example/unknown/bundle.js", "line": 1, "col": 85}]}],
        "images": [{"debug_id": id, "name": "https://cdn.bank.example/unknown/bundle.js", "arch": "js"}]
    }))
    .expect("event");
    let c = s.symbolicate_blocking("web", Some("1.0"), &ev);
    let f = &c.crashed_thread().expect("t").frames[0];
    assert_eq!(f.file.as_deref(), Some("webpack:///./foo.js"), "{f:?}");
    assert_eq!(c.status, vitals_symbolicator::Status::Complete);
    ev.images[0].debug_id = "0f259f80-58b7-44cb-d7cd-de1505e7e718".into();
    let c = s.symbolicate_blocking("web", Some("1.0"), &ev);
    assert_eq!(c.status, vitals_symbolicator::Status::Partial);
    assert_eq!(
        c.missing[0].key(),
        "jsdebug:0f259f80-58b7-44cb-d7cd-de1505e7e718"
    );
}
