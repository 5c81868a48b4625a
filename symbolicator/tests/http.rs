//! HTTP routes: multipart upload with token roles, listing, localised
//! JSON errors, zip intake, group merge.

mod common;

use actix_web::{App, test};
use common::read;
use std::sync::Arc;
use vitals_store::ControlPlane;
use vitals_store::control::Role;
use vitals_symbolicator::http::{SymbolicatorState, configure};
use vitals_symbolicator::upload::multipart_body;
use vitals_symbolicator::{Config, Symbolicator};

#[actix_web::test]
async fn upload_list_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = Arc::new(ControlPlane::open(dir.path().join("control.db")).expect("cp"));
    let operator = cp.create_token(Role::Operator, "ci").expect("token");
    let viewer = cp.create_token(Role::Viewer, "dash").expect("token");
    let sym = Symbolicator::start(Config::new(dir.path().join("sym"))).expect("start");
    let state = Arc::new(SymbolicatorState::new(sym.clone(), cp));
    let app = test::init_service(App::new().configure(|c| configure(c, state.clone()))).await;

    let mapping = read("android/proguard/mapping-inlines.txt");
    let body = multipart_body("XYZ", &[("release", "1.0")], "mapping.txt", &mapping);
    let req = |token: &str, body: Vec<u8>| {
        test::TestRequest::post()
            .uri("/api/v1/apps/bank/debug-files")
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", "multipart/form-data; boundary=XYZ"))
            .insert_header(("accept-language", "en"))
            .set_payload(body)
            .to_request()
    };
    // Viewer may not upload.
    let resp = test::call_service(&app, req(&viewer, body.clone())).await;
    assert_eq!(resp.status(), 403);
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["error"]["code"], "auth.forbidden");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("operator")
    );
    // Operator uploads; the same bytes again are a duplicate.
    let resp = test::call_service(&app, req(&operator, body.clone())).await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["files"][0]["created"], true);
    assert_eq!(
        v["files"][0]["meta"]["mapping_uuid"],
        "3828bd45-950f-5e77-9737-b6b3a1d80299"
    );
    let resp = test::call_service(&app, req(&operator, body)).await;
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["files"][0]["created"], false);
    // Unknown content: 422 with a localised message (zh by default).
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/apps/bank/debug-files")
            .insert_header(("authorization", format!("Bearer {operator}")))
            .insert_header(("content-type", "multipart/form-data; boundary=XYZ"))
            .set_payload(multipart_body("XYZ", &[], "notes.bin", b"\x00\x01\x02"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 422);
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["error"]["code"], "symbolicator.unknown_format");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("m")
            .contains("无法识别")
    );
    // No token.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/apps/bank/debug-files")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 401);
    // Viewer lists.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/apps/bank/debug-files")
            .insert_header(("authorization", format!("Bearer {viewer}")))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["files"].as_array().expect("files").len(), 1);
    assert_eq!(v["files"][0]["kind"], "proguard");
    // Bad app id.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/apps/..%2Fetc/debug-files")
            .insert_header(("authorization", format!("Bearer {viewer}")))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    // Merge groups.
    let resp = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/api/v1/apps/bank/groups/merge")
            .insert_header(("authorization", format!("Bearer {operator}")))
            .set_json(serde_json::json!({"from": ["aaa"], "into": "bbb"}))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["merged"]["aaa"], "bbb");
}

#[tokio::test]
async fn upload_paths_walks_folders_into_a_local_store() {
    use vitals_symbolicator::upload::{UploadOptions, UploadTarget, upload_paths};
    let dir = tempfile::tempdir().expect("tempdir");
    let target = UploadTarget::Local {
        root: dir.path().join("store"),
    };
    let opts = UploadOptions {
        app: "ios".into(),
        ..Default::default()
    };
    let dsym = common::fixture("apple/crashprobe-ios/dSYMs/arm64-CrashProbeiOS.app.dSYM");
    let r = upload_paths(std::slice::from_ref(&dsym), &target, &opts)
        .await
        .expect("upload");
    assert_eq!((r.files, r.new, r.duplicate), (1, 1, 0), "{r:?}");
    let r = upload_paths(&[dsym], &target, &opts).await.expect("upload");
    assert_eq!((r.files, r.new, r.duplicate), (1, 0, 1));
    let store =
        vitals_symbolicator::DebugFileStore::open(dir.path().join("store"), 1 << 30).expect("open");
    let files = store.by_debug_id("ios", "b8fdd34a-7f2f-3268-925b-9541332f84a2");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "CrashProbeiOS");
}
