//! Secrets at rest (issue #22): what vitals writes is readable by its own
//! user only.
//!
//! The data directory holds the control plane (`control.sqlite`: app
//! pseudonym secrets, ingest-key secrets, token and password hashes), the
//! embedded store, the spool (batches not yet stored), crash attachments,
//! and the demo's admin token. Every crate and SQLite itself create files
//! with the process's umask, so [`private_umask`] sets it to `077` before
//! anything is written — files come out `0600` and directories `0700`
//! whatever umask vitals was started with — and [`tighten`] closes a data
//! directory that an older version (or another tool) left open.

use std::path::Path;

/// Makes every file and directory this process creates private to its
/// user. Call first thing in `main`, before any thread starts.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask; it cannot
    // fail and touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` if needed and takes group and other permissions off it
/// and its direct entries (files to `0600` at most, directories to
/// `0700`; what is inside a `0700` directory is out of others' reach
/// anyway). Symbolic links are left alone. Returns how many it changed.
pub fn tighten(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut changed = usize::from(restrict(dir)?);
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_symlink() {
            continue;
        }
        changed += usize::from(restrict(&e.path())?);
    }
    if changed > 0 {
        tracing::warn!(
            dir = %dir.display(),
            changed,
            "data directory was readable by others; group and other permissions removed"
        );
    }
    Ok(changed)
}

#[cfg(unix)]
fn restrict(p: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(p)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & 0o700))?;
    Ok(true)
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_data_directory_is_closed() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.join("control.sqlite"), b"x").unwrap();
        std::fs::set_permissions(
            d.join("control.sqlite"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::create_dir(d.join("spool")).unwrap();
        std::fs::set_permissions(d.join("spool"), std::fs::Permissions::from_mode(0o775)).unwrap();
        assert_eq!(tighten(&d).unwrap(), 3);
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("control.sqlite")), 0o600);
        assert_eq!(mode(&d.join("spool")), 0o700);
        assert_eq!(tighten(&d).unwrap(), 0, "nothing left to change");
    }
}
