//! Intake of uploads: zip archives expanded under limits (entry count,
//! per-entry and total uncompressed size, compression ratio: zip-bomb
//! safe), folders walked (dSYM bundles are folders), non-debug files
//! skipped with a reason.

use crate::error::{Result, SymError};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Limits for archive expansion.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    /// Most entries read from one archive.
    pub max_entries: usize,
    /// Largest uncompressed entry.
    pub max_entry_bytes: u64,
    /// Largest total uncompressed size.
    pub max_total_bytes: u64,
    /// Largest uncompressed / compressed ratio of an entry above 1 MiB.
    pub max_ratio: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entries: 10_000,
            max_entry_bytes: 2 << 30,
            max_total_bytes: 8 << 30,
            max_ratio: 200,
        }
    }
}

/// Entries up to this size are exempt from the ratio limit.
const RATIO_FLOOR: u64 = 1 << 20;

/// Whether `data` is a zip archive.
pub fn is_zip(data: &[u8]) -> bool {
    data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06")
}

/// Whether a file name says zip.
pub fn is_zip_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".zip")
}

/// One file out of an upload: its path inside the upload (for names and
/// URL building) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path (`/`-separated, no `..`).
    pub path: String,
    /// Contents.
    pub data: Vec<u8>,
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

/// Expands a zip archive into its file entries under `limits`.
pub fn expand_zip(name: &str, data: &[u8], limits: &ZipLimits) -> Result<Vec<Entry>> {
    let reject = |reason: String| SymError::ArchiveRejected {
        name: name.to_string(),
        reason,
    };
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(data)).map_err(|e| reject(e.to_string()))?;
    if zip.len() > limits.max_entries {
        return Err(reject(format!(
            "{} entries, limit {}",
            zip.len(),
            limits.max_entries
        )));
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| reject(e.to_string()))?;
        if f.is_dir() {
            continue;
        }
        let path = safe_relative(f.name())?;
        if is_noise(&path) {
            continue;
        }
        let declared = f.size();
        let compressed = f.compressed_size().max(1);
        if declared > limits.max_entry_bytes {
            return Err(reject(format!(
                "{path}: {declared} bytes, limit {}",
                limits.max_entry_bytes
            )));
        }
        if declared > RATIO_FLOOR && declared / compressed > limits.max_ratio {
            return Err(reject(format!(
                "{path}: compression ratio {} over {}",
                declared / compressed,
                limits.max_ratio
            )));
        }
        // Never trust the declared size: read no more than the entry, ratio
        // and total limits allow (+ 1 byte to tell), so a bomb that lies in
        // its header costs at most that much memory.
        let by_ratio = compressed
            .saturating_mul(limits.max_ratio.saturating_add(1))
            .saturating_sub(1)
            .max(RATIO_FLOOR);
        let room = limits.max_total_bytes.saturating_sub(total);
        let cap = limits.max_entry_bytes.min(by_ratio).min(room);
        let mut buf = Vec::new();
        (&mut f)
            .take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| reject(format!("{path}: {e}")))?;
        let n = buf.len() as u64;
        if n > limits.max_entry_bytes {
            return Err(reject(format!(
                "{path}: over {} bytes",
                limits.max_entry_bytes
            )));
        }
        if n > RATIO_FLOOR && n / compressed > limits.max_ratio {
            return Err(reject(format!(
                "{path}: compression ratio {} over {}",
                n / compressed,
                limits.max_ratio
            )));
        }
        if n > cap {
            // Only the total budget is left to break.
            return Err(reject(format!(
                "over {} bytes in total",
                limits.max_total_bytes
            )));
        }
        total += n;
        if total > limits.max_total_bytes {
            return Err(reject(format!(
                "over {} bytes in total",
                limits.max_total_bytes
            )));
        }
        out.push(Entry { path, data: buf });
    }
    tracing::debug!(
        archive = name,
        entries = out.len(),
        bytes = total,
        "zip expanded"
    );
    Ok(out)
}

/// Expands one upload: a zip becomes its entries, anything else one entry.
pub fn expand(name: &str, data: Vec<u8>, limits: &ZipLimits) -> Result<Vec<Entry>> {
    if is_zip(&data) {
        expand_zip(name, &data, limits)
    } else {
        Ok(vec![Entry {
            path: safe_relative(name)?,
            data,
        }])
    }
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

/// Reads a file, refusing ones over `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| SymError::io(path, e))?
        .len();
    if len > max {
        return Err(SymError::TooLarge(max));
    }
    std::fs::read(path).map_err(|e| SymError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (n, d) in entries {
            w.start_file(*n, opts).expect("start");
            w.write_all(d).expect("write");
        }
        w.finish().expect("finish").into_inner()
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
    fn zip_limits() {
        let z = zip_of(&[
            ("a/mapping.txt", b"x -> y:\n"),
            ("a/Info.plist", b"<plist/>"),
        ]);
        let e = expand("u.zip", z, &ZipLimits::default()).expect("expand");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "a/mapping.txt");
        // A bomb: 8 MiB of zeros compresses far beyond ratio 200.
        let zeros = vec![0u8; 8 << 20];
        let z = zip_of(&[("bomb.bin", &zeros)]);
        assert!(matches!(
            expand_zip("b.zip", &z, &ZipLimits::default()),
            Err(SymError::ArchiveRejected { .. })
        ));
        let small = ZipLimits {
            max_entry_bytes: 10,
            ..ZipLimits::default()
        };
        let z = zip_of(&[("big.txt", &[b'a'; 100])]);
        assert!(expand_zip("c.zip", &z, &small).is_err());
        let z = zip_of(&[("../evil.txt", b"x")]);
        assert!(expand_zip("d.zip", &z, &ZipLimits::default()).is_err());
        assert!(expand_zip("e.zip", b"PK\x03\x04garbage", &ZipLimits::default()).is_err());
    }
}
