//! The API's answers over a store root: tasks, window summaries, merged
//! top keys, one key's counts, and per-window series for Grafana.
//!
//! Loading goes through `output::inspect`, the same code `inspect` uses,
//! and rows are the same JSON objects as `inspect --format json`. Every
//! function here blocks on the file system: the server calls them through
//! `web::block`, off its request threads and far from the pipeline's.

use std::path::Path;

use serde_json::{Value, json};

use crate::flow::{FlowKey, KeyField, KeySchema, TaskSpec};
use crate::output::inspect::{InspectOptions, Table, load_merged_with_open, load_tables_between};
use crate::output::layout::rfc3339_nanos;
use crate::output::manifest::{MANIFEST_FILE, Manifest};
use crate::output::query::Query;
use crate::output::rows::json_object;
use crate::output::{Format, OutputError, SortBy};
use crate::safe_read::read_regular_file;
use crate::with_causes;

use super::open_window::TaskOpenWindow;
use super::params::ApiError;

/// Largest manifest read; a real one is a few KiB.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// One task as `/api/v1/tasks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub name: String,
    pub kind: String,
    pub schema: KeySchema,
}

impl TaskInfo {
    pub fn from_spec(spec: &TaskSpec) -> TaskInfo {
        TaskInfo {
            name: spec.name.clone(),
            kind: spec.kind.name().to_string(),
            schema: spec.schema,
        }
    }

    fn json(&self) -> Value {
        let fields: Vec<&str> = self.schema.fields().map(KeyField::column_name).collect();
        json!({ "name": self.name, "kind": self.kind, "fields": fields })
    }
}

/// The tasks as a JSON array.
pub fn tasks_json(tasks: &[TaskInfo]) -> String {
    Value::from(tasks.iter().map(TaskInfo::json).collect::<Vec<_>>()).to_string()
}

/// The tasks the root's manifest defines (none for a root without one).
pub fn manifest_tasks(root: &Path) -> Result<Vec<TaskInfo>, ApiError> {
    let path = root.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = read_regular_file(&path, MAX_MANIFEST_BYTES, false)
        .map_err(|error| ApiError::Internal(with_causes(&error)))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::Internal(format!("{}: not a manifest: {error}", path.display()))
    })?;
    Ok(manifest
        .tasks
        .iter()
        .map(|(name, definition)| parse_definition(name, definition))
        .collect())
}

/// `kind=exact key=SrcIP,DstIP max_keys=none` as written by
/// `run::task_definition` (a sketch: `kind=heavy_hitters(width=... seed=...) key=...`).
fn parse_definition(name: &str, definition: &str) -> TaskInfo {
    let mut info = TaskInfo {
        name: name.to_string(),
        kind: String::new(),
        schema: KeySchema::from_fields(&[]),
    };
    for word in definition.split_whitespace() {
        if let Some(kind) = word.strip_prefix("kind=") {
            // A sketch's parameters follow its kind in parentheses.
            let name = kind.split_once('(').map_or(kind, |(name, _)| name);
            info.kind = name.to_string();
        } else if let Some(key) = word.strip_prefix("key=") {
            let fields: Vec<KeyField> = key
                .split(',')
                .filter_map(|spelled| {
                    // A prefix follows its field (`SrcIP/24,48`); the API keys by fields.
                    KeyField::from_config_name(spelled.split('/').next().unwrap_or(spelled))
                })
                .collect();
            info.schema = KeySchema::from_fields(&fields);
        }
    }
    info
}

/// What to load: one task or all, merged or per window, cut or not.
fn options(
    root: &Path,
    task: Option<&str>,
    merge: bool,
    sort: SortBy,
    top: Option<usize>,
) -> InspectOptions {
    InspectOptions {
        path: root.to_path_buf(),
        task: task.map(str::to_string),
        top,
        sort,
        format: Format::Json,
        merge,
        numeric: true,
        query: Query::default(),
    }
}

/// The tables, with a root that holds nothing yet read as no table.
fn load(options: &InspectOptions, from: u64, to: u64) -> Result<Vec<Table>, ApiError> {
    load_with_open(options, from, to, None)
}

/// [`load`] of one task merged, with its open window when there is one.
fn load_with_open(
    options: &InspectOptions,
    from: u64,
    to: u64,
    open: Option<&TaskOpenWindow>,
) -> Result<Vec<Table>, ApiError> {
    let loaded = match open {
        Some(open) => load_merged_with_open(options, from, to, &open.view()),
        None => load_tables_between(options, from, to),
    };
    match loaded {
        Ok(tables) => Ok(tables),
        Err(OutputError::NoSnapshots { .. }) => Ok(Vec::new()),
        Err(OutputError::UnknownTask { task, .. }) => Err(ApiError::NotFound(format!(
            "task {task:?} has no window between these times"
        ))),
        Err(error) => Err(ApiError::Internal(with_causes(&error))),
    }
}

/// Window summaries starting in `from..to`, oldest first, at most `limit`
/// windows: each with its end and every task's flows, packets and bytes.
pub fn windows_json(root: &Path, from: u64, to: u64, limit: usize) -> Result<String, ApiError> {
    let tables = load(
        &options(root, None, false, SortBy::Packets, Some(0)),
        from,
        to,
    )?;
    let mut windows: Vec<(u64, u64, Vec<Value>)> = Vec::new();
    for table in &tables {
        let totals = json!({
            "task": table.task,
            "flows": table.flows,
            "packets": table.packets,
            "bytes": table.bytes,
        });
        match windows.last_mut() {
            Some((start, _, tasks)) if *start == table.window_start_ns => tasks.push(totals),
            _ => windows.push((table.window_start_ns, table.window_end_ns, vec![totals])),
        }
    }
    let answer: Vec<Value> = windows
        .into_iter()
        .take(limit)
        .map(|(start, end, tasks)| {
            json!({
                "window_start": rfc3339_nanos(start),
                "window_end": rfc3339_nanos(end),
                "tasks": tasks,
            })
        })
        .collect();
    Ok(Value::from(answer).to_string())
}

/// A task's keys merged over `from..to` (and `open`, the running
/// process's open window), sorted, at most `limit` (the row of refused
/// keys, `other`, comes on top of them when there is one).
pub fn top_json(
    root: &Path,
    task: &str,
    range: (u64, u64),
    sort: SortBy,
    limit: usize,
    open: Option<&TaskOpenWindow>,
) -> Result<String, ApiError> {
    let tables = load_with_open(
        &options(root, Some(task), true, sort, Some(limit)),
        range.0,
        range.1,
        open,
    )?;
    let rows: Vec<String> = tables
        .iter()
        .flat_map(|table| {
            table
                .rows
                .iter()
                .map(move |row| json_object(table, row, true))
        })
        .collect();
    Ok(format!("[{}]", rows.join(",")))
}

/// One key of a task merged over `from..to`: the same fields as a `top`
/// row. 404 when the key was not seen then.
pub fn flow_json(
    root: &Path,
    task: &str,
    key: &FlowKey,
    range: (u64, u64),
    open: Option<&TaskOpenWindow>,
) -> Result<String, ApiError> {
    let tables = load_with_open(
        &options(root, Some(task), true, SortBy::Packets, None),
        range.0,
        range.1,
        open,
    )?;
    tables
        .iter()
        .find_map(|table| {
            let row = table
                .rows
                .iter()
                .find(|row| row.key.as_ref() == Some(key))?;
            Some(json_object(table, row, true))
        })
        .ok_or_else(|| ApiError::NotFound(format!("task {task}: no such key between these times")))
}

/// Per window starting in `from..to`, oldest first: its start and the
/// task's total packets.
pub fn packet_series(
    root: &Path,
    task: &str,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, u64)>, ApiError> {
    let tables = load(
        &options(root, Some(task), false, SortBy::Packets, Some(0)),
        from,
        to,
    )?;
    Ok(tables
        .iter()
        .map(|table| (table.window_start_ns, table.packets))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_definitions_give_kind_and_fields() {
        let info = parse_definition("five", "kind=exact key=SrcIP,DstPort max_keys=none");
        assert_eq!(info.kind, "exact");
        assert_eq!(
            info.schema,
            KeySchema::from_fields(&[KeyField::SrcIp, KeyField::DstPort])
        );
    }
}
