//! Looking at an output root as the writer lays it out:
//! `<root>/<window>/run-<id>/<task>/{shard_<i>.dat, summary.json}`.

use std::path::{Path, PathBuf};

/// The window directories of `root`, oldest first (names like `2025-09-09T10-00-00Z`).
pub fn window_dirs(root: &Path) -> Vec<PathBuf> {
    let mut windows: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("output root exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.is_dir()
                && path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.ends_with('Z') && !name.starts_with('.'))
        })
        .collect();
    windows.sort();
    windows
}

/// The run parts (`run-<id>`) of one window, in name order.
pub fn part_dirs(window: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(window)
        .expect("window exists")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("run-"))
        })
        .collect();
    parts.sort();
    parts
}

/// The directory of `task` in the only run part of `window`.
pub fn task_dir(window: &Path, task: &str) -> PathBuf {
    let parts = part_dirs(window);
    assert_eq!(
        parts.len(),
        1,
        "{} has one run part: {parts:?}",
        window.display()
    );
    parts[0].join(task)
}

/// Temporary or half-removed directories anywhere the writer puts them:
/// dot-names in the root (but the lock file) and inside windows.
pub fn leftovers(root: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(root)
        .expect("root exists")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with('.') && name != ".netspectra.lock")
        .collect();
    for window in window_dirs(root) {
        found.extend(
            std::fs::read_dir(&window)
                .expect("window exists")
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with('.')),
        );
    }
    found
}
