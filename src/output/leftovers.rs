//! Leftovers of an interrupted writer (kill -9, power loss): the temporary
//! `.tmp-<window>-<pid>` directories of windows being written and the
//! `.old-<window>-<pid>` directories of windows being replaced.
//!
//! Owns finding them and cleaning them up at start. Only directories whose
//! whole name has that shape and whose writer process is gone are touched:
//! another netspectra still writing into the same root keeps its own, and
//! nothing else in the root is ever looked at twice. `inspect` ignores all
//! of them anyway (their names start with a dot).

use std::fs;
use std::path::{Path, PathBuf};

use super::layout::{parse_window_dir_name, window_dir_name};

/// What the clean-up did, one line per directory, for the log.
pub fn clean_leftovers(root: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let leftover = Leftover::parse(&name)?;
            (!process_alive(leftover.pid)).then(|| leftover.clean(root, &entry.path()))
        })
        .collect()
}

/// A parsed leftover name.
struct Leftover {
    replacing: bool,
    window_start_ns: u64,
    pid: u32,
}

impl Leftover {
    /// `.tmp-<window>-<pid>` or `.old-<window>-<pid>`, with a valid window name.
    fn parse(name: &str) -> Option<Leftover> {
        let (replacing, rest) = if let Some(rest) = name.strip_prefix(".tmp-") {
            (false, rest)
        } else {
            (true, name.strip_prefix(".old-")?)
        };
        let (window, pid) = rest.rsplit_once('-')?;
        let window_start_ns = parse_window_dir_name(window)?;
        let pid = pid.parse().ok()?;
        // The name must be exactly what the writer makes, nothing looser.
        (window_dir_name(window_start_ns) == window).then_some(Leftover {
            replacing,
            window_start_ns,
            pid,
        })
    }

    /// Removes a half-written window; puts back a replaced window whose
    /// replacement never arrived, or removes it if the replacement did.
    fn clean(&self, root: &Path, dir: &PathBuf) -> String {
        let target = root.join(window_dir_name(self.window_start_ns));
        let outcome = if self.replacing && !target.exists() {
            fs::rename(dir, &target)
                .map(|()| format!("restored {} from {}", target.display(), dir.display()))
        } else {
            fs::remove_dir_all(dir)
                .map(|()| format!("removed {} left by an interrupted run", dir.display()))
        };
        outcome.unwrap_or_else(|error| format!("cannot clean up {}: {error}", dir.display()))
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: &str = "2025-09-09T10-00-00Z";
    /// Far above Linux's pid_max (4194304): never a running process.
    const DEAD_PID: u32 = 9_999_999;

    fn dir(root: &Path, name: &str) -> PathBuf {
        let path = root.join(name);
        fs::create_dir_all(path.join("per_src_ip")).expect("dir");
        path
    }

    #[test]
    fn a_dead_writers_temporary_window_is_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let temp = dir(root.path(), &format!(".tmp-{WINDOW}-{DEAD_PID}"));
        let done = clean_leftovers(root.path());
        assert_eq!(done.len(), 1, "{done:?}");
        assert!(!temp.exists());
    }

    #[test]
    fn a_replaced_window_without_its_replacement_is_restored() {
        let root = tempfile::tempdir().expect("temp dir");
        dir(root.path(), &format!(".old-{WINDOW}-{DEAD_PID}"));
        clean_leftovers(root.path());
        assert!(root.path().join(WINDOW).join("per_src_ip").is_dir());
    }

    #[test]
    fn a_live_writers_directories_and_foreign_names_are_left_alone() {
        let root = tempfile::tempdir().expect("temp dir");
        let own = dir(
            root.path(),
            &format!(".tmp-{WINDOW}-{}", std::process::id()),
        );
        let foreign = [
            ".tmp-notes",
            ".tmp-2025-09-09T10-00-00Z-x",
            ".old-backup-12",
            "tmp-2025-09-09T10-00-00Z-1",
        ];
        for name in foreign {
            dir(root.path(), name);
        }
        assert!(clean_leftovers(root.path()).is_empty());
        assert!(own.exists());
        for name in foreign {
            assert!(root.path().join(name).exists(), "{name} was touched");
        }
    }
}
