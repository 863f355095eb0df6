//! Key floods: a task with `max_keys` counts at most that many keys per
//! window and puts the packets of every further key in one `other` record,
//! so 1,000,000 random source addresses neither lose a packet nor grow
//! memory without bound, while an unlimited task beside it stays exact.

pub mod support;

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::capture_writer::{Endian, PcapWriter};
use support::cli::{inspect_json, netspectra};
use support::measure;
use support::store::task_dir;
use support::traffic::Rng;

const PACKETS: usize = 1_000_000;
const MAX_KEYS: u64 = 10_000;
const WORKERS: u64 = 4;
/// Peak RSS allowed for the run, in MiB. Measured with 4 workers: 10 MiB
/// with the limit, 86 MiB with `max_keys` removed (a million source keys).
const RSS_BOUND_MIB: u64 = 40;
/// 2025-09-09T10:00:00Z, in nanoseconds.
const START: u64 = 1_757_412_000_000_000_000;

/// One generated packet: its source address and wire length.
struct Sent {
    src: u32,
    wire_len: u32,
}

#[test]
fn a_flood_of_random_sources_is_bounded_by_max_keys_and_every_packet_is_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("flood.pcap");
    let sent = write_flood(&capture);
    let config = write_config(dir.path(), MAX_KEYS);
    let out = dir.path().join("out");
    let (peak_rss_mib, run_summary) = run_measured(&capture, &config, &out);
    let task_totals = &run_summary["tasks"]["per_src_ip"];
    assert_eq!(
        task_totals["packets"], PACKETS as u64,
        "the run summary counts the overflow too"
    );

    let window = out.join("2025-09-09T10-00-00Z");
    let total_bytes: u64 = sent.iter().map(|packet| u64::from(packet.wire_len)).sum();
    let protocol = summary(&window, "per_protocol");
    assert_eq!(protocol["total_packets"], PACKETS as u64);
    assert_eq!(protocol["total_bytes"], total_bytes);
    assert!(protocol.get("overflow_packets").is_none(), "{protocol}");

    let by_src = summary(&window, "per_src_ip");
    assert_eq!(by_src["total_packets"], PACKETS as u64);
    assert_eq!(by_src["total_bytes"], total_bytes);

    let rows = inspect_json(&window, &["--task", "per_src_ip"]);
    let (other, records): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|row| row["other"] == true);
    assert_eq!(other.len(), 1, "one other row");
    let other = other[0];
    let packets: u64 = rows.iter().map(|row| count(row, "packets")).sum();
    let bytes: u64 = rows.iter().map(|row| count(row, "bytes")).sum();
    assert_eq!((packets, bytes), (PACKETS as u64, total_bytes));
    assert_eq!(by_src["overflow_packets"], count(other, "packets"));
    assert_eq!(by_src["overflow_bytes"], count(other, "bytes"));
    assert!(
        records.len() as u64 <= MAX_KEYS && records.len() as u64 >= MAX_KEYS * 95 / 100,
        "{} source records",
        records.len()
    );

    let per_source = counts_per_source(&sent);
    for record in &records {
        let src: std::net::Ipv4Addr = record["src_ip"]
            .as_str()
            .and_then(|text| text.parse().ok())
            .expect("an IPv4 source");
        let want = per_source[&u32::from(src)];
        assert_eq!(
            (count(record, "packets"), count(record, "bytes")),
            want,
            "a key with a record counts every one of its packets exactly ({src})"
        );
    }
    let refused = (per_source.len() - records.len()) as f64;
    let estimate = by_src["overflow_keys_refused"]
        .as_u64()
        .expect("overflow_keys_refused") as f64;
    assert!(
        (estimate / refused - 1.0).abs() < 0.03,
        "estimated {estimate} refused keys, truly {refused}"
    );
    assert!(
        peak_rss_mib < RSS_BOUND_MIB,
        "peak RSS {peak_rss_mib} MiB, want under {RSS_BOUND_MIB}"
    );
}

/// Writes `PACKETS` UDP packets with random source addresses, all within
/// one minute, straight to the file (a nanosecond pcap), and returns what
/// was sent. Nothing large is built in memory: the child's peak RSS as
/// `wait4` reports it includes this process's peak at the time of spawning.
fn write_flood(path: &Path) -> Vec<Sent> {
    let file = std::fs::File::create(path).expect("flood capture is created");
    let mut out = BufWriter::new(file);
    let header = PcapWriter::new(1, true, Endian::Little).finish();
    out.write_all(&header).expect("write");
    let mut rng = Rng::new(0x5eed_f100d);
    let mut sent = Vec::with_capacity(PACKETS);
    for index in 0..PACKETS {
        let src = rng.next_u64() as u32;
        let wire_len = [64, 128, 576, 1500][rng.below(4) as usize];
        let frame = udp_frame(src);
        let timestamp = START + index as u64 * 10_000;
        for field in [
            (timestamp / 1_000_000_000) as u32,
            (timestamp % 1_000_000_000) as u32,
            frame.len() as u32,
            wire_len,
        ] {
            out.write_all(&field.to_le_bytes()).expect("write");
        }
        out.write_all(&frame).expect("write");
        sent.push(Sent { src, wire_len });
    }
    out.flush().expect("flood capture is written");
    sent
}

/// Ethernet, IPv4 from `src` to 192.168.0.1, UDP 40000 -> 53, no payload.
fn udp_frame(src: u32) -> Vec<u8> {
    let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    frame.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    frame.extend_from_slice(&src.to_be_bytes());
    frame.extend_from_slice(&[192, 168, 0, 1]);
    frame.extend_from_slice(&40_000u16.to_be_bytes());
    frame.extend_from_slice(&53u16.to_be_bytes());
    frame.extend_from_slice(&[0, 8, 0, 0]);
    frame
}

fn write_config(dir: &Path, max_keys: u64) -> PathBuf {
    let text = format!(
        "aggregator:\n  exact_tasks:\n    - name: per_src_ip\n      key_fields: [SrcIP]\n      max_keys: {max_keys}\n    - name: per_protocol\n      key_fields: [Protocol]\n"
    );
    let path = dir.join("flood.yaml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Runs `analyze` on `capture`; returns the child's peak RSS in MiB and its run summary.
fn run_measured(capture: &Path, config: &Path, out: &Path) -> (u64, Value) {
    let run = measure::run_measured(
        netspectra()
            .args(["analyze", "--json", "--snapshot-interval", "1h"])
            .args(["--workers", &WORKERS.to_string(), "--config"])
            .arg(config)
            .arg("--output")
            .arg(out)
            .arg(capture)
            .env("RUST_LOG", "warn"),
    );
    assert!(run.success, "netspectra failed: {}", run.stderr);
    assert!(
        run.stderr.contains("task per_src_ip: max_keys reached"),
        "the overflow is logged: {}",
        run.stderr
    );
    let summary = serde_json::from_str(&run.stdout).expect("the run summary is JSON");
    (run.peak_rss_kib / 1024, summary)
}

fn summary(window: &Path, task: &str) -> Value {
    let path = task_dir(window, task).join("summary.json");
    let text = std::fs::read_to_string(&path).expect("summary.json is written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

fn count(row: &Value, field: &str) -> u64 {
    row[field].as_u64().expect("a count")
}

/// Packets and bytes per source address, as an exact counter would report them.
fn counts_per_source(sent: &[Sent]) -> HashMap<u32, (u64, u64)> {
    let mut counts: HashMap<u32, (u64, u64)> = HashMap::with_capacity(sent.len());
    for packet in sent {
        let entry = counts.entry(packet.src).or_default();
        entry.0 += 1;
        entry.1 += u64::from(packet.wire_len);
    }
    counts
}
