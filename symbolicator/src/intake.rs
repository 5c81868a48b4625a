//! Intake of uploads (issue #22): every file of an upload lives on disk,
//! never whole in memory. Zip archives are expanded entry by entry into
//! files, under limits enforced while the bytes stream ([`UploadLimits`]):
//! entry count (checked in the archive's end record before anything is
//! read, and again per entry), expanded size per entry and in total, and
//! the expansion ratio of each entry and of the archive as a whole (a bomb
//! of many small entries cannot hide under the per-entry floor). Folders
//! are walked (dSYM bundles are folders), non-debug files skipped.

use crate::error::{Result, SymError, UploadLimit};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `[symbolicator.uploads]`: bounds of one debug-file upload (`POST
/// /api/v1/apps/{app}/debug-files`, `vitals upload-symbols`). Beyond any
/// of them the upload is refused with `413` naming the limit and its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadLimits {
    /// Largest request body, all multipart parts together, bytes. The body
    /// is streamed to a temporary folder under the data directory.
    pub max_request_bytes: u64,
    /// Most files in one upload: file parts and archive entries together.
    pub max_zip_entries: u64,
    /// Largest expanded size of one archive entry, bytes.
    pub max_zip_entry_bytes: u64,
    /// Most bytes the archives of one upload expand to, together.
    pub max_zip_total_bytes: u64,
    /// Largest expanded / compressed ratio, of an entry over 1 MiB and of a
    /// whole archive once it has expanded to over 1 MiB.
    pub max_zip_ratio: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_request_bytes: 4 << 30,
            max_zip_entries: 10_000,
            max_zip_entry_bytes: 2 << 30,
            max_zip_total_bytes: 4 << 30,
            max_zip_ratio: 200,
        }
    }
}

/// Entries and archives up to this size are exempt from the ratio limit.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// The most central-directory bytes one entry may take on average (the
/// fixed 46 bytes, a long name, extra fields): the directory is read into
/// memory whole, so its size is bounded before it is.
const CD_BYTES_PER_ENTRY: u64 = 4 << 10;

/// Whether `data` starts like a zip archive.
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

/// Whether the file at `path` starts like a zip archive.
pub fn is_zip_file(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(|e| SymError::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| SymError::io(path, e))?;
    Ok(is_zip(&head[..n]))
}

/// Whether a file name says zip.
pub fn is_zip_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

/// One file of an upload, on disk: its path inside the upload (for names
/// and URL building) and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskEntry {
    /// Relative path (`/`-separated, no `..`).
    pub path: String,
    /// The file holding its bytes.
    pub file: PathBuf,
    /// Its size.
    pub size: u64,
}

/// What one upload has used of its limits so far (several archives and
/// file parts share them).
#[derive(Debug, Default, Clone, Copy)]
pub struct Budget {
    /// Files so far (file parts and archive entries).
    pub files: u64,
    /// Bytes archives expanded to so far.
    pub expanded: u64,
}

impl Budget {
    /// Counts one more file of the upload named `name`.
    pub fn add_file(&mut self, name: &str, limits: &UploadLimits) -> Result<()> {
        self.files += 1;
        if self.files > limits.max_zip_entries {
            return Err(SymError::over(
                UploadLimit::Entries,
                limits.max_zip_entries,
                name,
                "",
            ));
        }
        Ok(())
    }
}

/// Normalises an archive entry path: `/`-separated, relative, without `.`
/// or `..` components. Rejects paths that climb out.
pub fn safe_relative(path: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split(['/', '\\']) {
        match c {
            "" | "." => {}
            ".." => return Err(SymError::BadFileName(path.to_string())),
            c if c.contains(':') || c.chars().any(char::is_control) => {
                return Err(SymError::BadFileName(path.to_string()));
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(SymError::BadFileName(path.to_string()));
    }
    Ok(parts.join("/"))
}

/// Files inside a dSYM or archive that are never debug files.
fn is_noise(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    base == "Info.plist"
        || base.starts_with("._")
        || base == ".DS_Store"
        || path.contains("__MACOSX/")
        || path.ends_with(".yml")
        || path.ends_with(".plist")
}

/// The entry count and central-directory size an archive declares in its
/// end record (zip64 when the classic fields are saturated), read from at
/// most the last 64 KiB + 22 bytes of the file.
fn declared(f: &mut File, len: u64) -> std::io::Result<Option<(u64, u64)>> {
    let tail = len.min(65_535 + 22);
    f.seek(SeekFrom::Start(len - tail))?;
    let mut buf = vec![0u8; tail as usize];
    f.read_exact(&mut buf)?;
    let u16_at = |b: &[u8], i: usize| u64::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at =
        |b: &[u8], i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    // The last end record whose comment reaches exactly the end of the file.
    let Some(pos) = (0..buf.len().saturating_sub(21)).rev().find(|&i| {
        buf[i..].starts_with(b"PK\x05\x06") && i + 22 + u16_at(&buf, i + 20) as usize == buf.len()
    }) else {
        return Ok(None);
    };
    let (mut entries, mut cd_size) = (u16_at(&buf, pos + 10), u32_at(&buf, pos + 12));
    if entries == 0xffff || cd_size == 0xffff_ffff || u32_at(&buf, pos + 16) == 0xffff_ffff {
        // Zip64: a locator just before the end record names the zip64 end.
        let loc_at = (len - tail + pos as u64).checked_sub(20);
        if let Some(loc_at) = loc_at {
            let mut loc = [0u8; 20];
            f.seek(SeekFrom::Start(loc_at))?;
            f.read_exact(&mut loc)?;
            if loc.starts_with(b"PK\x06\x07") {
                let at = u64::from_le_bytes(loc[8..16].try_into().unwrap_or_default());
                let mut rec = [0u8; 56];
                if at.checked_add(56).is_some_and(|end| end <= len) {
                    f.seek(SeekFrom::Start(at))?;
                    f.read_exact(&mut rec)?;
                    if rec.starts_with(b"PK\x06\x06") {
                        entries = u64::from_le_bytes(rec[32..40].try_into().unwrap_or_default());
                        cd_size = u64::from_le_bytes(rec[40..48].try_into().unwrap_or_default());
                    }
                }
            }
        }
    }
    Ok(Some((entries, cd_size)))
}

/// Expands the zip archive at `zip` (called `name` in messages) into files
/// under `dest`, one per entry, checking `limits` against `budget` as the
/// bytes are written. Nothing of it is kept in memory but the central
/// directory (bounded by the entry count) and one 64 KiB buffer.
pub fn expand_zip_file(
    name: &str,
    zip: &Path,
    dest: &Path,
    limits: &UploadLimits,
    budget: &mut Budget,
) -> Result<Vec<DiskEntry>> {
    let reject = |reason: String| SymError::ArchiveRejected {
        name: name.to_string(),
        reason,
    };
    let mut file = File::open(zip).map_err(|e| SymError::io(zip, e))?;
    let archive_len = file.metadata().map_err(|e| SymError::io(zip, e))?.len();
    let (entries, cd_size) = declared(&mut file, archive_len)
        .map_err(|e| reject(e.to_string()))?
        .ok_or_else(|| reject("no end of central directory record".into()))?;
    // The declared count is checked before the directory is read.
    if budget.files.saturating_add(entries) > limits.max_zip_entries {
        return Err(SymError::over(
            UploadLimit::Entries,
            limits.max_zip_entries,
            name,
            "",
        ));
    }
    let cd_cap = entries
        .max(1)
        .saturating_mul(CD_BYTES_PER_ENTRY)
        .max(RATIO_FLOOR);
    if cd_size > cd_cap {
        return Err(reject(format!(
            "central directory of {cd_size} bytes for {entries} entries (at most {cd_cap})"
        )));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| SymError::io(zip, e))?;
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| reject(e.to_string()))?;
    std::fs::create_dir_all(dest).map_err(|e| SymError::io(dest, e))?;
    let archive_floor = archive_len.max(1);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..archive.len() {
        budget.add_file(name, limits)?;
        let mut f = archive.by_index(i).map_err(|e| reject(e.to_string()))?;
        if f.is_dir() {
            continue;
        }
        let path = safe_relative(f.name())?;
        if is_noise(&path) {
            continue;
        }
        let compressed = f.compressed_size().max(1);
        let over = |limit, value| SymError::over(limit, value, name, &path);
        // What the headers declare is refused at once; what they hide is
        // caught below while the bytes are written.
        if f.size() > limits.max_zip_entry_bytes {
            return Err(over(UploadLimit::Entry, limits.max_zip_entry_bytes));
        }
        if f.size() > RATIO_FLOOR && f.size() / compressed > limits.max_zip_ratio {
            return Err(over(UploadLimit::Ratio, limits.max_zip_ratio));
        }
        let target = dest.join(format!("{i}.bin"));
        let mut w = File::create(&target).map_err(|e| SymError::io(&target, e))?;
        let mut size = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| reject(format!("{path}: {e}")))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            budget.expanded += n as u64;
            if size > limits.max_zip_entry_bytes {
                return Err(over(UploadLimit::Entry, limits.max_zip_entry_bytes));
            }
            if budget.expanded > limits.max_zip_total_bytes {
                return Err(over(UploadLimit::Total, limits.max_zip_total_bytes));
            }
            if size > RATIO_FLOOR && size / compressed > limits.max_zip_ratio {
                return Err(over(UploadLimit::Ratio, limits.max_zip_ratio));
            }
            if budget.expanded > RATIO_FLOOR
                && budget.expanded / archive_floor > limits.max_zip_ratio
            {
                return Err(SymError::over(
                    UploadLimit::ArchiveRatio,
                    limits.max_zip_ratio,
                    name,
                    "",
                ));
            }
            w.write_all(&buf[..n])
                .map_err(|e| SymError::io(&target, e))?;
        }
        out.push(DiskEntry {
            path,
            file: target,
            size,
        });
    }
    tracing::debug!(
        archive = name,
        entries = out.len(),
        bytes = budget.expanded,
        "zip expanded"
    );
    Ok(out)
}

/// One file of an upload at `file`, called `name`: a zip becomes its
/// entries (expanded under `dest`), anything else one entry.
pub fn expand_file(
    name: &str,
    file: &Path,
    dest: &Path,
    limits: &UploadLimits,
    budget: &mut Budget,
) -> Result<Vec<DiskEntry>> {
    if is_zip_file(file)? {
        return expand_zip_file(name, file, dest, limits, budget);
    }
    budget.add_file(name, limits)?;
    let size = std::fs::metadata(file)
        .map_err(|e| SymError::io(file, e))?
        .len();
    Ok(vec![DiskEntry {
        path: safe_relative(name)?,
        file: file.to_path_buf(),
        size,
    }])
}

/// Walks `paths` (files or folders, following no symlinks out of them) and
/// returns every regular file with its path relative to the argument it
/// came from (prefixed by that argument's base name).
pub fn walk(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for root in paths {
        let meta = std::fs::symlink_metadata(root).map_err(|e| SymError::io(root, e))?;
        let base = root
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if meta.is_file() {
            out.push((root.clone(), base));
            continue;
        }
        let mut stack = vec![(root.clone(), base)];
        while let Some((dir, rel)) = stack.pop() {
            let rd = std::fs::read_dir(&dir).map_err(|e| SymError::io(&dir, e))?;
            let mut entries: Vec<_> = rd.flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let Ok(ft) = e.file_type() else { continue };
                let name = e.file_name().to_string_lossy().to_string();
                let child_rel = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                if ft.is_dir() {
                    stack.push((e.path(), child_rel));
                } else if ft.is_file() && !is_noise(&child_rel) {
                    out.push((e.path(), child_rel));
                }
            }
        }
    }
    Ok(out)
}

/// The size of a file, refusing ones over `max` bytes.
pub fn read_limited_len(path: &Path, max: u64) -> Result<u64> {
    let len = std::fs::metadata(path)
        .map_err(|e| SymError::io(path, e))?
        .len();
    if len > max {
        return Err(SymError::TooLarge(max));
    }
    Ok(len)
}

/// Reads a file, refusing ones over `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    read_limited_len(path, max)?;
    std::fs::read(path).map_err(|e| SymError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(dir: &Path, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join(format!("z{}.zip", entries.len()));
        let mut w = zip::ZipWriter::new(File::create(&path).expect("create"));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (n, d) in entries {
            w.start_file(*n, opts).expect("start");
            w.write_all(d).expect("write");
        }
        w.finish().expect("finish");
        path
    }

    fn expand(zip: &Path, dest: &Path, limits: &UploadLimits) -> Result<Vec<DiskEntry>> {
        expand_file("u.zip", zip, dest, limits, &mut Budget::default())
    }

    #[test]
    fn paths_are_made_safe() {
        assert_eq!(safe_relative("a/./b\\c").ok().as_deref(), Some("a/b/c"));
        assert!(safe_relative("../etc/passwd").is_err());
        assert!(safe_relative("a/../../x").is_err());
        assert!(safe_relative("C:/x").is_err());
        assert!(safe_relative("/").is_err());
    }

    #[test]
    fn entries_expand_to_files_and_noise_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let z = zip_of(
            dir.path(),
            &[
                ("a/mapping.txt", b"x -> y:\n"),
                ("a/Info.plist", b"<plist/>"),
            ],
        );
        let e = expand(&z, &dir.path().join("out"), &UploadLimits::default()).expect("expand");
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].path.as_str(), e[0].size), ("a/mapping.txt", 8));
        assert_eq!(std::fs::read(&e[0].file).expect("read"), b"x -> y:\n");
        // Not a zip: the file itself is the entry.
        let plain = dir.path().join("libx.so");
        std::fs::write(&plain, b"\x7fELF").expect("write");
        let e = expand_file(
            "libx.so",
            &plain,
            dir.path(),
            &UploadLimits::default(),
            &mut Budget::default(),
        )
        .expect("plain");
        assert_eq!(
            (e[0].path.as_str(), e[0].file.as_path()),
            ("libx.so", plain.as_path())
        );
    }

    #[test]
    fn every_limit_is_enforced_and_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let d = UploadLimits::default();
        let limit_of = |r: Result<Vec<DiskEntry>>| match r {
            Err(SymError::OverLimit { limit, .. }) => Some(limit),
            _ => None,
        };
        // A high-ratio entry: 8 MiB of zeros.
        let zeros = vec![0u8; 8 << 20];
        let z = zip_of(dir.path(), &[("bomb.bin", &zeros)]);
        assert_eq!(limit_of(expand(&z, &out, &d)), Some(UploadLimit::Ratio));
        // Many small entries of zeros, each under the per-entry floor: the
        // whole archive's ratio stops them.
        let small = vec![0u8; 512 << 10];
        let many: Vec<(String, &[u8])> =
            (0..8).map(|i| (format!("z{i}.bin"), &small[..])).collect();
        let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let z = zip_of(dir.path(), &refs);
        assert_eq!(
            limit_of(expand(&z, &out, &d)),
            Some(UploadLimit::ArchiveRatio)
        );
        let loose = UploadLimits {
            max_zip_ratio: u64::MAX,
            ..d
        };
        assert_eq!(expand(&z, &out, &loose).expect("loose").len(), 8);
        let tight = UploadLimits {
            max_zip_total_bytes: 3 << 20,
            ..loose
        };
        assert_eq!(limit_of(expand(&z, &out, &tight)), Some(UploadLimit::Total));
        let tight = UploadLimits {
            max_zip_entry_bytes: 100,
            ..loose
        };
        assert_eq!(limit_of(expand(&z, &out, &tight)), Some(UploadLimit::Entry));
        let tight = UploadLimits {
            max_zip_entries: 7,
            ..loose
        };
        assert_eq!(
            limit_of(expand(&z, &out, &tight)),
            Some(UploadLimit::Entries)
        );
        // The budget is shared by the files of one upload.
        let mut budget = Budget {
            files: 1,
            expanded: 0,
        };
        let at_eight = UploadLimits {
            max_zip_entries: 8,
            ..loose
        };
        let r = expand_file("u.zip", &z, &out, &at_eight, &mut budget);
        assert_eq!(limit_of(r), Some(UploadLimit::Entries));
        // Traversal and garbage.
        let z = zip_of(dir.path(), &[("../evil.txt", b"x")]);
        assert!(matches!(
            expand(&z, &out, &d),
            Err(SymError::BadFileName(_))
        ));
        let garbage = dir.path().join("g.zip");
        std::fs::write(&garbage, b"PK\x03\x04garbage").expect("write");
        assert!(matches!(
            expand(&garbage, &out, &d),
            Err(SymError::ArchiveRejected { .. })
        ));
    }
}
