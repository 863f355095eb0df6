//! A running process's open window, shown with its stored windows: what
//! the HTTP API's `top` and `flow` add while `capture` or `analyze` counts.
//!
//! The shards' copy of the open window holds this run's packets since the
//! newest window every shard had closed when it was taken. This run's
//! stored windows from that point on are left out, so a window that
//! closed and was stored after the copy was taken is not counted twice;
//! other runs' windows all count. A window closed before the copy but not
//! yet stored is missing from the answer for the moment its write takes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{
    InspectOptions, Loaded, Shaped, Table, TaskDir, fold_into, merged_loads, shape, task_dirs,
    windows_between,
};
use crate::flow::{EXACT_KIND, FlowMap, KeySchema, Part, sketch};
use crate::output::OutputError;
use crate::output::layout::parse_window_dir_name;
use crate::output::run::RunId;

/// One task's open window in a running process, as its shards hold it now.
pub struct OpenWindow<'a> {
    /// The run this process stores its windows under.
    pub run: RunId,
    /// End of the newest window every shard had closed when the copy was
    /// taken (ns since the epoch); `None` while some shard had closed none.
    pub closed_until_ns: Option<u64>,
    pub schema: KeySchema,
    /// Every share's open part, merged.
    pub part: &'a dyn Part,
}

/// The tables of `options.task` merged over the stored windows starting
/// in `from_ns..to_ns`, plus `open` when it can hold packets before
/// `to_ns`; no table when neither has any.
pub fn load_merged_with_open(
    options: &InspectOptions,
    from_ns: u64,
    to_ns: u64,
    open: &OpenWindow,
) -> Result<Vec<Table>, OutputError> {
    let Some(task) = options.task.as_deref() else {
        return Err(OutputError::Inconsistent {
            path: options.path.clone(),
            what: "an open window is merged for one task only".to_string(),
        });
    };
    let stored = stored_before_open(&options.path, from_ns, to_ns, task, open)?;
    let mut merged = merged_loads(&stored)?;
    let open_since = open.closed_until_ns.unwrap_or(0);
    if to_ns > open_since {
        let loaded = open_loaded(open, &options.path)?;
        match merged.get_mut(task) {
            Some((total, windows)) => {
                total.window_start_ns = total.window_start_ns.min(loaded.window_start_ns);
                total.window_end_ns = total.window_end_ns.max(loaded.window_end_ns);
                fold_into(total, loaded, task, &options.path)?;
                *windows += 1;
            }
            None => {
                merged.insert(task.to_string(), (loaded, 1));
            }
        }
    }
    let mut tables = Vec::new();
    for (task, (loaded, windows)) in merged {
        if let Shaped::Shown(table) = shape(Table::new(task, loaded, windows), options)? {
            tables.push(table);
        }
    }
    Ok(tables)
}

/// The task's stored windows in range, without this run's parts of the
/// windows the open copy may also hold. A root not created yet has none.
fn stored_before_open(
    root: &Path,
    from_ns: u64,
    to_ns: u64,
    task: &str,
    open: &OpenWindow,
) -> Result<Vec<Vec<TaskDir>>, OutputError> {
    let windows = match windows_between(root, from_ns, to_ns) {
        Ok(windows) => windows,
        Err(OutputError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new());
        }
        Err(error) => return Err(error),
    };
    let own_part = open.run.part_name();
    let mut selected = Vec::new();
    for window in &windows {
        let start = window
            .file_name()
            .and_then(|name| parse_window_dir_name(&name.to_string_lossy()))
            .unwrap_or(u64::MAX);
        let open_may_hold = open.closed_until_ns.is_none_or(|until| start >= until);
        let dirs: Vec<TaskDir> = task_dirs(window)?
            .into_iter()
            .filter(|dir| dir.task == task)
            .map(|mut dir| {
                if open_may_hold {
                    dir.parts.retain(|part| !is_part_of(part, &own_part));
                }
                dir
            })
            .filter(|dir| !dir.parts.is_empty())
            .collect();
        selected.push(dirs);
    }
    Ok(selected)
}

/// Whether a task directory (`<window>/<part>/<task>`) lies in run part `part_name`.
fn is_part_of(task_dir: &Path, part_name: &str) -> bool {
    task_dir
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|name| name == part_name)
}

/// The open copy as a stored window would load: an exact part's records,
/// or a sketch part's state decoded into a part of its own.
fn open_loaded(open: &OpenWindow, root: &Path) -> Result<Loaded, OutputError> {
    let part = open.part;
    let totals = part.totals();
    let overflow = part.overflow();
    let mut map = FlowMap::new();
    let mut seen: Option<(u64, u64)> = None;
    for record in part.records() {
        let corrupt = || OutputError::Inconsistent {
            path: root.to_path_buf(),
            what: "the open window's counts exceed 2^64 - 1".to_string(),
        };
        map.merge_record(record).ok_or_else(corrupt)?;
        seen = Some(seen.map_or(
            (record.stats.first_seen, record.stats.last_seen),
            |(first, last)| {
                (
                    first.min(record.stats.first_seen),
                    last.max(record.stats.last_seen),
                )
            },
        ));
    }
    let sketch = if part.kind() == EXACT_KIND {
        None
    } else {
        let state = part.sketch_state().ok_or_else(|| unsupported(root, part))?;
        Some(
            sketch::decode(&state)
                .map_err(|_| unsupported(root, part))?
                .part,
        )
    };
    let start = open
        .closed_until_ns
        .or(seen.map(|(first, _)| first))
        .unwrap_or(0);
    let end = seen.map_or(start, |(_, last)| last.saturating_add(1).max(start));
    Ok(Loaded {
        schema: Some(open.schema),
        window_start_ns: start,
        window_end_ns: end,
        map,
        record_flows: HashMap::new(),
        forward: None,
        other: (!overflow.is_empty()).then_some(overflow.stats),
        other_flows: u64::from(!overflow.is_empty()),
        sketch,
        packets: totals.packets,
        bytes: totals.bytes,
    })
}

fn unsupported(root: &Path, part: &dyn Part) -> OutputError {
    OutputError::Inconsistent {
        path: PathBuf::from(root),
        what: format!("the open window of a {} task cannot be shown", part.kind()),
    }
}
