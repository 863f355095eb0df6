//! `OutputError`: everything that can go wrong writing or reading snapshots.
//!
//! Every variant names the file or directory; decoding errors also name the
//! byte offset, so a user can look at the spot with `xxd`.

use std::io;
use std::path::PathBuf;

use crate::flow::KeySchema;
use crate::safe_read::SafeReadError;

/// An error of the output layer. Messages are user interface: tests assert them.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file system call failed; `action` says what was being done.
    #[error("{}: cannot {action}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },

    #[error("{}: byte 0: not a netspectra .dat file (starts with {found:?}, want \"NSPECDAT\")", .path.display())]
    BadMagic { path: PathBuf, found: String },

    #[error("{}: byte {offset}: file ends early (header needs {want} more bytes)", .path.display())]
    Truncated {
        path: PathBuf,
        offset: u64,
        want: u64,
    },

    #[error("{}: byte {offset}: format version {found} unsupported (want 1 to {want})", .path.display())]
    UnsupportedVersion {
        path: PathBuf,
        offset: u64,
        found: u16,
        want: u16,
    },

    #[error("{}: byte {offset}: key schema bits {bits:#04x} unknown (want a non-empty subset of 0x1f)", .path.display())]
    UnknownSchema {
        path: PathBuf,
        offset: u64,
        bits: u8,
    },

    #[error("{}: byte {offset}: task name is not UTF-8", .path.display())]
    TaskNameNotUtf8 { path: PathBuf, offset: u64 },

    #[error(
        "{}: byte {offset}: header says {count} records, which needs {want} bytes, but the file has {got}; truncated or corrupt",
        .path.display()
    )]
    LengthMismatch {
        path: PathBuf,
        offset: u64,
        count: u64,
        want: u128,
        got: u64,
    },

    #[error(
        "{}: byte {offset}: checksum {stored:#018x} does not match content ({computed:#018x}); file corrupt",
        .path.display()
    )]
    ChecksumMismatch {
        path: PathBuf,
        offset: u64,
        stored: u64,
        computed: u64,
    },

    /// A header extension or per-direction counters that cannot be right.
    #[error("{}: byte {offset}: {what}", .path.display())]
    Malformed {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("{}: byte {offset}: address family {found} unknown (want 0, 4 or 6)", .path.display())]
    BadFamily {
        path: PathBuf,
        offset: u64,
        found: u8,
    },

    /// A task name that cannot be a directory name, or a name too long for the header.
    #[error("{}: task name {task:?} unusable: {reason}", .path.display())]
    BadTaskName {
        path: PathBuf,
        task: String,
        reason: &'static str,
    },

    #[error("{}: invalid summary", .path.display())]
    BadSummary {
        path: PathBuf,
        source: serde_json::Error,
    },

    /// Shard files disagree with each other or with their summary.
    #[error("{}: {what}", .path.display())]
    Inconsistent { path: PathBuf, what: String },

    #[error("{}: schema {found} differs from {want} used earlier for task {task:?}", .path.display())]
    SchemaMismatch {
        path: PathBuf,
        task: String,
        found: KeySchema,
        want: KeySchema,
    },

    #[error("{}: no snapshots found (want a window directory like 2025-09-09T10-00-00Z, or a directory of them)", .path.display())]
    NoSnapshots { path: PathBuf },

    #[error("{}: no task {task:?}; tasks present: {}", .path.display(), .available.join(", "))]
    UnknownTask {
        path: PathBuf,
        task: String,
        available: Vec<String>,
    },

    /// An `inspect` query that cannot apply: a time range ending before it
    /// starts, or a task without a field the query names. A usage error.
    #[error("{what}")]
    Query { what: String },

    /// A stored file that is not a regular file within its size limit (a
    /// symlink, a FIFO, a device), or that cannot be opened or read.
    #[error(transparent)]
    File(#[from] SafeReadError),

    /// Writing `inspect`'s report failed (closed pipe, full disk).
    #[error("cannot write inspect output")]
    Report { source: io::Error },
}

impl OutputError {
    /// Whether writing the same window again may succeed: a failed file
    /// system call may (a full disk gets space, a permission is fixed),
    /// anything about the window's content will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, OutputError::Io { .. })
    }

    /// Wraps an `io::Error` from acting on `path`.
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
    ) -> impl FnOnce(io::Error) -> OutputError {
        let path = path.into();
        move |source| OutputError::Io {
            path,
            action,
            source,
        }
    }
}
