//! Two `DebugFileStore`s on one root, as two vitals nodes sharing the
//! debug-file directory (NFS): what one stores or what is deleted shows in
//! the other's lookups and listing without a restart, including apps the
//! other did not know at open.

mod common;

use common::read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vitals_symbolicator::DebugFileStore;
use vitals_symbolicator::store::UploadHints;

/// `crash.sym` (Breakpad) of linux.dmp.
const LINUX_SYM: &str = "minidump/symbolic-debugfiles/linux/crash.sym";
const LINUX_ID: &str = "c0bcc3f1-9827-fe65-3058-404b2831d9e6";
/// `crash.sym` of macos.dmp.
const MACOS_SYM: &str = "minidump/symbolic-debugfiles/macos/crash.sym";
const MACOS_ID: &str = "67e9247c-814e-392b-a027-dbde6748fcbf";

/// Polls `f` until true; false after 20 s (only so nothing hangs).
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open(root: &Path, refresh: Option<Duration>) -> DebugFileStore {
    DebugFileStore::open(root, 1 << 30)
        .expect("open store")
        .with_refresh(refresh)
}

fn ids(store: &DebugFileStore, app: &str) -> Vec<String> {
    store.list(app).into_iter().map(|m| m.id).collect()
}

#[test]
fn a_file_stored_through_one_store_shows_in_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), Some(Duration::ZERO));
    let b = open(dir.path(), Some(Duration::from_millis(50)));
    let discovered = Arc::new(AtomicUsize::new(0));
    let d = discovered.clone();
    b.on_upload(move |_| {
        d.fetch_add(1, Ordering::SeqCst);
    });
    // B looks the debug id up before the file exists: nothing, and the app
    // is unknown to both.
    assert!(b.by_debug_id("native", LINUX_ID).is_empty());
    assert!(b.list("native").is_empty());

    let put = a
        .put(
            "native",
            "crash.sym",
            &read(LINUX_SYM),
            &UploadHints::default(),
        )
        .expect("put through A");
    assert!(put.created);
    assert_eq!(a.by_debug_id("native", LINUX_ID).len(), 1, "A at once");

    assert!(
        eventually(|| b.by_debug_id("native", LINUX_ID).len() == 1),
        "B never saw the file stored through A"
    );
    assert_eq!(ids(&b, "native"), vec![put.meta.id.clone()]);
    let seen = b.by_debug_id("native", LINUX_ID);
    assert_eq!(*seen[0], put.meta, "the same metadata");
    // B can read the contents too.
    assert!(!b.open_file(&seen[0]).expect("blob").is_empty());
    assert_eq!(
        discovered.load(Ordering::SeqCst),
        0,
        "a file stored elsewhere runs no upload hook here (its uploader's did)"
    );

    // A second file for the same app: B's index grows, keeping the first.
    let second = a
        .put(
            "native",
            "crash.sym",
            &read(MACOS_SYM),
            &UploadHints::default(),
        )
        .expect("put");
    assert!(
        eventually(|| b.by_debug_id("native", MACOS_ID).len() == 1),
        "B never saw the second file"
    );
    assert_eq!(b.list("native").len(), 2);
    assert_eq!(b.by_debug_id("native", LINUX_ID).len(), 1);

    // Deleted on disk (by an operator or another node): gone from both.
    let meta = dir
        .path()
        .join("apps/native")
        .join(format!("{}.json", put.meta.id));
    std::fs::remove_file(&meta).unwrap();
    for (name, s) in [("A", &a), ("B", &b)] {
        assert!(
            eventually(|| s.by_debug_id("native", LINUX_ID).is_empty()),
            "{name} still lists the deleted file"
        );
        assert_eq!(ids(s, "native"), vec![second.meta.id.clone()], "{name}");
    }
}

#[test]
fn an_app_unknown_at_open_appears_and_a_missing_app_is_checked_again() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), None);
    a.put(
        "known",
        "crash.sym",
        &read(LINUX_SYM),
        &UploadHints::default(),
    )
    .expect("put");
    let b = open(dir.path(), Some(Duration::from_millis(30)));
    assert_eq!(b.list("known").len(), 1, "loaded at open");
    // A lookup of an app nobody stored files for yet leaves B knowing
    // that the app has none; it must still find the first file later.
    assert!(b.by_debug_id("fresh", MACOS_ID).is_empty());
    assert!(b.list("fresh").is_empty());
    a.put(
        "fresh",
        "crash.sym",
        &read(MACOS_SYM),
        &UploadHints::default(),
    )
    .expect("put");
    assert!(
        eventually(|| b.by_debug_id("fresh", MACOS_ID).len() == 1),
        "the first file of an app unknown to B never showed"
    );
    assert_eq!(b.list("fresh").len(), 1);
    // A store without refresh keeps the index it loaded (plus its own puts).
    assert!(a.list("fresh").len() == 1 && a.list("known").len() == 1);
    let c = open(dir.path(), None);
    a.put(
        "known",
        "crash.sym",
        &read(MACOS_SYM),
        &UploadHints::default(),
    )
    .expect("put");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.list("known").len(), 1, "no refresh: not re-read");
}

#[test]
fn the_same_file_stored_elsewhere_is_a_duplicate_here() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), None);
    let b = open(dir.path(), None);
    let hooks = Arc::new(AtomicUsize::new(0));
    let h = hooks.clone();
    b.on_upload(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let data = read(LINUX_SYM);
    let first = a
        .put("native", "crash.sym", &data, &UploadHints::default())
        .expect("put A");
    assert!(first.created);
    // B's index (no refresh) does not know the file, the disk does.
    let again = b
        .put("native", "other-name.sym", &data, &UploadHints::default())
        .expect("put B");
    assert!(!again.created, "stored once, by A");
    assert_eq!(again.meta, first.meta, "A's metadata, not rewritten");
    assert_eq!(hooks.load(Ordering::SeqCst), 0, "no second upload job");
    assert_eq!(b.by_debug_id("native", LINUX_ID).len(), 1);
}

#[test]
fn puts_through_two_stores_while_lookups_refresh_all_end_up_indexed() {
    // Many puts through two stores while lookups on one of them refresh
    // at every call (a smoke test of the concurrency; the interleaving of
    // a put with a scan is pinned in `store/index.rs`).
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(open(dir.path(), Some(Duration::ZERO)));
    let b = open(dir.path(), Some(Duration::ZERO));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (a, stop) = (a.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = a.list("maps");
            }
        })
    };
    let mut made = Vec::new();
    for i in 0..40 {
        let mapping = format!("com.example.C{i} -> a.b{i}:\n    void run() -> a\n");
        let from_b = i % 4 == 0;
        let store: &DebugFileStore = if from_b { &b } else { &a };
        let o = store
            .put(
                "maps",
                "mapping.txt",
                mapping.as_bytes(),
                &UploadHints::default(),
            )
            .expect("put");
        assert!(o.created, "put {i}");
        made.push(o.meta.id.clone());
        if !from_b {
            assert!(
                a.get("maps", &o.meta.id).is_some(),
                "put {i} visible at once to the store that made it"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    made.sort();
    let mut listed = ids(&a, "maps");
    listed.sort();
    assert_eq!(listed, made, "every file, from either store");
}
