//! Output faults: a disk that fills up in the middle of a run, and a writer
//! killed with SIGKILL. What was written stays whole, what could not be
//! written is reported, and no half-written window is ever visible.

pub mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::cli::{analyze, inspect_json, netspectra};
use support::store::{leftovers, part_dirs, window_dirs};
use support::traffic::{mixed_packets, write_pcap};

const SECOND: u64 = 1_000_000_000;
const START: u64 = 1_757_412_000 * SECOND;

/// A size-limited tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
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

#[test]
fn a_disk_full_mid_run_keeps_written_windows_whole_and_lists_the_lost_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "400k") else {
        eprintln!("SKIP: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let capture = dir.path().join("spread.pcap");
    // 40 one-second windows of 50 packets.
    let mut specs = mixed_packets(2_000, START, SECOND / 50, 21);
    write_pcap(&capture, &mut specs);
    let out = disk.0.join("out");
    let run = analyze(&[&capture], &out, &["--snapshot-interval", "1s"]);

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
        40,
        "every window is written or reported: {}",
        run.summary
    );
    assert!(run.stderr.contains("not written"), "{}", run.stderr);
    assert!(
        run.stderr.contains("kept in memory and retried"),
        "{}",
        run.stderr
    );
    // Every visible window is complete: inspect checks each shard file against its summary.
    assert_eq!(window_dirs(&out).len() as u64, written);
    let lines = inspect_json(&out, &["--task", "per_protocol"]);
    let packets: u64 = lines
        .iter()
        .map(|line| line["packets"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(packets, written * 50);
}

#[test]
fn sigkill_mid_run_never_shows_a_partial_window_and_the_next_start_cleans_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("many-windows.pcap");
    let mut specs = mixed_packets(100_000, START, SECOND / 20, 22);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    let mut child = netspectra()
        .args(["analyze", "--snapshot-interval", "1s", "--output"])
        .arg(&out)
        .arg(&capture)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let killed_pid = child.id();
    let mut log = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut windows_seen = 0;
    while windows_seen < 20 {
        let line = log.next().expect("the log goes on").expect("UTF-8");
        windows_seen += usize::from(line.contains("written to"));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let visible = window_dirs(&out);
    assert!(!visible.is_empty());
    for window in &visible {
        // A window whose only part was being written when the kill came
        // holds just a temporary directory: nothing to show yet.
        if part_dirs(window).is_empty() {
            continue;
        }
        // Fails if any shard file is missing or disagrees with its summary.
        inspect_json(window, &[]);
    }
    let tiny = dir.path().join("tiny.pcap");
    let mut one = mixed_packets(1, START, 1, 23);
    write_pcap(&tiny, &mut one);
    assert_eq!(
        analyze(&[&tiny], &out, &["--snapshot-interval", "1s"]).status,
        0
    );
    let leftovers: Vec<String> = leftovers(&out)
        .into_iter()
        .filter(|name| name.ends_with(&format!("-{killed_pid}")))
        .collect();
    assert!(leftovers.is_empty(), "left after restart: {leftovers:?}");
}
