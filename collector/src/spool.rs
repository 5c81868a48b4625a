//! The durable write-ahead spool.
//!
//! A batch is acknowledged only after its record is written *and fsynced*
//! here. Records live in numbered segment files:
//!
//! ```text
//! record := magic "VSP1" (4) | payload length u32 LE | CRC-32 of payload u32 LE | payload
//! ```
//!
//! One appender thread does all writes with group commit: it takes every
//! record queued while the previous fsync ran, writes them, fsyncs once and
//! then answers all of them. The writer task reads records back in order
//! (never beyond what was fsynced), stores them, and records its progress in
//! `checkpoint` (written to a temporary file, fsynced, renamed). Fully
//! consumed segments are deleted.
//!
//! On start-up every segment after the checkpoint is verified: a torn tail
//! of the newest segment (a crash mid-write, never acknowledged) is cut off;
//! a damaged record (bad checksum, header or length) is copied to
//! `quarantine/`, counted and cut out of its segment, and replay resumes at
//! the next intact record, so damage costs only the records it hit. The
//! next intact record is found by its magic, a plausible length and its
//! checksum; it cannot be mistaken for bytes inside a payload, because
//! payloads are JSON, which escapes the control byte every valid length
//! field has in its top byte.
//!
//! Space: a segment is deleted once the store has confirmed all of it, so
//! segments are kept at most a quarter of the cap, and a failed write (the
//! disk is full) moves the appender to a new segment; otherwise a drained
//! spool could stay "full" for ever.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{Notify, oneshot};

const MAGIC: &[u8; 4] = b"VSP1";
const HEADER: usize = 12;
/// Largest record accepted when reading back (guards a corrupt length).
const MAX_RECORD: u32 = 64 << 20;
/// Smallest segment size the cap may force.
const MIN_SEGMENT: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool full: {used} of {cap} bytes used")]
    Full { used: u64, cap: u64 },
    #[error("spool I/O: {0}")]
    Io(#[from] io::Error),
    #[error("the spool appender has stopped")]
    Closed,
}

/// A position in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What start-up recovery found.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    pub segments: usize,
    pub records: u64,
    pub torn_bytes: u64,
    pub quarantined_bytes: u64,
    /// Damaged regions quarantined (each usually one record).
    pub quarantined_regions: u64,
    /// Where this process's first record goes: everything before it was
    /// written by an earlier process.
    pub first_new: Position,
}

struct Shared {
    dir: PathBuf,
    /// Durable end of the active segment (segment, offset).
    durable: Mutex<Position>,
    /// Bytes held by all segment files.
    bytes: AtomicU64,
    notify: Notify,
}

type Job = (Vec<u8>, oneshot::Sender<Result<Position, SpoolError>>);

/// Handle to append records; cheap to clone.
#[derive(Clone)]
pub struct Spool {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
    cap: u64,
}

fn seg_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.seg"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads the checkpoint (segment, offset) or the start.
pub fn read_checkpoint(dir: &Path) -> Position {
    let Ok(s) = fs::read_to_string(dir.join("checkpoint")) else {
        return Position::default();
    };
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>());
    match (it.next(), it.next()) {
        (Some(Ok(segment)), Some(Ok(offset))) => Position { segment, offset },
        _ => Position::default(),
    }
}

fn write_checkpoint(dir: &Path, p: Position) -> io::Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {}", p.segment, p.offset)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join("checkpoint"))?;
    sync_dir(dir)
}

/// The payload of the intact record at `pos`: complete before `end`,
/// valid magic and length, matching checksum. `None` otherwise.
fn record_at(f: &mut File, pos: u64, end: u64) -> io::Result<Option<Vec<u8>>> {
    if pos + HEADER as u64 > end {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(pos))?;
    let mut header = [0u8; HEADER];
    f.read_exact(&mut header)?;
    let n = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if &header[..4] != MAGIC || n > MAX_RECORD || pos + HEADER as u64 + u64::from(n) > end {
        return Ok(None);
    }
    let mut payload = vec![0u8; n as usize];
    f.read_exact(&mut payload)?;
    Ok((crc32fast::hash(&payload) == crc).then_some(payload))
}

/// The start of the first intact record at or after `from` (before `end`).
fn resync(f: &mut File, from: u64, end: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = from;
    while pos + HEADER as u64 <= end {
        let want = usize::try_from(end - pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..want])?;
        for i in 0..want.saturating_sub(3) {
            if &buf[i..i + 4] == MAGIC && record_at(f, pos + i as u64, end)?.is_some() {
                return Ok(Some(pos + i as u64));
            }
        }
        if want < buf.len() {
            break;
        }
        // Overlap by 3 bytes so a magic across the boundary is seen.
        pos += (want - 3) as u64;
    }
    Ok(None)
}

/// Whether the bytes from `pos` to `len` look like a write cut short: less
/// than a header, zeros, or a valid header whose record runs past the end.
fn torn_tail(f: &mut File, pos: u64, len: u64) -> io::Result<bool> {
    if pos + HEADER as u64 > len {
        return Ok(true);
    }
    f.seek(SeekFrom::Start(pos))?;
    let mut header = [0u8; HEADER];
    f.read_exact(&mut header)?;
    let n = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if &header[..4] != MAGIC || n > MAX_RECORD {
        return Ok(header.iter().all(|&b| b == 0));
    }
    Ok(pos + HEADER as u64 + u64::from(n) > len)
}

/// What the scan of one segment found.
#[derive(Debug, Default)]
struct Scan {
    records: u64,
    /// Damaged byte ranges `[start, end)`, each followed by an intact record.
    bad: Vec<(u64, u64)>,
    /// End of the last intact record.
    good_end: u64,
    /// The bytes after `good_end` are damage, not a torn write.
    tail_corrupt: bool,
}

/// Scans one segment from `from`. Only the newest segment can have a torn
/// tail (the appender writes nowhere else); anywhere else a bad tail is
/// damage.
fn scan(path: &Path, from: u64, newest: bool) -> io::Result<Scan> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut s = Scan {
        good_end: from,
        ..Scan::default()
    };
    let mut pos = from;
    while pos < len {
        if let Some(p) = record_at(&mut f, pos, len)? {
            pos += HEADER as u64 + p.len() as u64;
            s.records += 1;
            s.good_end = pos;
            continue;
        }
        match resync(&mut f, pos + 1, len)? {
            Some(next) => {
                s.bad.push((pos, next));
                pos = next;
            }
            None => {
                s.tail_corrupt = !newest || !torn_tail(&mut f, pos, len)?;
                break;
            }
        }
    }
    Ok(s)
}

/// Copies `[from, to)` of segment `n` to `quarantine/` (durably).
fn quarantine(dir: &Path, n: u64, from: u64, to: u64) -> io::Result<PathBuf> {
    let q = dir.join("quarantine").join(format!("{n:020}-{from}.bad"));
    let mut src = File::open(seg_path(dir, n))?;
    src.seek(SeekFrom::Start(from))?;
    let mut dst = File::create(&q)?;
    io::copy(&mut (&mut src).take(to - from), &mut dst)?;
    dst.sync_all()?;
    sync_dir(&dir.join("quarantine"))?;
    Ok(q)
}

/// Rewrites segment `n` keeping only the `keep` ranges (in order), through
/// a temporary file renamed over it. Offsets before the first gap are
/// unchanged, so a checkpoint before the damage stays valid.
fn rewrite(dir: &Path, n: u64, keep: &[(u64, u64)]) -> io::Result<()> {
    let path = seg_path(dir, n);
    let tmp = dir.join(format!("{n:020}.seg.tmp"));
    {
        let mut src = File::open(&path)?;
        let mut dst = File::create(&tmp)?;
        for &(a, b) in keep {
            src.seek(SeekFrom::Start(a))?;
            io::copy(&mut (&mut src).take(b - a), &mut dst)?;
        }
        dst.sync_all()?;
    }
    fs::rename(&tmp, &path)
}

/// Verifies segment `n` from `from`: quarantines damage, cuts a torn tail.
fn recover_segment(
    dir: &Path,
    n: u64,
    from: u64,
    newest: bool,
    rec: &mut Recovery,
) -> io::Result<()> {
    let path = seg_path(dir, n);
    let s = scan(&path, from, newest)?;
    let len = fs::metadata(&path)?.len();
    let mut damage = s.bad.clone();
    if s.good_end < len {
        if s.tail_corrupt {
            damage.push((s.good_end, len));
        } else {
            rec.torn_bytes += len - s.good_end;
            tracing::warn!(
                segment = n,
                bytes = len - s.good_end,
                "torn spool tail cut off (never acknowledged)"
            );
        }
    }
    for &(a, b) in &damage {
        let q = quarantine(dir, n, a, b)?;
        rec.quarantined_bytes += b - a;
        rec.quarantined_regions += 1;
        tracing::error!(segment = n, offset = a, bytes = b - a, file = %q.display(),
            "spool record failed its checksum; quarantined, replay continues after it");
    }
    if !s.bad.is_empty() {
        let mut keep = Vec::with_capacity(s.bad.len() + 1);
        let mut at = 0;
        for &(a, b) in &s.bad {
            keep.push((at, a));
            at = b;
        }
        keep.push((at, s.good_end));
        rewrite(dir, n, &keep)?;
    } else if s.good_end < len {
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(s.good_end)?;
        f.sync_all()?;
    }
    rec.segments += 1;
    rec.records += s.records;
    Ok(())
}

impl Spool {
    /// Opens the spool in `dir`, recovering what a previous process left,
    /// and starts the appender thread. Returns the spool, the recovery
    /// report and the position the writer must resume from.
    pub fn open(
        dir: &Path,
        cap: u64,
        segment_bytes: u64,
    ) -> Result<(Spool, Recovery, Position), SpoolError> {
        fs::create_dir_all(dir.join("quarantine"))?;
        // A drained segment is freed only when the appender has left it:
        // keep segments small against the cap, so a drained spool always
        // has room again.
        let segment_bytes = segment_bytes.min((cap / 4).max(MIN_SEGMENT));
        for e in fs::read_dir(dir)?.filter_map(|e| e.ok()) {
            // A rewrite cut short by a crash; the segment itself is intact.
            if e.file_name().to_string_lossy().ends_with(".seg.tmp") {
                fs::remove_file(e.path())?;
            }
        }
        let start = read_checkpoint(dir);
        let mut rec = Recovery::default();
        let segments = list_segments(dir)?;
        let newest = segments.last().copied();
        for &n in &segments {
            if n < start.segment {
                // Fully consumed before the crash; the deletion was lost.
                fs::remove_file(seg_path(dir, n))?;
                continue;
            }
            let from = if n == start.segment { start.offset } else { 0 };
            recover_segment(dir, n, from, Some(n) == newest, &mut rec)?;
        }
        sync_dir(dir)?;
        let next = segments
            .last()
            .map(|n| n + 1)
            .unwrap_or(0)
            .max(start.segment);
        rec.first_new = Position {
            segment: next,
            offset: 0,
        };
        let bytes = list_segments(dir)?
            .iter()
            .map(|&n| fs::metadata(seg_path(dir, n)).map(|m| m.len()).unwrap_or(0))
            .sum();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            durable: Mutex::new(Position {
                segment: next,
                offset: 0,
            }),
            bytes: AtomicU64::new(bytes),
            notify: Notify::new(),
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let first = File::create(seg_path(dir, next))?;
        sync_dir(dir)?;
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("vitals-spool".into())
            .spawn(move || appender(sh, rx, first, next, segment_bytes))?;
        Ok((Spool { shared, tx, cap }, rec, start))
    }

    /// Appends one record and returns once it is durable on disk; refused
    /// with [`SpoolError::Full`] exactly when [`Spool::has_room`] is false.
    pub async fn append(&self, payload: Vec<u8>) -> Result<Position, SpoolError> {
        let used = self.shared.bytes.load(Ordering::Relaxed);
        if !Self::room(used, self.cap) {
            return Err(SpoolError::Full {
                used,
                cap: self.cap,
            });
        }
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((payload, tx))
            .map_err(|_| SpoolError::Closed)?;
        rx.await.map_err(|_| SpoolError::Closed)?
    }

    /// Bytes currently held in segment files.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Whether a new record is taken now: the one test both
    /// [`Spool::append`] and readiness (`/readyz`) apply, so readiness
    /// fails exactly when a new batch would be refused for the cap. The
    /// test is on the bytes held, not on the next record's size (which
    /// readiness cannot know): the spool may pass its cap by the records
    /// admitted while it still had room (one group commit at most).
    pub fn has_room(&self) -> bool {
        Self::room(self.bytes(), self.cap)
    }

    fn room(used: u64, cap: u64) -> bool {
        used < cap
    }

    /// A reader starting at `from`.
    pub fn reader(&self, from: Position) -> SpoolReader {
        SpoolReader {
            shared: self.shared.clone(),
            pos: from,
            file: None,
        }
    }
}

fn appender(
    sh: Arc<Shared>,
    rx: mpsc::Receiver<Job>,
    mut file: File,
    mut seg: u64,
    segment_bytes: u64,
) {
    let mut offset = 0u64;
    let mut buf = Vec::with_capacity(1 << 20);
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
            if jobs.len() >= 4096 {
                break;
            }
        }
        buf.clear();
        let mut ends = Vec::with_capacity(jobs.len());
        for (payload, _) in &jobs {
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            buf.extend_from_slice(payload);
            ends.push(offset + buf.len() as u64);
        }
        let res = file.write_all(&buf).and_then(|_| file.sync_data());
        // After a failed write (the disk is full) the appender moves to a
        // new segment, so the current one can be deleted once drained;
        // otherwise nothing would ever free space.
        let mut leave = false;
        match res {
            Ok(()) => {
                offset += buf.len() as u64;
                sh.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                if let Ok(mut d) = sh.durable.lock() {
                    *d = Position {
                        segment: seg,
                        offset,
                    };
                }
                for ((_, reply), end) in jobs.into_iter().zip(ends) {
                    let _ = reply.send(Ok(Position {
                        segment: seg,
                        offset: end,
                    }));
                }
                sh.notify.notify_waiters();
            }
            Err(e) => {
                tracing::error!(error = %e, "spool write failed; batches refused");
                // Nothing of this group is acknowledged. Cut the file back
                // to the last durable offset so no half record remains.
                let cut = file
                    .set_len(offset)
                    .and_then(|_| file.seek(SeekFrom::Start(offset)).map(|_| ()));
                // Only a clean segment may be left behind: a half record
                // in a segment that is no longer written would read as
                // damage.
                leave = cut.is_ok() && offset > 0;
                for (_, reply) in jobs {
                    let _ =
                        reply.send(Err(SpoolError::Io(io::Error::new(e.kind(), e.to_string()))));
                }
            }
        }
        if offset >= segment_bytes || leave {
            let next = seg + 1;
            match File::create(seg_path(&sh.dir, next)).and_then(|f| sync_dir(&sh.dir).map(|_| f)) {
                Ok(f) => {
                    file = f;
                    seg = next;
                    offset = 0;
                    if let Ok(mut d) = sh.durable.lock() {
                        *d = Position {
                            segment: seg,
                            offset: 0,
                        };
                    }
                    sh.notify.notify_waiters();
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot rotate spool segment; keeping the current one")
                }
            }
        }
    }
}

/// One record read back, with the position just after it.
pub struct Record {
    pub payload: Vec<u8>,
    pub end: Position,
}

/// Sequential reader used by the store writer.
pub struct SpoolReader {
    shared: Arc<Shared>,
    pos: Position,
    file: Option<File>,
}

impl SpoolReader {
    pub fn position(&self) -> Position {
        self.pos
    }

    fn durable(&self) -> Position {
        self.shared.durable.lock().map(|d| *d).unwrap_or(self.pos)
    }

    /// Reads the next durable record, if any, without waiting. Damage
    /// found here (the disk changed after recovery) is skipped to the next
    /// intact record and reported through `on_corrupt` (bytes skipped).
    pub fn next(&mut self, on_corrupt: &mut dyn FnMut(u64)) -> io::Result<Option<Record>> {
        loop {
            let durable = self.durable();
            if self.pos >= durable {
                return Ok(None);
            }
            let path = seg_path(&self.shared.dir, self.pos.segment);
            if self.file.is_none() {
                match File::open(&path) {
                    Ok(f) => self.file = Some(f),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        self.pos = Position {
                            segment: self.pos.segment + 1,
                            offset: 0,
                        };
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let seg_end = if self.pos.segment == durable.segment {
                durable.offset
            } else {
                fs::metadata(&path)?.len()
            };
            if self.pos.offset >= seg_end {
                // Older segment fully read: move on.
                self.pos = Position {
                    segment: self.pos.segment + 1,
                    offset: 0,
                };
                self.file = None;
                continue;
            }
            let Some(f) = self.file.as_mut() else {
                continue;
            };
            if let Some(payload) = record_at(f, self.pos.offset, seg_end)? {
                self.pos.offset += HEADER as u64 + payload.len() as u64;
                return Ok(Some(Record {
                    payload,
                    end: self.pos,
                }));
            }
            let next = resync(f, self.pos.offset + 1, seg_end)?.unwrap_or(seg_end);
            on_corrupt(next - self.pos.offset);
            tracing::error!(
                segment = self.pos.segment,
                offset = self.pos.offset,
                bytes = next - self.pos.offset,
                "corrupt spool record skipped"
            );
            self.pos.offset = next;
        }
    }

    /// Waits until new records may be available (or `timeout` passes).
    pub async fn wait(&self, timeout: std::time::Duration) {
        let notified = self.shared.notify.notified();
        if self.pos < self.durable() {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }

    /// Records that everything before `upto` is stored: writes the
    /// checkpoint and deletes segments that are fully consumed.
    pub fn commit(&self, upto: Position) -> io::Result<()> {
        match write_checkpoint(&self.shared.dir, upto) {
            Ok(()) => self.delete_before(upto.segment).map(|_| ()),
            Err(e) => {
                // The disk may be full. Segments before `upto` hold only
                // stored data, so freeing them first is safe: a restart
                // from the older checkpoint skips missing segments, and
                // the store deduplicates what it replays.
                if self.delete_before(upto.segment)? == 0 {
                    return Err(e);
                }
                write_checkpoint(&self.shared.dir, upto)
            }
        }
    }

    /// Deletes the segments before `segment`; returns how many.
    fn delete_before(&self, segment: u64) -> io::Result<usize> {
        let mut deleted = 0;
        for n in list_segments(&self.shared.dir)? {
            if n >= segment {
                break;
            }
            let path = seg_path(&self.shared.dir, n);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)?;
            deleted += 1;
            self.shared.bytes.fetch_sub(
                len.min(self.shared.bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests;
