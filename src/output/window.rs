//! Writing one run's part of a closed window to disk, atomically.
//!
//! Owns the directory protocol. A window is a directory named by its start,
//! holding one immutable part per run that wrote into it:
//! `<root>/<window>/run-<id>/<task>/{shard_<i>.dat, summary.json}`. A part
//! is written under a temporary name in the window directory
//! (`.tmp-run-<id>-<pid>`), fsynced, then renamed into place, so a reader
//! never sees half of one. A rerun (same run identity) replaces its own
//! part with an atomic exchange of the two directories (`renameat2` with
//! `RENAME_EXCHANGE`), so the old part is visible until the instant the new
//! one is; other runs' parts are never touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::layout::{SUMMARY_FILE, rfc3339_nanos, shard_file_name, window_dir_name};
use super::run::RunId;
use super::sketch::{SketchSummary, write_states};
use super::writer::{ClosedWindow, TaskWindow};
use super::{OutputError, dat, write_synced};
use crate::capture::RunMode;
use crate::flow::TaskKind;

/// Content of `<window>/run-<id>/<task>/summary.json`; field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub task: String,
    /// RFC 3339 UTC, nine fractional digits.
    pub window_start: String,
    /// RFC 3339 UTC, exclusive end.
    pub window_end: String,
    /// Distinct keys over all shards (the `other` record not included).
    pub total_flows: u64,
    /// Sums over every shard file's records plus the overflow, so they are
    /// the packets and bytes the task saw in the window.
    pub total_packets: u64,
    pub total_bytes: u64,
    /// Number of `shard_<i>.dat` files, `i` in `0..shards`.
    pub shards: usize,
    /// When the window was written, RFC 3339 UTC.
    pub written_at: String,
    /// Live capture only: libpcap's counters for this window (packets the
    /// kernel passed, dropped for lack of buffer, dropped by the interface).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap_received: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap_dropped: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap_if_dropped: Option<u64>,
    /// Only when the task refused keys beyond `max_keys` in this window:
    /// the refused keys' packets and bytes (counted in the totals, in no
    /// shard file), their first and last seen (RFC 3339 UTC), and the
    /// estimated number of distinct keys refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_packets: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_last_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow_keys_refused: Option<u64>,
    /// The task's kind when it is not `exact` (`heavy_hitters`,
    /// `super_spreader`); its parts are then `sketch_<i>.bin` state files,
    /// and `total_flows` counts the keys its report holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A sketch task's parameters, memory and error bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<SketchSummary>,
}

/// Writes the run's part of a window atomically and returns its directory,
/// `<root>/<window_dir_name(window start)>/run-<id>`.
///
/// Offline, tasks without packets get no directory. Live, every task gets a
/// summary, with zero totals and no shard files when it saw no packet (so a
/// reader can tell a quiet interface from a stopped capture), and every
/// summary carries libpcap's counters for the window. Every part of a task
/// with packets gets a file, empty parts included. On error the temporary
/// directory is removed at once, and what was in place stays in place.
pub fn write_window(root: &Path, window: &ClosedWindow) -> Result<PathBuf, OutputError> {
    check_task_names(root, &window.tasks)?;
    let name = window_dir_name(window.bounds.start_ns);
    let window_dir = root.join(&name);
    ensure_real_dir(&window_dir)?;
    let part = window.run.part_name();
    let temp = window_dir.join(temp_part_name(window.run, std::process::id()));
    if temp.exists() {
        fs::remove_dir_all(&temp)
            .map_err(OutputError::io(&temp, "remove stale temporary directory"))?;
    }
    fs::create_dir(&temp).map_err(OutputError::io(&temp, "create directory"))?;
    let target = window_dir.join(&part);
    let written = write_tasks(&temp, window, &name)
        .and_then(|()| sync_dir(&temp))
        .and_then(|()| install(&temp, &target));
    if let Err(error) = written {
        if let Err(cleanup) = fs::remove_dir_all(&temp) {
            log::warn!(
                "{}: cannot remove after a failed write: {cleanup}",
                temp.display()
            );
        }
        // Succeeds only when no run has a part there: no empty window is left behind.
        if fs::remove_dir(&window_dir).is_ok() {
            log::debug!(
                "{}: removed, empty after a failed write",
                window_dir.display()
            );
        }
        return Err(error);
    }
    sync_dir(&window_dir)?;
    sync_dir(root)?;
    log::info!("window {name}: part {part} written to {}", target.display());
    Ok(target)
}

/// Makes `window_dir` a real directory. A symlink planted at its name (a
/// window's, or a directory of the Parquet tree) is removed, never
/// followed, so its target is never written into.
pub(super) fn ensure_real_dir(window_dir: &Path) -> Result<(), OutputError> {
    match fs::symlink_metadata(window_dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            log::warn!(
                "{}: a symlink where netspectra keeps a directory; replaced by a directory",
                window_dir.display()
            );
            fs::remove_file(window_dir).map_err(OutputError::io(window_dir, "remove symlink"))?;
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(OutputError::io(window_dir, "inspect")(error)),
    }
    match fs::create_dir(window_dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && window_dir.is_dir() => {
            Ok(())
        }
        Err(error) => Err(OutputError::io(window_dir, "create directory")(error)),
    }
}

/// The temporary name of a part being written by process `pid`.
pub fn temp_part_name(run: RunId, pid: u32) -> String {
    format!(".tmp-{}-{pid}", run.part_name())
}

/// Writes every task's directory into the part being built, on up to one
/// thread per CPU: each task's files are its own, and the part becomes
/// visible only once all are synced. The first failure in task order is
/// returned.
fn write_tasks(temp: &Path, window: &ClosedWindow, name: &str) -> Result<(), OutputError> {
    let to_write: Vec<&TaskWindow> = window
        .tasks
        .iter()
        .filter(|task| task.has_packets() || window.mode == RunMode::Live)
        .collect();
    let written = on_threads(&to_write, |task| write_task(temp, window, task));
    for task in &window.tasks {
        warn_overflow(name, task);
    }
    written.into_iter().collect()
}

/// `work` on every item, on up to one scoped thread per CPU (the calling
/// thread alone for one item); the results in the items' order.
fn on_threads<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = crate::available_cpus().min(items.len());
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else {
                            return done;
                        };
                        done.push((index, work(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Refuses task names that cannot name a directory, or that repeat.
pub(super) fn check_task_names(root: &Path, tasks: &[TaskWindow]) -> Result<(), OutputError> {
    for (index, task) in tasks.iter().enumerate() {
        let name = task.spec.name.as_str();
        let reason = if name.is_empty() {
            Some("empty")
        } else if name.starts_with('.') {
            Some("starts with '.'")
        } else if name.contains(['/', '\\']) {
            Some("contains a path separator")
        } else if tasks[..index]
            .iter()
            .any(|earlier| earlier.spec.name == name)
        {
            Some("appears twice in one window")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(OutputError::BadTaskName {
                path: root.to_path_buf(),
                task: name.to_string(),
                reason,
            });
        }
    }
    Ok(())
}

fn write_task(
    window_dir: &Path,
    window: &ClosedWindow,
    task: &TaskWindow,
) -> Result<(), OutputError> {
    let parts = if task.has_packets() {
        task.parts.as_slice()
    } else {
        &[]
    };
    let dir = window_dir.join(&task.spec.name);
    fs::create_dir(&dir).map_err(OutputError::io(&dir, "create directory"))?;
    let bounds = window.bounds.start_ns..window.bounds.end_ns;
    let totals = task.totals();
    let overflow = Some(task.overflow()).filter(|overflow| !overflow.is_empty());
    let capture = (window.mode == RunMode::Live).then_some(window.capture);
    let summary = Summary {
        task: task.spec.name.clone(),
        window_start: rfc3339_nanos(bounds.start),
        window_end: rfc3339_nanos(bounds.end),
        total_flows: totals.records,
        total_packets: totals.packets,
        total_bytes: totals.bytes,
        shards: parts.len(),
        written_at: rfc3339_nanos(crate::wall_clock_ns()),
        pcap_received: capture.map(|stats| stats.received),
        pcap_dropped: capture.map(|stats| stats.dropped),
        pcap_if_dropped: capture.map(|stats| stats.if_dropped),
        overflow_packets: overflow.map(|overflow| overflow.stats.packets),
        overflow_bytes: overflow.map(|overflow| overflow.stats.bytes),
        overflow_first_seen: overflow.map(|overflow| rfc3339_nanos(overflow.stats.first_seen)),
        overflow_last_seen: overflow.map(|overflow| rfc3339_nanos(overflow.stats.last_seen)),
        overflow_keys_refused: overflow.map(|overflow| overflow.keys_refused),
        kind: (task.spec.kind != TaskKind::Exact).then(|| task.spec.kind.name().to_string()),
        sketch: SketchSummary::new(task.spec.kind, totals),
    };
    if task.spec.kind.stores_records() {
        let header = dat::DatHeader {
            task: &task.spec.name,
            schema: task.spec.schema,
            window: bounds,
        };
        for (index, part) in parts.iter().enumerate() {
            // Streamed in first-seen order, which depends only on the input and
            // the worker count, so a rerun over the same capture writes identical files.
            let path = dir.join(shard_file_name(index));
            match part.directions() {
                Some(directions) => {
                    dat::write_conversation_dat(&path, &header, part.records(), directions)?
                }
                None => dat::write_dat(
                    &path,
                    header.task,
                    header.schema,
                    header.window.clone(),
                    part.records(),
                )?,
            }
        }
    } else {
        write_states(&dir, parts)?;
    }
    let path = dir.join(SUMMARY_FILE);
    let mut json =
        serde_json::to_vec_pretty(&summary).expect("a summary of strings and integers serialises");
    json.push(b'\n');
    write_synced(&path, &json)?;
    sync_dir(&dir)
}

/// One warning per task and window that refused keys: detail was lost, so
/// the operator should hear of it even without reading the summaries.
fn warn_overflow(window_name: &str, task: &TaskWindow) {
    let overflow = task.overflow();
    if overflow.is_empty() {
        return;
    }
    log::warn!(
        "window {window_name}: task {}: max_keys reached; about {} more keys refused, their {} packets and {} bytes counted as `other`",
        task.spec.name,
        overflow.keys_refused,
        overflow.stats.packets,
        overflow.stats.bytes
    );
}

/// Puts the complete part `temp` in place at `target`. A new part is a
/// plain rename; an existing one (a rerun) is exchanged atomically with the
/// new one, and the old content, now under the temporary name, is removed.
fn install(temp: &Path, target: &Path) -> Result<(), OutputError> {
    match fs::rename(temp, target) {
        Ok(()) => return Ok(()),
        Err(error) if target.is_dir() => log::debug!("{}: replacing ({error})", target.display()),
        Err(error) => return Err(OutputError::io(temp, "rename into place")(error)),
    }
    exchange(temp, target).map_err(OutputError::io(temp, "exchange with the part it replaces"))?;
    if let Err(error) = fs::remove_dir_all(temp) {
        // The new part is in place; the old one is a leftover readers ignore.
        log::warn!(
            "{}: cannot delete the replaced part: {error}",
            temp.display()
        );
    }
    Ok(())
}

/// Swaps two directory entries in one step (Linux `renameat2`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::other("path holds a NUL byte"))
    };
    let (a, b) = (path(a)?, path(b)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the call's duration.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Makes a directory's entries durable. Only Unix can open a directory for this.
pub(super) fn sync_dir(dir: &Path) -> Result<(), OutputError> {
    if cfg!(unix) {
        let handle = fs::File::open(dir).map_err(OutputError::io(dir, "open directory"))?;
        handle
            .sync_all()
            .map_err(OutputError::io(dir, "sync directory"))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::capture::CaptureStats;
    use crate::flow::{
        ExactPart, FlowKey, FlowMap, FlowRecord, FlowStats, KeyField, KeySchema, Overflow, Part,
        TaskKind, TaskSpec, WindowBounds,
    };
    use crate::output::writer::TaskWindow;

    /// One task's shares as plain maps, for building windows in tests.
    pub(crate) struct TestTask {
        pub task: String,
        pub schema: KeySchema,
        pub shards: Vec<FlowMap>,
        pub overflow: Overflow,
    }

    /// An offline window of `tasks` (the overflow goes with the first part).
    pub(crate) fn test_window(start_ns: u64, end_ns: u64, tasks: &[TestTask]) -> ClosedWindow {
        let tasks = tasks
            .iter()
            .map(|task| {
                let mut parts: Vec<Box<dyn Part>> = Vec::new();
                let mut overflow = task.overflow;
                for map in &task.shards {
                    let records: Vec<FlowRecord> = map.records().copied().collect();
                    let part = ExactPart::from_records(&records, std::mem::take(&mut overflow));
                    parts.push(Box::new(part.expect("test counts fit")));
                }
                if !overflow.is_empty() {
                    parts.push(Box::new(
                        ExactPart::from_records(&[], overflow).expect("fits"),
                    ));
                }
                TaskWindow {
                    spec: TaskSpec {
                        name: task.task.clone(),
                        kind: TaskKind::Exact,
                        schema: task.schema,
                        max_keys: None,
                    },
                    parts,
                }
            })
            .collect();
        ClosedWindow {
            bounds: WindowBounds { start_ns, end_ns },
            run: RunId(1),
            mode: RunMode::Offline,
            capture: CaptureStats::default(),
            tasks,
        }
    }

    pub(crate) fn write_test_window(
        root: &Path,
        start_ns: u64,
        end_ns: u64,
        tasks: &[TestTask],
    ) -> Result<PathBuf, OutputError> {
        write_window(root, &test_window(start_ns, end_ns, tasks))
    }

    pub(crate) const SEC: u64 = 1_000_000_000;
    /// The part name of the test windows' run, `RunId(1)`.
    pub(crate) const PART: &str = "run-0000000000000001";
    pub(crate) const T0: u64 = 1_757_412_000 * SEC;

    /// A map holding `(src last octet, dst port, packets, bytes)` flows, projected to `schema`.
    pub(crate) fn map(schema: KeySchema, flows: &[(u8, u16, u64, u64)], seen: u64) -> FlowMap {
        let mut map = FlowMap::new();
        for &(octet, port, packets, bytes) in flows {
            let full = FlowKey::ipv4(
                Ipv4Addr::new(10, 0, 0, octet),
                Ipv4Addr::new(10, 9, 9, 9),
                40000,
                port,
                6,
            );
            let stats = FlowStats {
                packets,
                bytes,
                first_seen: seen,
                last_seen: seen + SEC,
            };
            map.merge_record(&FlowRecord {
                key: schema.project(&full),
                stats,
            })
            .expect("test counts fit");
        }
        map
    }

    pub(crate) fn by_src() -> KeySchema {
        KeySchema::from_fields(&[KeyField::SrcIp])
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_window_is_laid_out_by_window_and_task_with_no_temp_dir_left() {
        let root = tempfile::tempdir().unwrap();
        let shards = vec![
            map(by_src(), &[(1, 80, 3, 300)], T0),
            FlowMap::new(),
            map(by_src(), &[(2, 80, 1, 60)], T0),
        ];
        let tasks = [TestTask {
            task: "by_src".into(),
            schema: by_src(),
            shards,
            overflow: Overflow::default(),
        }];
        let dir = write_test_window(root.path(), T0, T0 + 60 * SEC, &tasks).unwrap();
        assert_eq!(dir, root.path().join("2025-09-09T10-00-00Z").join(PART));
        assert_eq!(entries(root.path()), ["2025-09-09T10-00-00Z"]);
        assert_eq!(entries(&root.path().join("2025-09-09T10-00-00Z")), [PART]);
        assert_eq!(entries(&dir), ["by_src"]);
        let task_dir = dir.join("by_src");
        assert_eq!(
            entries(&task_dir),
            ["shard_0.dat", "shard_1.dat", "shard_2.dat", "summary.json"]
        );
        let summary: Summary =
            serde_json::from_slice(&fs::read(task_dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary.task, "by_src");
        assert_eq!(summary.window_start, "2025-09-09T10:00:00.000000000Z");
        assert_eq!(summary.window_end, "2025-09-09T10:01:00.000000000Z");
        assert_eq!(
            (
                summary.total_flows,
                summary.total_packets,
                summary.total_bytes,
                summary.shards
            ),
            (2, 4, 360, 3)
        );
        assert!(
            summary.written_at.ends_with('Z') && summary.written_at.len() == 30,
            "{}",
            summary.written_at
        );
        let shard = dat::read_dat(&task_dir.join("shard_2.dat")).unwrap();
        assert_eq!(
            (shard.task.as_str(), shard.schema, shard.records.len()),
            ("by_src", by_src(), 1)
        );
        assert_eq!(
            shard.records[0].key.src_ip(),
            Some("10.0.0.2".parse().unwrap())
        );
    }

    #[test]
    fn summary_json_keys_come_in_the_documented_order() {
        let root = tempfile::tempdir().unwrap();
        let tasks = [TestTask {
            task: "t".into(),
            schema: by_src(),
            shards: vec![map(by_src(), &[(1, 80, 1, 1)], T0)],
            overflow: Overflow::default(),
        }];
        let dir = write_test_window(root.path(), T0, T0 + SEC, &tasks).unwrap();
        let text = fs::read_to_string(dir.join("t").join("summary.json")).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|line| line.trim().strip_prefix('"')?.split('"').next())
            .collect();
        let want = [
            "task",
            "window_start",
            "window_end",
            "total_flows",
            "total_packets",
            "total_bytes",
            "shards",
            "written_at",
        ];
        assert_eq!(keys, want);
    }

    #[test]
    fn overflow_is_in_the_totals_and_in_its_own_summary_keys() {
        let root = tempfile::tempdir().unwrap();
        let overflow = Overflow {
            stats: FlowStats {
                packets: 3,
                bytes: 30,
                first_seen: T0 + 1,
                last_seen: T0 + 2,
            },
            keys_refused: 2,
        };
        let tasks = [TestTask {
            task: "t".into(),
            schema: by_src(),
            shards: vec![map(by_src(), &[(1, 80, 1, 1)], T0)],
            overflow,
        }];
        let dir = write_test_window(root.path(), T0, T0 + SEC, &tasks).unwrap();
        let text = fs::read_to_string(dir.join("t").join("summary.json")).unwrap();
        let summary: Summary = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (
                summary.total_flows,
                summary.total_packets,
                summary.total_bytes
            ),
            (1, 4, 31)
        );
        assert_eq!(
            (
                summary.overflow_packets,
                summary.overflow_bytes,
                summary.overflow_keys_refused
            ),
            (Some(3), Some(30), Some(2))
        );
        assert_eq!(
            summary.overflow_first_seen.as_deref(),
            Some("2025-09-09T10:00:00.000000001Z")
        );
        assert!(
            text.contains("\"overflow_last_seen\": \"2025-09-09T10:00:00.000000002Z\""),
            "{text}"
        );
    }

    #[test]
    fn rewriting_the_same_window_replaces_it_entirely() {
        let root = tempfile::tempdir().unwrap();
        let first = [TestTask {
            task: "old".into(),
            schema: by_src(),
            shards: vec![map(by_src(), &[(1, 80, 1, 1)], T0)],
            overflow: Overflow::default(),
        }];
        write_test_window(root.path(), T0, T0 + SEC, &first).unwrap();
        let second = [TestTask {
            task: "new".into(),
            schema: by_src(),
            shards: vec![map(by_src(), &[(1, 80, 7, 7)], T0)],
            overflow: Overflow::default(),
        }];
        let dir = write_test_window(root.path(), T0, T0 + SEC, &second).unwrap();
        assert_eq!(entries(root.path()), ["2025-09-09T10-00-00Z"]);
        assert_eq!(entries(&dir), ["new"]);
        let shard = dat::read_dat(&dir.join("new").join("shard_0.dat")).unwrap();
        assert_eq!(shard.records[0].stats.packets, 7);
    }

    #[test]
    fn another_run_adds_its_part_beside_the_first_and_leaves_no_temporary_part() {
        let root = tempfile::tempdir().unwrap();
        let tasks = [TestTask {
            task: "t".into(),
            schema: by_src(),
            shards: vec![map(by_src(), &[(1, 80, 1, 1)], T0)],
            overflow: Overflow::default(),
        }];
        write_test_window(root.path(), T0, T0 + SEC, &tasks).unwrap();
        let mut second = test_window(T0, T0 + SEC, &tasks);
        second.run = RunId(2);
        write_window(root.path(), &second).unwrap();
        assert_eq!(
            entries(&root.path().join("2025-09-09T10-00-00Z")),
            [PART, "run-0000000000000002"]
        );
    }

    #[test]
    fn tasks_without_packets_write_nothing() {
        let root = tempfile::tempdir().unwrap();
        let tasks = [
            TestTask {
                task: "idle".into(),
                schema: by_src(),
                shards: vec![FlowMap::new(), FlowMap::new()],
                overflow: Overflow::default(),
            },
            TestTask {
                task: "none".into(),
                schema: by_src(),
                shards: vec![],
                overflow: Overflow::default(),
            },
            TestTask {
                task: "busy".into(),
                schema: by_src(),
                shards: vec![map(by_src(), &[(1, 80, 1, 1)], T0)],
                overflow: Overflow::default(),
            },
        ];
        let dir = write_test_window(root.path(), T0, T0 + SEC, &tasks).unwrap();
        assert_eq!(entries(&dir), ["busy"]);
    }

    #[test]
    fn task_names_that_are_not_plain_directory_names_are_refused() {
        let root = tempfile::tempdir().unwrap();
        for (name, reason) in [
            ("a/b", "contains a path separator"),
            (".hidden", "starts with '.'"),
            ("", "empty"),
        ] {
            let tasks = [TestTask {
                task: name.into(),
                schema: by_src(),
                shards: vec![],
                overflow: Overflow::default(),
            }];
            let err = write_test_window(root.path(), T0, T0 + SEC, &tasks)
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "{}: task name {name:?} unusable: {reason}",
                    root.path().display()
                )
            );
        }
        assert_eq!(entries(root.path()), Vec::<String>::new());
    }
}
