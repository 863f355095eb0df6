//! The Parquet tree on disk: names, and what is found under a root.
//!
//! ```text
//! <root>/task=<name>/date=<YYYY-MM-DD>/<window start>-run-<id>.parquet   flows
//! <root>/windows/date=<YYYY-MM-DD>/<window start>-run-<id>.parquet       windows
//! <root>/.../.tmp-<file name>-<pid>                                      being written
//! ```
//!
//! Owns the names (making and parsing them), cleaning up the temporary
//! files of writers that are gone, and removing the files of expired
//! windows. Only names exactly as this module makes them are ever removed,
//! and a symlink is never followed: another program's files in the tree
//! are left alone.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use crate::output::layout::{parse_window_dir_name, utc_date, window_dir_name};
use crate::output::leftovers::process_alive;
use crate::output::retention::Retention;
use crate::output::run::RunId;

/// The directory of the `windows` table under the root.
pub const WINDOWS_DIR: &str = "windows";
const EXTENSION: &str = ".parquet";

/// The directory of one task's flows: `task=<name>`.
pub fn task_dir_name(task: &str) -> String {
    format!("task={task}")
}

/// The directory of one UTC day: `date=2025-09-09`.
pub fn date_dir_name(window_start_ns: u64) -> String {
    format!("date={}", utc_date(window_start_ns))
}

/// One run's file of one window: `2025-09-09T10-00-00Z-run-<id>.parquet`.
pub fn file_name(window_start_ns: u64, run: RunId) -> String {
    format!(
        "{}-{}{EXTENSION}",
        window_dir_name(window_start_ns),
        run.part_name()
    )
}

/// The name a file has while process `pid` writes it: hidden, and not
/// ending in `.parquet`, so no reader's glob picks it up.
pub fn temp_name(final_name: &str, pid: u32) -> String {
    format!(".tmp-{final_name}-{pid}")
}

/// The window start of a name made by [`file_name`]; `None` for anything else.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(EXTENSION)?;
    let (window, part) = (stem.get(..20)?, stem.get(20..)?.strip_prefix('-')?);
    let start = parse_window_dir_name(window)?;
    let run = RunId::parse_part_name(part)?;
    (file_name(start, run) == name).then_some(start)
}

/// The pid in a name made by [`temp_name`] of a name made by [`file_name`].
fn parse_temp_name(name: &str) -> Option<u32> {
    let (final_name, pid) = name.strip_prefix(".tmp-")?.rsplit_once('-')?;
    parse_file_name(final_name)?;
    let pid = pid.parse().ok()?;
    (temp_name(final_name, pid) == name).then_some(pid)
}

/// Every `date=` directory of the tree: under each `task=` directory and
/// under `windows`. Symlinks are not directories here.
fn date_dirs(root: &Path) -> Vec<PathBuf> {
    real_dirs(root)
        .into_iter()
        .filter(|(name, _)| name.starts_with("task=") || name == WINDOWS_DIR)
        .flat_map(|(_, table)| real_dirs(&table))
        .filter(|(name, _)| name.starts_with("date="))
        .map(|(_, dir)| dir)
        .collect()
}

/// The directories directly under `dir` with their names (non-UTF-8 names skipped).
fn real_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    entries(dir, |kind| kind.is_dir())
}

/// The regular files directly under `dir` with their names.
fn real_files(dir: &Path) -> Vec<(String, PathBuf)> {
    entries(dir, |kind| kind.is_file())
}

fn entries(dir: &Path, keep: fn(&fs::FileType) -> bool) -> Vec<(String, PathBuf)> {
    let Ok(listing) = fs::read_dir(dir) else {
        return Vec::new();
    };
    listing
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| keep(&kind)))
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .collect()
}

/// Removes the temporary files of writers that are gone; one line per file, for the log.
pub fn clean_leftovers(root: &Path) -> Vec<String> {
    let mut done = Vec::new();
    for dir in date_dirs(root) {
        for (name, path) in real_files(&dir) {
            if parse_temp_name(&name).is_some_and(|pid| !process_alive(pid)) {
                done.push(match fs::remove_file(&path) {
                    Ok(()) => format!("removed {} left by an interrupted run", path.display()),
                    Err(error) => format!("cannot clean up {}: {error}", path.display()),
                });
            }
        }
    }
    done
}

/// Removes the files of the windows `retention` expires, counting windows
/// over the whole tree and sparing those starting at a time in
/// `protected`; then the `date=` directories left empty. Failures are
/// logged, never fatal: the next window's write tries again. Returns the
/// number of files removed.
pub fn apply_retention(root: &Path, retention: &Retention, protected: &BTreeSet<u64>) -> usize {
    if !retention.limits() {
        return 0;
    }
    let mut files: Vec<(u64, PathBuf)> = Vec::new();
    let dirs = date_dirs(root);
    for dir in &dirs {
        for (name, path) in real_files(dir) {
            if let Some(start) = parse_file_name(&name)
                && dir.file_name() == Some(OsStr::new(&date_dir_name(start)))
            {
                files.push((start, path));
            }
        }
    }
    let starts: BTreeSet<u64> = files.iter().map(|(start, _)| *start).collect();
    let windows: Vec<(u64, ())> = starts.into_iter().map(|start| (start, ())).collect();
    let expired: BTreeSet<u64> = retention
        .expired(&windows, protected)
        .into_iter()
        .map(|(start, ())| start)
        .collect();
    let mut removed = 0;
    for (_, path) in files.iter().filter(|(start, _)| expired.contains(start)) {
        match fs::remove_file(path) {
            Ok(()) => removed += 1,
            Err(error) => log::warn!("retention: cannot remove {}: {error}", path.display()),
        }
    }
    if removed > 0 {
        // Fails, as it should, for every directory that still holds a file.
        for dir in &dirs {
            if fs::remove_dir(dir).is_ok() {
                log::debug!("retention: removed {}, left empty", dir.display());
            }
        }
        log::info!(
            "retention: removed {removed} Parquet file(s) of {} window(s) under {}",
            expired.len(),
            root.display()
        );
    }
    removed
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SEC: u64 = 1_000_000_000;
    const T0: u64 = 1_757_412_000 * SEC;
    const RUN: RunId = RunId(0xab);
    /// Far above Linux's pid_max (4194304): never a running process.
    const DEAD_PID: u32 = 9_999_999;

    #[test]
    fn names_follow_the_hive_layout_and_parse_back() {
        assert_eq!(task_dir_name("per_src_ip"), "task=per_src_ip");
        assert_eq!(date_dir_name(T0), "date=2025-09-09");
        let name = file_name(T0, RUN);
        assert_eq!(name, "2025-09-09T10-00-00Z-run-00000000000000ab.parquet");
        assert_eq!(parse_file_name(&name), Some(T0));
        let temp = temp_name(&name, 42);
        assert_eq!(
            temp,
            ".tmp-2025-09-09T10-00-00Z-run-00000000000000ab.parquet-42"
        );
        assert_eq!(parse_temp_name(&temp), Some(42));
    }

    #[test]
    fn names_not_made_here_do_not_parse() {
        for name in [
            "2025-09-09T10-00-00Z-run-00000000000000AB.parquet",
            "2025-09-09T10-00-00Z-run-00000000000000ab.parquet.bak",
            "2025-09-09T10-00-00Z.parquet",
            "2025-02-30T10-00-00Z-run-00000000000000ab.parquet",
            "notes-run-00000000000000ab.parquet",
            "",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
        for name in [
            ".tmp-notes.parquet-42",
            ".tmp-2025-09-09T10-00-00Z-run-00000000000000ab.parquet-042",
            ".tmp-2025-09-09T10-00-00Z-run-00000000000000ab.parquet",
        ] {
            assert_eq!(parse_temp_name(name), None, "{name}");
        }
    }

    fn plant(root: &Path, path: &str) -> PathBuf {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("nested")).expect("dirs");
        fs::write(&path, b"x").expect("file");
        path
    }

    #[test]
    fn a_dead_writers_temporary_file_is_removed_and_nothing_else() {
        let root = tempfile::tempdir().expect("temp dir");
        let name = file_name(T0, RUN);
        let dead = plant(
            root.path(),
            &format!("task=t/date=2025-09-09/{}", temp_name(&name, DEAD_PID)),
        );
        let dead_windows = plant(
            root.path(),
            &format!("windows/date=2025-09-09/{}", temp_name(&name, DEAD_PID)),
        );
        let kept = [
            plant(
                root.path(),
                &format!(
                    "task=t/date=2025-09-09/{}",
                    temp_name(&name, std::process::id())
                ),
            ),
            plant(root.path(), &format!("task=t/date=2025-09-09/{name}")),
            plant(
                root.path(),
                &format!("task=t/date=2025-09-09/.tmp-notes-{DEAD_PID}"),
            ),
            plant(
                root.path(),
                &format!("other/date=2025-09-09/{}", temp_name(&name, DEAD_PID)),
            ),
        ];
        assert_eq!(clean_leftovers(root.path()).len(), 2);
        assert!(!dead.exists() && !dead_windows.exists());
        for path in kept {
            assert!(path.exists(), "{} was removed", path.display());
        }
    }

    #[test]
    fn retention_removes_the_oldest_windows_files_in_every_table_but_protected_ones() {
        let root = tempfile::tempdir().expect("temp dir");
        let day = 24 * 3600 * SEC;
        let starts = [T0 - 2 * day, T0 - day, T0];
        let mut files = Vec::new();
        for start in starts {
            let date = date_dir_name(start);
            let name = file_name(start, RUN);
            files.push(plant(root.path(), &format!("task=a/{date}/{name}")));
            files.push(plant(root.path(), &format!("windows/{date}/{name}")));
        }
        let foreign = plant(root.path(), "task=a/date=2025-09-07/notes.txt");
        let retention = Retention {
            max_windows: Some(1),
            max_age: None,
            interval: Duration::from_secs(60),
        };
        let protected: BTreeSet<u64> = [T0 - 2 * day].into();
        assert_eq!(apply_retention(root.path(), &retention, &protected), 2);
        let exists: Vec<bool> = files.iter().map(|path| path.exists()).collect();
        assert_eq!(exists, [true, true, false, false, true, true]);
        assert!(!root.path().join("task=a/date=2025-09-08").exists());
        assert!(foreign.exists());
    }
}
