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

use std::time::Duration;

#[path = "support/big_window.rs"]
pub mod big_window;
#[path = "../tests/support/measure.rs"]
pub mod measure;
#[path = "../tests/support/clickhouse.rs"]
pub mod server;

use big_window::{START_SECS, rows_from_env, rows_per_second, window};
use measure::peak_rss_kib_of;
use netspectra::config::Secret;
use netspectra::output::retention::Retention;
use netspectra::output::{ClickHouseSettings, ClickHouseWriter, FilesWriter};

fn main() {
    let Some(server) = server::ClickHouseServer::start() else {
        return;
    };
    let rows = rows_from_env();
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
        max_age: None,
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
    println!("peak RSS: {} KiB", peak_rss_kib_of("self"));
}
