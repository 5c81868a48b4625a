//! The minimum OS a release declares per platform (the 5.2b floor) on both
//! control-plane backends, including one created before the column existed:
//! opening it adds `releases.min_os`, keeps its rows (read as "none
//! declared") and stores the field from then on.
//!
//! PostgreSQL from `VITALS_TEST_POSTGRES_URL`, as in `control_pg.rs`.

#[allow(dead_code)]
#[macro_use]
mod control_pg_support;

use control_pg_support::Fixture;
use std::collections::BTreeMap;
use vitals_store::releases::ReleaseMeta;

on_both_backends!(an_older_control_plane_gains_min_os);

fn an_older_control_plane_gains_min_os(f: &Fixture) {
    f.cp.ensure_app("a", None).unwrap();
    // The releases table as an older version left it: no min_os column,
    // one release registered then.
    f.raw("ALTER TABLE releases DROP COLUMN min_os").unwrap();
    f.raw(
        "INSERT INTO releases (app_id, version, build, notes, package_sizes, min_version, \
         released_at, created_at) VALUES ('a', '1.0.0', '', 'old', '[]', NULL, 10, 10)",
    )
    .unwrap();
    assert!(
        f.raw("SELECT min_os FROM releases").is_err(),
        "the column is gone"
    );
    // A node of the new version opens it: the column is added, once, even
    // with several nodes opening it.
    let nodes = [f.node(), f.node()];
    let cp = &nodes[1];
    let old = cp.releases("a").unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(
        (old[0].notes.as_str(), old[0].min_os.is_empty()),
        ("old", true)
    );
    let meta = ReleaseMeta {
        app_id: "a".into(),
        version: "2.0.0".into(),
        build: "200".into(),
        notes: "new".into(),
        package_sizes: vec![],
        min_version: None,
        released_at: 20,
        min_os: BTreeMap::from([
            ("ios".to_string(), "15.0".to_string()),
            ("android".to_string(), "8.1".to_string()),
        ]),
    };
    nodes[0].put_release(&meta).unwrap();
    let all = cp.releases("a").unwrap();
    assert_eq!(all[1], meta);
    assert_eq!(all[1].min_os_major("ios"), Some(15));
    assert_eq!(all[1].min_os_major("android"), Some(8));
    // Re-registering without it clears it.
    let cleared = ReleaseMeta {
        min_os: BTreeMap::new(),
        ..meta
    };
    cp.put_release(&cleared).unwrap();
    assert_eq!(cp.releases("a").unwrap()[1], cleared);
    // Opening again changes nothing.
    drop(f.node());
    assert_eq!(cp.releases("a").unwrap().len(), 2);
}
