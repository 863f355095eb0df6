//! The store across runs: rotated files add up, reruns replace themselves,
//! concurrent runs lose nothing, a root refuses runs that would not add up,
//! `max_keys` is a hard cap whatever the number of workers, and SIGHUP
//! stops as cleanly as SIGTERM. Every test runs the binary and compares
//! with one run over all inputs, or with counts computed from the packets.

pub mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use support::cli::{analyze, inspect_json, netspectra};
use support::store::{leftovers, part_dirs, window_dirs};
use support::traffic::{
    PacketSpec, Table, expected_tables, mixed_packets, tables_from_inspect, write_pcap,
};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;

/// Merged tables of every task in `root`.
fn merged(root: &Path) -> BTreeMap<String, Table> {
    tables_from_inspect(&inspect_json(root, &["--merge"]))
}

fn expected(specs: &[PacketSpec]) -> BTreeMap<String, Table> {
    expected_tables(specs)
        .into_iter()
        .map(|(task, table)| (task.to_string(), table))
        .collect()
}

/// One capture of `packets` packets, `step_ns` apart, split in two files at
/// `split`, so both halves touch the window around the split.
struct Split {
    dir: tempfile::TempDir,
    specs: Vec<PacketSpec>,
}

impl Split {
    fn new(packets: usize, step_ns: u64, split: usize) -> Split {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut specs = mixed_packets(packets, START, step_ns, 41);
        let (first, second) = specs.split_at_mut(split);
        write_pcap(&dir.path().join("part1.pcap"), first);
        write_pcap(&dir.path().join("part2.pcap"), second);
        Split { dir, specs }
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn rotated_files_analyzed_one_at_a_time_add_up_to_one_run_over_both() {
    // 222 packets 0.3 s apart: 67 s, two 60 s windows, the split inside the second.
    let split = Split::new(222, 300_000_000, 210);
    let one_by_one = split.root("one-by-one");
    for part in ["part1.pcap", "part2.pcap"] {
        let run = analyze(&[&split.file(part)], &one_by_one, &[]);
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
    let together = split.root("together");
    let run = analyze(
        &[&split.file("part1.pcap"), &split.file("part2.pcap")],
        &together,
        &[],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(merged(&one_by_one), merged(&together));
    assert_eq!(merged(&one_by_one), expected(&split.specs));
    let shared_window = &window_dirs(&one_by_one)[1];
    assert_eq!(
        part_dirs(shared_window).len(),
        2,
        "both runs wrote into the second window"
    );
}

#[test]
fn a_rerun_of_the_same_inputs_and_config_replaces_its_own_parts() {
    let split = Split::new(222, 300_000_000, 100);
    let root = split.root("out");
    let inputs = [split.file("part1.pcap"), split.file("part2.pcap")];
    let inputs: Vec<&Path> = inputs.iter().map(|path| path.as_path()).collect();
    for _ in 0..3 {
        let run = analyze(&inputs, &root, &[]);
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
    assert_eq!(merged(&root), expected(&split.specs));
    for window in window_dirs(&root) {
        assert_eq!(part_dirs(&window).len(), 1, "{}", window.display());
    }
    assert!(leftovers(&root).is_empty(), "{:?}", leftovers(&root));
}

#[test]
fn two_concurrent_runs_into_one_root_give_their_union() {
    let split = Split::new(4_000, 20_000_000, 2_000);
    let root = split.root("out");
    let children: Vec<_> = ["part1.pcap", "part2.pcap"]
        .into_iter()
        .map(|part| {
            netspectra()
                .args(["analyze", "--json", "--snapshot-interval", "1s", "--output"])
                .arg(&root)
                .arg(split.file(part))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("netspectra starts")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("reaped");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let together = split.root("together");
    let both = [split.file("part1.pcap"), split.file("part2.pcap")];
    let run = analyze(
        &[&both[0], &both[1]],
        &together,
        &["--snapshot-interval", "1s"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(merged(&root), merged(&together));
    assert_eq!(merged(&root), expected(&split.specs));
}

#[test]
fn a_root_refuses_another_interval_or_task_definition_before_the_first_packet() {
    let split = Split::new(100, SECOND, 50);
    let root = split.root("out");
    assert_eq!(analyze(&[&split.file("part1.pcap")], &root, &[]).status, 0);
    let before = merged(&root);

    let run = analyze(
        &[&split.file("part2.pcap")],
        &root,
        &["--snapshot-interval", "10s"],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("this root holds 1m windows, but this run cuts 10s windows"),
        "{}",
        run.stderr
    );

    let config = split.dir.path().join("redefined.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  exact_tasks:\n    - name: per_src_ip\n      key_fields: [DstIP]\n",
    )
    .expect("config written");
    let config = config.to_string_lossy().into_owned();
    let run = analyze(&[&split.file("part2.pcap")], &root, &["--config", &config]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "task \"per_src_ip\" is defined differently in this root (kind=exact key=SrcIP max_keys=none) \
             than in this run (kind=exact key=DstIP max_keys=none)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(merged(&root), before, "a refused run writes nothing");
}

#[test]
fn a_new_task_may_join_a_root() {
    let split = Split::new(100, SECOND, 50);
    let root = split.root("out");
    assert_eq!(analyze(&[&split.file("part1.pcap")], &root, &[]).status, 0);
    let config = split.dir.path().join("more.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  exact_tasks:\n    - name: per_src_ip\n      key_fields: [SrcIP]\n    - name: pairs\n      key_fields: [SrcIP, DstIP]\n",
    )
    .expect("config written");
    let config = config.to_string_lossy().into_owned();
    let run = analyze(&[&split.file("part2.pcap")], &root, &["--config", &config]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let tables = merged(&root);
    assert_eq!(tables["per_src_ip"], expected(&split.specs)["per_src_ip"]);
}

/// Distinct source addresses in every window of `max_keys`'s task, per window.
fn keys_per_window(root: &Path) -> Vec<usize> {
    window_dirs(root)
        .iter()
        .map(|window| {
            inspect_json(window, &["--task", "per_src_ip"])
                .iter()
                .filter(|row| row["other"] != true)
                .count()
        })
        .collect()
}

#[test]
fn max_keys_is_a_hard_cap_per_task_and_window_with_1_3_7_and_64_workers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("many-sources.pcap");
    // 3,000 packets from 40 sources over 60 s, one window.
    let mut specs = mixed_packets(3_000, START, 10_000_000, 43);
    write_pcap(&capture, &mut specs);
    for max_keys in [1u64, 7, 30] {
        let config = dir.path().join(format!("max-{max_keys}.yaml"));
        std::fs::write(
            &config,
            format!("aggregator:\n  exact_tasks:\n    - name: per_src_ip\n      key_fields: [SrcIP]\n      max_keys: {max_keys}\n"),
        )
        .expect("config written");
        let config = config.to_string_lossy().into_owned();
        for workers in ["1", "3", "7", "64"] {
            let out = dir.path().join(format!("out-{max_keys}-{workers}"));
            let run = analyze(
                &[&capture],
                &out,
                &["--config", &config, "--workers", workers],
            );
            assert_eq!(run.status, 0, "{}", run.stderr);
            assert_eq!(
                run.summary["tasks"]["per_src_ip"]["packets"],
                specs.len() as u64
            );
            for keys in keys_per_window(&out) {
                assert!(
                    keys as u64 <= max_keys,
                    "max_keys {max_keys}, {workers} workers: {keys} keys in a window"
                );
            }
        }
    }
}

#[test]
fn sighup_stops_like_sigterm_with_everything_read_written_and_no_temporary_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("long.pcap");
    let mut specs = mixed_packets(200_000, START, SECOND / 1000, 44);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    let mut child = netspectra()
        .args(["analyze", "--json", "--snapshot-interval", "1s", "--output"])
        .arg(&out)
        .arg(&capture)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let mut log = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // Wait until windows are being written, then hang up.
    loop {
        let line = log.next().expect("the log goes on").expect("UTF-8");
        if line.contains("written to") {
            break;
        }
    }
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    for _ in log.by_ref() {}
    let output = child.wait_with_output().expect("reaped");
    assert!(output.status.success(), "exit {:?}", output.status);
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("a JSON summary on stdout");
    assert_eq!(summary["interrupted"], true, "{summary}");
    let counted = summary["packets_counted"].as_u64().expect("counted");
    assert!(
        counted < specs.len() as u64,
        "the signal came too late to test anything"
    );
    let tables = merged(&out);
    let written: u64 = tables["per_protocol"].values().map(|counts| counts.0).sum();
    assert_eq!(written, counted);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}
