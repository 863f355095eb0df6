//! `inspect`: reads snapshot windows back and renders them as a table, JSON
//! lines or CSV.
//!
//! Owns discovery (is the path a root or one window?), loading and checking
//! every shard of a task, sorting, `--top`, `--merge` and rendering. It never
//! writes files; the report goes to the caller's writer.
//!
//! A task that refused keys beyond `max_keys` has their packets in its
//! summary only (`overflow_*`); they are shown as one more row whose key
//! fields read `other`, sorted like any row and never cut by `--top`.
//!
//! A quiet live window has a summary with zero totals and no shard files;
//! it is shown as a table of zero flows (no rows in JSON and CSV), so a
//! quiet window never fails the report. Every stored file is read only if
//! it is a regular file (never through a symlink, never a FIFO or device)
//! of bounded size, and totals are summed with overflow checks: a count
//! that overflows 64 bits is a corrupt file, named.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::layout::{SUMMARY_FILE, parse_window_dir_name, rfc3339_nanos, shard_file_name};
use super::run::RunId;
use super::{OutputError, Summary, dat};
use crate::flow::{AddressFamily, FlowKey, FlowMap, FlowStats, KeyField, KeySchema};
use crate::safe_read::read_regular_file;

/// What `inspect` shows and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectOptions {
    /// An output root (holding window directories) or one window directory.
    pub path: PathBuf,
    /// Show only this task; an unknown name is an error listing the tasks present.
    pub task: Option<String>,
    /// Keep the first N keys of each table after sorting; `None` keeps all.
    /// The `other` row of refused keys is shown either way.
    pub top: Option<usize>,
    pub sort: SortBy,
    pub format: Format,
    /// Sum all windows into one table per task (first_seen min, last_seen max).
    pub merge: bool,
}

/// The counter rows are sorted by, descending; ties go by key, ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Packets,
    Bytes,
}

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns under a heading per window and task.
    #[default]
    Table,
    /// One JSON object per line, keys in a fixed order.
    Json,
    /// One header line, then one line per row.
    Csv,
}

impl FromStr for SortBy {
    type Err = String;

    /// Accepts `packets` and `bytes`, ignoring ASCII case.
    fn from_str(text: &str) -> Result<SortBy, String> {
        match text.to_ascii_lowercase().as_str() {
            "packets" => Ok(SortBy::Packets),
            "bytes" => Ok(SortBy::Bytes),
            _ => Err(format!("unknown sort {text:?} (want packets or bytes)")),
        }
    }
}

impl FromStr for Format {
    type Err = String;

    /// Accepts `table`, `json` and `csv`, ignoring ASCII case.
    fn from_str(text: &str) -> Result<Format, String> {
        match text.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("unknown format {text:?} (want table, json or csv)")),
        }
    }
}

/// Writes the report for `options` to `out`.
///
/// Windows come in chronological order, tasks alphabetically within each.
/// Directories whose names are not window names (`.tmp-*`, `.old-*`) are
/// ignored. Fails on a path without snapshots, an unknown `--task`, or any
/// unreadable, corrupt or inconsistent file.
pub fn inspect(options: &InspectOptions, out: &mut dyn Write) -> Result<(), OutputError> {
    let windows = find_windows(&options.path)?;
    let selected = select_tasks(options, &windows)?;
    let tables = if options.merge {
        merged_tables(&selected, options)?
    } else {
        window_tables(&selected, options)?
    };
    let report = match options.format {
        Format::Table => render_table(&tables, options),
        Format::Json => render_json(&tables, options.merge),
        Format::Csv => render_csv(&tables, options.merge),
    };
    out.write_all(report.as_bytes())
        .map_err(|source| OutputError::Report { source })
}

/// A task in one window: its directory in each run part that has it.
struct TaskDir {
    task: String,
    /// The window directory.
    path: PathBuf,
    parts: Vec<PathBuf>,
}

/// One table of the report: a task in one window, or in all windows with `--merge`.
struct Table {
    task: String,
    schema: KeySchema,
    window_start_ns: u64,
    window_end_ns: u64,
    windows: usize,
    flows: u64,
    packets: u64,
    bytes: u64,
    shown_top: Option<usize>,
    rows: Vec<Row>,
}

/// One row of a table: a key's counters, or (`key: None`) the counters of
/// every key refused by `max_keys`, shown as `other`.
struct Row {
    key: Option<FlowKey>,
    stats: FlowStats,
}

impl Table {
    /// Totals over all of `loaded`; rows sorted and cut as `options` say.
    /// A table of quiet windows only has no key fields and no rows.
    fn new(task: String, loaded: Loaded, windows: usize, options: &InspectOptions) -> Table {
        let mut table = Table {
            task,
            schema: loaded.schema.unwrap_or(KeySchema::from_fields(&[])),
            window_start_ns: loaded.window_start_ns,
            window_end_ns: loaded.window_end_ns,
            windows,
            flows: loaded.map.len() as u64,
            packets: loaded.packets,
            bytes: loaded.bytes,
            shown_top: None,
            rows: loaded
                .map
                .records()
                .map(|record| Row {
                    key: Some(record.key),
                    stats: record.stats,
                })
                .collect(),
        };
        table.sort_and_cut(options.sort, options.top);
        if let Some(stats) = loaded.other {
            let row = Row { key: None, stats };
            let at = table
                .rows
                .partition_point(|shown| row_order(shown, &row, options.sort).is_lt());
            table.rows.insert(at, row);
        }
        table
    }

    fn sort_and_cut(&mut self, sort: SortBy, top: Option<usize>) {
        self.rows.sort_unstable_by(|a, b| row_order(a, b, sort));
        if let Some(top) = top.filter(|&top| top < self.rows.len()) {
            self.rows.truncate(top);
            self.shown_top = Some(top);
        }
    }
}

/// Rows by `sort` descending; ties by key ascending, `other` last.
fn row_order(a: &Row, b: &Row, sort: SortBy) -> std::cmp::Ordering {
    let counter = |row: &Row| match sort {
        SortBy::Packets => row.stats.packets,
        SortBy::Bytes => row.stats.bytes,
    };
    counter(b).cmp(&counter(a)).then_with(|| {
        (a.key.is_none(), a.key.as_ref().map(key_order))
            .cmp(&(b.key.is_none(), b.key.as_ref().map(key_order)))
    })
}

/// Key order for ties: IPv4 before IPv6, then fields in canonical order.
fn key_order(key: &FlowKey) -> (AddressFamily, [u8; 16], [u8; 16], u16, u16, u8) {
    (
        key.family,
        key.src,
        key.dst,
        key.src_port,
        key.dst_port,
        key.protocol,
    )
}

/// Window directories under `path` in chronological order, or `path` itself
/// when it is one window (it holds run parts of task directories).
fn find_windows(path: &Path) -> Result<Vec<PathBuf>, OutputError> {
    if !task_dirs(path)?.is_empty() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut windows: Vec<(u64, PathBuf)> = subdirectories(path)?
        .into_iter()
        .filter_map(|(name, dir)| Some((parse_window_dir_name(&name)?, dir)))
        .collect();
    windows.sort();
    Ok(windows.into_iter().map(|(_, dir)| dir).collect())
}

/// The tasks of one window, alphabetically, each with its directory in
/// every run part (`run-<id>`) that has it; task directories without a
/// summary, and temporary parts (`.tmp-*`), are skipped.
fn task_dirs(window: &Path) -> Result<Vec<TaskDir>, OutputError> {
    let mut parts: Vec<(String, PathBuf)> = subdirectories(window)?
        .into_iter()
        .filter(|(name, _)| RunId::parse_part_name(name).is_some())
        .collect();
    parts.sort();
    let mut tasks: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (_, part) in parts {
        let found = match subdirectories(&part) {
            Ok(found) => found,
            // Removed by retention or replaced by a rerun since the window was listed.
            Err(OutputError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                continue;
            }
            Err(error) => return Err(error),
        };
        for (task, dir) in found {
            // Any file type counts, so a summary that is a FIFO or a symlink
            // is refused by name when loaded instead of its task being skipped.
            if !task.starts_with('.') && fs::symlink_metadata(dir.join(SUMMARY_FILE)).is_ok() {
                tasks.entry(task).or_default().push(dir);
            }
        }
    }
    Ok(tasks
        .into_iter()
        .map(|(task, parts)| TaskDir {
            task,
            path: window.to_path_buf(),
            parts,
        })
        .collect())
}

fn subdirectories(path: &Path) -> Result<Vec<(String, PathBuf)>, OutputError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(path).map_err(OutputError::io(path, "read directory"))? {
        let entry = entry.map_err(OutputError::io(path, "read directory"))?;
        let dir = entry.path();
        if let (Some(name), true) = (entry.file_name().to_str(), dir.is_dir()) {
            found.push((name.to_string(), dir));
        }
    }
    Ok(found)
}

/// The task directories to show, per window, after applying `--task`.
fn select_tasks(
    options: &InspectOptions,
    windows: &[PathBuf],
) -> Result<Vec<Vec<TaskDir>>, OutputError> {
    let per_window = windows
        .iter()
        .map(|window| task_dirs(window))
        .collect::<Result<Vec<_>, _>>()?;
    let mut available: Vec<String> = per_window
        .iter()
        .flatten()
        .map(|dir| dir.task.clone())
        .collect();
    if available.is_empty() {
        return Err(OutputError::NoSnapshots {
            path: options.path.clone(),
        });
    }
    let Some(wanted) = &options.task else {
        return Ok(per_window);
    };
    if !available.contains(wanted) {
        available.sort();
        available.dedup();
        return Err(OutputError::UnknownTask {
            path: options.path.clone(),
            task: wanted.clone(),
            available,
        });
    }
    Ok(per_window
        .into_iter()
        .map(|tasks| {
            tasks
                .into_iter()
                .filter(|dir| &dir.task == wanted)
                .collect()
        })
        .collect())
}

/// One table per (window, task), each cut to `--top` as soon as it is loaded.
fn window_tables(
    selected: &[Vec<TaskDir>],
    options: &InspectOptions,
) -> Result<Vec<Table>, OutputError> {
    selected
        .iter()
        .flatten()
        .map(|dir| Ok(Table::new(dir.task.clone(), load_task(dir)?, 1, options)))
        .collect()
}

fn merged_tables(
    selected: &[Vec<TaskDir>],
    options: &InspectOptions,
) -> Result<Vec<Table>, OutputError> {
    let mut merged: BTreeMap<&str, (Loaded, usize)> = BTreeMap::new();
    for dir in selected.iter().flatten() {
        let loaded = load_task(dir)?;
        let Some((total, windows)) = merged.get_mut(dir.task.as_str()) else {
            merged.insert(&dir.task, (loaded, 1));
            continue;
        };
        total.window_start_ns = total.window_start_ns.min(loaded.window_start_ns);
        total.window_end_ns = total.window_end_ns.max(loaded.window_end_ns);
        // Errors name the window's first part of the task (its files hold the sums).
        let named = dir.parts.first().unwrap_or(&dir.path);
        fold_into(total, loaded, &dir.task, named)?;
        *windows += 1;
    }
    Ok(merged
        .into_iter()
        .map(|(task, (loaded, windows))| Table::new(task.to_string(), loaded, windows, options))
        .collect())
}

/// Every shard of one task in one window, merged.
struct Loaded {
    /// `None` for a quiet window: no shard file says what the key is.
    schema: Option<KeySchema>,
    window_start_ns: u64,
    window_end_ns: u64,
    map: FlowMap,
    /// Packets of keys refused by `max_keys`, from the summary.
    other: Option<FlowStats>,
    /// Packets and bytes of `map` and `other` together.
    packets: u64,
    bytes: u64,
}

/// Adds `loaded` (another window's or run part's counts of `task`, read
/// from `path`) to `total`; the window bounds are left to the caller.
fn fold_into(
    total: &mut Loaded,
    loaded: Loaded,
    task: &str,
    path: &Path,
) -> Result<(), OutputError> {
    match (total.schema, loaded.schema) {
        (Some(want), Some(found)) if found != want => {
            return Err(OutputError::SchemaMismatch {
                path: path.to_path_buf(),
                task: task.to_string(),
                found,
                want,
            });
        }
        (None, found) => total.schema = found,
        _ => {}
    }
    // Checked before any record is merged: no key's counters can then overflow.
    (total.packets, total.bytes) =
        checked_sum((total.packets, total.bytes), (loaded.packets, loaded.bytes))
            .ok_or_else(|| overflowed(path.join(SUMMARY_FILE)))?;
    for record in loaded.map.records() {
        total
            .map
            .merge_record(record)
            .ok_or_else(|| counts_overflow(path))?;
    }
    total.other = merge_other(total.other, loaded.other).ok_or_else(|| counts_overflow(path))?;
    Ok(())
}

/// `a + b` for (packets, bytes); `None` when either overflows.
fn checked_sum(a: (u64, u64), b: (u64, u64)) -> Option<(u64, u64)> {
    Some((a.0.checked_add(b.0)?, a.1.checked_add(b.1)?))
}

fn overflowed(path: PathBuf) -> OutputError {
    OutputError::Inconsistent {
        path,
        what: "packet or byte counts overflow 64 bits; file corrupt".to_string(),
    }
}

/// The two overflow records summed; `None` when a sum exceeds `u64`.
fn merge_other(total: Option<FlowStats>, more: Option<FlowStats>) -> Option<Option<FlowStats>> {
    match (total, more) {
        (Some(mut total), Some(more)) => {
            total.checked_merge(&more)?;
            Some(Some(total))
        }
        (total, more) => Some(total.or(more)),
    }
}

/// Counts that no longer fit in 64 bits can only come from a damaged file.
fn counts_overflow(path: &Path) -> OutputError {
    OutputError::Inconsistent {
        path: path.to_path_buf(),
        what: "packet or byte counts exceed 2^64 - 1".to_string(),
    }
}

/// Every run's part of one task in one window, merged. A part that a rerun
/// replaces while it is read is read again; one that disappears (retention
/// removed the window) is skipped with a note.
fn load_task(dir: &TaskDir) -> Result<Loaded, OutputError> {
    let mut total: Option<Loaded> = None;
    for part in &dir.parts {
        let Some(loaded) = load_part_retrying(&dir.task, part)? else {
            log::warn!("{}: removed while being read; skipped", part.display());
            continue;
        };
        match total.as_mut() {
            Some(total) => fold_into(total, loaded, &dir.task, part)?,
            None => total = Some(loaded),
        }
    }
    total.ok_or_else(|| OutputError::Inconsistent {
        path: dir.path.clone(),
        what: format!(
            "every part of task {} disappeared while being read",
            dir.task
        ),
    })
}

/// Attempts at reading a part that keeps changing under the reader.
const PART_READ_ATTEMPTS: usize = 3;

/// Reads one part, again when it changed between its files; `None` when it is gone.
fn load_part_retrying(task: &str, path: &Path) -> Result<Option<Loaded>, OutputError> {
    let mut attempt = 1;
    loop {
        match load_part(task, path) {
            Ok(loaded) => return Ok(Some(loaded)),
            Err(OutputError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && !path.exists() =>
            {
                return Ok(None);
            }
            Err(error) if attempt >= PART_READ_ATTEMPTS || !changes_under_reader(&error) => {
                return Err(error);
            }
            Err(_) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// Errors a concurrent replacement of the part can cause.
fn changes_under_reader(error: &OutputError) -> bool {
    match error {
        OutputError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        OutputError::Inconsistent { .. } => true,
        _ => false,
    }
}

/// Reads a task directory's summary and all its shard files, checking that
/// they agree with each other and with the summary. A summary listing no
/// shard files (a quiet live window) gives an empty map.
fn load_part(task: &str, path: &Path) -> Result<Loaded, OutputError> {
    let dir = TaskDir {
        task: task.to_string(),
        path: path.to_path_buf(),
        parts: Vec::new(),
    };
    let summary_path = dir.path.join(SUMMARY_FILE);
    let summary = read_summary(&summary_path)?;
    let inconsistent = |path: PathBuf, what: String| OutputError::Inconsistent { path, what };
    let (start, end) = (&summary.window_start, &summary.window_end);
    let (Some(window_start_ns), Some(window_end_ns)) =
        (parse_rfc3339_nanos(start), parse_rfc3339_nanos(end))
    else {
        let what = format!("window {start:?} .. {end:?} is not two RFC 3339 UTC times");
        return Err(inconsistent(summary_path, what));
    };
    let mut loaded = Loaded {
        schema: None,
        window_start_ns,
        window_end_ns,
        map: FlowMap::new(),
        other: None,
        packets: 0,
        bytes: 0,
    };
    for index in 0..summary.shards {
        let path = dir.path.join(shard_file_name(index));
        let file = dat::read_dat(&path)?;
        if file.task != dir.task {
            return Err(inconsistent(
                path,
                format!("holds task {:?}, want {:?}", file.task, dir.task),
            ));
        }
        let schema = *loaded.schema.get_or_insert(file.schema);
        if (file.schema, file.window_start_ns, file.window_end_ns)
            != (schema, loaded.window_start_ns, loaded.window_end_ns)
        {
            let what = "schema or window differs from shard_0.dat or the summary";
            return Err(inconsistent(path, what.to_string()));
        }
        let totals = (loaded.packets, loaded.bytes);
        (loaded.packets, loaded.bytes) = file
            .records
            .iter()
            .try_fold(totals, |sum, record| {
                checked_sum(sum, (record.stats.packets, record.stats.bytes))
            })
            .ok_or_else(|| overflowed(path.clone()))?;
        for record in &file.records {
            loaded
                .map
                .merge_record(record)
                .ok_or_else(|| counts_overflow(&path))?;
        }
    }
    loaded.other =
        overflow_of(&summary).map_err(|what| inconsistent(summary_path.clone(), what))?;
    let other = loaded.other.unwrap_or_default();
    (loaded.packets, loaded.bytes) =
        checked_sum((loaded.packets, loaded.bytes), (other.packets, other.bytes))
            .ok_or_else(|| overflowed(summary_path.clone()))?;
    if (loaded.packets, loaded.bytes) != (summary.total_packets, summary.total_bytes) {
        let what = format!(
            "summary says {} packets and {} bytes, shard files and overflow hold {} and {}",
            summary.total_packets, summary.total_bytes, loaded.packets, loaded.bytes
        );
        return Err(inconsistent(dir.path.clone(), what));
    }
    Ok(loaded)
}

/// The summary's `overflow_*` fields as one record; `None` without overflow.
fn overflow_of(summary: &Summary) -> Result<Option<FlowStats>, String> {
    let (Some(packets), Some(bytes)) = (summary.overflow_packets, summary.overflow_bytes) else {
        return Ok(None);
    };
    let time = |name: &str, value: &Option<String>| {
        value
            .as_deref()
            .and_then(parse_rfc3339_nanos)
            .ok_or_else(|| format!("{name} {value:?} is not an RFC 3339 UTC time with nanoseconds"))
    };
    Ok(Some(FlowStats {
        packets,
        bytes,
        first_seen: time("overflow_first_seen", &summary.overflow_first_seen)?,
        last_seen: time("overflow_last_seen", &summary.overflow_last_seen)?,
    }))
}

/// Parses what [`rfc3339_nanos`] writes, `2025-09-09T10:00:00.123456789Z`.
fn parse_rfc3339_nanos(text: &str) -> Option<u64> {
    let (seconds, fraction) = text.strip_suffix('Z')?.split_once('.')?;
    if fraction.len() != 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let start = parse_window_dir_name(&format!("{}Z", seconds.replace(':', "-")))?;
    start.checked_add(fraction.parse().ok()?)
}

/// Largest `summary.json` read; a real one is under 1 KiB.
const MAX_SUMMARY_BYTES: u64 = 1 << 20;

fn read_summary(path: &Path) -> Result<Summary, OutputError> {
    let bytes = read_regular_file(path, MAX_SUMMARY_BYTES, false)?;
    serde_json::from_slice(&bytes).map_err(|source| OutputError::BadSummary {
        path: path.to_path_buf(),
        source,
    })
}

/// What the key columns of the overflow row read.
const OTHER: &str = "other";

/// One value of a row.
enum Cell {
    Text(String),
    Number(u64),
    /// An address field of a key without an address (should not occur in files we write).
    Missing,
}

/// The key fields of `schema` (each `other` for the overflow row) followed
/// by the counters, as (column, value).
fn row(schema: KeySchema, row: &Row) -> Vec<(&'static str, Cell)> {
    let address =
        |ip: Option<std::net::IpAddr>| ip.map_or(Cell::Missing, |ip| Cell::Text(ip.to_string()));
    let mut cells: Vec<(&'static str, Cell)> = schema
        .fields()
        .map(|field| {
            let Some(key) = &row.key else {
                return (field.column_name(), Cell::Text(OTHER.to_string()));
            };
            let cell = match field {
                KeyField::SrcIp => address(key.src_ip()),
                KeyField::DstIp => address(key.dst_ip()),
                KeyField::SrcPort => Cell::Number(u64::from(key.src_port)),
                KeyField::DstPort => Cell::Number(u64::from(key.dst_port)),
                KeyField::Protocol => Cell::Number(u64::from(key.protocol)),
            };
            (field.column_name(), cell)
        })
        .collect();
    let stats = &row.stats;
    cells.extend([
        ("packets", Cell::Number(stats.packets)),
        ("bytes", Cell::Number(stats.bytes)),
        ("first_seen", Cell::Text(rfc3339_nanos(stats.first_seen))),
        ("last_seen", Cell::Text(rfc3339_nanos(stats.last_seen))),
    ]);
    cells
}

/// One output row: the task, the window (unless merged), then `row`'s cells.
fn labelled_row(table: &Table, record: &Row, merge: bool) -> Vec<(&'static str, Cell)> {
    let mut cells = vec![("task", Cell::Text(table.task.clone()))];
    if !merge {
        cells.push((
            "window_start",
            Cell::Text(rfc3339_nanos(table.window_start_ns)),
        ));
    }
    cells.extend(row(table.schema, record));
    cells
}

fn render_json(tables: &[Table], merge: bool) -> String {
    let mut out = String::new();
    for table in tables {
        for record in &table.rows {
            let cells = labelled_row(table, record, merge);
            let fields: Vec<String> = cells
                .iter()
                .map(|(column, cell)| {
                    let value = match cell {
                        Cell::Text(text) => serde_json::Value::from(text.as_str()),
                        Cell::Number(number) => serde_json::Value::from(*number),
                        Cell::Missing => serde_json::Value::Null,
                    };
                    format!("\"{column}\":{value}")
                })
                .collect();
            out.push_str(&format!("{{{}}}\n", fields.join(",")));
        }
    }
    out
}

/// Tables of different schemas share one header: the union of their key
/// fields, with empty cells where a task has no such field.
fn render_csv(tables: &[Table], merge: bool) -> String {
    let union = KeySchema::from_fields(
        &tables
            .iter()
            .flat_map(|table| table.schema.fields())
            .collect::<Vec<_>>(),
    );
    let mut columns = vec!["task"];
    if !merge {
        columns.push("window_start");
    }
    columns.extend(union.fields().map(KeyField::column_name));
    columns.extend(["packets", "bytes", "first_seen", "last_seen"]);
    let mut out = columns.join(",") + "\n";
    for table in tables {
        for record in &table.rows {
            let cells = labelled_row(table, record, merge);
            let line: Vec<String> = columns
                .iter()
                .map(
                    |column| match cells.iter().find(|(name, _)| name == column) {
                        Some((_, Cell::Text(text))) => csv_quote(text),
                        Some((_, Cell::Number(number))) => number.to_string(),
                        Some((_, Cell::Missing)) | None => String::new(),
                    },
                )
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// RFC 4180 quoting, only when needed.
fn csv_quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn render_table(tables: &[Table], options: &InspectOptions) -> String {
    let mut out = String::new();
    for (index, table) in tables.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&heading(table, options));
        let rows: Vec<Vec<(&'static str, Cell)>> = table
            .rows
            .iter()
            .map(|record| row(table.schema, record))
            .collect();
        out.push_str(&aligned(table.schema, &rows));
    }
    out
}

fn heading(table: &Table, options: &InspectOptions) -> String {
    let span = format!(
        "{} .. {}",
        rfc3339_nanos(table.window_start_ns),
        rfc3339_nanos(table.window_end_ns)
    );
    let windows = if options.merge {
        format!(" ({} windows merged)", table.windows)
    } else {
        String::new()
    };
    let sort = match options.sort {
        SortBy::Packets => "packets",
        SortBy::Bytes => "bytes",
    };
    let shown = table
        .shown_top
        .map_or_else(String::new, |top| format!(", top {top} by {sort}"));
    // A table of quiet windows only has no key fields to name.
    let schema = if table.schema.fields().next().is_some() {
        format!(" {}", table.schema)
    } else {
        String::new()
    };
    format!(
        "{span}{windows}  task {}{schema}: {} flows, {} packets, {} bytes{shown}\n",
        table.task, table.flows, table.packets, table.bytes
    )
}

/// A header and rows, numbers right-aligned, text left-aligned, two spaces apart.
fn aligned(schema: KeySchema, rows: &[Vec<(&'static str, Cell)>]) -> String {
    let mut header: Vec<&str> = schema.fields().map(KeyField::column_name).collect();
    header.extend(["packets", "bytes", "first_seen", "last_seen"]);
    let text = |cell: &Cell| match cell {
        Cell::Text(text) => text.clone(),
        Cell::Number(number) => number.to_string(),
        Cell::Missing => "-".to_string(),
    };
    let mut widths: Vec<usize> = header.iter().map(|name| name.len()).collect();
    for row in rows {
        for (width, (_, cell)) in widths.iter_mut().zip(row) {
            *width = (*width).max(text(cell).chars().count());
        }
    }
    let numeric: Vec<bool> = header
        .iter()
        .map(|name| !matches!(*name, "src_ip" | "dst_ip" | "first_seen" | "last_seen"))
        .collect();
    let line = |values: Vec<String>| -> String {
        let padded: Vec<String> = values
            .iter()
            .zip(widths.iter().zip(&numeric))
            .map(|(value, (&width, &right))| {
                if right {
                    format!("{value:>width$}")
                } else {
                    format!("{value:<width$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|name| name.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.iter().map(|(_, cell)| text(cell)).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;
    use crate::flow::{FlowRecord, Overflow};
    use crate::output::window::tests::{PART, SEC, T0, TestTask, by_src, map, write_test_window};

    /// Two windows: `by_src` in both, `five` (mixed IPv4/IPv6) and `ports` in the first only.
    fn written_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let five = KeySchema::FIVE_TUPLE;
        let mut five_map = map(five, &[(7, 443, 2, 120)], T0);
        let v6 = FlowKey::ipv6(
            "2001:db8::1".parse().unwrap(),
            Ipv6Addr::LOCALHOST,
            5353,
            53,
            17,
        );
        five_map
            .merge_record(&FlowRecord {
                key: v6,
                stats: FlowStats {
                    packets: 2,
                    bytes: 90,
                    first_seen: T0 + 5,
                    last_seen: T0 + 6,
                },
            })
            .unwrap();
        let ports = KeySchema::from_fields(&[KeyField::DstPort]);
        let first = [
            TestTask {
                task: "five".into(),
                schema: five,
                shards: vec![five_map],
                overflow: Overflow::default(),
            },
            TestTask {
                task: "ports".into(),
                schema: ports,
                shards: vec![map(ports, &[(1, 443, 4, 400), (2, 80, 1, 50)], T0)],
                overflow: Overflow::default(),
            },
            TestTask {
                task: "by_src".into(),
                schema: by_src(),
                shards: vec![
                    map(by_src(), &[(1, 80, 5, 500), (2, 80, 2, 2000)], T0),
                    map(by_src(), &[(3, 80, 5, 100)], T0),
                ],
                overflow: Overflow::default(),
            },
        ];
        write_test_window(root.path(), T0, T0 + 60 * SEC, &first).unwrap();
        let second = [TestTask {
            task: "by_src".into(),
            schema: by_src(),
            shards: vec![
                map(by_src(), &[(1, 80, 1, 10)], T0 + 60 * SEC),
                map(by_src(), &[(4, 80, 3, 30)], T0 + 70 * SEC),
            ],
            overflow: Overflow::default(),
        }];
        write_test_window(root.path(), T0 + 60 * SEC, T0 + 120 * SEC, &second).unwrap();
        fs::create_dir(root.path().join(".tmp-2025-09-09T10-02-00Z-99")).unwrap();
        root
    }

    fn options(path: &Path) -> InspectOptions {
        InspectOptions {
            path: path.to_path_buf(),
            task: None,
            top: None,
            sort: SortBy::Packets,
            format: Format::Table,
            merge: false,
        }
    }

    #[track_caller]
    fn run(options: &InspectOptions) -> String {
        let mut out = Vec::new();
        inspect(options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lists_every_window_and_task_in_order_with_ordered_keys() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Json,
            ..options(root.path())
        });
        let want = [
            r#"{"task":"by_src","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.1","packets":5,"bytes":500,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z"}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.3","packets":5,"bytes":100,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z"}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.2","packets":2,"bytes":2000,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z"}"#,
            r#"{"task":"five","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.7","dst_ip":"10.9.9.9","src_port":40000,"dst_port":443,"protocol":6,"packets":2,"bytes":120,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z"}"#,
            r#"{"task":"five","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"2001:db8::1","dst_ip":"::1","src_port":5353,"dst_port":53,"protocol":17,"packets":2,"bytes":90,"first_seen":"2025-09-09T10:00:00.000000005Z","last_seen":"2025-09-09T10:00:00.000000006Z"}"#,
            r#"{"task":"ports","window_start":"2025-09-09T10:00:00.000000000Z","dst_port":443,"packets":4,"bytes":400,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z"}"#,
            r#"{"task":"ports","window_start":"2025-09-09T10:00:00.000000000Z","dst_port":80,"packets":1,"bytes":50,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z"}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:01:00.000000000Z","src_ip":"10.0.0.4","packets":3,"bytes":30,"first_seen":"2025-09-09T10:01:10.000000000Z","last_seen":"2025-09-09T10:01:11.000000000Z"}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:01:00.000000000Z","src_ip":"10.0.0.1","packets":1,"bytes":10,"first_seen":"2025-09-09T10:01:00.000000000Z","last_seen":"2025-09-09T10:01:01.000000000Z"}"#,
        ];
        assert_eq!(got.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn csv_has_one_header_with_the_union_of_key_fields() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            top: Some(1),
            ..options(root.path())
        });
        let want = "\
task,window_start,src_ip,dst_ip,src_port,dst_port,protocol,packets,bytes,first_seen,last_seen
by_src,2025-09-09T10:00:00.000000000Z,10.0.0.1,,,,,5,500,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
five,2025-09-09T10:00:00.000000000Z,10.0.0.7,10.9.9.9,40000,443,6,2,120,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
ports,2025-09-09T10:00:00.000000000Z,,,,443,,4,400,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
by_src,2025-09-09T10:01:00.000000000Z,10.0.0.4,,,,,3,30,2025-09-09T10:01:10.000000000Z,2025-09-09T10:01:11.000000000Z
";
        assert_eq!(got, want);
    }

    #[test]
    fn csv_for_one_task_has_only_its_fields() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            task: Some("ports".into()),
            ..options(root.path())
        });
        assert_eq!(
            got.lines().next(),
            Some("task,window_start,dst_port,packets,bytes,first_seen,last_seen")
        );
        assert_eq!(got.lines().count(), 3);
    }

    #[test]
    fn table_shows_a_heading_with_totals_and_aligned_columns() {
        let root = written_root();
        let got = run(&InspectOptions {
            task: Some("by_src".into()),
            top: Some(2),
            ..options(root.path())
        });
        let want = "\
2025-09-09T10:00:00.000000000Z .. 2025-09-09T10:01:00.000000000Z  task by_src [SrcIP]: 3 flows, 12 packets, 2600 bytes, top 2 by packets
src_ip    packets  bytes  first_seen                      last_seen
10.0.0.1        5    500  2025-09-09T10:00:00.000000000Z  2025-09-09T10:00:01.000000000Z
10.0.0.3        5    100  2025-09-09T10:00:00.000000000Z  2025-09-09T10:00:01.000000000Z

2025-09-09T10:01:00.000000000Z .. 2025-09-09T10:02:00.000000000Z  task by_src [SrcIP]: 2 flows, 4 packets, 40 bytes
src_ip    packets  bytes  first_seen                      last_seen
10.0.0.4        3     30  2025-09-09T10:01:10.000000000Z  2025-09-09T10:01:11.000000000Z
10.0.0.1        1     10  2025-09-09T10:01:00.000000000Z  2025-09-09T10:01:01.000000000Z
";
        assert_eq!(got, want);
    }

    #[test]
    fn merge_sums_two_windows_into_one_table_per_task() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            merge: true,
            task: Some("by_src".into()),
            ..options(root.path())
        });
        let want = "\
task,src_ip,packets,bytes,first_seen,last_seen
by_src,10.0.0.1,6,510,2025-09-09T10:00:00.000000000Z,2025-09-09T10:01:01.000000000Z
by_src,10.0.0.3,5,100,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
by_src,10.0.0.4,3,30,2025-09-09T10:01:10.000000000Z,2025-09-09T10:01:11.000000000Z
by_src,10.0.0.2,2,2000,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
";
        assert_eq!(got, want);
        let table = run(&InspectOptions {
            merge: true,
            task: Some("by_src".into()),
            ..options(root.path())
        });
        let heading = "2025-09-09T10:00:00.000000000Z .. 2025-09-09T10:02:00.000000000Z (2 windows merged)  task by_src [SrcIP]: 4 flows, 16 packets, 2640 bytes";
        assert_eq!(table.lines().next(), Some(heading));
    }

    #[test]
    fn merged_json_has_no_window_start() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Json,
            merge: true,
            top: Some(1),
            ..options(root.path())
        });
        let first = got.lines().next().unwrap();
        assert!(
            first.starts_with(r#"{"task":"by_src","src_ip":"10.0.0.1","packets":6,"#),
            "{first}"
        );
        assert_eq!(got.lines().count(), 3);
    }

    #[test]
    fn sort_by_bytes_and_top_keep_the_heaviest_rows() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            merge: true,
            sort: SortBy::Bytes,
            top: Some(2),
            task: Some("by_src".into()),
            ..options(root.path())
        });
        let sources: Vec<&str> = got
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(sources, ["10.0.0.2", "10.0.0.1"]);
    }

    #[test]
    fn a_single_window_directory_can_be_inspected() {
        let root = written_root();
        let window = root.path().join("2025-09-09T10-01-00Z");
        let got = run(&InspectOptions {
            format: Format::Csv,
            ..options(&window)
        });
        assert_eq!(got.lines().count(), 3);
        assert!(got.lines().all(|line| !line.contains("10:00:00")), "{got}");
    }

    #[test]
    fn an_unknown_task_is_an_error_listing_the_tasks_present() {
        let root = written_root();
        let mut out = Vec::new();
        let err = inspect(
            &InspectOptions {
                task: Some("by_dst".into()),
                ..options(root.path())
            },
            &mut out,
        )
        .unwrap_err();
        let want = format!(
            "{}: no task \"by_dst\"; tasks present: by_src, five, ports",
            root.path().display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn a_directory_without_snapshots_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join(".tmp-2025-09-09T10-00-00Z-7")).unwrap();
        fs::create_dir(root.path().join("2025-09-09T10-00-00Z")).unwrap();
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        let want = format!(
            "{}: no snapshots found (want a window directory like 2025-09-09T10-00-00Z, or a directory of them)",
            root.path().display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn a_missing_shard_file_is_an_error_naming_it() {
        let root = written_root();
        let shard = root
            .path()
            .join("2025-09-09T10-00-00Z")
            .join(PART)
            .join("by_src")
            .join("shard_1.dat");
        fs::remove_file(&shard).unwrap();
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: cannot open", shard.display()));
    }

    /// Replaces `from` by `to` in a task's summary.json, as a damaged file would.
    fn edit_summary(task_dir: &Path, from: &str, to: &str) {
        let path = task_dir.join(SUMMARY_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{text}");
        fs::write(&path, text.replace(from, to)).unwrap();
    }

    #[test]
    fn a_summary_that_disagrees_with_the_shards_is_an_error() {
        let root = written_root();
        let task_dir = root
            .path()
            .join("2025-09-09T10-00-00Z")
            .join(PART)
            .join("ports");
        edit_summary(&task_dir, "\"total_packets\": 5", "\"total_packets\": 6");
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        let want = format!(
            "{}: summary says 6 packets and 450 bytes, shard files and overflow hold 5 and 450",
            task_dir.display()
        );
        assert_eq!(err.to_string(), want);
    }

    /// Two windows of `by_src`, each with keys and an overflow of refused keys.
    fn flooded_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (minute, other_packets) in [(0, 4), (1, 1)] {
            let start = T0 + minute * 60 * SEC;
            let tasks = [TestTask {
                task: "by_src".into(),
                schema: by_src(),
                shards: vec![map(by_src(), &[(1, 80, 5, 500), (2, 80, 2, 20)], start)],
                overflow: Overflow {
                    stats: FlowStats {
                        packets: other_packets,
                        bytes: 1000,
                        first_seen: start + 3,
                        last_seen: start + 4,
                    },
                    keys_refused: other_packets,
                },
            }];
            write_test_window(root.path(), start, start + 60 * SEC, &tasks).unwrap();
        }
        root
    }

    #[test]
    fn refused_keys_show_as_one_other_row_sorted_like_any_row() {
        let root = flooded_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            ..options(root.path())
        });
        let want = "\
task,window_start,src_ip,packets,bytes,first_seen,last_seen
by_src,2025-09-09T10:00:00.000000000Z,10.0.0.1,5,500,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
by_src,2025-09-09T10:00:00.000000000Z,other,4,1000,2025-09-09T10:00:00.000000003Z,2025-09-09T10:00:00.000000004Z
by_src,2025-09-09T10:00:00.000000000Z,10.0.0.2,2,20,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z
by_src,2025-09-09T10:01:00.000000000Z,10.0.0.1,5,500,2025-09-09T10:01:00.000000000Z,2025-09-09T10:01:01.000000000Z
by_src,2025-09-09T10:01:00.000000000Z,10.0.0.2,2,20,2025-09-09T10:01:00.000000000Z,2025-09-09T10:01:01.000000000Z
by_src,2025-09-09T10:01:00.000000000Z,other,1,1000,2025-09-09T10:01:00.000000003Z,2025-09-09T10:01:00.000000004Z
";
        assert_eq!(got, want);
        let table = run(&options(&root.path().join("2025-09-09T10-00-00Z")));
        assert!(
            table.starts_with("2025-09-09T10:00:00.000000000Z .. 2025-09-09T10:01:00.000000000Z  task by_src [SrcIP]: 2 flows, 11 packets, 1520 bytes\n"),
            "{table}"
        );
        assert!(table.contains("\nother           4   1000  "), "{table}");
    }

    #[test]
    fn merge_sums_the_other_rows_and_top_never_hides_them() {
        let root = flooded_root();
        let got = run(&InspectOptions {
            format: Format::Json,
            merge: true,
            top: Some(1),
            ..options(root.path())
        });
        let want = [
            r#"{"task":"by_src","src_ip":"10.0.0.1","packets":10,"bytes":1000,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:01:01.000000000Z"}"#,
            r#"{"task":"by_src","src_ip":"other","packets":5,"bytes":2000,"first_seen":"2025-09-09T10:00:00.000000003Z","last_seen":"2025-09-09T10:01:00.000000004Z"}"#,
        ];
        assert_eq!(got.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn a_summary_whose_totals_leave_out_the_overflow_is_an_error() {
        let root = flooded_root();
        let task_dir = root
            .path()
            .join("2025-09-09T10-01-00Z")
            .join(PART)
            .join("by_src");
        edit_summary(&task_dir, "\"total_packets\": 8", "\"total_packets\": 7");
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        let want = format!(
            "{}: summary says 7 packets and 1520 bytes, shard files and overflow hold 8 and 1520",
            task_dir.display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn rfc3339_times_written_by_the_summary_parse_back() {
        for ns in [0, T0, T0 + 123_456_789] {
            assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_nanos("2025-09-09T10:00:00Z"), None);
        assert_eq!(parse_rfc3339_nanos("2025-09-09T10:00:00.12345678xZ"), None);
    }

    #[test]
    fn sort_and_format_names_parse_and_unknown_ones_are_explained() {
        assert_eq!("Bytes".parse(), Ok(SortBy::Bytes));
        assert_eq!("csv".parse(), Ok(Format::Csv));
        assert_eq!(
            "flows".parse::<SortBy>(),
            Err("unknown sort \"flows\" (want packets or bytes)".to_string())
        );
        assert_eq!(
            "xml".parse::<Format>(),
            Err("unknown format \"xml\" (want table, json or csv)".to_string())
        );
    }

    #[test]
    fn csv_quotes_values_with_commas_and_quotes() {
        assert_eq!(csv_quote("a,b"), "\"a,b\"");
        assert_eq!(csv_quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_quote("plain"), "plain");
    }
}
