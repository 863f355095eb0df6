//! The ClickHouse writer against a real server (Debian's clickhouse-server,
//! started by each test on free loopback ports): every window lands once
//! through a server crash, two probes add up in one store, and bad
//! settings stop `analyze` before the first packet. Skipped, with a
//! printed reason, where the package is not installed.

#[path = "support/clickhouse.rs"]
pub mod server;
pub mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netspectra::capture::{CaptureStats, RunMode};
use netspectra::config::Secret;
use netspectra::flow::{
    FlowKey, KeyField, KeySchema, PacketRecord, Share, TaskKind, TaskSpec, WindowBounds,
    build_aggregator,
};
use netspectra::output::run::RunId;
use netspectra::output::{ClickHouseSettings, ClickHouseWriter, ClosedWindow, TaskWindow, Writer};
use server::ClickHouseServer;
use support::cli::{capture_on_loopback, netspectra};
use support::traffic::{PacketSpec, Table, expected_tables, mixed_packets, write_pcap};

const TASKS: [&str; 6] = [
    "per_dst_ip",
    "per_dst_port",
    "per_five_tuple",
    "per_protocol",
    "per_src_ip",
    "per_src_port",
];

/// A config storing 1 s windows in `server` as `probe`, keeping up to 1024
/// windows for retry; `--output` adds the files writer beside it.
fn config(dir: &Path, name: &str, writer: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "aggregator:\n  snapshot_interval: 1s\n  write_backlog: 1024\nwriters:\n  - {writer}\n"
        ),
    )
    .expect("config written");
    path
}

fn clickhouse_writer(server: &ClickHouseServer, probe: &str) -> String {
    format!(
        "{{type: clickhouse, url: \"{}\", probe: {probe}}}",
        server.url()
    )
}

/// `count` packets over `count / per_second` one-second windows, written to `path`.
fn capture(path: &Path, count: usize, per_second: u64, seed: u64) -> Vec<PacketSpec> {
    let mut specs = mixed_packets(
        count,
        1_700_000_000_000_000_000,
        1_000_000_000 / per_second,
        seed,
    );
    write_pcap(path, &mut specs);
    specs
}

/// (task, flows, packets, bytes) of every window in the files root, oldest window first.
fn file_totals(root: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for window in support::store::window_dirs(root) {
        for task in TASKS {
            let summary = support::store::task_dir(&window, task).join("summary.json");
            let text = std::fs::read_to_string(&summary).expect("summary.json is there");
            let summary: serde_json::Value = serde_json::from_str(&text).expect("summary is JSON");
            lines.push(format!(
                "{task}\t{}\t{}\t{}",
                summary["total_flows"], summary["total_packets"], summary["total_bytes"]
            ));
        }
    }
    lines
}

/// The same from `table`, oldest window first.
fn stored_totals(server: &ClickHouseServer, table: &str) -> Vec<String> {
    server
        .query(&format!(
            "SELECT task, countIf(is_other = 0), sum(packets), sum(bytes) FROM default.{table} \
             GROUP BY window_start, task ORDER BY window_start, task FORMAT TabSeparated"
        ))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Packets and bytes per source address of `probe` (all probes: `None`).
fn stored_src_ips(server: &ClickHouseServer, probe: Option<&str>) -> Table {
    let only = probe.map_or_else(String::new, |probe| format!("AND probe = '{probe}'"));
    server
        .query(&format!(
            "SELECT replaceOne(IPv6NumToString(src_ip), '::ffff:', ''), sum(packets), sum(bytes) \
             FROM default.committed_flows WHERE task = 'per_src_ip' {only} \
             GROUP BY src_ip FORMAT TabSeparated"
        ))
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let number = |index: usize| fields[index].parse::<u64>().expect("a count");
            (fields[0].to_string(), (number(1), number(2)))
        })
        .collect()
}

fn markers(server: &ClickHouseServer) -> u64 {
    server
        .query("SELECT count() FROM default.windows")
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn every_window_lands_once_through_a_server_crash_and_matches_the_files_writer() {
    let Some(mut server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("long.pcap");
    let specs = capture(&input, 36_000, 300, 11);
    let config = config(dir.path(), "ch.yaml", &clickhouse_writer(&server, "alpha"));
    let out = dir.path().join("out");
    let child = netspectra()
        .args(["analyze", "--json", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&out)
        .arg(&input)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let started = Instant::now();
    // system.parts answers before the writer has created the table.
    let committed = "SELECT sum(rows) FROM system.parts \
                     WHERE database = 'default' AND table = 'windows' AND active";
    while server
        .query(committed)
        .trim()
        .parse::<u64>()
        .expect("a count")
        < 20 * TASKS.len() as u64
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no window reached the server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill();
    server.restart();
    let output = child.wait_with_output().expect("netspectra ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("kept in memory and retried"),
        "the run ended before the crash mattered; make the capture longer:\n{stderr}"
    );

    let files = file_totals(&out);
    assert_eq!(files.len(), 120 * TASKS.len());
    assert_eq!(stored_totals(&server, "flows"), files, "raw table");
    assert_eq!(stored_totals(&server, "committed_flows"), files, "view");
    assert_eq!(markers(&server), files.len() as u64);
    assert_eq!(
        stored_src_ips(&server, None),
        expected_tables(&specs)["per_src_ip"]
    );
}

#[test]
fn two_probes_add_up_in_one_server_and_stay_apart_by_name() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let runs: Vec<(Vec<PacketSpec>, Command)> = [("alpha", 1), ("beta", 2)]
        .into_iter()
        .map(|(probe, seed)| {
            let input = dir.path().join(format!("{probe}.pcap"));
            let specs = capture(&input, 4_000, 1_000, seed);
            let config = config(
                dir.path(),
                &format!("{probe}.yaml"),
                &clickhouse_writer(&server, probe),
            );
            let mut command = netspectra();
            command
                .args(["analyze", "--json", "--config"])
                .arg(config)
                .arg("--output")
                .arg(dir.path().join(probe))
                .arg(input);
            (specs, command)
        })
        .collect();
    let children: Vec<_> = runs
        .into_iter()
        .map(|(specs, mut command)| {
            let child = command
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("netspectra starts");
            (specs, child)
        })
        .collect();
    let mut all = Vec::new();
    for (probe, (specs, child)) in ["alpha", "beta"].into_iter().zip(children) {
        let output = child.wait_with_output().expect("netspectra ends");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stored_src_ips(&server, Some(probe)),
            expected_tables(&specs)["per_src_ip"],
            "{probe}"
        );
        all.extend(specs);
    }
    assert_eq!(
        stored_src_ips(&server, None),
        expected_tables(&all)["per_src_ip"]
    );
    let per_task = server.query(
        "SELECT task, sum(packets) FROM default.committed_flows GROUP BY task ORDER BY task FORMAT TabSeparated",
    );
    let want: String = TASKS.iter().map(|task| format!("{task}\t8000\n")).collect();
    assert_eq!(per_task, want);
}

/// Runs `analyze` with `writer` as the only writer; asserts it is refused
/// with status 2 before reading, naming `want`, and never showing the password.
#[track_caller]
fn check_refused(dir: &Path, input: &Path, writer: &str, want: &str) {
    let config = config(dir, "bad.yaml", writer);
    let output = netspectra()
        .args(["analyze", "--config"])
        .arg(&config)
        .arg(input)
        .output()
        .expect("netspectra runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
    assert!(!stderr.contains(server::PASSWORD), "{stderr}");
    assert!(!stderr.contains("wrong-pass"), "{stderr}");
}

#[test]
fn a_server_that_cannot_store_windows_stops_analyze_before_the_first_packet() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("small.pcap");
    capture(&input, 100, 100, 3);
    let url = server.url();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("bound")
        .port();
    check_refused(
        dir.path(),
        &input,
        &format!("{{type: clickhouse, url: \"http://127.0.0.1:{closed}\"}}"),
        &format!("ClickHouse at http://127.0.0.1:{closed}: no answer"),
    );
    check_refused(
        dir.path(),
        &input,
        &format!(
            "{{type: clickhouse, url: \"{url}\", username: {}, password: wrong-pass}}",
            server::USER
        ),
        "Wrong password",
    );
    check_refused(
        dir.path(),
        &input,
        &format!("{{type: clickhouse, url: \"{url}\", database: nowhere}}"),
        "database `nowhere` does not exist",
    );
    let good = format!(
        "{{type: clickhouse, url: \"{url}\", username: {}, password: {}}}",
        server::USER,
        server::PASSWORD
    );
    let config = config(dir.path(), "good.yaml", &good);
    let output = netspectra()
        .args(["analyze", "--config"])
        .arg(&config)
        .arg(&input)
        .env("RUST_LOG", "info")
        .output()
        .expect("netspectra runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains(server::PASSWORD), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains(server::PASSWORD));
    let stored = server.query("SELECT sum(packets) FROM default.flows WHERE task = 'per_protocol'");
    assert_eq!(stored.trim(), "100");
}

/// A one-task window of `run` at second `start`: `packets` packets of 100
/// bytes over five source addresses.
fn window(start: u64, packets: u64) -> ClosedWindow {
    let spec = TaskSpec {
        name: "per_src_ip".into(),
        kind: TaskKind::Exact,
        schema: KeySchema::from_fields(&[KeyField::SrcIp]),
        max_keys: None,
    };
    let mut aggregator = build_aggregator(&spec, Share::whole(&spec));
    let start_ns = start * 1_000_000_000;
    let batch: Vec<PacketRecord> = (0..packets)
        .map(|index| PacketRecord {
            key: FlowKey::ipv4(
                [10, 0, 0, (index % 5) as u8].into(),
                [10, 0, 0, 9].into(),
                1000,
                80,
                6,
            ),
            timestamp_ns: start_ns + index,
            wire_len: 100,
        })
        .collect();
    aggregator.count(&batch);
    ClosedWindow {
        bounds: WindowBounds {
            start_ns,
            end_ns: start_ns + 1_000_000_000,
        },
        run: RunId(42),
        mode: RunMode::Offline,
        capture: CaptureStats::default(),
        tasks: vec![TaskWindow {
            spec,
            parts: vec![aggregator.take_part()],
        }],
    }
}

fn writer(server: &ClickHouseServer) -> ClickHouseWriter {
    ClickHouseWriter::connect(ClickHouseSettings {
        url: server.url(),
        database: "default".into(),
        username: "default".into(),
        password: Secret::default(),
        probe: "unit".into(),
    })
    .expect("the test server takes the schema")
}

/// Rows, packets and markers of the window at second `start`, raw tables.
fn stored(server: &ClickHouseServer, start: u64) -> String {
    server.query(&format!(
        "SELECT (SELECT count() FROM default.flows WHERE window_start = toDateTime({start})), \
                (SELECT sum(packets) FROM default.flows WHERE window_start = toDateTime({start})), \
                (SELECT count() FROM default.windows WHERE window_start = toDateTime({start}))"
    ))
}

#[test]
fn a_window_offered_again_after_a_lost_answer_is_not_stored_twice() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let mut writer = writer(&server);
    let window = window(1_700_000_000, 50);
    writer.write(&window).expect("stored");
    writer.write(&window).expect("recognised as stored");
    assert_eq!(stored(&server, 1_700_000_000), "5\t50\t1\n");
}

#[test]
fn a_rerun_with_other_counts_replaces_the_window_instead_of_adding_to_it() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let mut writer = writer(&server);
    writer.write(&window(1_700_000_000, 50)).expect("stored");
    writer.write(&window(1_700_000_000, 70)).expect("replaced");
    assert_eq!(stored(&server, 1_700_000_000), "5\t70\t1\n");
    assert!(
        writer.describe().contains("probe unit"),
        "{}",
        writer.describe()
    );
}

#[test]
fn a_live_capture_stores_every_window_with_its_drop_counters_even_when_idle() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = config(dir.path(), "live.yaml", &clickhouse_writer(&server, "edge"));
    let config = config.to_string_lossy().into_owned();
    let args = [
        "--config",
        config.as_str(),
        "--filter",
        "udp port 9",
        "--duration",
        "3s",
    ];
    let Some(run) = capture_on_loopback(&args, &dir.path().join("out")) else {
        return;
    };
    assert_eq!(run.status, Some(0), "{}", run.log);
    let rows = server.query(
        "SELECT count(), uniqExact(window_start), min(mode), max(mode), \
         min(pcap_dropped), max(probe) FROM default.windows FORMAT TabSeparated",
    );
    let fields: Vec<&str> = rows.trim().split('\t').collect();
    let windows: u64 = fields[1].parse().expect("a count");
    assert!(windows >= 2, "{rows}");
    assert_eq!(
        fields[0],
        (windows * TASKS.len() as u64).to_string(),
        "{rows}"
    );
    assert_eq!(&fields[2..], ["live", "live", "0", "edge"], "{rows}");
}
