//! Snapshot output: `.dat` shard files, the on-disk window layout, atomic
//! window writing, and reading it all back for `inspect`.
//!
//! Layout: `<root>/<window start, e.g. 2025-09-09T10-00-00Z>/<task>/shard_<i>.dat`
//! plus `summary.json` per task; the binary format is in `docs/dat-format.md`.
//!
//! This module never aggregates packets and never imports `actix`: the writer
//! actor hands it finished [`TaskSnapshot`]s and runs it on a blocking thread.
//! A window appears on disk only complete, via rename. Reading never panics
//! on any bytes; every defect is an [`OutputError`] naming the file.

pub mod dat;
mod error;
pub mod inspect;
pub mod layout;
pub mod leftovers;
pub mod retention;
mod window;

pub use error::OutputError;
pub use inspect::{Format, InspectOptions, SortBy, inspect};
pub use window::{Summary, TaskSnapshot, write_live_window, write_window};

/// Creates or truncates `path`, writes `bytes` and fsyncs the file.
fn write_synced(path: &std::path::Path, bytes: &[u8]) -> Result<(), OutputError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(OutputError::io(path, "create file"))?;
    file.write_all(bytes)
        .map_err(OutputError::io(path, "write file"))?;
    file.sync_all().map_err(OutputError::io(path, "sync file"))
}
