//! Storing one big window: the Parquet writer against the files writer.
//!
//! `cargo bench --bench parquet` builds one window of 1,000,000 distinct
//! 5-tuples (NETSPECTRA_BENCH_ROWS changes it) and stores it, interleaved,
//! several times (NETSPECTRA_BENCH_RUNS, default 3):
//!
//! * baseline: the files writer (`.dat` files and summaries, fsynced);
//! * candidate: the Parquet writer (zstd; then snappy, for comparison).
//!
//! Each run stores a new window (a new start), so no run replaces another.
//! Prints the median rows/s of each, the ratio, the bytes on disk per flow
//! of each format, and the peak RSS before and after writing (the writers'
//! own memory is the difference: the window itself is built first).

#[path = "support/big_window.rs"]
pub mod big_window;
#[path = "../tests/support/measure.rs"]
pub mod measure;

use std::path::Path;
use std::time::Duration;

use big_window::{START_SECS, rows_from_env, rows_per_second, window};
use measure::peak_rss_kib_of;
use netspectra::config::ParquetCompression;
use netspectra::output::retention::Retention;
use netspectra::output::{FilesWriter, ParquetSettings, ParquetWriter};

fn main() {
    let rows = rows_from_env();
    let runs = measure::runs_from_env(3);
    let out = tempfile::tempdir().expect("temporary output root");
    let retention = Retention {
        max_windows: None,
        max_age: None,
        interval: Duration::from_secs(1),
    };
    let files_root = out.path().join("files");
    std::fs::create_dir(&files_root).expect("files root");
    let mut files = FilesWriter::new(files_root.clone(), retention);
    let parquet = |name: &str, compression| {
        let root = out.path().join(name);
        std::fs::create_dir(&root).expect("parquet root");
        let writer = ParquetWriter::new(ParquetSettings {
            root: root.clone(),
            compression,
            probe: "bench".into(),
            retention,
        });
        (root, writer)
    };
    let (zstd_root, mut zstd) = parquet("zstd", ParquetCompression::Zstd);
    let (snappy_root, mut snappy) = parquet("snappy", ParquetCompression::Snappy);
    let (mut baseline, mut candidate, mut second) = (Vec::new(), Vec::new(), Vec::new());
    let mut before_writing = 0;
    for run in 0..runs {
        let window = window(START_SECS + run as u64, rows);
        before_writing = before_writing.max(peak_rss_kib_of("self"));
        baseline.push(rows_per_second(&mut files, &window, rows));
        candidate.push(rows_per_second(&mut zstd, &window, rows));
        second.push(rows_per_second(&mut snappy, &window, rows));
    }
    let per_flow = |root: &Path| disk_bytes(root) as f64 / (rows * runs as u64) as f64;
    let (baseline, candidate) = (measure::median(baseline), measure::median(candidate));
    println!("rows per window: {rows}, runs: {runs}");
    println!("baseline  (files, .dat):    {baseline} rows/s (median)");
    println!("candidate (Parquet, zstd):  {candidate} rows/s (median)");
    println!(
        "Parquet, snappy:            {} rows/s (median)",
        measure::median(second)
    );
    println!(
        "ratio candidate/baseline: {:.2}",
        candidate as f64 / baseline.max(1) as f64
    );
    println!(
        "bytes per flow: .dat {:.1}, Parquet zstd {:.1}, Parquet snappy {:.1}",
        per_flow(&files_root),
        per_flow(&zstd_root),
        per_flow(&snappy_root)
    );
    println!(
        "peak RSS: {before_writing} KiB with the window built, {} KiB after writing",
        peak_rss_kib_of("self")
    );
}

/// Bytes of every file under `dir` (the `windows` table included).
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).expect("readable") {
            let entry = entry.expect("entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                total += entry.metadata().expect("metadata").len();
            }
        }
    }
    total
}
