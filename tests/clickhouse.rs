//! The ClickHouse writer against a real server (Debian's clickhouse-server,
//! started by each test on free loopback ports): every window lands once
//! through a server crash, two probes add up in one store and in a cluster
//! of two shards (with README's cluster statements and ready queries), and
//! bad settings stop `analyze` before the first packet. Skipped, with a
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

/// 2023-11-14T22:13:20Z, where the test captures start.
const START_SECS: u64 = 1_700_000_000;
const DAY_SECS: u64 = 86_400;

/// `count` packets over `count / per_second` one-second windows, written to `path`.
fn capture(path: &Path, count: usize, per_second: u64, seed: u64) -> Vec<PacketSpec> {
    capture_at(path, START_SECS, count, per_second, seed)
}

/// The same, starting at second `start` since the epoch.
fn capture_at(
    path: &Path,
    start: u64,
    count: usize,
    per_second: u64,
    seed: u64,
) -> Vec<PacketSpec> {
    let mut specs = mixed_packets(
        count,
        start * 1_000_000_000,
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
    src_ips_in(server, "committed_flows", probe)
}

/// Packets and bytes per source address of `probe` in `table`.
fn src_ips_in(server: &ClickHouseServer, table: &str, probe: Option<&str>) -> Table {
    let only = probe.map_or_else(String::new, |probe| format!("AND probe = '{probe}'"));
    server
        .query(&format!(
            "SELECT replaceOne(IPv6NumToString(src_ip), '::ffff:', ''), sum(packets), sum(bytes) \
             FROM default.{table} WHERE task = 'per_src_ip' {only} \
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
    markers_in(server, "windows")
}

fn markers_in(server: &ClickHouseServer, table: &str) -> u64 {
    server
        .query(&format!("SELECT count() FROM default.{table}"))
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

/// The statements of README's ClickHouse section (its `sql` blocks, split
/// at `;`), so what users copy is what this test runs.
fn readme_statements() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md is readable");
    let start = readme
        .find("\n## ClickHouse: many probes, one store\n")
        .expect("README has the ClickHouse section");
    let section = &readme[start + 1..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut statements = Vec::new();
    for block in section.split("```sql\n").skip(1) {
        let sql = &block[..block.find("```").expect("the sql block is closed")];
        statements.extend(
            sql.split(';')
                .map(str::trim)
                .filter(|statement| statement.lines().any(|line| !line.starts_with("--")))
                .map(str::to_string),
        );
    }
    statements
}

/// `sql` with the single-server tables replaced by the cluster's
/// Distributed tables of the same name plus `_all`.
fn on_cluster(sql: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for character in sql.chars().chain(std::iter::once(' ')) {
        if character.is_ascii_alphanumeric() || character == '_' {
            word.push(character);
            continue;
        }
        if matches!(word.as_str(), "committed_flows" | "windows") {
            word.push_str("_all");
        }
        out.push_str(&word);
        word.clear();
        out.push(character);
    }
    out.pop();
    out
}

/// (task, flows, packets, bytes) per window and task over the files roots,
/// summed across them, oldest window first.
fn union_file_totals(roots: &[PathBuf]) -> Vec<String> {
    let mut totals = std::collections::BTreeMap::<(String, String), [u64; 3]>::new();
    for root in roots {
        for window in support::store::window_dirs(root) {
            let name = window
                .file_name()
                .and_then(|name| name.to_str())
                .expect("a window name")
                .to_string();
            for task in TASKS {
                let summary = support::store::task_dir(&window, task).join("summary.json");
                let text = std::fs::read_to_string(&summary).expect("summary.json is there");
                let summary: serde_json::Value =
                    serde_json::from_str(&text).expect("summary is JSON");
                let sums = totals.entry((name.clone(), task.to_string())).or_default();
                for (sum, field) in
                    sums.iter_mut()
                        .zip(["total_flows", "total_packets", "total_bytes"])
                {
                    *sum += summary[field].as_u64().expect("a count");
                }
            }
        }
    }
    totals
        .into_iter()
        .map(|((_, task), [flows, packets, bytes])| format!("{task}\t{flows}\t{packets}\t{bytes}"))
        .collect()
}

#[test]
fn a_distributed_table_over_two_shards_answers_with_the_union_of_both_probes() {
    let Some(shards) = ClickHouseServer::start_cluster(2) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut all = Vec::new();
    let mut roots = Vec::new();
    for (shard, (probe, packets, seed)) in
        shards.iter().zip([("alpha", 3_000, 5), ("beta", 5_000, 6)])
    {
        let input = dir.path().join(format!("{probe}.pcap"));
        all.extend(capture(&input, packets, 1_000, seed));
        let config = config(
            dir.path(),
            &format!("{probe}.yaml"),
            &clickhouse_writer(shard, probe),
        );
        let root = dir.path().join(probe);
        let output = netspectra()
            .args(["analyze", "--json", "--config"])
            .arg(config)
            .arg("--output")
            .arg(&root)
            .arg(input)
            .output()
            .expect("netspectra runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{probe}: {stderr}");
        roots.push(root);
    }
    let (creates, queries): (Vec<String>, Vec<String>) = readme_statements()
        .into_iter()
        .partition(|statement| statement.starts_with("CREATE"));
    assert!(
        !creates.is_empty() && queries.len() >= 5,
        "{creates:?} {queries:?}"
    );
    for shard in &shards {
        for create in &creates {
            shard.query(create);
        }
    }

    for shard in &shards {
        assert_eq!(
            stored_totals(shard, "committed_flows_all"),
            union_file_totals(&roots)
        );
        assert_eq!(
            src_ips_in(shard, "committed_flows_all", None),
            expected_tables(&all)["per_src_ip"]
        );
        assert_eq!(
            markers_in(shard, "windows_all"),
            (3 + 5) * TASKS.len() as u64
        );
    }
    let alone = src_ips_in(&shards[0], "committed_flows", None);
    assert_ne!(
        alone,
        expected_tables(&all)["per_src_ip"],
        "one shard is not the union"
    );
    for query in &queries {
        shards[0].query(query);
        shards[0].query(&on_cluster(query));
    }
}

/// The variable naming a Python that can `import chdb`, a current
/// ClickHouse release in-process (`.ci/run` sets it).
const CHDB_PYTHON: &str = "NETSPECTRA_CHDB_PYTHON";

#[test]
fn readme_queries_give_the_same_answers_on_a_current_clickhouse_release() {
    let Some(python) = std::env::var_os(CHDB_PYTHON) else {
        support::skip::skip(&format!(
            "{CHDB_PYTHON} is not set: no Python with the chdb package (bash .ci/run installs one)"
        ));
        return;
    };
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    // 2025-09-09T10:00:00Z, inside the time range of README's first query.
    for (probe, seed) in [("alpha", 21), ("beta", 22)] {
        let input = dir.path().join(format!("{probe}.pcap"));
        capture_at(&input, 1_757_412_000, 2_000, 1_000, seed);
        let url = format!("{}?probe={probe}", server.url());
        analyze_ok(&["--clickhouse", &url], &input);
    }
    let schema: String = ["flows", "windows", "committed_flows"]
        .iter()
        .map(|table| {
            let create = server.query(&format!(
                "SHOW CREATE TABLE default.{table} FORMAT TabSeparatedRaw"
            ));
            format!("{};\n", create.trim_end())
        })
        .collect();
    std::fs::write(dir.path().join("schema.sql"), schema).expect("schema written");
    for table in ["flows", "windows"] {
        let rows = server.query_bytes(&format!(
            "SELECT * FROM default.{table} FORMAT TabSeparated"
        ));
        std::fs::write(dir.path().join(format!("{table}.tsv")), rows).expect("rows written");
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(&python)
        .arg(manifest.join("tests/support/clickhouse_chdb.py"))
        .arg(dir.path())
        .arg(manifest.join("README.md"))
        .output()
        .unwrap_or_else(|error| panic!("{}: cannot run: {error}", python.to_string_lossy()));
    assert!(
        output.status.success(),
        "chdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let current: Vec<String> = serde_json::from_slice(&output.stdout).expect("a JSON list");
    let old: Vec<String> = readme_statements()
        .into_iter()
        .filter(|statement| !statement.starts_with("CREATE"))
        .map(|query| server.query(&format!("{query}\nFORMAT TabSeparated")))
        .collect();
    assert_eq!(current, old);
    assert!(
        old.iter().filter(|answer| !answer.is_empty()).count() >= 3,
        "most queries find rows: {old:?}"
    );
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

/// Runs `analyze` on `input` with `args` (before the input); returns stderr,
/// asserting success.
#[track_caller]
fn analyze_ok(args: &[&str], input: &Path) -> String {
    let output = netspectra()
        .arg("analyze")
        .args(args)
        .arg(input)
        .env("RUST_LOG", "info")
        .output()
        .expect("netspectra runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

#[test]
fn the_clickhouse_flag_adds_a_writer_named_by_one_url_and_never_shows_its_password() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    server.query("CREATE DATABASE flows_db");
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("small.pcap");
    let specs = capture(&input, 500, 250, 8);
    let url = format!(
        "http://{}:{}@127.0.0.1:{}/flows_db?probe=edge-7",
        server::USER,
        server::PASSWORD,
        server.http_port
    );
    let out = dir.path().join("out");
    let out_arg = out.to_string_lossy().into_owned();
    let stderr = analyze_ok(&["--clickhouse", &url, "--output", &out_arg], &input);
    assert!(!stderr.contains(server::PASSWORD), "{stderr}");
    assert!(stderr.contains("probe edge-7"), "{stderr}");
    let stored = server.query(
        "SELECT probe, sum(packets) FROM flows_db.committed_flows WHERE task = 'per_protocol' \
         GROUP BY probe FORMAT TabSeparated",
    );
    assert_eq!(stored, format!("edge-7\t{}\n", specs.len()));
    assert!(
        !support::store::window_dirs(&out).is_empty(),
        "the files writer stays"
    );

    let wrong = url.replace(server::PASSWORD, "wrong-pass");
    for (bad, want) in [
        (wrong.as_str(), "Wrong password"),
        (
            "https://probe:wrong-pass@127.0.0.1",
            "https is not supported",
        ),
        ("http://probe:wrong-pass@127.0.0.1/a/b", "one segment only"),
    ] {
        let output = netspectra()
            .args(["analyze", "--clickhouse", bad])
            .arg(&input)
            .output()
            .expect("netspectra runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(want), "{bad}: want {want:?} in {stderr}");
        assert!(!stderr.contains("wrong-pass"), "{stderr}");
    }
}

/// The UTC days (`YYYYMMDD`) holding rows in `table`, in order.
fn stored_days(server: &ClickHouseServer, table: &str) -> Vec<String> {
    server
        .query(&format!(
            "SELECT DISTINCT toString(toYYYYMMDD(window_start)) AS day FROM default.{table} \
             ORDER BY day FORMAT TabSeparated"
        ))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn retention_drops_the_whole_days_that_ended_max_age_before_the_newest_window() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("retention.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  snapshot_interval: 1s\nretention:\n  max_age: 2d\n",
    )
    .expect("config written");
    let config = config.to_string_lossy().into_owned();
    let url = format!("{}/default?probe=keeper", server.url());
    let run = |day: u64| {
        let input = dir.path().join(format!("day{day}.pcap"));
        capture_at(&input, START_SECS + day * DAY_SECS, 300, 100, day);
        let out = dir.path().join(format!("out{day}"));
        let out = out.to_string_lossy().into_owned();
        analyze_ok(
            &["--config", &config, "--clickhouse", &url, "--output", &out],
            &input,
        )
    };
    // Day 0 is 2023-11-14 (captures start at 22:13:20); its day ended at
    // 2023-11-15T00:00Z, two days before 2023-11-17T00:00Z.
    run(0);
    run(1);
    for table in ["flows", "windows"] {
        assert_eq!(
            stored_days(&server, table),
            ["20231114", "20231115"],
            "{table}"
        );
    }
    let stderr = run(3);
    assert!(
        stderr.contains("retention: dropped day 20231114"),
        "{stderr}"
    );
    for table in ["flows", "windows"] {
        assert_eq!(
            stored_days(&server, table),
            ["20231115", "20231117"],
            "{table}"
        );
    }
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
        max_age: None,
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

#[test]
fn sketch_reports_are_stored_as_rows_equal_to_inspects() {
    let Some(server) = ClickHouseServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("heavy.pcap");
    capture(&input, 6_000, 2_000, 7);
    let config = dir.path().join("heavy.yaml");
    std::fs::write(
        &config,
        format!(
            "aggregator:\n  snapshot_interval: 1s\n  exact_tasks:\n    - {{name: per_src_ip, key_fields: [SrcIP]}}\n  \
             sketch_tasks:\n    - {{name: heavy, skt_type: 0, flow_fields: [SrcIP], width: 1024, depth: 3, \
             count_thereshold: 50, size_thereshold: 1000000000}}\n    \
             - {{name: scanners, skt_type: 1, flow_fields: [SrcIP], element_fields: [DstIP], \
             width: 1024, depth: 2, m: 64, count_thereshold: 2}}\nwriters:\n  - {}\n",
            clickhouse_writer(&server, "alpha")
        ),
    )
    .expect("config written");
    let files = dir.path().join("files");
    let output = netspectra()
        .args(["analyze", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&files)
        .arg(&input)
        .output()
        .expect("netspectra runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (task, counter, view) in [
        ("heavy", "packets", "committed_flows"),
        ("scanners", "spread", "committed_spreads"),
    ] {
        let reported = inspected_rows(&files, task, counter);
        assert!(reported.len() > 3, "task {task} reports keys: {reported:?}");
        assert_eq!(
            stored_rows(&server, view, task, counter),
            reported,
            "task {task}: ClickHouse rows against inspect's report"
        );
    }
}

/// `window start\tsource\tcounter` of every row `inspect` reports for `task`, sorted.
fn inspected_rows(files: &Path, task: &str, counter: &str) -> Vec<String> {
    let inspected = netspectra()
        .args(["inspect", "--format", "csv", "-n", "--task", task])
        .arg(files)
        .output()
        .expect("inspect runs");
    let csv = String::from_utf8_lossy(&inspected.stdout);
    let columns: Vec<&str> = csv.lines().next().expect("a header").split(',').collect();
    let at = |name: &str| columns.iter().position(|&column| column == name).unwrap();
    let (start, src, value) = (at("window_start"), at("src_ip"), at(counter));
    let mut rows: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .map(|cells| {
            let start = cells[start].replace('T', " ").replace(".000000000Z", "");
            format!("{start}\t{}\t{}", cells[src], cells[value])
        })
        .collect();
    rows.sort();
    rows
}

/// The same from ClickHouse's `view`.
fn stored_rows(server: &ClickHouseServer, view: &str, task: &str, counter: &str) -> Vec<String> {
    let mut rows: Vec<String> = server
        .query(&format!(
            "SELECT toString(window_start), replaceOne(IPv6NumToString(src_ip), '::ffff:', ''), \
             {counter} FROM default.{view} WHERE task = '{task}' FORMAT TabSeparated"
        ))
        .lines()
        .map(str::to_string)
        .collect();
    rows.sort();
    rows
}
