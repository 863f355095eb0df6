//! Least privilege: `capture --user` drops root after opening the interface,
//! output files and directories get modes 0644 and 0755, and the writer
//! never follows a symlink planted in the output root.

pub mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use support::cli::{analyze, capture_on_loopback, running_as_root};
use support::skip::skip;
use support::store::task_dir;
use support::traffic::{mixed_packets, write_pcap};

const NOBODY: u32 = 65_534;

fn chmod(mode: &str, path: &Path) {
    let status = Command::new("chmod")
        .arg(mode)
        .arg(path)
        .status()
        .expect("chmod runs");
    assert!(status.success());
}

/// Every entry under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn capture_with_user_writes_as_that_user_with_0644_files_and_0755_directories() {
    if !running_as_root() {
        skip("--user needs the test to run as root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    chmod("0755", dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("output dir");
    chmod("0777", &out);
    let args = [
        "--filter",
        "udp port 9",
        "--user",
        "nobody",
        "--duration",
        "1500ms",
        "--snapshot-interval",
        "1s",
    ];
    let Some(run) = capture_on_loopback(&args, &out) else {
        return;
    };
    assert_eq!(run.status, Some(0), "{}", run.log);
    assert!(run.log.contains("running as user nobody"), "{}", run.log);
    let written = walk(&out);
    assert!(
        written.iter().any(|path| path.ends_with("summary.json")),
        "{written:?}"
    );
    for path in written {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        assert_eq!(meta.uid(), NOBODY, "{} not owned by nobody", path.display());
        let want = if meta.is_dir() { 0o755 } else { 0o644 };
        assert_eq!(
            meta.permissions().mode() & 0o777,
            want,
            "{}",
            path.display()
        );
    }
}

#[test]
fn capture_with_user_refuses_an_output_that_user_cannot_write() {
    if !running_as_root() {
        skip("--user needs the test to run as root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("root-only");
    std::fs::create_dir(&out).expect("output dir");
    chmod("0755", &out);
    let Some(run) = capture_on_loopback(&["--user", "nobody", "--duration", "1s"], &out) else {
        return;
    };
    assert_eq!(run.status, Some(2), "{}", run.log);
    assert!(
        run.log.contains("root-only") && run.log.contains("not writable"),
        "{}",
        run.log
    );
}

#[test]
fn an_unknown_user_is_refused_before_capture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(run) = capture_on_loopback(&["--user", "no-such-user-here"], dir.path()) else {
        return;
    };
    assert_eq!(run.status, Some(2), "{}", run.log);
    assert!(
        run.log.contains("no-such-user-here: no such user"),
        "{}",
        run.log
    );
}

#[test]
fn a_symlink_planted_at_a_window_name_is_replaced_and_its_target_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("one.pcap");
    let mut specs = mixed_packets(10, 1_757_412_000_000_000_000, 1_000, 31);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("output dir");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("target dir");
    std::fs::write(elsewhere.join("precious.txt"), b"keep me").expect("write");
    std::os::unix::fs::symlink(&elsewhere, out.join("2025-09-09T10-00-00Z")).expect("symlink");

    let run = analyze(&[&capture], &out, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let window = out.join("2025-09-09T10-00-00Z");
    assert!(
        !std::fs::symlink_metadata(&window)
            .expect("window")
            .file_type()
            .is_symlink()
    );
    assert!(
        task_dir(&window, "per_src_ip")
            .join("summary.json")
            .is_file()
    );
    let kept: Vec<_> = std::fs::read_dir(&elsewhere)
        .expect("target")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(kept.len(), 1, "the symlink's target was written into");
    assert_eq!(
        std::fs::read(elsewhere.join("precious.txt")).expect("read"),
        b"keep me"
    );
}
