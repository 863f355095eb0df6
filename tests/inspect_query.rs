//! `netspectra inspect`'s query flags through the binary, on a capture of
//! known content spread over three one-minute windows: `--from`/`--to`
//! (absolute and relative), `--where` (matches and every kind of mistake),
//! every `--sort` key, protocol and port names, the typed `other` row, and
//! `--group-by` prefixes against a regrouping done here from the full
//! addresses. Every expectation is computed from the generated packets.

pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::capture_writer::{Endian, PcapWriter};
use support::cli::{analyze, inspect_json, netspectra};
use support::traffic::{PacketSpec, ethernet_frame};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;
const WINDOWS: u64 = 3;

/// The conversations of the capture: source, destination, ports, protocol.
const FLOWS: [(&str, &str, u16, u16, u8); 8] = [
    ("10.0.0.1", "192.168.1.1", 40001, 443, 6),
    ("10.0.0.2", "192.168.1.1", 40002, 443, 6),
    ("10.0.1.7", "192.168.1.2", 40003, 53, 17),
    ("10.1.0.9", "192.168.1.2", 40004, 22, 6),
    ("172.16.0.5", "10.0.0.1", 0, 0, 1),
    ("2001:db8:0:1::5", "2001:db8:ff::1", 40005, 443, 6),
    ("2001:db8:0:1::6", "2001:db8:ff::1", 40006, 123, 17),
    ("2001:db8:0:2::7", "2001:db8:ff::1", 0, 0, 58),
];

const CONFIG: &str = "aggregator:
  snapshot_interval: 60s
  exact_tasks:
    - {name: five, key_fields: [SrcIP, DstIP, SrcPort, DstPort, Protocol]}
    - {name: by_src, key_fields: [SrcIP]}
    - {name: ports, key_fields: [DstPort]}
    - {name: capped, key_fields: [SrcIP], max_keys: 2}
  sketch_tasks:
    - {name: heavy, skt_type: 0, flow_fields: [SrcIP], width: 1024, depth: 3,
        count_thereshold: 1, size_thereshold: 1}
";

/// The packets of flow `flow` in window `window`: how many, none in some
/// windows, one alone in others, so durations, rates and flows differ.
fn packets_of(flow: u64, window: u64) -> u64 {
    if (flow + window) % 4 == 3 {
        0
    } else {
        1 + (flow * 3 + window * 5) % 7
    }
}

/// Every packet of the capture, in time order within each window.
fn specs() -> Vec<PacketSpec> {
    let mut specs = Vec::new();
    for window in 0..WINDOWS {
        for (index, &(src, dst, src_port, dst_port, protocol)) in FLOWS.iter().enumerate() {
            let flow = index as u64;
            for packet in 0..packets_of(flow, window) {
                specs.push(PacketSpec {
                    src: src.parse().unwrap(),
                    dst: dst.parse().unwrap(),
                    src_port,
                    dst_port,
                    protocol,
                    timestamp_ns: START
                        + window * 60 * SECOND
                        + flow * SECOND
                        + packet * (flow + 1) * SECOND / 10,
                    wire_len: 0,
                });
            }
        }
    }
    specs.sort_by_key(|spec| spec.timestamp_ns);
    specs
}

/// A root with the capture analyzed under [`CONFIG`], and its packets.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    specs: Vec<PacketSpec>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut specs = specs();
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    for (index, spec) in specs.iter_mut().enumerate() {
        let frame = ethernet_frame(spec, 20 + (index * 37) % 300);
        spec.wire_len = frame.len() as u32;
        writer.packet(spec.timestamp_ns, &frame, spec.wire_len);
    }
    let capture = dir.path().join("known.pcap");
    writer.write_to(&capture).expect("capture written");
    let config = dir.path().join("query.yaml");
    std::fs::write(&config, CONFIG).expect("config written");
    let root = dir.path().join("out");
    let run = analyze(&[&capture], &root, &["--config", config.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    Fixture {
        _dir: dir,
        root,
        specs,
    }
}

/// Counters of one key as the test computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    packets: u64,
    bytes: u64,
    first_seen: u64,
    last_seen: u64,
    /// Windows the key was seen in (one run part each).
    flows: u64,
}

/// The five-tuple key `inspect` prints, as `src|dst|sport|dport|proto`.
fn five_key(spec: &PacketSpec) -> String {
    format!(
        "{}|{}|{}|{}|{}",
        spec.src, spec.dst, spec.src_port, spec.dst_port, spec.protocol
    )
}

/// `specs` summed by `key`, over the windows starting in `windows`.
fn reference(
    specs: &[PacketSpec],
    windows: std::ops::Range<u64>,
    key: impl Fn(&PacketSpec) -> String,
) -> BTreeMap<String, Counts> {
    let mut seen: BTreeMap<String, (Counts, BTreeSet<u64>)> = BTreeMap::new();
    for spec in specs {
        let window = (spec.timestamp_ns - START) / (60 * SECOND);
        if !windows.contains(&window) {
            continue;
        }
        let (counts, in_windows) = seen.entry(key(spec)).or_insert((
            Counts {
                packets: 0,
                bytes: 0,
                first_seen: u64::MAX,
                last_seen: 0,
                flows: 0,
            },
            BTreeSet::new(),
        ));
        counts.packets += 1;
        counts.bytes += u64::from(spec.wire_len);
        counts.first_seen = counts.first_seen.min(spec.timestamp_ns);
        counts.last_seen = counts.last_seen.max(spec.timestamp_ns);
        in_windows.insert(window);
    }
    seen.into_iter()
        .map(|(key, (mut counts, in_windows))| {
            counts.flows = in_windows.len() as u64;
            (key, counts)
        })
        .collect()
}

/// An RFC 3339 time `inspect` prints, back to nanoseconds.
fn nanos(text: &Value) -> u64 {
    let text = text.as_str().expect("a time is a string");
    let (seconds, fraction) = text
        .strip_suffix('Z')
        .and_then(|rest| rest.split_once('.'))
        .expect("RFC 3339 with nanoseconds");
    let (date, time) = seconds.split_once('T').expect("a T");
    let day: Vec<u64> = date.split('-').map(|part| part.parse().unwrap()).collect();
    let clock: Vec<u64> = time.split(':').map(|part| part.parse().unwrap()).collect();
    assert_eq!((day[0], day[1], day[2]), (2025, 9, 9), "the capture's day");
    let since_start = (clock[0] - 10) * 3600 + clock[1] * 60 + clock[2];
    START + since_start * SECOND + fraction.parse::<u64>().unwrap()
}

/// A row's key as [`five_key`] writes it, or one field's value.
fn row_key(row: &Value, fields: &[&str]) -> String {
    fields
        .iter()
        .map(|field| match &row[*field] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

const FIVE: [&str; 5] = ["src_ip", "dst_ip", "src_port", "dst_port", "protocol"];

/// The rows of `task` (merged) as the reference's map.
fn merged_rows(
    root: &Path,
    task: &str,
    fields: &[&str],
    extra: &[&str],
) -> BTreeMap<String, Counts> {
    let mut args = vec!["--merge", "--task", task];
    args.extend(extra);
    inspect_json(root, &args)
        .iter()
        .map(|row| {
            let counts = Counts {
                packets: row["packets"].as_u64().unwrap(),
                bytes: row["bytes"].as_u64().unwrap(),
                first_seen: nanos(&row["first_seen"]),
                last_seen: nanos(&row["last_seen"]),
                flows: row["flows"].as_u64().unwrap(),
            };
            (row_key(row, fields), counts)
        })
        .collect()
}

/// `netspectra inspect ROOT ARGS...`, whatever its status.
fn inspect(root: &Path, args: &[&str]) -> Output {
    netspectra()
        .arg("inspect")
        .arg(root)
        .args(args)
        .output()
        .expect("netspectra inspect runs")
}

/// Runs an `inspect` that must fail with status 2; returns its stderr.
#[track_caller]
fn usage_error(root: &Path, args: &[&str]) -> String {
    let output = inspect(root, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty(), "{args:?} printed a report");
    stderr
}

/// The window starts of the rows `args` select, as minutes after START.
fn window_minutes(root: &Path, args: &[&str]) -> BTreeSet<u64> {
    let mut all = vec!["--task", "by_src"];
    all.extend(args);
    inspect_json(root, &all)
        .iter()
        .map(|row| (nanos(&row["window_start"]) - START) / (60 * SECOND))
        .collect()
}

#[test]
fn from_and_to_select_the_windows_overlapping_the_range() {
    let fixture = fixture();
    let root = &fixture.root;
    let all: BTreeSet<u64> = (0..WINDOWS).collect();
    assert_eq!(window_minutes(root, &[]), all);
    let cases: [(&[&str], &[u64]); 8] = [
        (
            &[
                "--from",
                "2025-09-09T10:01:00Z",
                "--to",
                "2025-09-09T10:02:00Z",
            ],
            &[1],
        ),
        (&["--from", "2025-09-09T10:00:30Z"], &[0, 1, 2]),
        (&["--to", "2025-09-09T10:01:00.000000001Z"], &[0, 1]),
        (&["--from", "2025-09-09T12:01:00+02:00"], &[1, 2]),
        (&["--from", "1757412060", "--to", "1757412120"], &[1]),
        (&["--from", "-1m"], &[2]),
        (&["--from=-2m", "--to=-1m"], &[1]),
        (&["--from", "-90s", "--to", "-30s"], &[1, 2]),
    ];
    for (args, want) in cases {
        let want: BTreeSet<u64> = want.iter().copied().collect();
        assert_eq!(window_minutes(root, args), want, "{args:?}");
    }
    let got = merged_rows(root, "by_src", &["src_ip"], &["--from", "-2m"]);
    let want = reference(&fixture.specs, 1..3, |spec| spec.src.to_string());
    assert_eq!(got, want, "--merge sums only the windows selected");
    let output = inspect(
        root,
        &["--from", "2025-09-09T11:00:00Z", "--format", "json"],
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty(), "no window after the newest");
}

#[test]
fn bad_times_and_reversed_ranges_are_usage_errors_naming_the_flag() {
    let fixture = fixture();
    let root = &fixture.root;
    let stderr = usage_error(root, &["--from", "yesterday"]);
    assert!(stderr.contains("'--from <TIME>'"), "{stderr}");
    assert!(stderr.contains("\"yesterday\" is not a time"), "{stderr}");
    let stderr = usage_error(root, &["--to", "-5parsecs"]);
    assert!(stderr.contains("'--to <TIME>'"), "{stderr}");
    assert!(
        stderr.contains("\"-5parsecs\" is not a span back"),
        "{stderr}"
    );
    let stderr = usage_error(
        root,
        &[
            "--from",
            "2025-09-09T10:02:00Z",
            "--to",
            "2025-09-09T10:01:00Z",
        ],
    );
    assert!(
        stderr.contains(
            "--from 2025-09-09T10:02:00.000000000Z is after --to 2025-09-09T10:01:00.000000000Z"
        ),
        "{stderr}"
    );
    let stderr = usage_error(root, &["--from", "-1m", "--to", "-2m"]);
    assert!(stderr.contains("is after --to"), "{stderr}");
}

#[test]
fn where_keeps_exactly_the_rows_an_independent_predicate_keeps() {
    let fixture = fixture();
    let root = &fixture.root;
    let all = reference(&fixture.specs, 0..WINDOWS, five_key);
    type Predicate = fn(&str, &Counts) -> bool;
    let cases: [(&str, Predicate); 7] = [
        ("dst_port == 443", |key, _| key.contains("|443|")),
        ("dst_port == https and src_ip in 10.0.0.0/8", |key, _| {
            key.contains("|443|") && key.starts_with("10.")
        }),
        ("protocol == udp or protocol == ipv6-icmp", |key, _| {
            key.ends_with("|17") || key.ends_with("|58")
        }),
        (
            "src_ip in 2001:db8:0:1::/64 and not dst_port == ntp",
            |key, _| key.starts_with("2001:db8:0:1::") && !key.contains("|123|"),
        ),
        ("packets >= 10 or bytes > 1.5k", |_, counts| {
            counts.packets >= 10 || counts.bytes > 1500
        }),
        ("flows == 2 and duration > 0.5", |_, counts| {
            counts.flows == 2 && counts.last_seen - counts.first_seen > SECOND / 2
        }),
        (
            "first_seen >= 2025-09-09T10:00:03Z and last_seen < 1757412125",
            |_, counts| {
                counts.first_seen >= START + 3 * SECOND && counts.last_seen < START + 125 * SECOND
            },
        ),
    ];
    for (expression, predicate) in cases {
        let got = merged_rows(root, "five", &FIVE, &["--where", expression]);
        let want: BTreeMap<String, Counts> = all
            .iter()
            .filter(|(key, counts)| predicate(key, counts))
            .map(|(key, counts)| (key.clone(), *counts))
            .collect();
        assert!(!want.is_empty(), "{expression} selects something");
        assert!(want.len() < all.len(), "{expression} leaves something out");
        assert_eq!(got, want, "{expression}");
    }
    let rates = merged_rows(root, "five", &FIVE, &["--where", "rate > 10k"]);
    for (key, counts) in &all {
        let duration = counts.last_seen - counts.first_seen;
        let rate = if duration == 0 {
            0
        } else {
            u128::from(counts.bytes) * 8 * u128::from(SECOND) / u128::from(duration)
        };
        assert_eq!(
            rates.contains_key(key),
            rate > 10_000,
            "{key}: {rate} bit/s"
        );
    }
}

#[test]
fn where_without_task_leaves_out_the_tasks_lacking_a_field() {
    let fixture = fixture();
    let tasks: BTreeSet<String> = inspect_json(&fixture.root, &["--where", "dst_port == 443"])
        .iter()
        .map(|row| row["task"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        tasks,
        BTreeSet::from(["five".to_string(), "ports".to_string()])
    );
    let want = reference(&fixture.specs, 0..WINDOWS, |spec| spec.dst_port.to_string())
        .keys()
        .filter(|port| *port == "443")
        .count();
    let table = inspect(
        &fixture.root,
        &["--merge", "--task", "ports", "--where", "dst_port == 443"],
    );
    let heading = String::from_utf8(table.stdout).unwrap();
    assert!(
        heading.contains(&format!(", {want} matching --where\n")),
        "{heading}"
    );
}

#[test]
fn where_mistakes_exit_2_with_a_caret_under_their_column() {
    let fixture = fixture();
    let root = &fixture.root;
    let cases = [
        ("dst_prt == 443", 0, "unknown field \"dst_prt\""),
        ("dst_port = 443", 9, "a single '=' compares nothing"),
        ("bytes > lots", 8, "\"lots\" is not a number"),
        ("src_ip > 10.0.0.1", 7, "src_ip compares with ==, != or in"),
        (
            "src_ip in 10.0.0.0/33",
            10,
            "\"10.0.0.0/33\" is not a network",
        ),
        (
            "(bytes > 1 or packets > 1",
            25,
            "expected ')' to close the '(' at column 1",
        ),
        (
            "bytes > 1 packets > 1",
            10,
            "unexpected \"packets\" after a complete condition",
        ),
        ("protocol == smtp", 12, "\"smtp\" is not a protocol number"),
        (
            "dst_port == 443 and",
            19,
            "expected a field name, 'not' or '(', found the end of the expression",
        ),
    ];
    for (expression, column, message) in cases {
        let stderr = usage_error(root, &["--where", expression]);
        assert!(stderr.contains("'--where <EXPR>'"), "{stderr}");
        assert!(
            stderr.contains(&format!("column {}: {message}", column + 1)),
            "{expression}: {stderr}"
        );
        let caret = format!("\n  {expression}\n  {}^\n", " ".repeat(column));
        assert!(stderr.contains(&caret), "{expression}: {stderr}");
    }
}

#[test]
fn where_and_group_by_on_a_task_without_the_field_exit_2_naming_both() {
    let fixture = fixture();
    let root = &fixture.root;
    let stderr = usage_error(root, &["--task", "by_src", "--where", "dst_port == 443"]);
    assert!(
        stderr.contains("--where: task by_src does not key on dst_port (its key: src_ip)"),
        "{stderr}"
    );
    let stderr = usage_error(root, &["--task", "heavy", "--where", "duration > 1"]);
    assert!(
        stderr.contains("--where: task heavy is a sketch task and keeps no duration per key"),
        "{stderr}"
    );
    let stderr = usage_error(root, &["--task", "ports", "--group-by", "src_ip/24"]);
    assert!(
        stderr.contains("--group-by: task ports does not key on src_ip (its key: dst_port)"),
        "{stderr}"
    );
    let stderr = usage_error(root, &["--task", "heavy", "--group-by", "src_ip/24"]);
    assert!(stderr.contains("task heavy is a sketch task"), "{stderr}");
    let stderr = usage_error(root, &["--group-by", "dst_port/8"]);
    assert!(
        stderr.contains("only src_ip and dst_ip take a prefix length"),
        "{stderr}"
    );
    let stderr = usage_error(root, &["--task", "nosuch"]);
    assert!(stderr.contains("no task \"nosuch\""), "{stderr}");
    let stderr = usage_error(root, &["--sort", "spread"]);
    assert!(stderr.contains("'--sort <SORT>'"), "{stderr}");
}

#[test]
fn every_sort_key_orders_the_rows_and_flows_duration_and_rate_are_right() {
    let fixture = fixture();
    let root = &fixture.root;
    let want = reference(&fixture.specs, 0..WINDOWS, five_key);
    for sort in [
        "packets",
        "bytes",
        "flows",
        "duration",
        "first_seen",
        "rate",
    ] {
        let rows = inspect_json(root, &["--merge", "--task", "five", "--sort", sort]);
        assert_eq!(rows.len(), want.len(), "{sort}");
        let mut values = Vec::new();
        for row in &rows {
            let counts = want[&row_key(row, &FIVE)];
            let duration = counts.last_seen - counts.first_seen;
            let rate = if duration == 0 {
                0
            } else {
                (u128::from(counts.bytes) * 8 * u128::from(SECOND) / u128::from(duration)) as u64
            };
            assert_eq!(row["flows"], counts.flows);
            assert_eq!(row["rate"], rate);
            assert_eq!(row["duration"].as_f64(), Some(duration as f64 / 1e9));
            values.push(match sort {
                "packets" => counts.packets,
                "bytes" => counts.bytes,
                "flows" => counts.flows,
                "duration" => duration,
                "first_seen" => counts.first_seen,
                _ => rate,
            });
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        if sort != "first_seen" {
            sorted.reverse();
        }
        assert_eq!(values, sorted, "sorted by {sort}");
        assert!(
            sorted.first() != sorted.last(),
            "the fixture has different {sort}"
        );
    }
    let table =
        String::from_utf8(inspect(root, &["--merge", "--task", "five", "--sort", "rate"]).stdout)
            .unwrap();
    let header = table.lines().nth(1).unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "src_ip",
            "dst_ip",
            "src_port",
            "dst_port",
            "protocol",
            "packets",
            "bytes",
            "flows",
            "duration",
            "rate",
            "first_seen",
            "last_seen"
        ]
    );
    let plain = String::from_utf8(inspect(root, &["--task", "five"]).stdout).unwrap();
    let columns: Vec<&str> = plain.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "src_ip",
            "dst_ip",
            "src_port",
            "dst_port",
            "protocol",
            "packets",
            "bytes",
            "first_seen",
            "last_seen"
        ]
    );
}

#[test]
fn tables_name_protocols_and_ports_and_json_and_csv_add_protocol_name() {
    let fixture = fixture();
    let root = &fixture.root;
    let names = BTreeMap::from([(1, "icmp"), (6, "tcp"), (17, "udp"), (58, "ipv6-icmp")]);
    let rows = inspect_json(root, &["--merge", "--task", "five"]);
    for row in &rows {
        let protocol = row["protocol"].as_u64().expect("protocol stays a number");
        assert_eq!(row["protocol_name"], names[&protocol], "{row}");
    }
    let table = String::from_utf8(inspect(root, &["--merge", "--task", "five"]).stdout).unwrap();
    let line = table
        .lines()
        .find(|line| line.starts_with("10.0.0.1 "))
        .expect("a row of 10.0.0.1");
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells[..5],
        ["10.0.0.1", "192.168.1.1", "40001", "https", "tcp"]
    );
    assert!(table.contains(" ipv6-icmp "), "{table}");
    assert!(table.contains(" domain "), "{table}");
    let numeric =
        String::from_utf8(inspect(root, &["--merge", "--task", "five", "-n"]).stdout).unwrap();
    let line = numeric
        .lines()
        .find(|line| line.starts_with("10.0.0.1 "))
        .unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..5], ["10.0.0.1", "192.168.1.1", "40001", "443", "6"]);
    let csv =
        String::from_utf8(inspect(root, &["--merge", "--task", "five", "--format", "csv"]).stdout)
            .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|&column| column == "protocol")
        .unwrap();
    assert_eq!(header[at + 1], "protocol_name");
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let protocol: u64 = cells[at].parse().unwrap();
        assert_eq!(cells[at + 1], names[&protocol], "{line}");
    }
}

#[test]
fn the_other_row_has_null_keys_and_other_true_in_json_and_csv() {
    let fixture = fixture();
    let root = &fixture.root;
    let rows = inspect_json(root, &["--task", "capped"]);
    let (other, keyed): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|row| row["other"] == true);
    assert_eq!(other.len() as u64, WINDOWS, "one other row per window");
    assert!(other.iter().all(|row| row["src_ip"].is_null()), "{other:?}");
    assert!(
        keyed
            .iter()
            .all(|row| row["other"] == false && row["src_ip"].is_string())
    );
    let packets: u64 = rows
        .iter()
        .map(|row| row["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, fixture.specs.len() as u64);
    let csv =
        String::from_utf8(inspect(root, &["--task", "capped", "--format", "csv"]).stdout).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"other"));
    let src = header
        .iter()
        .position(|&column| column == "src_ip")
        .unwrap();
    let other_lines: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|cells| cells.last() == Some(&"true"))
        .collect();
    assert_eq!(other_lines.len() as u64, WINDOWS);
    assert!(other_lines.iter().all(|cells| cells[src].is_empty()));
    let by_key = inspect_json(
        root,
        &["--task", "capped", "--where", "not src_ip in 10.0.0.0/8"],
    );
    assert!(
        by_key.iter().all(|row| row["other"] == false),
        "a key predicate never matches other"
    );
    let by_count = inspect_json(root, &["--task", "capped", "--where", "packets >= 1"]);
    assert_eq!(
        by_count.len(),
        rows.len(),
        "a counter predicate can match other"
    );
}

/// `rows` of full addresses cut to IPv4 /`v4` and IPv6 /`v6`, summed.
fn regroup(
    rows: &BTreeMap<String, Counts>,
    v4: u32,
    v6: u32,
    keep: impl Fn(&str) -> String,
) -> BTreeMap<String, Counts> {
    let mut groups: BTreeMap<String, Counts> = BTreeMap::new();
    for (key, counts) in rows {
        let (address, rest) = key.split_once('|').unwrap_or((key, ""));
        // Written as `inspect` writes a cut address: `10.0.0.0/24`.
        let prefix = match address.parse::<IpAddr>().unwrap() {
            IpAddr::V4(ip) if v4 < 32 => {
                let mask = u32::MAX.checked_shl(32 - v4).unwrap_or(0);
                format!("{}/{v4}", std::net::Ipv4Addr::from(u32::from(ip) & mask))
            }
            IpAddr::V6(ip) if v6 < 128 => {
                let mask = u128::MAX.checked_shl(128 - v6).unwrap_or(0);
                format!("{}/{v6}", std::net::Ipv6Addr::from(u128::from(ip) & mask))
            }
            whole => whole.to_string(),
        };
        let group = format!("{prefix}{}", keep(rest));
        let entry = groups.entry(group).or_insert(Counts {
            packets: 0,
            bytes: 0,
            first_seen: u64::MAX,
            last_seen: 0,
            flows: 0,
        });
        entry.packets += counts.packets;
        entry.bytes += counts.bytes;
        entry.flows += counts.flows;
        entry.first_seen = entry.first_seen.min(counts.first_seen);
        entry.last_seen = entry.last_seen.max(counts.last_seen);
    }
    groups
}

#[test]
fn group_by_prefix_sums_equal_a_regrouping_of_the_full_address_rows() {
    let fixture = fixture();
    let root = &fixture.root;
    let full = merged_rows(root, "by_src", &["src_ip"], &[]);
    for (spec, v4, v6) in [
        ("src_ip/24/64", 24, 64),
        ("src_ip/16", 16, 128),
        ("src_ip//40", 32, 40),
    ] {
        let got = merged_rows(root, "by_src", &["src_ip"], &["--group-by", spec]);
        let want = regroup(&full, v4, v6, |_| String::new());
        assert!(want.len() < full.len(), "{spec} groups something");
        assert_eq!(got, want, "--group-by {spec}");
    }
    let five = merged_rows(root, "five", &FIVE, &[]);
    let got = merged_rows(
        root,
        "five",
        &["src_ip", "dst_port"],
        &["--group-by", "src_ip/8/32,dst_port"],
    );
    let want = regroup(&five, 8, 32, |rest| {
        format!("|{}", rest.split('|').nth(2).unwrap())
    });
    assert_eq!(got, want);
    let table = inspect(
        root,
        &["--merge", "--task", "by_src", "--group-by", "src_ip/16"],
    );
    let heading = String::from_utf8(table.stdout).unwrap();
    let groups = regroup(&full, 16, 128, |_| String::new()).len();
    assert!(
        heading.contains(&format!(", {groups} groups\n")),
        "{heading}"
    );
    let rows = inspect_json(
        root,
        &["--merge", "--task", "five", "--group-by", "dst_port"],
    );
    assert!(
        rows.iter().all(|row| row.get("src_ip").is_none()),
        "only the fields grouped by"
    );
    let filtered = merged_rows(
        root,
        "by_src",
        &["src_ip"],
        &["--where", "src_ip in 10.0.0.0/8", "--group-by", "src_ip/16"],
    );
    let ten: BTreeMap<String, Counts> = full
        .iter()
        .filter(|(key, _)| key.starts_with("10."))
        .map(|(key, counts)| (key.clone(), *counts))
        .collect();
    assert_eq!(
        filtered,
        regroup(&ten, 16, 128, |_| String::new()),
        "--where filters before grouping"
    );
}
