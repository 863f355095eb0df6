//! A size-limited tmpfs for the disk-full tests (needs root to mount).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cli::Run;

/// A size-limited tmpfs mounted for one test, unmounted when dropped.
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`400k`) at `at`; `None` where this
    /// process may not mount.
    pub fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|output| output.status.success());
        mounted.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Checks what a run whose disk filled part-way reports, the same for
/// every sink: status 1, some of its `windows` written and every other one
/// listed as lost, after being kept and retried. Returns the windows written.
#[track_caller]
pub fn assert_filled_part_way(run: &Run, windows: u64) -> u64 {
    assert_eq!(
        run.status, 1,
        "a lost window must fail the run:\n{}",
        run.stderr
    );
    let written = run.summary["windows"].as_u64().expect("windows");
    let lost = run.summary["errors"].as_array().expect("errors").len() as u64;
    assert!(
        written > 0 && lost > 0,
        "the disk should fill part-way: {}",
        run.summary
    );
    assert_eq!(
        written + lost,
        windows,
        "every window is written or reported: {}",
        run.summary
    );
    assert!(run.stderr.contains("not written"), "{}", run.stderr);
    assert!(
        run.stderr.contains("kept in memory and retried"),
        "{}",
        run.stderr
    );
    written
}
