//! Reading a whole file that a user or an earlier run named, without
//! trusting what is at that path: the config file, and the `summary.json`
//! and `.dat` files that `inspect` loads.
//!
//! Owns one rule: only a regular file of at most a given size is read, and
//! a symlink is followed only when the caller allows it. A FIFO is opened
//! without blocking and refused, a device (`/dev/zero`) is refused before it
//! is opened, and no more than the limit plus one byte is ever read, so no
//! path can hang the process or grow its memory without bound. It never
//! writes and never parses what it reads.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file was not read. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum SafeReadError {
    #[error("{}: cannot open", .path.display())] // `{:#}` appends the source
    Open { path: PathBuf, source: io::Error },
    #[error("{}: is a symbolic link, which is not followed here", .path.display())]
    Symlink { path: PathBuf },
    #[error("{}: is {kind}, not a regular file", .path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{}: is larger than the limit of {limit} bytes", .path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: cannot read", .path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// Reads all of `path`, which must be a regular file of at most `max_bytes`.
///
/// With `follow_symlinks` false, a symlink at `path` itself is refused
/// (directories above it are still resolved). The type is checked on the
/// path before opening (so a device is never opened) and again on the open
/// descriptor (so a file swapped in between is caught too); the open never
/// blocks, even on a FIFO. A file that grows past `max_bytes` while it is
/// read is refused as too large.
pub fn read_regular_file(
    path: &Path,
    max_bytes: u64,
    follow_symlinks: bool,
) -> Result<Vec<u8>, SafeReadError> {
    let open_error = |source| SafeReadError::Open {
        path: path.to_path_buf(),
        source,
    };
    let before = if follow_symlinks {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    check_regular(path, &before.map_err(open_error)?, max_bytes)?;
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|source| match source.raw_os_error() {
            Some(libc::ELOOP) if !follow_symlinks => SafeReadError::Symlink {
                path: path.to_path_buf(),
            },
            _ => open_error(source),
        })?;
    let read_error = |source| SafeReadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let opened = file.metadata().map_err(read_error)?;
    check_regular(path, &opened, max_bytes)?;
    read_bounded(path, file, opened.len(), max_bytes)
}

/// Reads at most `max_bytes + 1` bytes, so a file that grew is noticed.
fn read_bounded(
    path: &Path,
    file: File,
    size: u64,
    max_bytes: u64,
) -> Result<Vec<u8>, SafeReadError> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| SafeReadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max_bytes {
        return Err(SafeReadError::TooLarge {
            path: path.to_path_buf(),
            limit: max_bytes,
        });
    }
    Ok(bytes)
}

fn check_regular(path: &Path, meta: &Metadata, max_bytes: u64) -> Result<(), SafeReadError> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_symlink() {
        return Err(SafeReadError::Symlink {
            path: path.to_path_buf(),
        });
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    };
    if let Some(kind) = what {
        return Err(SafeReadError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if meta.len() > max_bytes {
        return Err(SafeReadError::TooLarge {
            path: path.to_path_buf(),
            limit: max_bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error text for reading `path`, with the temp directory removed.
    #[track_caller]
    fn refusal(dir: &Path, path: &Path, max_bytes: u64, follow: bool) -> String {
        let error = read_regular_file(path, max_bytes, follow).expect_err("refused");
        error
            .to_string()
            .replace(&format!("{}/", dir.display()), "")
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").expect("write");
        assert_eq!(read_regular_file(&path, 5, false).expect("read"), b"hello");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big.txt");
        std::fs::write(&path, b"hello!").expect("write");
        assert_eq!(
            refusal(dir.path(), &path, 5, true),
            "big.txt: is larger than the limit of 5 bytes"
        );
    }

    #[test]
    fn a_symlink_is_followed_only_when_allowed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target.txt");
        std::fs::write(&target, b"data").expect("write");
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert_eq!(read_regular_file(&link, 100, true).expect("read"), b"data");
        assert_eq!(
            refusal(dir.path(), &link, 100, false),
            "link.txt: is a symbolic link, which is not followed here"
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        assert_eq!(
            refusal(dir.path(), &fifo, 100, true),
            "pipe: is a FIFO (named pipe), not a regular file"
        );
    }

    #[test]
    fn devices_and_directories_are_refused_by_what_they_are() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            refusal(dir.path(), Path::new("/dev/zero"), 100, true),
            "/dev/zero: is a character device, not a regular file"
        );
        assert_eq!(
            refusal(dir.path(), dir.path(), 100, true),
            format!(
                "{}: is a directory, not a regular file",
                dir.path().display()
            )
        );
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        assert_eq!(
            refusal(dir.path(), &link, 100, true),
            "zero: is a character device, not a regular file"
        );
    }
}
