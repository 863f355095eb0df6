//! Retention: removes the oldest complete windows of an output root.
//!
//! Owns deciding which window directories are past `max_windows` or
//! `max_age`, and removing them. It only ever removes a directory whose name
//! is a window name and whose content is exactly what the writer puts there
//! (task directories holding `summary.json` and `shard_<i>.dat`); anything
//! else is left alone with a warning. Failures are logged, never fatal: a
//! window that could not be removed is retried after the next write.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::layout::{SUMMARY_FILE, parse_window_dir_name};

/// Limits on the windows kept; both `None` keeps everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Keep at most this many windows, the newest.
    pub max_windows: Option<usize>,
    /// Remove windows that ended longer ago than this.
    pub max_age: Option<Duration>,
    /// Window length, to know when a window ended.
    pub interval: Duration,
}

impl Retention {
    /// Removes the windows under `root` beyond the limits; returns how many were removed.
    pub fn apply(&self, root: &Path) -> usize {
        if self.max_windows.is_none() && self.max_age.is_none() {
            return 0;
        }
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        self.expired(&windows(root), now_ns)
            .into_iter()
            .filter(|name| remove_window(&root.join(name)))
            .count()
    }

    /// The names of the windows to remove among `windows` (sorted oldest first).
    fn expired(&self, windows: &[(u64, String)], now_ns: u64) -> Vec<String> {
        let over_count = self
            .max_windows
            .map_or(0, |keep| windows.len().saturating_sub(keep));
        let interval_ns = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        windows
            .iter()
            .enumerate()
            .filter(|(index, (start_ns, _))| {
                let too_many = *index < over_count;
                let too_old = self.max_age.is_some_and(|age| {
                    let age_ns = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
                    start_ns.saturating_add(interval_ns).saturating_add(age_ns) < now_ns
                });
                too_many || too_old
            })
            .map(|(_, (_, name))| name.clone())
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

/// Removes one window directory if it holds only what the writer writes.
fn remove_window(dir: &Path) -> bool {
    if !written_by_us(dir) {
        log::warn!(
            "retention: {} holds files netspectra did not write; left in place",
            dir.display()
        );
        return false;
    }
    match fs::remove_dir_all(dir) {
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

/// True when every entry is a task directory of `summary.json` and `shard_<i>.dat` files.
fn written_by_us(dir: &Path) -> bool {
    let Ok(tasks) = fs::read_dir(dir) else {
        return false;
    };
    tasks.filter_map(Result::ok).all(|task| {
        task.file_type().is_ok_and(|kind| kind.is_dir())
            && fs::read_dir(task.path()).is_ok_and(|files| {
                files.filter_map(Result::ok).all(|file| {
                    let name = file.file_name();
                    let name = name.to_string_lossy();
                    file.file_type().is_ok_and(|kind| kind.is_file())
                        && (name == SUMMARY_FILE
                            || name
                                .strip_prefix("shard_")
                                .and_then(|rest| rest.strip_suffix(".dat"))
                                .is_some_and(|index| index.parse::<usize>().is_ok()))
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::layout::window_dir_name;

    const MINUTE: u64 = 60_000_000_000;

    fn make_window(root: &Path, start_ns: u64) -> String {
        let name = window_dir_name(start_ns);
        let task = root.join(&name).join("per_src_ip");
        fs::create_dir_all(&task).expect("window dir");
        fs::write(task.join(SUMMARY_FILE), b"{}").expect("summary");
        fs::write(task.join("shard_0.dat"), b"x").expect("shard");
        name
    }

    fn remaining(root: &Path) -> Vec<String> {
        windows(root).into_iter().map(|(_, name)| name).collect()
    }

    #[test]
    fn max_windows_keeps_the_newest_and_removes_the_oldest() {
        let root = tempfile::tempdir().expect("temp dir");
        let names: Vec<String> = (0..5)
            .map(|n| make_window(root.path(), n * MINUTE))
            .collect();
        let retention = Retention {
            max_windows: Some(2),
            max_age: None,
            interval: Duration::from_secs(60),
        };
        assert_eq!(retention.apply(root.path()), 3);
        assert_eq!(remaining(root.path()), names[3..].to_vec());
    }

    #[test]
    fn max_age_removes_windows_that_ended_longer_ago() {
        let retention = Retention {
            max_windows: None,
            max_age: Some(Duration::from_secs(120)),
            interval: Duration::from_secs(60),
        };
        let windows: Vec<(u64, String)> = (0..5)
            .map(|n| (n * MINUTE, window_dir_name(n * MINUTE)))
            .collect();
        // At minute 5, window 0 ended at minute 1 (4 minutes ago), window 2 at minute 3.
        let expired = retention.expired(&windows, 5 * MINUTE);
        assert_eq!(expired, vec![windows[0].1.clone(), windows[1].1.clone()]);
    }

    #[test]
    fn a_window_holding_foreign_files_is_never_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let old = make_window(root.path(), 0);
        fs::write(root.path().join(&old).join("per_src_ip/notes.txt"), b"mine").expect("write");
        make_window(root.path(), MINUTE);
        fs::create_dir(root.path().join("not-a-window")).expect("dir");
        let retention = Retention {
            max_windows: Some(1),
            max_age: None,
            interval: Duration::from_secs(60),
        };
        assert_eq!(retention.apply(root.path()), 0);
        assert_eq!(remaining(root.path()).len(), 2);
        assert!(root.path().join("not-a-window").exists());
    }
}
