//! Parquet files as a [`Writer`]: every window a table that DuckDB,
//! pandas, polars, Spark and ClickHouse read directly.
//!
//! Owns writing one window into a hive-style tree (names in `tree`,
//! columns in `columns`, schema and layout in docs/parquet.md): one
//! `flows` file per exact task with packets, and one `windows` file with a
//! row per task. Encoding is Apache's `parquet` crate over Arrow batches,
//! in row groups of at most [`ROW_GROUP_ROWS`] rows, so a window of a
//! million flows is written in bounded memory, with column statistics.
//!
//! A window is committed in two phases: every file is written under a
//! hidden temporary name in its final directory and fsynced; only when all
//! are complete are they renamed into place (then the directories are
//! fsynced). A failure while writing (a full disk) removes the temporary
//! files and leaves nothing of the window visible; the writer actor's
//! backlog offers it again. A rerun of the same input (same run id) writes
//! the same names, so each rename replaces the earlier file in one step
//! and nothing is counted twice. A crash between two renames can leave
//! part of a window visible; the rerun completes it.
//!
//! A sketch task's file holds its report: the estimates (heavy hitters'
//! packets and bytes, or super-spreaders' `spread`) with `estimated = true`.

mod columns;
mod tree;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::retention::Retention;
use super::window::{check_task_names, ensure_real_dir, sync_dir};
use super::writer::{ClosedWindow, TaskWindow, WriteError, Writer};
use super::{OutputError, layout};
use crate::config::ParquetCompression;
use crate::flow::{Estimated, sketch};
use columns::{BatchError, FlowFile, FlowRow, nanos};

pub use tree::clean_leftovers;

/// Most rows in one row group; what the encoder holds in memory at once.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per Arrow batch handed to the encoder.
const BATCH_ROWS: usize = 8_192;

/// Where and how windows are stored; resolved from a `writers:` entry or `--parquet`.
#[derive(Debug, Clone)]
pub struct ParquetSettings {
    /// The tree's root; `analyze` and `capture` create it before the first packet.
    pub root: PathBuf,
    /// Column compression of every file.
    pub compression: ParquetCompression,
    /// The name every row of this process carries.
    pub probe: String,
    /// The same limits as the file store's, applied to this tree.
    pub retention: Retention,
}

/// Writes windows into the tree under `settings.root`, which must exist.
pub struct ParquetWriter {
    settings: ParquetSettings,
    properties: WriterProperties,
    flows: SchemaRef,
    windows: SchemaRef,
    /// Starts of the windows this run wrote: retention never removes them.
    written: BTreeSet<u64>,
}

/// Why a window was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ParquetWriteError {
    /// A file system call failed (a full disk, a permission): worth a retry.
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{}: cannot encode as Parquet", .path.display())]
    Encode {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("{}: cannot write this window", .path.display())]
    Batch { path: PathBuf, source: BatchError },
}

impl ParquetWriteError {
    /// Whether writing the same window again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ParquetWriteError::Output(error) if error.is_retryable())
    }
}

impl ParquetWriter {
    /// A writer into `settings.root`; it touches no file before the first window.
    pub fn new(settings: ParquetSettings) -> ParquetWriter {
        let compression = match settings.compression {
            ParquetCompression::Zstd => Compression::ZSTD(ZstdLevel::default()),
            ParquetCompression::Snappy => Compression::SNAPPY,
            ParquetCompression::None => Compression::UNCOMPRESSED,
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        ParquetWriter {
            settings,
            properties,
            flows: columns::flows_schema(),
            windows: columns::windows_schema(),
            written: BTreeSet::new(),
        }
    }

    fn store(&mut self, window: &ClosedWindow) -> Result<usize, ParquetWriteError> {
        check_task_names(&self.settings.root, &window.tasks)?;
        let mut staged = Staged::default();
        let written = self.stage(window, &mut staged);
        if let Err(error) = written {
            staged.discard();
            return Err(error);
        }
        staged.commit(&self.settings.root)
    }

    /// Writes every file of `window` under its temporary name.
    fn stage(
        &mut self,
        window: &ClosedWindow,
        staged: &mut Staged,
    ) -> Result<(), ParquetWriteError> {
        let start = window.bounds.start_ns;
        let name = tree::file_name(start, window.run);
        let date = tree::date_dir_name(start);
        for task in &window.tasks {
            if !task.has_packets() {
                continue;
            }
            let dir = staged.dir(
                &self.settings.root,
                &[&tree::task_dir_name(&task.spec.name), &date],
            )?;
            let temp = staged.temp(&dir, &name)?;
            self.write_flows(&temp, window, task)?;
        }
        let dir = staged.dir(&self.settings.root, &[tree::WINDOWS_DIR, &date])?;
        let temp = staged.temp(&dir, &name)?;
        let batch = columns::windows_batch(self.windows.clone(), window, &self.settings.probe)
            .map_err(|source| ParquetWriteError::Batch {
                path: temp.clone(),
                source,
            })?;
        let mut file = self.open(&temp, &self.windows)?;
        file.write(&temp, &batch)?;
        file.finish(&temp)
    }

    /// Streams the task's rows, then its `other` row, then a sketch task's
    /// estimates, in batches.
    fn write_flows(
        &self,
        temp: &Path,
        window: &ClosedWindow,
        task: &TaskWindow,
    ) -> Result<(), ParquetWriteError> {
        let batch_error = |source| ParquetWriteError::Batch {
            path: temp.to_path_buf(),
            source,
        };
        let rows = FlowFile {
            schema: self.flows.clone(),
            key: task.spec.schema,
            window_start: nanos("window start", window.bounds.start_ns).map_err(batch_error)?,
            window_end: nanos("window end", window.bounds.end_ns).map_err(batch_error)?,
            probe: &self.settings.probe,
        };
        let overflow = task.overflow();
        let other = (!overflow.is_empty()).then(|| FlowRow::exact(None, overflow.stats));
        let estimates = estimates(task).map_err(|message| ParquetWriteError::Batch {
            path: temp.to_path_buf(),
            source: BatchError::Merge(message),
        })?;
        let mut all = task
            .parts
            .iter()
            .flat_map(|part| part.records())
            .map(|record| FlowRow::exact(Some(record.key), record.stats))
            .chain(other)
            .chain(estimates.iter().map(FlowRow::estimated));
        let mut file = self.open(temp, &self.flows)?;
        let mut chunk = Vec::with_capacity(BATCH_ROWS);
        loop {
            chunk.clear();
            chunk.extend(all.by_ref().take(BATCH_ROWS));
            if chunk.is_empty() {
                break;
            }
            file.write(temp, &rows.batch(&chunk).map_err(batch_error)?)?;
        }
        file.finish(temp)
    }

    fn open(&self, temp: &Path, schema: &SchemaRef) -> Result<Encoder, ParquetWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp)
            .map_err(OutputError::io(temp, "create file"))?;
        let watched = WatchedFile { file, error: None };
        let writer = ArrowWriter::try_new(watched, schema.clone(), Some(self.properties.clone()))
            .map_err(|source| ParquetWriteError::Encode {
            path: temp.to_path_buf(),
            source,
        })?;
        Ok(Encoder { writer })
    }
}

impl Writer for ParquetWriter {
    fn describe(&self) -> String {
        format!("Parquet under {}", self.settings.root.display())
    }

    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
        let files = self.store(window).map_err(|error| WriteError {
            retryable: error.is_retryable(),
            message: crate::with_causes(&error),
        })?;
        log::info!(
            "window {}: {files} Parquet file(s) written under {}",
            layout::window_dir_name(window.bounds.start_ns),
            self.settings.root.display()
        );
        self.written.insert(window.bounds.start_ns);
        tree::apply_retention(&self.settings.root, &self.settings.retention, &self.written);
        Ok(())
    }
}

/// One file being encoded.
struct Encoder {
    writer: ArrowWriter<WatchedFile>,
}

impl Encoder {
    fn write(&mut self, path: &Path, batch: &RecordBatch) -> Result<(), ParquetWriteError> {
        let written = self.writer.write(batch);
        written.map_err(|source| encode_error(path, source, self.writer.inner_mut()))
    }

    /// Writes the footer and makes the file durable.
    fn finish(self, path: &Path) -> Result<(), ParquetWriteError> {
        let Encoder { mut writer } = self;
        if let Err(source) = writer.finish() {
            return Err(encode_error(path, source, writer.inner_mut()));
        }
        let watched = writer.inner_mut();
        watched
            .flush()
            .map_err(OutputError::io(path, "write file"))?;
        watched
            .file
            .sync_all()
            .map_err(OutputError::io(path, "sync file"))?;
        Ok(())
    }
}

/// An encoder's failure: the I/O error beneath it when there was one (so a
/// full disk is retried), else the encoder's own.
/// A sketch task's report: its parts merged (placement gives a sketch task
/// one part per window); empty for an exact task.
fn estimates(task: &TaskWindow) -> Result<Vec<Estimated>, String> {
    match task.parts.as_slice() {
        [] => Ok(Vec::new()),
        [only] => Ok(only.estimates()),
        [first, rest @ ..] => {
            let Some(state) = first.sketch_state() else {
                return Ok(Vec::new());
            };
            let mut merged = sketch::decode(&state)
                .map_err(|error| error.to_string())?
                .part;
            for part in rest {
                merged
                    .merge(part.as_ref())
                    .map_err(|error| error.to_string())?;
            }
            Ok(merged.estimates())
        }
    }
}

fn encode_error(
    path: &Path,
    source: parquet::errors::ParquetError,
    file: &mut WatchedFile,
) -> ParquetWriteError {
    match file.error.take() {
        Some(error) => OutputError::io(path, "write file")(error).into(),
        None => ParquetWriteError::Encode {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// A file that keeps the first I/O error met: the encoder reports it only
/// as text, and the writer actor must know a full disk when it sees one.
struct WatchedFile {
    file: File,
    error: Option<io::Error>,
}

impl WatchedFile {
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(error) = &result
            && self.error.is_none()
        {
            self.error = Some(match error.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(error.kind(), error.to_string()),
            });
        }
        result
    }
}

impl Write for WatchedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf);
        self.note(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.file.flush();
        self.note(flushed)
    }
}

/// The files of one window written so far under temporary names, and the
/// directories they go into.
#[derive(Default)]
struct Staged {
    /// (temporary, final) paths.
    files: Vec<(PathBuf, PathBuf)>,
    /// Directories to fsync after the renames, deepest first.
    dirs: Vec<PathBuf>,
}

impl Staged {
    /// Makes `root/<names...>` (real directories, never symlinks) and
    /// remembers every level for the final fsync.
    fn dir(&mut self, root: &Path, names: &[&str]) -> Result<PathBuf, OutputError> {
        let mut dir = root.to_path_buf();
        let mut levels = Vec::new();
        for name in names {
            dir.push(name);
            ensure_real_dir(&dir)?;
            levels.push(dir.clone());
        }
        for level in levels.into_iter().rev() {
            if !self.dirs.contains(&level) {
                self.dirs.push(level);
            }
        }
        Ok(dir)
    }

    /// Claims the temporary name of `name` in `dir`; a stale one of this
    /// process (an earlier failed attempt) is removed first.
    fn temp(&mut self, dir: &Path, name: &str) -> Result<PathBuf, OutputError> {
        let temp = dir.join(tree::temp_name(name, std::process::id()));
        match fs::remove_file(&temp) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(OutputError::io(&temp, "remove stale temporary file")(error));
            }
            _ => {}
        }
        self.files.push((temp.clone(), dir.join(name)));
        Ok(temp)
    }

    /// Removes every temporary file after a failure: nothing was renamed yet.
    fn discard(self) {
        for (temp, _) in self.files {
            match fs::remove_file(&temp) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => log::warn!(
                    "{}: cannot remove after a failed write: {error}",
                    temp.display()
                ),
                _ => {}
            }
        }
    }

    /// Renames every file into place, then fsyncs the directories and the
    /// root; returns the number of files.
    fn commit(self, root: &Path) -> Result<usize, ParquetWriteError> {
        let count = self.files.len();
        let mut files = self.files.into_iter();
        while let Some((temp, target)) = files.next() {
            if let Err(error) = fs::rename(&temp, &target) {
                Staged {
                    files: files.collect(),
                    dirs: Vec::new(),
                }
                .discard();
                return Err(OutputError::io(&temp, "rename into place")(error).into());
            }
        }
        for dir in self.dirs.iter().map(PathBuf::as_path).chain([root]) {
            sync_dir(dir)?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
