//! Peak memory of a long run of windows against one window.
//!
//! `cargo bench --bench windows_memory` builds the release binary, writes two
//! captures under target/bench-data (once), and runs `analyze` with the
//! `per_five_tuple` task alone, interleaved, several times:
//!
//! * baseline: one 1-second window of 200,000 distinct 5-tuples;
//! * candidate: 20 such windows in a row, each with 200,000 new 5-tuples.
//!
//! A window's maps are freed once written, so the long run should need at
//! most the maps of two windows (one being written while the next fills):
//! the target is a peak RSS under 2.5 times the baseline's. Prints the median
//! peak RSS of each and the ratio. NETSPECTRA_BENCH_RUNS sets the number of
//! runs (default 3).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../tests/support/measure.rs"]
pub mod measure;

use measure::{median, release_binary, run_measured, runs_from_env};

const KEYS_PER_WINDOW: u64 = 200_000;
const WINDOWS: u64 = 20;
/// 2025-09-09T10:00:00Z, in seconds.
const START_SECS: u64 = 1_757_412_000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench data folder");
    let binary = release_binary(root);
    let runs = runs_from_env(3);

    let one = data.join("windows-1x200k.pcap");
    if !one.exists() {
        write_capture(&one, 1);
    }
    let many = data.join("windows-20x200k.pcap");
    if !many.exists() {
        write_capture(&many, WINDOWS);
    }
    let config = write_config(&data);

    println!(
        "memory: windows of {KEYS_PER_WINDOW} distinct 5-tuples, per_five_tuple only, {runs} runs each"
    );
    let mut base = Vec::new();
    let mut cand = Vec::new();
    for _ in 0..runs {
        base.push(peak_rss_kib(&binary, &one, &config, &data));
        cand.push(peak_rss_kib(&binary, &many, &config, &data));
    }
    let (base, cand) = (median(base), median(cand));
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  1 window                    median peak RSS {:>7.1} MiB",
        mib(base)
    );
    println!(
        "  {WINDOWS} windows                   median peak RSS {:>7.1} MiB",
        mib(cand)
    );
    println!(
        "ratio {WINDOWS} windows / 1 window: {:.2} (target < 2.5)",
        cand as f64 / base as f64
    );
}

/// Runs `analyze` with 1-second windows and returns the child's peak RSS.
fn peak_rss_kib(binary: &Path, capture: &Path, config: &Path, data: &Path) -> u64 {
    let out = data.join("out-windows");
    let _ = std::fs::remove_dir_all(&out);
    let run = run_measured(
        Command::new(binary)
            .args(["analyze", "--json", "--snapshot-interval", "1s", "--config"])
            .arg(config)
            .arg("--output")
            .arg(&out)
            .arg(capture)
            .env("RUST_LOG", "warn"),
    );
    assert!(run.success, "netspectra failed: {}", run.stderr);
    let _ = std::fs::remove_dir_all(&out);
    run.peak_rss_kib
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("windows-five-tuple.yaml");
    let text = "aggregator:\n  exact_tasks:\n    - name: \"per_five_tuple\"\n      key_fields: [\"SrcIP\", \"DstIP\", \"SrcPort\", \"DstPort\", \"Protocol\"]\n";
    std::fs::write(&path, text).expect("bench config written");
    path
}

/// Writes `windows` seconds of traffic, one packet per key: in second `w`,
/// the 5-tuples numbered `w * KEYS_PER_WINDOW ..` (new keys every window),
/// 4 microseconds apart. Little-endian microsecond pcap of Ethernet frames.
fn write_capture(path: &Path, windows: u64) {
    let file = std::fs::File::create(path).expect("bench capture created");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for field in [
        0xa1b2_c3d4u32.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
        &[0; 8],
        &65535u32.to_le_bytes(),
        &1u32.to_le_bytes(),
    ] {
        out.write_all(field).expect("write");
    }
    let mut frame = Vec::with_capacity(64);
    for window in 0..windows {
        for n in 0..KEYS_PER_WINDOW {
            build_frame(&mut frame, window * KEYS_PER_WINDOW + n);
            for value in [
                (START_SECS + window) as u32,
                (n * 4) as u32,
                frame.len() as u32,
                128,
            ] {
                out.write_all(&value.to_le_bytes()).expect("write");
            }
            out.write_all(&frame).expect("write");
        }
    }
    out.flush().expect("flush");
}

/// Ethernet + IPv4 + UDP header for 5-tuple number `flow`: the source
/// address and port vary, so every number is a distinct 5-tuple.
fn build_frame(frame: &mut Vec<u8>, flow: u64) {
    frame.clear();
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    frame.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
    frame.extend_from_slice(&(0x0a00_0000 | (flow / 8) as u32).to_be_bytes());
    frame.extend_from_slice(&[192, 168, 0, 1]);
    frame.extend_from_slice(&(40_000 + (flow % 8) as u16).to_be_bytes());
    frame.extend_from_slice(&443u16.to_be_bytes());
    frame.extend_from_slice(&[0, 8, 0, 0]);
}
