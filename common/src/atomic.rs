//! Atomic file updates: readers see the old file or the new one, never a torn write.
//!
//! Contents go to a temporary sibling first (synced to disk), which is then
//! published under the real name: replacing it with rename(2)
//! ([`write_atomic`]), or only if the name is still free ([`create_atomic`]).
//! Create-if-absent uses link(2), and on file systems that refuse hard links
//! (some FUSE, SMB and FAT mounts) renameat2(2) with `RENAME_NOREPLACE`; a file
//! system that supports neither gets a clear error rather than a weaker
//! protocol. After publishing, the directory is synced so the new name
//! survives a crash. The temporary file is removed on every path that does
//! not publish it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A temporary sibling of the file being written; removed when dropped unless published.
struct TempFile {
    path: PathBuf,
    published: bool,
}

impl TempFile {
    /// Write `contents` (mode `mode`) to a fresh temporary sibling of `target` and sync it.
    fn write(target: &Path, contents: &[u8], mode: u32) -> io::Result<TempFile> {
        let path = temp_sibling(target)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file: File = options.open(&path)?;
        let temp = TempFile {
            path,
            published: false,
        };
        file.write_all(contents)?;
        file.sync_all()?;
        Ok(temp)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A temporary sibling of `path`, in the same directory so rename stays atomic.
fn temp_sibling(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp = name.to_os_string();
    tmp.push(format!(".tmp.{}.{}", std::process::id(), unique()));
    Ok(parent_dir(path).join(tmp))
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (nanos << 20) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Sync `path`'s directory so a just-published name is on disk.
///
/// The file itself is already complete and visible, so a failure here is
/// logged rather than reported: the caller's write did happen.
fn sync_parent(path: &Path) {
    let dir = parent_dir(path);
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot sync directory after an atomic write");
    }
}

/// Replace `path` with `contents` (file mode `mode`) by write-then-rename.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = TempFile::write(path, contents, mode)?;
    fs::rename(&tmp.path, path)?;
    tmp.published = true;
    sync_parent(path);
    Ok(())
}

/// Create `path` with `contents` only if it does not exist yet; `Ok(false)` if it did.
///
/// The file appears whole or not at all, and of two racing writers exactly
/// one wins: this is how a proposal is answered at most once.
pub fn create_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<bool> {
    let mut tmp = TempFile::write(path, contents, mode)?;
    let created = match fs::hard_link(&tmp.path, path) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) if refuses_links(&e) => {
            let created = rename_noreplace(&tmp.path, path)?;
            tmp.published = created;
            created
        }
        Err(e) => return Err(e),
    };
    drop(tmp);
    if created {
        sync_parent(path);
    }
    Ok(created)
}

/// link(2) errors that mean "this file system has no hard links", not "this link failed".
fn refuses_links(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

/// Move `tmp` to `path` unless `path` exists; `Ok(false)` if it did.
#[cfg(target_os = "linux")]
fn rename_noreplace(tmp: &Path, path: &Path) -> io::Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Err(no_exclusive_create(path)),
        Err(e) => Err(e.into()),
    }
}

/// Without renameat2 there is no safe fallback for file systems that refuse hard links.
#[cfg(not(target_os = "linux"))]
fn rename_noreplace(_tmp: &Path, path: &Path) -> io::Result<bool> {
    Err(no_exclusive_create(path))
}

fn no_exclusive_create(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "the file system of {} supports neither hard links nor rename without replace, \
             so files cannot be created there atomically; use a directory on a local file system",
            parent_dir(path).display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.yaml");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            names(dir.path()),
            ["routes.yaml"],
            "no temp files left behind"
        );
    }

    #[test]
    fn create_atomic_has_exactly_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decision.json");
        let winners: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || create_atomic(path, format!("{i}").as_bytes(), 0o644).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap() as usize)
                .sum()
        });
        assert_eq!(winners, 1);
        assert_eq!(
            names(dir.path()),
            ["decision.json"],
            "no temp files left behind"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn rename_fallback_has_exactly_one_winner_and_keeps_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decision.json");
        let results: Vec<(bool, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || {
                        let mut tmp =
                            TempFile::write(path, format!("{i}").as_bytes(), 0o644).unwrap();
                        let won = rename_noreplace(&tmp.path, path).unwrap();
                        tmp.published = won;
                        (won, i)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = results.iter().filter(|r| r.0).map(|r| r.1).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert_eq!(fs::read_to_string(&path).unwrap(), winners[0].to_string());
        assert_eq!(
            names(dir.path()),
            ["decision.json"],
            "losers' temp files removed"
        );
    }

    #[test]
    fn failures_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("sub");
        fs::create_dir(&blocker).unwrap();
        fs::write(blocker.join("x"), b"keep").unwrap();
        let e = write_atomic(&blocker, b"x", 0o600).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty
            ),
            "{e:?}"
        );
        assert_eq!(
            names(dir.path()),
            ["sub"],
            "temp file removed after a failed rename"
        );
        assert!(!create_atomic(&blocker, b"x", 0o600).unwrap());
        assert_eq!(names(dir.path()), ["sub"]);
    }

    #[test]
    fn write_into_missing_directory_fails_cleanly() {
        let e = write_atomic(Path::new("/nonexistent-dir/file"), b"x", 0o600).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = create_atomic(Path::new("/nonexistent-dir/file"), b"x", 0o600).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
