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
//! (a crash mid-write, never acknowledged) is cut off; a record whose
//! checksum fails is moved with the rest of its segment to `quarantine/`
//! and counted, and replay continues with the next segment.

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

/// Scans one segment from `from`; returns the offset of the end of the last
/// good record and whether a checksum failure (not just a torn tail) was
/// found there.
fn scan(path: &Path, from: u64) -> io::Result<(u64, u64, bool)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(from))?;
    let mut pos = from;
    let mut records = 0;
    let mut header = [0u8; HEADER];
    loop {
        if pos + HEADER as u64 > len {
            return Ok((pos, records, false));
        }
        f.read_exact(&mut header)?;
        let n = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if &header[..4] != MAGIC || n > MAX_RECORD {
            // Garbage where a record should start: corruption unless it is
            // the zero-filled tail of a torn write.
            let corrupt = header.iter().any(|&b| b != 0);
            return Ok((pos, records, corrupt));
        }
        if pos + HEADER as u64 + u64::from(n) > len {
            return Ok((pos, records, false));
        }
        let mut payload = vec![0u8; n as usize];
        f.read_exact(&mut payload)?;
        if crc32fast::hash(&payload) != crc {
            return Ok((pos, records, true));
        }
        pos += HEADER as u64 + u64::from(n);
        records += 1;
    }
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
        let start = read_checkpoint(dir);
        let mut rec = Recovery::default();
        let segments = list_segments(dir)?;
        for &n in &segments {
            let path = seg_path(dir, n);
            if n < start.segment {
                // Fully consumed before the crash; the deletion was lost.
                fs::remove_file(&path)?;
                continue;
            }
            let from = if n == start.segment { start.offset } else { 0 };
            let (good_end, records, corrupt) = scan(&path, from)?;
            let len = fs::metadata(&path)?.len();
            if good_end < len {
                if corrupt {
                    let mut src = File::open(&path)?;
                    src.seek(SeekFrom::Start(good_end))?;
                    let mut rest = Vec::new();
                    src.read_to_end(&mut rest)?;
                    let q = dir
                        .join("quarantine")
                        .join(format!("{n:020}-{good_end}.bad"));
                    fs::write(&q, &rest)?;
                    rec.quarantined_bytes += rest.len() as u64;
                    tracing::error!(segment = n, offset = good_end, bytes = rest.len(), file = %q.display(),
                        "spool record failed its checksum; rest of segment quarantined");
                } else {
                    rec.torn_bytes += len - good_end;
                    tracing::warn!(
                        segment = n,
                        bytes = len - good_end,
                        "torn spool tail cut off (never acknowledged)"
                    );
                }
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(good_end)?;
                f.sync_all()?;
            }
            rec.segments += 1;
            rec.records += records;
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

    /// Appends one record and returns once it is durable on disk.
    pub async fn append(&self, payload: Vec<u8>) -> Result<Position, SpoolError> {
        let used = self.shared.bytes.load(Ordering::Relaxed);
        if used + payload.len() as u64 + HEADER as u64 > self.cap {
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
                let _ = file
                    .set_len(offset)
                    .and_then(|_| file.seek(SeekFrom::Start(offset)).map(|_| ()));
                for (_, reply) in jobs {
                    let _ =
                        reply.send(Err(SpoolError::Io(io::Error::new(e.kind(), e.to_string()))));
                }
            }
        }
        if offset >= segment_bytes {
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

    /// Reads the next durable record, if any, without waiting. A record that
    /// fails its checksum here (disk corruption after recovery) is skipped
    /// to the next segment and reported through `on_corrupt`.
    pub fn next(&mut self, on_corrupt: &mut dyn FnMut(u64)) -> io::Result<Option<Record>> {
        loop {
            let durable = self.durable();
            if self.pos >= durable {
                return Ok(None);
            }
            let path = seg_path(&self.shared.dir, self.pos.segment);
            if self.file.is_none() {
                match File::open(&path) {
                    Ok(mut f) => {
                        f.seek(SeekFrom::Start(self.pos.offset))?;
                        self.file = Some(f);
                    }
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
            let mut header = [0u8; HEADER];
            f.read_exact(&mut header)?;
            let n = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
            let ok_header = &header[..4] == MAGIC
                && n <= MAX_RECORD
                && self.pos.offset + HEADER as u64 + u64::from(n) <= seg_end;
            let mut payload = vec![0u8; if ok_header { n as usize } else { 0 }];
            if ok_header {
                f.read_exact(&mut payload)?;
            }
            if !ok_header || crc32fast::hash(&payload) != crc {
                on_corrupt(seg_end - self.pos.offset);
                tracing::error!(
                    segment = self.pos.segment,
                    offset = self.pos.offset,
                    "corrupt spool record; skipping the rest of the segment"
                );
                self.pos = Position {
                    segment: self.pos.segment + 1,
                    offset: 0,
                };
                self.file = None;
                continue;
            }
            self.pos.offset += HEADER as u64 + u64::from(n);
            return Ok(Some(Record {
                payload,
                end: self.pos,
            }));
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
        write_checkpoint(&self.shared.dir, upto)?;
        for n in list_segments(&self.shared.dir)? {
            if n >= upto.segment {
                break;
            }
            let path = seg_path(&self.shared.dir, n);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)?;
            self.shared.bytes.fetch_sub(
                len.min(self.shared.bytes.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
