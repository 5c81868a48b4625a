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

    // Flip a payload byte of the second record.
    let mut bytes = fs::read(&path).unwrap();
    bytes[HEADER + 10 + HEADER + 2] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let (spool, rec, start) = Spool::open(dir.path(), 1 << 30, 1 << 20).unwrap();
    assert_eq!(rec.records, 1, "records before the bad one survive");
    assert_eq!(rec.quarantined_bytes, 2 * (HEADER as u64 + 10));
    assert_eq!(
        fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
        1
    );
    spool.append(vec![9; 10]).await.unwrap();
    let mut r = spool.reader(start);
    assert_eq!(read_all(&mut r), vec![vec![0u8; 10], vec![9u8; 10]]);
}

#[tokio::test]
async fn full_spool_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _, _) = Spool::open(dir.path(), 100, 1 << 20).unwrap();
    spool.append(vec![0; 50]).await.unwrap();
    assert!(matches!(
        spool.append(vec![0; 50]).await,
        Err(SpoolError::Full { .. })
    ));
}
