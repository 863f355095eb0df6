//! Leftovers of an interrupted writer (kill -9, power loss): the temporary
//! `.tmp-run-<id>-<pid>` part directories inside window directories, and
//! the `.del-<window>-<pid>` directories of windows retention was removing.
//!
//! Owns finding them and cleaning them up at start. Only directories whose
//! whole name is exactly what the writer makes, and whose writer process is
//! gone, are touched: another netspectra still writing into the same root
//! keeps its own, and a `.tmp-<anything else>` made by someone else
//! survives. `inspect` ignores all of them anyway (their names start with a dot).

use std::fs;
use std::path::Path;

use super::layout::{parse_window_dir_name, window_dir_name};
use super::run::RunId;
use super::window::temp_part_name;

/// What the clean-up did, one line per directory, for the log.
pub fn clean_leftovers(root: &Path) -> Vec<String> {
    let mut done = Vec::new();
    for (name, path) in subdirectories(root) {
        if let Some(pid) = removal_pid(&name) {
            if !process_alive(pid) {
                done.push(remove(&path));
            }
        } else if parse_window_dir_name(&name).is_some() {
            for (part, part_path) in subdirectories(&path) {
                if temp_part_pid(&part).is_some_and(|pid| !process_alive(pid)) {
                    done.push(remove(&part_path));
                }
            }
        }
    }
    done
}

/// The directories directly under `dir`, by name (names that are not UTF-8 are skipped).
fn subdirectories(dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .collect()
}

/// The writer's pid in `.tmp-run-<16 hex>-<pid>`, exactly as `window` names it.
fn temp_part_pid(name: &str) -> Option<u32> {
    let (part, pid) = name.strip_prefix(".tmp-")?.rsplit_once('-')?;
    let run = RunId::parse_part_name(part)?;
    let pid = pid.parse().ok()?;
    (temp_part_name(run, pid) == name).then_some(pid)
}

/// The remover's pid in `.del-<window>-<pid>`, exactly as retention names it.
fn removal_pid(name: &str) -> Option<u32> {
    let (window, pid) = name.strip_prefix(".del-")?.rsplit_once('-')?;
    let start = parse_window_dir_name(window)?;
    let pid: u32 = pid.parse().ok()?;
    (removal_name(start, pid) == name).then_some(pid)
}

/// The name retention gives a window while removing it.
pub fn removal_name(window_start_ns: u64, pid: u32) -> String {
    format!(".del-{}-{pid}", window_dir_name(window_start_ns))
}

fn remove(path: &Path) -> String {
    match fs::remove_dir_all(path) {
        Ok(()) => format!("removed {} left by an interrupted run", path.display()),
        Err(error) => format!("cannot clean up {}: {error}", path.display()),
    }
}

/// Whether process `pid` still runs (pid 0 is taken as running: never ours to clean).
pub(super) fn process_alive(pid: u32) -> bool {
    pid == 0 || Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const WINDOW: &str = "2025-09-09T10-00-00Z";
    const PART: &str = "run-00000000000000ab";
    /// Far above Linux's pid_max (4194304): never a running process.
    const DEAD_PID: u32 = 9_999_999;

    fn dir(root: &Path, name: &str) -> PathBuf {
        let path = root.join(name);
        fs::create_dir_all(path.join("per_src_ip")).expect("dir");
        path
    }

    #[test]
    fn a_dead_writers_temporary_part_and_removal_are_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let temp = dir(root.path(), &format!("{WINDOW}/.tmp-{PART}-{DEAD_PID}"));
        let removal = dir(root.path(), &format!(".del-{WINDOW}-{DEAD_PID}"));
        let kept = dir(root.path(), &format!("{WINDOW}/{PART}"));
        let done = clean_leftovers(root.path());
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(!temp.exists() && !removal.exists());
        assert!(kept.exists());
    }

    #[test]
    fn a_live_writers_directories_and_foreign_names_are_left_alone() {
        let root = tempfile::tempdir().expect("temp dir");
        let own = dir(
            root.path(),
            &format!("{WINDOW}/.tmp-{PART}-{}", std::process::id()),
        );
        let foreign = [
            format!("{WINDOW}/.tmp-{WINDOW}-0"),
            format!("{WINDOW}/.tmp-notes"),
            format!("{WINDOW}/.tmp-run-00000000000000AB-{DEAD_PID}"),
            format!("{WINDOW}/.tmp-{PART}-0{DEAD_PID}"),
            format!(".tmp-{WINDOW}-{DEAD_PID}"),
            format!(".del-backup-{DEAD_PID}"),
            format!("notes/.tmp-{PART}-{DEAD_PID}"),
        ];
        for name in &foreign {
            dir(root.path(), name);
        }
        assert!(clean_leftovers(root.path()).is_empty());
        assert!(own.exists());
        for name in &foreign {
            assert!(root.path().join(name).exists(), "{name} was touched");
        }
    }
}
