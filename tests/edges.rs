//! Edges of the window store and its inputs (issue 7): no silent loss and
//! no double counting. Snapshot intervals are whole seconds, so windows
//! never overwrite each other; config and stored files are read only when
//! they are regular files of a sane size; quiet windows read back as zero.

pub mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

/// No test here may wait longer than this for the binary: a FIFO or a
/// device read in place of a file would otherwise hang the suite.
const PROMPTLY: Duration = Duration::from_secs(20);

const INTERVAL_RULE: &str =
    "the snapshot interval must be a whole number of seconds, from 1s to 24h";

/// The binary under test, killed if it runs longer than [`PROMPTLY`].
fn netspectra() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netspectra"));
    command.timeout(PROMPTLY).env("RUST_LOG", "warn");
    command
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("test file written");
    path
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `value` is refused with exit status 2 and the same words as
/// `--snapshot-interval` and as `aggregator.snapshot_interval`.
#[track_caller]
fn check_interval_refused(value: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = write(dir.path(), "x.pcap", b"");
    let want = format!("{value}: {INTERVAL_RULE}");

    let flag = netspectra()
        .args(["analyze", "--snapshot-interval", value])
        .arg(&capture)
        .output()
        .expect("runs");
    assert_eq!(flag.status.code(), Some(2), "{}", stderr_of(&flag));
    assert!(stderr_of(&flag).contains(&want), "{}", stderr_of(&flag));

    let config = write(
        dir.path(),
        "interval.yaml",
        format!("aggregator:\n  snapshot_interval: {value}\n").as_bytes(),
    );
    let file = netspectra()
        .args(["analyze", "--config"])
        .arg(&config)
        .arg(&capture)
        .output()
        .expect("runs");
    let log = stderr_of(&file);
    assert_eq!(file.status.code(), Some(2), "{log}");
    assert!(
        log.contains(&want) && log.contains("aggregator.snapshot_interval"),
        "{log}"
    );
}

#[test]
fn a_sub_second_snapshot_interval_is_refused_by_flag_and_config_in_the_same_words() {
    check_interval_refused("500ms");
    check_interval_refused("1ns");
}

#[test]
fn a_snapshot_interval_over_a_day_is_refused_by_flag_and_config_in_the_same_words() {
    check_interval_refused("100y");
    check_interval_refused("25h");
}

/// Runs `analyze -c <config>` and returns its exit status and stderr.
fn analyze_with_config(config: &Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = write(dir.path(), "x.pcap", b"");
    let output = netspectra()
        .args(["analyze", "--config"])
        .arg(config)
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg(&capture)
        .output()
        .expect("runs and ends");
    (output.status.code(), stderr_of(&output))
}

#[test]
fn a_fifo_given_as_the_config_is_refused_at_once_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("config-pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (status, log) = analyze_with_config(&fifo);
    assert_eq!(status, Some(2), "{log}");
    assert!(
        log.contains(&format!(
            "{}: is a FIFO (named pipe), not a regular file",
            fifo.display()
        )),
        "{log}"
    );
}

#[test]
fn dev_zero_given_as_the_config_is_refused_without_reading_it() {
    let (status, log) = analyze_with_config(Path::new("/dev/zero"));
    assert_eq!(status, Some(2), "{log}");
    assert!(
        log.contains("/dev/zero: is a character device, not a regular file"),
        "{log}"
    );
}
