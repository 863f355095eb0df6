//! Sketch tasks end to end, through the binary: accuracy against exact
//! tasks over the same fields in the same run (a skewed capture, a scan and
//! a DDoS), and merges across windows, runs and shard counts.

pub mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::cli::{analyze, inspect_json};
use support::traffic::{PacketSpec, Rng, write_pcap};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;
/// Heavy-hitter sketch of the tests: ε = e/2048.
const HEAVY_WIDTH: u32 = 2048;
const HEAVY_PACKETS: u64 = 500;
const HEAVY_BYTES: u64 = 400_000;
const REGISTERS: u32 = 128;

fn udp(src: Ipv4Addr, dst: Ipv4Addr, timestamp_ns: u64) -> PacketSpec {
    PacketSpec {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        src_port: 40_000,
        dst_port: 53,
        protocol: 17,
        timestamp_ns,
        wire_len: 0,
    }
}

/// Exact tasks by source and by (source, destination), and one sketch
/// task of each type, in one window of `interval`.
fn config(dir: &Path, interval: &str) -> PathBuf {
    let path = dir.join("sketches.yaml");
    let yaml = format!(
        "aggregator:
  snapshot_interval: {interval}
  exact_tasks:
    - {{name: by_src, key_fields: [SrcIP]}}
    - {{name: by_dst, key_fields: [DstIP]}}
    - {{name: pairs, key_fields: [SrcIP, DstIP]}}
  sketch_tasks:
    - {{name: heavy, skt_type: 0, flow_fields: [SrcIP], width: {HEAVY_WIDTH}, depth: 3,
        count_thereshold: {HEAVY_PACKETS}, size_thereshold: {HEAVY_BYTES}}}
    - {{name: scanners, skt_type: 1, flow_fields: [SrcIP], element_fields: [DstIP],
        width: 4096, depth: 2, m: {REGISTERS}, count_thereshold: 100}}
    - {{name: victims, skt_type: 1, flow_fields: [DstIP], element_fields: [SrcIP],
        width: 4096, depth: 2, m: {REGISTERS}, count_thereshold: 100}}
"
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Zipf-like sources (source k sends about 1/(k+1) of the packets), one
/// scanner reaching 20,000 hosts, 20,000 sources flooding one victim, and
/// a few sources with 150 to 600 destinations, over `seconds` seconds.
fn traffic(seconds: u64) -> Vec<PacketSpec> {
    let mut rng = Rng::new(9);
    let mut specs = Vec::new();
    let count = 200_000u64;
    let step = seconds * SECOND / count;
    for index in 0..count {
        let uniform = rng.below(1 << 30) as f64 / (1u64 << 30) as f64;
        let source = (5000f64.powf(uniform) as u32).saturating_sub(1);
        let destination = Ipv4Addr::new(192, 168, 0, rng.below(50) as u8);
        specs.push(udp(
            Ipv4Addr::from(0x0a01_0000 + source),
            destination,
            index,
        ));
    }
    for host in 0..20_000u32 {
        specs.push(udp(
            Ipv4Addr::new(10, 99, 0, 1),
            Ipv4Addr::from(0xac10_0000 + host),
            0,
        ));
        specs.push(udp(
            Ipv4Addr::from(0x6440_0000 + host),
            Ipv4Addr::new(192, 0, 2, 80),
            0,
        ));
    }
    for (n, wide) in [150u32, 300, 600].iter().enumerate() {
        for host in 0..*wide {
            let source = Ipv4Addr::new(10, 77, 0, n as u8);
            specs.push(udp(source, Ipv4Addr::from(0xc633_0000 + host), 0));
        }
    }
    // Interleave deterministically and spread over the window(s).
    let total = specs.len() as u64;
    let mut order: Vec<(u64, PacketSpec)> = specs
        .into_iter()
        .map(|spec| (rng.next_u64(), spec))
        .collect();
    order.sort_by_key(|(rank, _)| *rank);
    order
        .into_iter()
        .enumerate()
        .map(|(index, (_, mut spec))| {
            spec.timestamp_ns = START + index as u64 * (seconds * SECOND / total);
            spec
        })
        .collect()
}

fn rows<'a>(lines: &'a [Value], task: &str) -> Vec<&'a Value> {
    lines.iter().filter(|line| line["task"] == task).collect()
}

fn number(line: &Value, field: &str) -> u64 {
    line[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {line}"))
}

fn text(line: &Value, field: &str) -> String {
    line[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {line}"))
        .to_string()
}

/// Exact (packets, bytes) per source, from the exact task.
fn exact_by_source(lines: &[Value]) -> BTreeMap<String, (u64, u64)> {
    rows(lines, "by_src")
        .into_iter()
        .map(|line| {
            (
                text(line, "src_ip"),
                (number(line, "packets"), number(line, "bytes")),
            )
        })
        .collect()
}

/// Exact distinct peers per address: destinations per source, or sources
/// per destination, from the exact (source, destination) task.
fn exact_spreads(lines: &[Value], key: &str) -> BTreeMap<String, u64> {
    let mut spreads = BTreeMap::new();
    for line in rows(lines, "pairs") {
        *spreads.entry(text(line, key)).or_default() += 1;
    }
    spreads
}

fn run(dir: &Path, capture: &Path, out: &Path, interval: &str, extra: &[&str]) {
    let config = config(dir, interval);
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend(extra);
    let run = analyze(&[capture], out, &args);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

#[test]
fn heavy_hitters_have_recall_one_and_estimates_within_epsilon_n() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("skewed.pcap");
    write_pcap(&capture, &mut traffic(30));
    let out = dir.path().join("out");
    run(dir.path(), &capture, &out, "60s", &[]);
    let lines = inspect_json(&out, &[]);
    let exact = exact_by_source(&lines);
    let packets: u64 = exact.values().map(|counts| counts.0).sum();
    let bytes: u64 = exact.values().map(|counts| counts.1).sum();
    let epsilon = std::f64::consts::E / f64::from(HEAVY_WIDTH);
    let reported: BTreeMap<String, (u64, u64)> = rows(&lines, "heavy")
        .into_iter()
        .map(|line| {
            assert_eq!(line["estimated"], true, "{line}");
            (
                text(line, "src_ip"),
                (number(line, "packets"), number(line, "bytes")),
            )
        })
        .collect();
    let heavy: Vec<&String> = exact
        .iter()
        .filter(|(_, counts)| counts.0 >= HEAVY_PACKETS || counts.1 >= HEAVY_BYTES)
        .map(|(key, _)| key)
        .collect();
    assert!(
        heavy.len() >= 20,
        "the capture must have heavy keys: {}",
        heavy.len()
    );
    for key in heavy {
        assert!(
            reported.contains_key(key),
            "heavy source {key} {:?} missed",
            exact[key]
        );
    }
    for (key, estimate) in &reported {
        let truth = exact[key];
        assert!(
            estimate.0 >= truth.0 && estimate.1 >= truth.1,
            "{key}: {estimate:?} < {truth:?}"
        );
        assert!(
            (estimate.0 - truth.0) as f64 <= epsilon * packets as f64,
            "{key}"
        );
        assert!(
            (estimate.1 - truth.1) as f64 <= epsilon * bytes as f64,
            "{key}"
        );
    }
}

#[test]
fn a_scanner_and_a_ddos_victim_are_reported_with_spreads_within_three_standard_errors() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("scan.pcap");
    write_pcap(&capture, &mut traffic(30));
    let out = dir.path().join("out");
    run(dir.path(), &capture, &out, "60s", &[]);
    let lines = inspect_json(&out, &[]);
    let tolerance = 3.0 * 1.04 / f64::from(REGISTERS).sqrt();
    for (task, key, peers) in [
        ("scanners", "src_ip", "dst_ip"),
        ("victims", "dst_ip", "src_ip"),
    ] {
        let truth = exact_spreads(&lines, key);
        let reported: BTreeMap<String, u64> = rows(&lines, task)
            .into_iter()
            .map(|line| {
                assert_eq!(line["estimated"], true, "{line}");
                (text(line, key), number(line, "spread"))
            })
            .collect();
        let wide: Vec<(&String, &u64)> = truth.iter().filter(|(_, &n)| n >= 100).collect();
        assert!(!wide.is_empty());
        for (address, &spread) in wide {
            let estimate = *reported
                .get(address)
                .unwrap_or_else(|| panic!("{task}: {address} with {spread} {peers}s missed"));
            let error = (estimate as f64 - spread as f64).abs() / spread as f64;
            assert!(
                error <= tolerance,
                "{task}: {address}: {estimate} for {spread}"
            );
        }
        let (top, top_spread) = reported.iter().max_by_key(|(_, &n)| n).unwrap();
        let expected = if task == "scanners" {
            "10.99.0.1"
        } else {
            "192.0.2.80"
        };
        assert_eq!(
            top, expected,
            "{task}: the widest key is {top} ({top_spread})"
        );
    }
}

/// The sketch rows of `lines`, by task and key, without the window.
fn sketch_rows(lines: &[Value]) -> BTreeMap<(String, String), Value> {
    lines
        .iter()
        .filter(|line| line["estimated"] == true)
        .map(|line| {
            let task = text(line, "task");
            let key = if task == "victims" {
                "dst_ip"
            } else {
                "src_ip"
            };
            let mut row = line.clone();
            row.as_object_mut().unwrap().remove("window_start");
            ((task, text(line, key)), row)
        })
        .collect()
}

#[test]
fn sketches_merge_across_windows_runs_and_shard_counts_like_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let specs = traffic(20);
    let whole = dir.path().join("whole.pcap");
    write_pcap(&whole, &mut specs.clone());
    // One window over everything, one worker.
    let one = dir.path().join("one");
    run(dir.path(), &whole, &one, "60s", &["--workers", "1"]);
    let one_lines = inspect_json(&one, &[]);
    let reference = sketch_rows(&one_lines);
    assert!(reference.len() > 10);
    let packets: u64 = exact_by_source(&one_lines)
        .values()
        .map(|counts| counts.0)
        .sum();
    let epsilon_n = std::f64::consts::E / f64::from(HEAVY_WIDTH) * packets as f64;

    // Two windows of 10 s, two workers, merged by inspect.
    let windows = dir.path().join("windows");
    run(dir.path(), &whole, &windows, "10s", &["--workers", "2"]);
    assert_eq!(support::store::window_dirs(&windows).len(), 2);
    let merged = sketch_rows(&inspect_json(&windows, &["--merge"]));

    // Two runs over the two halves of the capture, into one root, merged.
    let (first, second) = specs.split_at(specs.len() / 3);
    let runs = dir.path().join("runs");
    for (name, half) in [("a.pcap", first), ("b.pcap", second)] {
        let path = dir.path().join(name);
        write_pcap(&path, &mut half.to_vec());
        run(dir.path(), &path, &runs, "60s", &[]);
    }
    let by_runs = sketch_rows(&inspect_json(&runs, &["--merge"]));

    for (name, other) in [("two windows", &merged), ("two runs", &by_runs)] {
        for ((task, key), row) in &reference {
            let found = other.get(&(task.clone(), key.clone()));
            if task == "heavy" {
                // Count-Min cells add on merge: never below one sketch of
                // both. A key with at least twice the threshold has at least
                // the threshold in one of two windows or runs, so it is there.
                let sure = number(row, "packets") as f64 - epsilon_n >= 2.0 * HEAVY_PACKETS as f64;
                match found {
                    Some(found) => {
                        assert!(
                            number(found, "packets") >= number(row, "packets"),
                            "{name}: {key}"
                        )
                    }
                    None => assert!(!sure, "{name}: {task} {key} missing"),
                }
            } else {
                // Registers and candidates merge exactly.
                assert_eq!(found, Some(row), "{name}: {task} {key}");
            }
        }
        let spreads = |rows: &BTreeMap<(String, String), Value>| {
            rows.keys().filter(|(task, _)| task != "heavy").count()
        };
        assert_eq!(spreads(other), spreads(&reference), "{name}");
    }
}
