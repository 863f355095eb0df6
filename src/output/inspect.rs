//! Reading stored windows back, for `inspect`: discovery (is the path a
//! root or one window?), the windows of a time range, loading and checking
//! every shard file of every run part of a task, merging parts and
//! windows, the query (`output::query`), sorting and `--top`. It never
//! writes files and never renders: `cli::report` turns the [`Table`]s into
//! text.
//!
//! A task that refused keys beyond `max_keys` has their packets in its
//! summary only (`overflow_*`); they become one more row without a key
//! (`other`), sorted like any row and never cut by `--top`.
//!
//! A quiet live window has a summary with zero totals and no shard files;
//! it is shown as a table of zero flows (no rows in JSON and CSV), so a
//! quiet window never fails the report. Every stored file is read only if
//! it is a regular file (never through a symlink, never a FIFO or device)
//! of bounded size, and totals are summed with overflow checks: a count
//! that overflows 64 bits is a corrupt file, named.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::layout::{
    SUMMARY_FILE, parse_window_dir_name, rfc3339_nanos, shard_file_name, sketch_file_name,
};
use super::query::Query;
use super::run::RunId;
use super::{OutputError, Summary, dat, sketch};
use crate::flow::{
    AddressFamily, CONVERSATION_KIND, Directed, FlowKey, FlowMap, FlowRecord, FlowStats,
    HEAVY_HITTERS_KIND, KeySchema, Part, SUPER_SPREAD_KIND,
};
use crate::safe_read::read_regular_file;

mod open;

pub use open::{OpenWindow, load_merged_with_open};

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
    /// Show protocols and ports as numbers in tables, not names.
    pub numeric: bool,
    /// Time range, row filter and regrouping.
    pub query: Query,
}

/// What rows are sorted by: largest first, except `FirstSeen`, earliest
/// first; ties go by key, ascending. Super-spreaders always sort by spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Packets,
    Bytes,
    /// Stored records summed into the row.
    Flows,
    /// `last_seen - first_seen`.
    Duration,
    FirstSeen,
    /// Bits per second over the duration.
    Rate,
}

impl SortBy {
    /// The name `--sort` takes and headings show.
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Packets => "packets",
            SortBy::Bytes => "bytes",
            SortBy::Flows => "flows",
            SortBy::Duration => "duration",
            SortBy::FirstSeen => "first_seen",
            SortBy::Rate => "rate",
        }
    }

    const ALL: [SortBy; 6] = [
        SortBy::Packets,
        SortBy::Bytes,
        SortBy::Flows,
        SortBy::Duration,
        SortBy::FirstSeen,
        SortBy::Rate,
    ];
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

    /// Accepts the names of [`SortBy::name`], ignoring ASCII case.
    fn from_str(text: &str) -> Result<SortBy, String> {
        SortBy::ALL
            .into_iter()
            .find(|sort| sort.name().eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                format!(
                    "unknown sort {text:?} (want packets, bytes, flows, duration, first_seen or rate)"
                )
            })
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

/// The tables `options` selects: one per (window, task), windows in
/// chronological order and tasks alphabetically within each, or one per
/// task with `merge`; only the windows overlapping the query's time range;
/// rows filtered, regrouped, sorted and cut to `top`.
///
/// Directories whose names are not window names (`.tmp-*`, `.del-*`) are
/// ignored. Fails on a path without snapshots, an unknown `--task`, a
/// query no task fits (or `--task` does not), or any unreadable, corrupt
/// or inconsistent file.
pub fn load_tables(options: &InspectOptions) -> Result<Vec<Table>, OutputError> {
    let windows = find_windows(&options.path)?;
    let windows = in_time_range(windows, &options.query)?;
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    tables_of(options, &windows)
}

/// The windows overlapping `[from, to)` of `query` (all without either);
/// relative bounds count back from the end of the newest window. A window
/// directory holding no task is left out.
fn in_time_range(windows: Vec<PathBuf>, query: &Query) -> Result<Vec<PathBuf>, OutputError> {
    if query.from.is_none() && query.to.is_none() {
        return Ok(windows);
    }
    let mut bounds = Vec::with_capacity(windows.len());
    for window in windows {
        if let Some(span) = window_bounds(&window)? {
            bounds.push((span, window));
        }
    }
    let newest_end = bounds.iter().map(|((_, end), _)| *end).max().unwrap_or(0);
    let from = query.from.map_or(0, |bound| bound.resolve(newest_end));
    let to = query.to.map_or(u64::MAX, |bound| bound.resolve(newest_end));
    if from > to {
        return Err(OutputError::Query {
            what: format!(
                "--from {} is after --to {}",
                rfc3339_nanos(from),
                rfc3339_nanos(to)
            ),
        });
    }
    Ok(bounds
        .into_iter()
        .filter(|((start, end), _)| *start < to && *end > from)
        .map(|(_, window)| window)
        .collect())
}

/// A window's start and end, from the summary of its first task in its
/// first run part; `None` when it holds no task.
fn window_bounds(window: &Path) -> Result<Option<(u64, u64)>, OutputError> {
    let tasks = task_dirs(window)?;
    let Some(part) = tasks.first().and_then(|task| task.parts.first()) else {
        return Ok(None);
    };
    let path = part.join(SUMMARY_FILE);
    let summary = read_summary(&path)?;
    let (start, end) = (&summary.window_start, &summary.window_end);
    match (parse_rfc3339_nanos(start), parse_rfc3339_nanos(end)) {
        (Some(start), Some(end)) => Ok(Some((start, end))),
        _ => Err(OutputError::Inconsistent {
            path,
            what: format!("window {start:?} .. {end:?} is not two RFC 3339 UTC times"),
        }),
    }
}

/// [`load_tables`] over the windows starting in `from_ns..to_ns` only (ns
/// since the epoch); no table at all when no window starts there.
pub fn load_tables_between(
    options: &InspectOptions,
    from_ns: u64,
    to_ns: u64,
) -> Result<Vec<Table>, OutputError> {
    let windows = windows_between(&options.path, from_ns, to_ns)?;
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    tables_of(options, &windows)
}

/// The window directories under `path` starting in `from_ns..to_ns`, oldest first.
fn windows_between(path: &Path, from_ns: u64, to_ns: u64) -> Result<Vec<PathBuf>, OutputError> {
    Ok(find_windows(path)?
        .into_iter()
        .filter(|dir| {
            dir.file_name()
                .and_then(|name| parse_window_dir_name(&name.to_string_lossy()))
                .is_some_and(|start| (from_ns..to_ns).contains(&start))
        })
        .collect())
}

fn tables_of(options: &InspectOptions, windows: &[PathBuf]) -> Result<Vec<Table>, OutputError> {
    let selected = select_tasks(options, windows)?;
    let shaped = if options.merge {
        merged_tables(&selected, options)?
    } else {
        window_tables(&selected, options)?
    };
    let mut tables = Vec::with_capacity(shaped.len());
    let mut unfit: Vec<String> = Vec::new();
    for table in shaped {
        match table {
            Shaped::Shown(table) => tables.push(table),
            Shaped::Unfit(why) if !unfit.contains(&why) => unfit.push(why),
            Shaped::Unfit(_) => {}
        }
    }
    if tables.is_empty() && !unfit.is_empty() {
        return Err(OutputError::Query {
            what: format!("no task fits the query: {}", unfit.join("; ")),
        });
    }
    Ok(tables)
}

/// A table after the query: shown, or left out for the reason given.
enum Shaped {
    Shown(Table),
    Unfit(String),
}

/// Applies the query to a freshly built table, then sorts and cuts it. A
/// task named by `--task` that the query does not fit is an error.
fn shape(mut table: Table, options: &InspectOptions) -> Result<Shaped, OutputError> {
    if let Some(why) = options.query.unfit(&table) {
        return match options.task {
            Some(_) => Err(OutputError::Query { what: why }),
            None => Ok(Shaped::Unfit(why)),
        };
    }
    table.apply_query(&options.query)?;
    table.sort_and_cut(options.sort, options.top);
    Ok(Shaped::Shown(table))
}

/// A task in one window: its directory in each run part that has it.
struct TaskDir {
    task: String,
    /// The window directory.
    path: PathBuf,
    parts: Vec<PathBuf>,
}

/// What the rows of a table hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// Exact packets, bytes, first and last seen.
    Exact,
    /// Exact counts of conversations, with each direction's packets and bytes.
    Conversation,
    /// Estimated packets and bytes of the heaviest keys.
    HeavyHitters,
    /// Estimated distinct elements per key.
    SuperSpread,
}

/// One table of the report: a task in one window, or in all windows with `--merge`.
#[derive(Debug)]
pub struct Table {
    pub task: String,
    pub counters: Counters,
    /// The key fields; empty for a table of quiet windows only.
    pub schema: KeySchema,
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// Windows summed into this table (1 without `--merge`).
    pub windows: usize,
    /// Totals over every key, shown or not, and the overflow. For a sketch
    /// task, `flows` counts the keys its report holds.
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Keys left after `--where` and `--group-by`, when either was given.
    pub selected: Option<usize>,
    /// `Some(n)` when `--top n` cut rows off.
    pub shown_top: Option<usize>,
    pub rows: Vec<Row>,
}

/// One row of a table: a key's counters, or (`key: None`) the counters of
/// every key refused by `max_keys`, shown as `other`. A heavy hitter's
/// estimates are in `stats` (no first or last seen); a super-spreader's is
/// `spread`; a conversation's directions are in `directed`.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: Option<FlowKey>,
    pub stats: FlowStats,
    pub spread: Option<u64>,
    /// Stored records summed into this row: one per run part and window
    /// that held the key (or had refused keys, for `other`).
    pub flows: u64,
    pub directed: Option<Directed>,
}

impl Row {
    /// `last_seen - first_seen`, in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.stats.last_seen.saturating_sub(self.stats.first_seen)
    }

    /// Bits per second over the duration, rounded down; 0 for a row of
    /// zero duration (one packet, or all at one instant), as nfdump shows it.
    pub fn rate_bps(&self) -> u64 {
        let duration = u128::from(self.duration_ns());
        if duration == 0 {
            return 0;
        }
        let bits_per_second = u128::from(self.stats.bytes) * 8 * 1_000_000_000 / duration;
        u64::try_from(bits_per_second).unwrap_or(u64::MAX)
    }

    /// The row's value for `sort`, larger first; the spread where there is one.
    fn sort_value(&self, sort: SortBy) -> u64 {
        match (self.spread, sort) {
            (Some(spread), _) => spread,
            (None, SortBy::Packets) => self.stats.packets,
            (None, SortBy::Bytes) => self.stats.bytes,
            (None, SortBy::Flows) => self.flows,
            (None, SortBy::Duration) => self.duration_ns(),
            (None, SortBy::Rate) => self.rate_bps(),
            // Earliest first.
            (None, SortBy::FirstSeen) => u64::MAX - self.stats.first_seen,
        }
    }
}

impl Table {
    /// Totals over all of `loaded` and every row, unsorted, the `other` row last.
    /// A table of quiet windows only has no key fields and no rows.
    fn new(task: String, loaded: Loaded, windows: usize) -> Table {
        if let Some(part) = &loaded.sketch {
            return Table::of_sketch(task, part.as_ref(), &loaded, windows);
        }
        let forward = loaded.forward.as_ref();
        let mut rows: Vec<Row> = loaded
            .map
            .records()
            .map(|record| Row {
                key: Some(record.key),
                stats: record.stats,
                spread: None,
                flows: loaded.flows_of(&record.key),
                directed: forward
                    .and_then(|forward| Directed::split(&record.stats, forward.get(&record.key))),
            })
            .collect();
        rows.extend(loaded.other.map(|stats| Row {
            key: None,
            stats,
            spread: None,
            flows: loaded.other_flows,
            directed: None,
        }));
        Table {
            task,
            counters: if forward.is_some() {
                Counters::Conversation
            } else {
                Counters::Exact
            },
            schema: loaded.schema.unwrap_or(KeySchema::from_fields(&[])),
            window_start_ns: loaded.window_start_ns,
            window_end_ns: loaded.window_end_ns,
            windows,
            flows: loaded.map.len() as u64,
            packets: loaded.packets,
            bytes: loaded.bytes,
            selected: None,
            shown_top: None,
            rows,
        }
    }

    /// A sketch task's table: the report recomputed from the merged state.
    fn of_sketch(task: String, part: &dyn Part, loaded: &Loaded, windows: usize) -> Table {
        let counters = if part.kind() == SUPER_SPREAD_KIND {
            Counters::SuperSpread
        } else {
            Counters::HeavyHitters
        };
        Table {
            task,
            counters,
            schema: loaded.schema.unwrap_or(KeySchema::from_fields(&[])),
            window_start_ns: loaded.window_start_ns,
            window_end_ns: loaded.window_end_ns,
            windows,
            flows: part.totals().records,
            packets: loaded.packets,
            bytes: loaded.bytes,
            selected: None,
            shown_top: None,
            rows: part
                .estimates()
                .into_iter()
                .map(|estimate| Row {
                    key: Some(estimate.key),
                    stats: FlowStats {
                        packets: estimate.packets.unwrap_or(0),
                        bytes: estimate.bytes.unwrap_or(0),
                        first_seen: 0,
                        last_seen: 0,
                    },
                    spread: estimate.spread,
                    flows: 1,
                    directed: None,
                })
                .collect(),
        }
    }

    /// `--where`, then `--group-by`; `selected` counts the rows left.
    fn apply_query(&mut self, query: &Query) -> Result<(), OutputError> {
        if query.filter.is_none() && query.group_by.is_none() {
            return Ok(());
        }
        if let Some(filter) = &query.filter {
            self.rows.retain(|row| filter.matches(row));
        }
        if let Some(group) = &query.group_by {
            let rows = std::mem::take(&mut self.rows);
            self.rows = group.regroup(rows).ok_or_else(|| OutputError::Query {
                what: format!(
                    "--group-by: the counts of a group of task {} exceed 2^64 - 1",
                    self.task
                ),
            })?;
            self.schema = group.schema_for(self.schema);
        }
        self.selected = Some(self.rows.iter().filter(|row| row.key.is_some()).count());
        Ok(())
    }

    /// Sorts the rows and keeps the first `top` keys; the `other` row is
    /// sorted like any row but never cut.
    fn sort_and_cut(&mut self, sort: SortBy, top: Option<usize>) {
        let other_at = self.rows.iter().position(|row| row.key.is_none());
        let other = other_at.map(|at| self.rows.swap_remove(at));
        self.rows.sort_unstable_by(|a, b| row_order(a, b, sort));
        if let Some(top) = top.filter(|&top| top < self.rows.len()) {
            self.rows.truncate(top);
            self.shown_top = Some(top);
        }
        if let Some(row) = other {
            let at = self
                .rows
                .partition_point(|shown| row_order(shown, &row, sort).is_lt());
            self.rows.insert(at, row);
        }
    }
}

/// Rows by `sort`; ties by key ascending, `other` last.
fn row_order(a: &Row, b: &Row, sort: SortBy) -> std::cmp::Ordering {
    b.sort_value(sort).cmp(&a.sort_value(sort)).then_with(|| {
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
) -> Result<Vec<Shaped>, OutputError> {
    selected
        .iter()
        .flatten()
        .map(|dir| shape(Table::new(dir.task.clone(), load_task(dir)?, 1), options))
        .collect()
}

fn merged_tables(
    selected: &[Vec<TaskDir>],
    options: &InspectOptions,
) -> Result<Vec<Shaped>, OutputError> {
    merged_loads(selected)?
        .into_iter()
        .map(|(task, (loaded, windows))| shape(Table::new(task, loaded, windows), options))
        .collect()
}

/// Per task: every selected window of it summed, and how many there were.
fn merged_loads(
    selected: &[Vec<TaskDir>],
) -> Result<BTreeMap<String, (Loaded, usize)>, OutputError> {
    let mut merged: BTreeMap<String, (Loaded, usize)> = BTreeMap::new();
    for dir in selected.iter().flatten() {
        let loaded = load_task(dir)?;
        let Some((total, windows)) = merged.get_mut(dir.task.as_str()) else {
            merged.insert(dir.task.clone(), (loaded, 1));
            continue;
        };
        total.window_start_ns = total.window_start_ns.min(loaded.window_start_ns);
        total.window_end_ns = total.window_end_ns.max(loaded.window_end_ns);
        // Errors name the window's first part of the task (its files hold the sums).
        let named = dir.parts.first().unwrap_or(&dir.path);
        fold_into(total, loaded, &dir.task, named)?;
        *windows += 1;
    }
    Ok(merged)
}

/// Every shard of one task in one window, merged.
struct Loaded {
    /// `None` for a quiet window: no shard file says what the key is.
    schema: Option<KeySchema>,
    window_start_ns: u64,
    window_end_ns: u64,
    map: FlowMap,
    /// Records summed into each key of `map`, for keys of more than one record.
    record_flows: HashMap<FlowKey, u64>,
    /// A conversation task's A→B counters per key (B→A is the rest of
    /// `map`'s); `None` for other tasks and quiet windows.
    forward: Option<FlowMap>,
    /// Packets of keys refused by `max_keys`, from the summary.
    other: Option<FlowStats>,
    /// Summaries whose overflow is summed into `other`.
    other_flows: u64,
    /// A sketch task's parts merged; `None` for an exact task or a quiet window.
    sketch: Option<Box<dyn Part>>,
    /// Packets and bytes of `map` and `other` together, or that the sketch counted.
    packets: u64,
    bytes: u64,
}

impl Loaded {
    /// Records summed into `key`, a key of `map`.
    fn flows_of(&self, key: &FlowKey) -> u64 {
        self.record_flows.get(key).copied().unwrap_or(1)
    }
}

/// Adds `loaded` (another window's or run part's counts of `task`, read
/// from `path`) to `total`; the window bounds are left to the caller.
fn fold_into(
    total: &mut Loaded,
    mut loaded: Loaded,
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
    match (&mut total.forward, loaded.forward.take()) {
        (Some(ours), Some(theirs)) => merge_records(ours, &theirs, path)?,
        (ours @ None, Some(theirs)) if total.map.is_empty() => *ours = Some(theirs),
        (Some(_), None) if loaded.map.is_empty() => {}
        (None, None) => {}
        _ => {
            return Err(OutputError::Inconsistent {
                path: path.to_path_buf(),
                what: format!(
                    "task {task:?} is a conversation task here and an exact task elsewhere"
                ),
            });
        }
    }
    // Checked before any record is merged: no key's counters can then overflow.
    (total.packets, total.bytes) =
        checked_sum((total.packets, total.bytes), (loaded.packets, loaded.bytes))
            .ok_or_else(|| overflowed(path.join(SUMMARY_FILE)))?;
    for record in loaded.map.records() {
        let keys_before = total.map.len();
        total
            .map
            .merge_record(record)
            .ok_or_else(|| counts_overflow(path))?;
        let more = loaded.flows_of(&record.key);
        let flows = if total.map.len() == keys_before {
            total.flows_of(&record.key).saturating_add(more)
        } else {
            more
        };
        if flows > 1 {
            total.record_flows.insert(record.key, flows);
        }
    }
    total.other = merge_other(total.other, loaded.other).ok_or_else(|| counts_overflow(path))?;
    total.other_flows = total.other_flows.saturating_add(loaded.other_flows);
    match (&mut total.sketch, loaded.sketch) {
        (Some(ours), Some(theirs)) => {
            ours.merge(theirs.as_ref())
                .map_err(|error| OutputError::Inconsistent {
                    path: path.to_path_buf(),
                    what: format!("cannot merge task {task:?} with earlier windows: {error}"),
                })?
        }
        (ours @ None, Some(theirs)) if total.map.is_empty() && total.other.is_none() => {
            *ours = Some(theirs);
        }
        (Some(_), None) if loaded.map.is_empty() && loaded.other.is_none() => {}
        (None, None) => {}
        _ => {
            return Err(OutputError::Inconsistent {
                path: path.to_path_buf(),
                what: format!("task {task:?} is a sketch task here and an exact task elsewhere"),
            });
        }
    }
    Ok(())
}

/// Adds every record of `more` to `total`.
fn merge_records(total: &mut FlowMap, more: &FlowMap, path: &Path) -> Result<(), OutputError> {
    for record in more.records() {
        total
            .merge_record(record)
            .ok_or_else(|| counts_overflow(path))?;
    }
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
        record_flows: HashMap::new(),
        forward: None,
        other: None,
        other_flows: 0,
        sketch: None,
        packets: 0,
        bytes: 0,
    };
    let conversation = summary.kind.as_deref() == Some(CONVERSATION_KIND);
    if let Some(kind) = summary.kind.as_deref().filter(|_| !conversation) {
        return load_sketch_part(&dir.path, &summary, kind, loaded);
    }
    if conversation {
        loaded.forward = Some(FlowMap::new());
    }
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
        load_directions(&mut loaded, &file, &path)?;
    }
    loaded.other =
        overflow_of(&summary).map_err(|what| inconsistent(summary_path.clone(), what))?;
    loaded.other_flows = u64::from(loaded.other.is_some());
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

/// Adds a conversation shard's A→B counters to `loaded`; a shard file with
/// directions where the summary says another kind, or without them where
/// it says conversation, is inconsistent.
fn load_directions(
    loaded: &mut Loaded,
    file: &dat::DatFile,
    path: &Path,
) -> Result<(), OutputError> {
    let (forward, directions) = match (loaded.forward.as_mut(), file.directions.as_ref()) {
        (Some(forward), Some(directions)) => (forward, directions),
        (None, None) => return Ok(()),
        (forward, _) => {
            let want = if forward.is_some() {
                "conversation"
            } else {
                "exact"
            };
            return Err(OutputError::Inconsistent {
                path: path.to_path_buf(),
                what: format!("per-direction counters do not match the summary's {want} task"),
            });
        }
    };
    for (record, directed) in file.records.iter().zip(directions) {
        if directed.packets_ab == 0 {
            continue;
        }
        let ab = FlowRecord {
            key: record.key,
            stats: FlowStats {
                packets: directed.packets_ab,
                bytes: directed.bytes_ab,
                ..record.stats
            },
        };
        forward
            .merge_record(&ab)
            .ok_or_else(|| counts_overflow(path))?;
    }
    Ok(())
}

/// A sketch task's part: its state files merged, checked against the summary.
fn load_sketch_part(
    path: &Path,
    summary: &Summary,
    kind: &str,
    mut loaded: Loaded,
) -> Result<Loaded, OutputError> {
    if ![HEAVY_HITTERS_KIND, SUPER_SPREAD_KIND].contains(&kind) {
        return Err(OutputError::Inconsistent {
            path: path.join(SUMMARY_FILE),
            what: format!("unknown task kind {kind:?}; a newer netspectra wrote it?"),
        });
    }
    for index in 0..summary.shards {
        let state_path = path.join(sketch_file_name(index));
        let inconsistent = |what: String| OutputError::Inconsistent {
            path: state_path.clone(),
            what,
        };
        let decoded = sketch::read_state(path, index)?;
        if decoded.part.kind() != kind {
            let found = decoded.part.kind();
            return Err(inconsistent(format!(
                "holds a {found} state where the summary says {kind}"
            )));
        }
        if *loaded.schema.get_or_insert(decoded.schema) != decoded.schema {
            return Err(inconsistent("key fields differ from sketch_0.bin".into()));
        }
        match loaded.sketch.as_mut() {
            Some(merged) => merged
                .merge(decoded.part.as_ref())
                .map_err(|error| inconsistent(error.to_string()))?,
            None => loaded.sketch = Some(decoded.part),
        }
    }
    let totals = loaded
        .sketch
        .as_ref()
        .map(|part| part.totals())
        .unwrap_or_default();
    (loaded.packets, loaded.bytes) = (totals.packets, totals.bytes);
    if (loaded.packets, loaded.bytes) != (summary.total_packets, summary.total_bytes) {
        let what = format!(
            "summary says {} packets and {} bytes, sketch states hold {} and {}",
            summary.total_packets, summary.total_bytes, loaded.packets, loaded.bytes
        );
        return Err(OutputError::Inconsistent {
            path: path.to_path_buf(),
            what,
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_757_412_000_000_000_000;

    #[test]
    fn rfc3339_times_written_by_the_summary_parse_back() {
        for ns in [0, T0, T0 + 123_456_789] {
            assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_nanos("2025-09-09T10:00:00Z"), None);
        assert_eq!(parse_rfc3339_nanos("2025-09-09T10:00:00.12345678xZ"), None);
    }
}
