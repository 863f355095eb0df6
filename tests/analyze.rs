//! `netspectra analyze` end to end: exact counts per key for every default
//! task, the same output whatever the number of workers, windows that follow
//! packet timestamps, and a SIGTERM that loses nothing already read.

pub mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use support::cli::{analyze, inspect_json, netspectra};
use support::store::{leftovers, window_dirs};
use support::traffic::{Table, expected_tables, mixed_packets, tables_from_inspect, write_pcap};

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

/// Sends SIGTERM to `pid` with kill(1).
fn terminate(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn sigterm_in_the_middle_of_the_input_loses_nothing_already_read() {
    // 300 one-second windows of 1,000 packets (plus ARP frames), read in
    // batches of 65,536: a batch never fills, so batches leave the reader
    // only at window cuts, and each cut is followed at once by the packet
    // that caused it. Wherever the stop lands after the first packet, the
    // reader holds a partial batch of at least one packet, and losing it
    // breaks the totals below in every run, not only in lucky ones.
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("long.pcap");
    let mut specs = mixed_packets(300_000, START, SECOND / 1_000, 9);
    let arp = write_pcap(&capture, &mut specs);
    let config = dir.path().join("big-batches.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  batch_size: 65536\n  size_of_packet_channel: 65536\n",
    )
    .expect("config written");
    let out = dir.path().join("out");
    let mut child = netspectra()
        .args(["analyze", "--json", "--snapshot-interval", "1s", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&out)
        .arg(&capture)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut log = BufReader::new(stderr).lines();
    let mut windows_written = 0;
    while windows_written < 5 {
        let line = log.next().expect("the log goes on").expect("log is UTF-8");
        windows_written += usize::from(line.contains("written to"));
    }
    terminate(child.id());
    std::thread::spawn(move || log.for_each(drop));
    let output = child.wait_with_output().expect("netspectra exits");
    assert_eq!(output.status.code(), Some(0));
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the summary is JSON");
    assert_eq!(summary["interrupted"], true, "{summary}");
    let read = summary["packets_read"].as_u64().expect("packets_read");
    let counted = summary["packets_counted"]
        .as_u64()
        .expect("packets_counted");
    let skipped = summary["non_ip"].as_u64().expect("non_ip")
        + summary["malformed"].as_u64().expect("malformed");
    assert!(
        counted > 5_000 && read < specs.len() as u64 + arp,
        "the stop must land inside the input: {summary}"
    );
    assert_eq!(read, counted + skipped);
    let written = tables_from_inspect(&inspect_json(&out, &["--merge"]));
    for task in ["per_src_ip", "per_protocol", "per_five_tuple"] {
        let packets: u64 = written[task].values().map(|counts| counts.0).sum();
        assert_eq!(packets, counted, "{task} lost packets");
    }
    // The packets counted are exactly the first ones of the file.
    let first = &specs[..counted as usize];
    assert_eq!(
        written.get("per_five_tuple"),
        expected_tables(first).get("per_five_tuple")
    );
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

/// What an independent reading of an Ethernet pcap finds: per window start
/// (seconds, multiples of `interval_s`) the tables of the default tasks,
/// and the frames that carry no IP. Written for `tests/data/sample.pcap`:
/// it panics on what it does not model (VLAN tags, IPv6, fragments, cut
/// headers), so it can never agree by accident on a frame it misreads.
fn read_ethernet_pcap(
    bytes: &[u8],
    interval_s: u64,
) -> (BTreeMap<u64, BTreeMap<String, Table>>, u64) {
    let u16_be = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let u32_le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(u32_le(0), 0xa1b2_c3d4, "little-endian microsecond pcap");
    assert_eq!(u32_le(20), 1, "Ethernet");
    let mut windows: BTreeMap<u64, BTreeMap<String, Table>> = BTreeMap::new();
    let mut non_ip = 0;
    let mut at = 24;
    while at < bytes.len() {
        let (secs, captured, wire) = (
            u64::from(u32_le(at)),
            u32_le(at + 8) as usize,
            u64::from(u32_le(at + 12)),
        );
        let frame = at + 16;
        at = frame + captured;
        if u16_be(frame + 12) != 0x0800 {
            assert_eq!(
                u16_be(frame + 12),
                0x0806,
                "the sample has IPv4 and ARP only"
            );
            non_ip += 1;
            continue;
        }
        let ip = frame + 14;
        let header = usize::from(bytes[ip] & 0x0f) * 4;
        assert_eq!(bytes[ip] >> 4, 4);
        assert_eq!(u16_be(ip + 6) & 0x3fff, 0, "no fragments in the sample");
        let protocol = bytes[ip + 9];
        let address = |at: usize| {
            std::net::Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3])
                .to_string()
        };
        let (src, dst) = (address(ip + 12), address(ip + 16));
        let (src_port, dst_port) = match protocol {
            6 | 17 => (u16_be(ip + header), u16_be(ip + header + 2)),
            _ => (0, 0),
        };
        let tables = windows.entry(secs / interval_s * interval_s).or_default();
        for (task, key) in [
            ("per_src_ip", src.clone()),
            ("per_dst_ip", dst.clone()),
            ("per_src_port", src_port.to_string()),
            ("per_dst_port", dst_port.to_string()),
            ("per_protocol", protocol.to_string()),
            (
                "per_five_tuple",
                format!("{src}|{dst}|{src_port}|{dst_port}|{protocol}"),
            ),
        ] {
            let entry = tables
                .entry(task.to_string())
                .or_default()
                .entry(key)
                .or_default();
            entry.0 += 1;
            entry.1 += wire;
        }
    }
    (windows, non_ip)
}

#[test]
fn readmes_main_job_on_the_bundled_sample_writes_what_an_independent_reading_of_it_finds() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample.pcap");
    let (want, non_ip) = read_ethernet_pcap(&std::fs::read(&sample).expect("sample"), 60);
    let dir = tempfile::tempdir().expect("temp dir");
    // README: `cargo run --release -- analyze tests/data/sample.pcap --output snapshots`
    let output = netspectra()
        .arg("analyze")
        .arg(&sample)
        .args(["--output", "snapshots"])
        .current_dir(dir.path())
        .output()
        .expect("netspectra runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let packets: u64 = want
        .values()
        .map(|tables| {
            tables["per_protocol"]
                .values()
                .map(|counts| counts.0)
                .sum::<u64>()
        })
        .sum();
    for (label, value) in [
        ("packets read", packets + non_ip),
        ("counted", packets),
        ("non_ip", non_ip),
        ("malformed", 0),
    ] {
        let line = stdout
            .lines()
            .find(|line| line.trim_start().starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no `{label}` line in the summary:\n{stdout}"));
        assert_eq!(
            line.split_whitespace().last(),
            Some(value.to_string().as_str()),
            "{label} in the summary"
        );
    }
    let root = dir.path().join("snapshots");
    let windows = window_dirs(&root);
    assert_eq!(windows.len(), want.len(), "{windows:?}");
    for (window, (start, tables)) in windows.iter().zip(&want) {
        let name = window
            .file_name()
            .and_then(|name| name.to_str())
            .expect("name");
        let got = tables_from_inspect(&inspect_json(window, &[]));
        assert_eq!(&got, tables, "window {name} (start {start})");
    }
}
