//! Conversation tasks (`bidirectional: true`) through the binary.
//!
//! Against tshark: every capture of the shared corpus
//! (`../shared/corpus/pcaps`) with an expected table in
//! `tests/data/conversations` (computed once with `tshark -z conv,ip`, see
//! its README) is analyzed with a bidirectional `[SrcIP, DstIP]` task, and
//! each conversation's packets and bytes per direction must match. Skipped,
//! with a printed reason, where the corpus is absent.
//!
//! Against a model: synthetic traffic in two captures, read by two runs
//! into one root over several windows, merges per direction under
//! `inspect --merge` to what the generated packets say.

pub mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::cli::{analyze, inspect_json};
use support::skip::skip_without_corpus;
use support::traffic::{PacketSpec, mixed_packets, write_pcap};

/// Packets and bytes A→B, then B→A.
type Directions = [u64; 4];

fn config(dir: &Path, fields: &str, interval: &str) -> PathBuf {
    let yaml = format!(
        "aggregator:\n  snapshot_interval: {interval}\n  exact_tasks:\n    - {{name: conversations, key_fields: [{fields}], bidirectional: true}}\n"
    );
    let path = dir.join("conversations.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `inspect --merge`'s conversations by their key columns, checking that
/// each row's directions add up to its totals.
fn conversations(out: &Path, keys: &[&str]) -> BTreeMap<String, Directions> {
    let mut table = BTreeMap::new();
    for line in inspect_json(out, &["--merge"]) {
        let number = |field: &str| {
            line[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} in {line}"))
        };
        let directions = ["packets_ab", "bytes_ab", "packets_ba", "bytes_ba"].map(number);
        assert_eq!(
            (directions[0] + directions[2], directions[1] + directions[3]),
            (number("packets"), number("bytes")),
            "{line}"
        );
        let key: Vec<String> = keys.iter().map(|key| text(&line, key)).collect();
        assert!(table.insert(key.join(" "), directions).is_none(), "{line}");
    }
    table
}

fn text(line: &Value, field: &str) -> String {
    match &line[field] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn expected_table(path: &Path) -> BTreeMap<String, Directions> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let number = |index: usize| cells[index].parse::<u64>().expect("a count");
            (
                format!("{} {}", cells[0], cells[1]),
                [number(2), number(3), number(4), number(5)],
            )
        })
        .collect()
}

#[test]
fn conversations_match_tshark_conv_ip_on_the_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pcaps = root.join("../shared/corpus/pcaps");
    if !pcaps.is_dir() {
        skip_without_corpus(&format!("{} is absent", pcaps.display()));
        return;
    }
    let expected_dir = root.join("tests/data/conversations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&expected_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".conv-ip.tsv"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "expected tables: {files:?}");
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "SrcIP, DstIP", "1h");
    let mut problems = Vec::new();
    for expected in &files {
        let name = expected.file_name().unwrap().to_string_lossy();
        let capture = pcaps.join(name.trim_end_matches(".conv-ip.tsv"));
        let out = dir.path().join(capture.file_name().unwrap());
        let run = analyze(&[&capture], &out, &["--config", config.to_str().unwrap()]);
        let want = expected_table(expected);
        // A capture without IP packets leaves no window to inspect.
        let got = if want.is_empty() {
            BTreeMap::new()
        } else {
            conversations(&out, &["src_ip", "dst_ip"])
        };
        if got != want || !matches!(run.status, 0 | 1) {
            problems.push(format!(
                "{name}: exit {}, got {got:?}, want {want:?}; {}",
                run.status, run.stderr
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The conversations of `packets` keyed as `inspect` shows a 5-tuple task:
/// the lower end (address, then port) first.
fn model(packets: &[PacketSpec]) -> BTreeMap<String, Directions> {
    let mut table: BTreeMap<String, Directions> = BTreeMap::new();
    for packet in packets {
        let octets = |ip: IpAddr| match ip {
            IpAddr::V4(ip) => ip.octets().to_vec(),
            IpAddr::V6(ip) => ip.octets().to_vec(),
        };
        let ends = [(packet.src, packet.src_port), (packet.dst, packet.dst_port)];
        let forward = (octets(ends[0].0), ends[0].1) <= (octets(ends[1].0), ends[1].1);
        let (a, b) = if forward {
            (ends[0], ends[1])
        } else {
            (ends[1], ends[0])
        };
        let key = format!("{} {} {} {} {}", a.0, b.0, a.1, b.1, packet.protocol);
        let entry = table.entry(key).or_default();
        let at = if forward { 0 } else { 2 };
        entry[at] += 1;
        entry[at + 1] += u64::from(packet.wire_len);
    }
    table
}

/// Each packet of `packets` answered from the other end, a little later.
fn with_replies(packets: Vec<PacketSpec>) -> Vec<PacketSpec> {
    packets
        .into_iter()
        .enumerate()
        .flat_map(|(index, packet)| {
            let reply = PacketSpec {
                src: packet.dst,
                dst: packet.src,
                src_port: packet.dst_port,
                dst_port: packet.src_port,
                timestamp_ns: packet.timestamp_ns + 1_000,
                ..packet.clone()
            };
            if index % 3 == 0 {
                vec![packet, reply]
            } else {
                vec![packet]
            }
        })
        .collect()
}

#[test]
fn runs_and_windows_merge_each_direction_separately() {
    const SECOND: u64 = 1_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "SrcIP, DstIP, SrcPort, DstPort, Protocol",
        "10s",
    );
    let out = dir.path().join("out");
    let mut all = Vec::new();
    for (seed, start) in [(5, 1_757_412_000), (9, 1_757_412_015)] {
        let capture = dir.path().join(format!("part-{seed}.pcap"));
        let mut packets = with_replies(mixed_packets(1_500, start * SECOND, SECOND / 40, seed));
        write_pcap(&capture, &mut packets);
        let run = analyze(
            &[&capture],
            &out,
            &["--config", config.to_str().unwrap(), "--workers", "2"],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        all.extend(packets);
    }
    let got = conversations(
        &out,
        &["src_ip", "dst_ip", "src_port", "dst_port", "protocol"],
    );
    let want = model(&all);
    assert!(
        want.values()
            .any(|directions| directions[0] > 0 && directions[2] > 0),
        "some conversations go both ways"
    );
    assert_eq!(got, want);
}
