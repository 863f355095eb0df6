//! Snapshot output: the Writer seam and its sinks (files; ClickHouse in
//! `clickhouse/`, schema in docs/clickhouse.md; Parquet in `parquet/`,
//! layout in docs/parquet.md), the `.dat` format, the
//! on-disk window layout, and loading stored windows back for `inspect`.
//!
//! Layout: `<root>/<window start, e.g. 2025-09-09T10-00-00Z>/<task>/shard_<i>.dat`
//! plus `summary.json` per task; the binary format is in `docs/dat-format.md`.
//!
//! This module never aggregates packets and never imports `actix`: the
//! writer actor hands a [`Writer`] each [`ClosedWindow`] on a blocking
//! thread. A window appears on disk only complete, via rename. Reading
//! never panics on any bytes; every defect is an [`OutputError`] naming the file.

mod clickhouse;
pub mod dat;
mod decimal;
mod error;
mod files;
pub mod filter;
pub mod group;
pub mod inspect;
pub mod layout;
pub mod leftovers;
pub mod manifest;
pub mod names;
pub mod parquet;
pub mod query;
pub mod retention;
pub mod rows;
pub mod run;
mod sketch;
pub mod time_bound;
mod top;
pub(crate) mod window;
mod writer;

use std::path::PathBuf;

pub use self::parquet::{ParquetSettings, ParquetWriter};
pub use clickhouse::{ClickHouseError, ClickHouseSettings, ClickHouseWriter};
pub use error::OutputError;
pub use files::FilesWriter;
pub use inspect::{Format, InspectOptions, SortBy};
pub use sketch::SketchSummary;
pub use top::{TaskTop, TopKeys, TopKeysWriter};
pub use window::{Summary, write_window};
pub use writer::{ClosedWindow, TaskWindow, WriteError, Writer};

use retention::Retention;

/// One configured sink.
#[derive(Debug, Clone)]
pub enum WriterSpec {
    /// Window directories under `root`, pruned by `retention`.
    Files { root: PathBuf, retention: Retention },
    /// Every task's keys over the whole run, in memory, for `analyze --top`.
    Top { tables: TopKeys },
    /// Rows in a ClickHouse server.
    ClickHouse(ClickHouseSettings),
    /// Parquet files in a hive-style tree.
    Parquet(ParquetSettings),
}

/// The registry of sinks: one writer per spec, in order. A new sink adds
/// one arm here. A sink behind a network is checked here, before the first
/// packet: its error is for the user to fix.
pub fn build_writers(specs: &[WriterSpec]) -> Result<Vec<Box<dyn Writer>>, ClickHouseError> {
    specs
        .iter()
        .map(|spec| -> Result<Box<dyn Writer>, ClickHouseError> {
            Ok(match spec {
                WriterSpec::Files { root, retention } => {
                    Box::new(FilesWriter::new(root.clone(), *retention))
                }
                WriterSpec::Top { tables } => Box::new(TopKeysWriter::new(tables.clone())),
                WriterSpec::ClickHouse(settings) => {
                    Box::new(ClickHouseWriter::connect(settings.clone())?)
                }
                WriterSpec::Parquet(settings) => Box::new(ParquetWriter::new(settings.clone())),
            })
        })
        .collect()
}

/// Creates or truncates `path`, writes `bytes` and fsyncs the file.
fn write_synced(path: &std::path::Path, bytes: &[u8]) -> Result<(), OutputError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(OutputError::io(path, "create file"))?;
    file.write_all(bytes)
        .map_err(OutputError::io(path, "write file"))?;
    file.sync_all().map_err(OutputError::io(path, "sync file"))
}
