//! Retention: removes the oldest complete windows of an output root.
//!
//! Owns deciding which window directories are past `max_windows` or
//! `max_age`, and removing them. Age is event time: a window is too old
//! when it ended more than `max_age` before the newest window end in the
//! root, so analyzing an old capture keeps what it wrote (live, the newest
//! window is close to the wall clock). A window the current run wrote is
//! never removed by that run. Only a directory whose name is a window name
//! and whose content is exactly what the writer puts there (run parts of
//! task directories holding `summary.json` and `shard_<i>.dat`) is removed,
//! by renaming it aside (`.del-<window>-<pid>`) first, so it disappears at
//! once for readers; anything else is left alone with a warning. Failures
//! are logged, never fatal: a window that could not be removed is retried
//! after the next write.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Duration;

use super::layout::{SUMMARY_FILE, parse_window_dir_name};
use super::leftovers::removal_name;
use super::run::RunId;

/// Limits on the windows kept; both `None` keeps everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Keep at most this many windows, the newest.
    pub max_windows: Option<usize>,
    /// Remove windows that ended longer than this before the newest window ended.
    pub max_age: Option<Duration>,
    /// Window length, to know when a window ended.
    pub interval: Duration,
}

impl Retention {
    /// Removes the windows under `root` beyond the limits, except those
    /// starting at a time in `protected`; returns how many were removed.
    pub fn apply(&self, root: &Path, protected: &BTreeSet<u64>) -> usize {
        if !self.limits() {
            return 0;
        }
        self.expired(&windows(root), protected)
            .into_iter()
            .filter(|&(start_ns, ref name)| remove_window(root, start_ns, name))
            .count()
    }

    /// Whether either limit is set.
    pub fn limits(&self) -> bool {
        self.max_windows.is_some() || self.max_age.is_some()
    }

    /// The windows to remove among `windows` (by start, sorted oldest
    /// first, each with what names it on disk).
    pub(super) fn expired<T: Clone>(
        &self,
        windows: &[(u64, T)],
        protected: &BTreeSet<u64>,
    ) -> Vec<(u64, T)> {
        let over_count = self
            .max_windows
            .map_or(0, |keep| windows.len().saturating_sub(keep));
        let interval_ns = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        let newest_end = windows
            .last()
            .map_or(0, |(start_ns, _)| start_ns.saturating_add(interval_ns));
        windows
            .iter()
            .enumerate()
            .filter(|(index, (start_ns, _))| {
                let too_many = *index < over_count;
                let too_old = self.max_age.is_some_and(|age| {
                    let age_ns = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
                    start_ns.saturating_add(interval_ns).saturating_add(age_ns) < newest_end
                });
                (too_many || too_old) && !protected.contains(start_ns)
            })
            .map(|(_, window)| window.clone())
            .collect()
    }
}

/// The complete window directories under `root`, oldest first.
fn windows(root: &Path) -> Vec<(u64, String)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut windows: Vec<(u64, String)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            Some((parse_window_dir_name(&name)?, name))
        })
        .collect();
    windows.sort();
    windows
}

/// Removes one window directory if it holds only what the writer writes:
/// renamed aside first, so readers see it whole or not at all.
fn remove_window(root: &Path, start_ns: u64, name: &str) -> bool {
    let dir = root.join(name);
    if !written_by_us(&dir) {
        log::warn!(
            "retention: {} holds files netspectra did not write; left in place",
            dir.display()
        );
        return false;
    }
    let aside = root.join(removal_name(start_ns, std::process::id()));
    let removed = fs::rename(&dir, &aside).and_then(|()| fs::remove_dir_all(&aside));
    match removed {
        Ok(()) => {
            log::info!("retention: removed {}", dir.display());
            true
        }
        Err(error) => {
            log::warn!("retention: cannot remove {}: {error}", dir.display());
            false
        }
    }
}

/// True when every entry is a run part of task directories of
/// `summary.json` and `shard_<i>.dat` files.
fn written_by_us(dir: &Path) -> bool {
    entries_all(dir, |part, name, is_dir| {
        is_dir && RunId::parse_part_name(name).is_some() && entries_all(part, is_task_dir)
    })
}

fn is_task_dir(task: &Path, _: &str, is_dir: bool) -> bool {
    is_dir
        && entries_all(task, |_, name, is_dir| {
            !is_dir
                && (name == SUMMARY_FILE
                    || name
                        .strip_prefix("shard_")
                        .and_then(|rest| rest.strip_suffix(".dat"))
                        .is_some_and(|index| index.parse::<usize>().is_ok()))
        })
}

/// Whether `dir` can be listed and `check(path, name, is_dir)` holds for
/// every entry (a symlink is never a directory here).
fn entries_all(dir: &Path, check: impl Fn(&Path, &str, bool) -> bool) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).all(|entry| {
        let name = entry.file_name();
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        (is_dir || is_file) && check(&entry.path(), &name.to_string_lossy(), is_dir)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::layout::window_dir_name;

    const MINUTE: u64 = 60_000_000_000;

    fn make_window(root: &Path, start_ns: u64) -> String {
        let name = window_dir_name(start_ns);
        let task = root
            .join(&name)
            .join("run-00000000000000ab")
            .join("per_src_ip");
        fs::create_dir_all(&task).expect("window dir");
        fs::write(task.join(SUMMARY_FILE), b"{}").expect("summary");
        fs::write(task.join("shard_0.dat"), b"x").expect("shard");
        name
    }

    fn remaining(root: &Path) -> Vec<String> {
        windows(root).into_iter().map(|(_, name)| name).collect()
    }

    fn retention(max_windows: Option<usize>, max_age_s: Option<u64>) -> Retention {
        Retention {
            max_windows,
            max_age: max_age_s.map(Duration::from_secs),
            interval: Duration::from_secs(60),
        }
    }

    #[test]
    fn max_windows_keeps_the_newest_and_removes_the_oldest() {
        let root = tempfile::tempdir().expect("temp dir");
        let names: Vec<String> = (0..5)
            .map(|n| make_window(root.path(), n * MINUTE))
            .collect();
        assert_eq!(
            retention(Some(2), None).apply(root.path(), &BTreeSet::new()),
            3
        );
        assert_eq!(remaining(root.path()), names[3..].to_vec());
    }

    #[test]
    fn max_age_counts_from_the_newest_window_end_not_the_clock() {
        let windows: Vec<(u64, String)> = (0..5)
            .map(|n| (n * MINUTE, window_dir_name(n * MINUTE)))
            .collect();
        // The newest window ends at minute 5; window 0 ended at minute 1
        // (4 minutes before), window 1 at 2 (3 before), window 2 at 3 (2 before).
        let expired = retention(None, Some(120)).expired(&windows, &BTreeSet::new());
        assert_eq!(expired, windows[..2].to_vec());
    }

    #[test]
    fn windows_the_run_wrote_are_never_removed_by_it() {
        let windows: Vec<(u64, String)> = (0..5)
            .map(|n| (n * MINUTE, window_dir_name(n * MINUTE)))
            .collect();
        let protected: BTreeSet<u64> = [0, MINUTE].into();
        let expired = retention(Some(1), Some(60)).expired(&windows, &protected);
        assert_eq!(expired, windows[2..4].to_vec());
    }

    #[test]
    fn a_window_holding_foreign_files_is_never_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let old = make_window(root.path(), 0);
        fs::write(
            root.path()
                .join(&old)
                .join("run-00000000000000ab/per_src_ip/notes.txt"),
            b"mine",
        )
        .expect("write");
        make_window(root.path(), MINUTE);
        fs::create_dir(root.path().join("not-a-window")).expect("dir");
        assert_eq!(
            retention(Some(1), None).apply(root.path(), &BTreeSet::new()),
            0
        );
        assert_eq!(remaining(root.path()).len(), 2);
        assert!(root.path().join("not-a-window").exists());
    }
}
