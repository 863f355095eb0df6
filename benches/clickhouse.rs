//! Storing one big window: the ClickHouse writer against the files writer.
//!
//! `cargo bench --bench clickhouse` starts a private clickhouse-server (as
//! the tests do; the bench says so and stops when the package is absent),
//! builds one window of 1,000,000 distinct 5-tuples (NETSPECTRA_BENCH_ROWS
//! changes it) and stores it, interleaved, several times
//! (NETSPECTRA_BENCH_RUNS, default 3):
//!
//! * baseline: the files writer (`.dat` files and summaries, fsynced);
//! * candidate: the ClickHouse writer (RowBinary over HTTP, commit marker).
//!
//! Each run stores a new window (a new start), so no run replaces another.
//! Prints the median rows/s of each, the ratio and the process's peak RSS.

use std::time::{Duration, Instant};

#[path = "../tests/support/measure.rs"]
pub mod measure;
#[path = "../tests/support/clickhouse.rs"]
pub mod server;

use netspectra::capture::{CaptureStats, RunMode};
use netspectra::config::Secret;
use netspectra::flow::{
    FlowKey, KeySchema, PacketRecord, Share, TaskKind, TaskSpec, WindowBounds, build_aggregator,
};
use netspectra::output::retention::Retention;
use netspectra::output::run::RunId;
use netspectra::output::{
    ClickHouseSettings, ClickHouseWriter, ClosedWindow, FilesWriter, TaskWindow, Writer,
};

/// 2025-09-09T10:00:00Z, in seconds.
const START_SECS: u64 = 1_757_412_000;

fn main() {
    let Some(server) = server::ClickHouseServer::start() else {
        return;
    };
    let rows: u64 = std::env::var("NETSPECTRA_BENCH_ROWS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let runs = measure::runs_from_env(3);
    let out = tempfile::tempdir().expect("temporary output root");
    let mut files = FilesWriter::new(
        out.path().to_path_buf(),
        Retention {
            max_windows: None,
            max_age: None,
            interval: Duration::from_secs(1),
        },
    );
    let mut clickhouse = ClickHouseWriter::connect(ClickHouseSettings {
        url: server.url(),
        database: "default".into(),
        username: "default".into(),
        password: Secret::default(),
        probe: "bench".into(),
    })
    .expect("the bench server takes the schema");
    let (mut baseline, mut candidate) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let window = window(START_SECS + run as u64, rows);
        baseline.push(rows_per_second(&mut files, &window, rows));
        candidate.push(rows_per_second(&mut clickhouse, &window, rows));
    }
    let (baseline, candidate) = (measure::median(baseline), measure::median(candidate));
    println!("rows per window: {rows}, runs: {runs}");
    println!("baseline  (files):      {baseline} rows/s (median)");
    println!("candidate (clickhouse): {candidate} rows/s (median)");
    println!(
        "ratio candidate/baseline: {:.2}",
        candidate as f64 / baseline.max(1) as f64
    );
    println!("peak RSS: {} KiB", measure::peak_rss_kib_of("self"));
}

fn rows_per_second(writer: &mut dyn Writer, window: &ClosedWindow, rows: u64) -> u64 {
    let started = Instant::now();
    writer
        .write(window)
        .unwrap_or_else(|error| panic!("{}: {error}", writer.describe()));
    (rows as f64 / started.elapsed().as_secs_f64()) as u64
}

/// A one-task window of `rows` distinct 5-tuples, one 100-byte packet each.
fn window(start: u64, rows: u64) -> ClosedWindow {
    let spec = TaskSpec {
        name: "per_five_tuple".into(),
        kind: TaskKind::Exact,
        schema: KeySchema::FIVE_TUPLE,
        max_keys: None,
    };
    let mut aggregator = build_aggregator(&spec, Share::whole(&spec));
    let start_ns = start * 1_000_000_000;
    let batch: Vec<PacketRecord> = (0..rows)
        .map(|index| PacketRecord {
            key: FlowKey::ipv4(
                u32::try_from(0x0a00_0000 + index / 60_000)
                    .expect("few sources")
                    .into(),
                [192, 168, 1, 1].into(),
                (index % 60_000) as u16,
                443,
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
        run: RunId(7),
        mode: RunMode::Offline,
        capture: CaptureStats::default(),
        tasks: vec![TaskWindow {
            spec,
            parts: vec![aggregator.take_part()],
        }],
    }
}
