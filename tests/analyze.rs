//! `netspectra analyze` end to end: exact counts per key for every default
//! task, the same output whatever the number of workers, windows that follow
//! packet timestamps, and a SIGTERM that loses nothing already read.

pub mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::cli::{analyze, inspect_json, netspectra};
use support::store::{leftovers, window_dirs};
use support::traffic::{expected_tables, mixed_packets, tables_from_inspect, write_pcap};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;

#[test]
fn every_default_task_counts_exactly_what_was_written_with_1_2_and_4_workers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("mixed.pcap");
    let mut specs = mixed_packets(3_000, START, 1_000_000, 11);
    let arp = write_pcap(&capture, &mut specs);
    let expected = expected_tables(&specs);
    let mut outputs = Vec::new();
    for workers in ["1", "2", "4"] {
        let out = dir.path().join(format!("out-{workers}"));
        let run = analyze(&[&capture], &out, &["--workers", workers]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.summary["packets_read"], specs.len() as u64 + arp);
        assert_eq!(run.summary["packets_counted"], specs.len() as u64);
        assert_eq!(run.summary["non_ip"], arp);
        assert_eq!(run.summary["malformed"], 0);
        let lines = inspect_json(&out, &["--merge"]);
        let got = tables_from_inspect(&lines);
        for (task, table) in &expected {
            assert_eq!(
                got.get(*task),
                Some(table),
                "task {task} with {workers} workers"
            );
        }
        assert_eq!(got.len(), expected.len());
        outputs.push(inspect_json(&out, &[]));
    }
    assert_eq!(outputs[0], outputs[1], "1 and 2 workers differ");
    assert_eq!(outputs[0], outputs[2], "1 and 4 workers differ");
}

#[test]
fn windows_follow_packet_timestamps_and_sum_to_the_totals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("spread.pcap");
    // 500 packets 100 ms apart from 10:00:00: five 10-second windows of 100 packets.
    let mut specs = mixed_packets(500, START, SECOND / 10, 5);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    let run = analyze(&[&capture], &out, &["--snapshot-interval", "10s"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["windows"], 5);
    let windows: Vec<String> = window_dirs(&out)
        .iter()
        .filter_map(|path| Some(path.file_name()?.to_str()?.to_string()))
        .collect();
    let want: Vec<String> = (0..5)
        .map(|n| format!("2025-09-09T10-00-{:02}Z", n * 10))
        .collect();
    assert_eq!(windows, want);
    for (index, window) in windows.iter().enumerate() {
        let in_window = &specs[index * 100..(index + 1) * 100];
        let got = tables_from_inspect(&inspect_json(&out.join(window), &[]));
        for (task, table) in expected_tables(in_window) {
            assert_eq!(
                got.get(task),
                Some(&table),
                "task {task} in window {window}"
            );
        }
    }
    let merged = tables_from_inspect(&inspect_json(&out, &["--merge"]));
    assert_eq!(
        merged.get("per_protocol"),
        expected_tables(&specs).get("per_protocol")
    );
}

#[test]
fn a_packet_older_than_the_open_window_is_counted_there_and_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("merged.pcap");
    let mut specs = mixed_packets(30, START, SECOND, 3);
    // The last packet goes back 25 s, before the window opened at 10:00:20.
    specs[29].timestamp_ns = START + 2 * SECOND;
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    let run = analyze(&[&capture], &out, &["--snapshot-interval", "10s"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["out_of_order"], 1);
    let last_window = tables_from_inspect(&inspect_json(&out.join("2025-09-09T10-00-20Z"), &[]));
    let packets: u64 = last_window["per_protocol"]
        .values()
        .map(|counts| counts.0)
        .sum();
    assert_eq!(packets, 10, "9 in-order packets plus the late one");
}

#[test]
fn sigterm_in_the_middle_of_the_input_loses_nothing_already_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("big.pcap");
    let mut specs = mixed_packets(200_000, START, 1_000, 9);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    let copies = 40;
    let mut child = netspectra()
        .args(["analyze", "--json", "--output"])
        .arg(&out)
        .args(std::iter::repeat_n(&capture, copies))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut log = BufReader::new(stderr).lines();
    let mut files_started = 0;
    while files_started < 3 {
        let line = log.next().expect("the log goes on").expect("log is UTF-8");
        files_started += usize::from(line.contains("reading "));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    std::thread::spawn(move || log.for_each(drop));
    let output = child.wait_with_output().expect("netspectra exits");
    assert_eq!(output.status.code(), Some(0));
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the summary is JSON");
    assert_eq!(summary["interrupted"], true);
    let read = summary["packets_read"].as_u64().expect("packets_read");
    let counted = summary["packets_counted"]
        .as_u64()
        .expect("packets_counted");
    let skipped = summary["non_ip"].as_u64().expect("non_ip")
        + summary["malformed"].as_u64().expect("malformed");
    assert!(
        read > 2 * 200_000,
        "stopped before the third file began: {read}"
    );
    assert!(
        read < copies as u64 * 208_000,
        "the signal came too late to test anything"
    );
    assert_eq!(read, counted + skipped);
    let written = tables_from_inspect(&inspect_json(&out, &["--merge"]));
    for task in ["per_src_ip", "per_protocol", "per_five_tuple"] {
        let packets: u64 = written[task].values().map(|counts| counts.0).sum();
        assert_eq!(packets, counted, "{task} lost packets");
    }
}

#[test]
fn reruns_on_the_same_output_replace_windows_instead_of_doubling_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("twice.pcap");
    let mut specs = mixed_packets(100, START, SECOND / 100, 2);
    write_pcap(&capture, &mut specs);
    let out = dir.path().join("out");
    for _ in 0..2 {
        assert_eq!(analyze(&[&capture], &out, &[]).status, 0);
    }
    let merged = tables_from_inspect(&inspect_json(&out, &["--merge"]));
    assert_eq!(
        merged.get("per_src_ip"),
        expected_tables(&specs).get("per_src_ip")
    );
    assert!(
        leftovers(&out).is_empty(),
        "temporary directories left: {:?}",
        leftovers(&out)
    );
}

#[test]
fn a_cut_per_packet_with_a_one_message_channel_keeps_every_packet_in_its_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("sparse.pcap");
    // One packet per second, one-second windows: every packet is a window cut.
    let mut specs = mixed_packets(60, START, SECOND, 8);
    write_pcap(&capture, &mut specs);
    let config = dir.path().join("tight.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  batch_size: 1\n  size_of_packet_channel: 1\n",
    )
    .expect("config written");
    let out = dir.path().join("out");
    let config_arg = config.to_string_lossy().into_owned();
    let run = analyze(
        &[&capture],
        &out,
        &[
            "--config",
            &config_arg,
            "--workers",
            "3",
            "--snapshot-interval",
            "1s",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["windows"], 60);
    for (second, spec) in specs.iter().enumerate() {
        let window = out.join(format!("2025-09-09T10-00-{second:02}Z"));
        let got = tables_from_inspect(&inspect_json(&window, &[]));
        let want = expected_tables(std::slice::from_ref(spec));
        assert_eq!(
            got.get("per_five_tuple"),
            want.get("per_five_tuple"),
            "second {second}"
        );
    }
}
