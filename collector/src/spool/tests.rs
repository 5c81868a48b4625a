use super::*;

fn read_all(r: &mut SpoolReader) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(rec) = r.next(&mut |_| panic!("unexpected corruption")).unwrap() {
        out.push(rec.payload);
    }
    out
}

#[tokio::test]
async fn append_read_commit_and_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, rec, start) = Spool::open(dir.path(), 1 << 30, 100).unwrap();
    assert_eq!(rec.records, 0);
    for i in 0..10u8 {
        spool.append(vec![i; 50]).await.unwrap();
    }
    let mut r = spool.reader(start);
    let got = read_all(&mut r);
    assert_eq!(got.len(), 10);
    assert_eq!(got[3], vec![3u8; 50]);
    // 62-byte records with a 100-byte segment size: several segments.
    assert!(list_segments(dir.path()).unwrap().len() > 3);
    r.commit(r.position()).unwrap();
    assert!(
        list_segments(dir.path()).unwrap().len() <= 2,
        "consumed segments deleted"
    );
}

#[tokio::test]
async fn reopen_replays_uncommitted_records_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, _, start) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
        for i in 0..5u8 {
            spool.append(vec![i; 10]).await.unwrap();
        }
        let mut r = spool.reader(start);
        let first = r.next(&mut |_| {}).unwrap().unwrap();
        r.commit(first.end).unwrap();
    }
    let (spool, rec, start) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(rec.records, 4);
    let mut r = spool.reader(start);
    let got = read_all(&mut r);
    assert_eq!(got, (1..5u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
}

#[tokio::test]
async fn torn_tail_is_cut_and_corruption_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, _, _) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
        for i in 0..3u8 {
            spool.append(vec![i; 10]).await.unwrap();
        }
    }
    let segs = list_segments(dir.path()).unwrap();
    let path = seg_path(dir.path(), segs[0]);
    // A torn write: half a header at the end.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"VSP1\x05").unwrap();
    drop(f);
    let (_, rec, _) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(rec.records, 3);
    assert_eq!(rec.torn_bytes, 5);
    assert_eq!(rec.quarantined_bytes, 0);

    // Flip a payload byte of the second record: only it is quarantined,
    // the third is replayed.
    let mut bytes = fs::read(&path).unwrap();
    bytes[HEADER + 10 + HEADER + 2] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let (spool, rec, start) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(
        rec.records, 2,
        "records before and after the bad one survive"
    );
    assert_eq!(rec.quarantined_bytes, HEADER as u64 + 10);
    assert_eq!(rec.quarantined_regions, 1);
    assert_eq!(
        fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
        1
    );
    spool.append(vec![9; 10]).await.unwrap();
    let mut r = spool.reader(start);
    assert_eq!(
        read_all(&mut r),
        vec![vec![0u8; 10], vec![2u8; 10], vec![9u8; 10]]
    );
}

/// Three segments of four 10-byte records; returns the middle segment.
async fn three_segments(dir: &Path) -> PathBuf {
    {
        let (spool, _, _) = Spool::open(dir, 1 << 30, 4 * (HEADER as u64 + 10)).unwrap();
        for i in 0..12u8 {
            spool.append(vec![i; 10]).await.unwrap();
        }
    }
    let segs = list_segments(dir).unwrap();
    seg_path(dir, segs[1])
}

#[tokio::test]
async fn damaged_header_costs_only_its_record() {
    for (what, at) in [("length", 5), ("magic", 0), ("checksum", 9)] {
        let dir = tempfile::tempdir().unwrap();
        let mid = three_segments(dir.path()).await;
        let mut bytes = fs::read(&mid).unwrap();
        // The second record of the middle segment (payload 5).
        bytes[HEADER + 10 + at] ^= 0x41;
        fs::write(&mid, &bytes).unwrap();
        let (spool, rec, start) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
        assert_eq!(rec.quarantined_bytes, HEADER as u64 + 10, "{what}");
        assert_eq!(rec.records, 11, "{what}");
        let mut r = spool.reader(start);
        let want: Vec<Vec<u8>> = (0..12u8).filter(|&i| i != 5).map(|i| vec![i; 10]).collect();
        assert_eq!(read_all(&mut r), want, "{what}");
    }
}

#[tokio::test]
async fn damaged_last_record_of_an_older_segment_is_quarantined_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mid = three_segments(dir.path()).await;
    let mut bytes = fs::read(&mid).unwrap();
    // Its length now runs past the end of the file: not a torn write,
    // since a newer segment exists.
    let last = bytes.len() - (HEADER + 10);
    bytes[last + 6] ^= 0x01;
    fs::write(&mid, &bytes).unwrap();
    let (_, rec, _) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(rec.torn_bytes, 0);
    assert_eq!(rec.quarantined_bytes, HEADER as u64 + 10);
}

#[tokio::test]
async fn reader_skips_only_damage_found_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _, start) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    for i in 0..4u8 {
        spool.append(vec![i; 10]).await.unwrap();
    }
    let path = seg_path(dir.path(), list_segments(dir.path()).unwrap()[0]);
    let mut bytes = fs::read(&path).unwrap();
    bytes[2 * (HEADER + 10) + HEADER + 1] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let mut r = spool.reader(start);
    let mut skipped = 0;
    let mut got = Vec::new();
    while let Some(rec) = r.next(&mut |n| skipped += n).unwrap() {
        got.push(rec.payload);
    }
    assert_eq!(got, vec![vec![0u8; 10], vec![1u8; 10], vec![3u8; 10]]);
    assert_eq!(skipped, HEADER as u64 + 10);
}

#[tokio::test]
async fn drained_spool_has_room_again_whatever_the_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    // Segments configured larger than the cap.
    let cap = 1 << 20;
    let (spool, _, start) = Spool::open(dir.path(), cap, 32 << 20).unwrap();
    let mut n = 0;
    while spool.append(vec![7; 4000]).await.is_ok() {
        n += 1;
    }
    assert!(n > 200, "filled up to the cap");
    let mut r = spool.reader(start);
    assert_eq!(read_all(&mut r).len(), n);
    r.commit(r.position()).unwrap();
    assert!(
        spool.bytes() <= cap / 2,
        "drained segments deleted: {} bytes left",
        spool.bytes()
    );
    spool.append(vec![7; 4000]).await.unwrap();
}

#[tokio::test]
async fn full_spool_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _, _) = Spool::open(dir.path(), 100, 1 << 20).unwrap();
    // Below the cap a record is taken, even one that passes it.
    spool.append(vec![0; 50]).await.unwrap();
    assert!(spool.has_room(), "62 of 100 bytes");
    spool.append(vec![0; 50]).await.unwrap();
    // At or past the cap: no room, and append agrees.
    assert!(!spool.has_room(), "{} of 100 bytes", spool.bytes());
    assert!(matches!(
        spool.append(vec![0; 1]).await,
        Err(SpoolError::Full { .. })
    ));
}
