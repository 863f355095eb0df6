//! End-to-end throughput and memory of `netspectra analyze`.
//!
//! `cargo bench --bench e2e` builds the release binary, writes two captures
//! under target/bench-data (once), and runs, interleaved and several times:
//!
//! * throughput: 2,000,000 packets, about 50,000 5-tuples with a skewed
//!   (Zipf-like) popularity, 10% IPv6, mixed sizes. The candidate is the
//!   default six tasks; the baseline, in the same command, is one task keyed
//!   by protocol only (reading, parsing and the pipeline, almost no map work).
//! * memory: 2,000,000 distinct 5-tuples through `per_five_tuple` alone,
//!   against the same file through `per_protocol` alone; the difference of
//!   peak RSS divided by the flows is the memory per flow.
//!
//! Prints median packets/s, the ratio to the baseline, and peak RSS.
//! Set NETSPECTRA_BENCH_RUNS to change the number of runs (default 5).
//!
//! Then the cost of sketches: the default six tasks plus one heavy-hitter
//! and one super-spreader task (width 32768, depth 2, m 128) against the
//! six alone, interleaved, with the sketch tables' fixed memory.
//!
//! Then, on the skewed capture with the default config: the ratio of
//! `analyze`'s time to the read floor (`tcpdump -r FILE -w /dev/null`,
//! libpcap reading the same file, interleaved; skipped without tcpdump), and
//! the CPU seconds (user + system) with 1, 2, 4 and 8 workers, in turn, the
//! instructions per packet with 1, 2, 4 and 8 workers (valgrind's
//! callgrind on a 200,000-packet capture of the same kind; skipped without
//! valgrind), and the throughput with `--listen` off and on (on: a client
//! scraping `/metrics` every 100 ms during the run), interleaved.
//!
//! With NETSPECTRA_BASELINE_REV set to a git revision (e.g. `HEAD~1`), it
//! first builds that revision's release binary in a worktree under
//! target/bench-baseline and runs it against the current binary on the
//! skewed capture with the default config, interleaved, printing both
//! medians and the median of the pair-by-pair ratios (current / baseline,
//! in packets/s: above 1 is faster).

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../tests/support/measure.rs"]
pub mod measure;
#[path = "support/skewed_capture.rs"]
mod skewed_capture;

use measure::{Measured, median, release_binary, run_measured, runs_from_env};
use netspectra::flow::sketch::{HeavyHitterParams, SpreadParams};
use netspectra::flow::{KeyField, KeySchema};
use skewed_capture::{FIVE_TUPLES, write_capture, zipf_flow};

const THROUGHPUT_PACKETS: u64 = 2_000_000;
const DISTINCT_FLOWS: u64 = 2_000_000;
/// Packets of the capture whose instructions are counted under valgrind
/// (about 50 times slower than a plain run).
const INSTRUCTION_PACKETS: u64 = 200_000;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench data folder");
    let binary = release_binary(root);
    let runs = runs_from_env(5);

    let skewed = data.join("skewed-2m.pcap");
    if !skewed.exists() {
        write_capture(&skewed, THROUGHPUT_PACKETS, zipf_flow);
    }
    let skewed_prefix = data.join("skewed-200k.pcap");
    if !skewed_prefix.exists() {
        write_capture(&skewed_prefix, INSTRUCTION_PACKETS, zipf_flow);
    }
    let distinct = data.join("distinct-2m.pcap");
    if !distinct.exists() {
        write_capture(&distinct, DISTINCT_FLOWS, |n, _| n);
    }
    let six_tasks = root.join("config/default.yaml");
    let protocol_only = write_config(&data, "protocol-only", &["Protocol"]);
    let five_tuple_only = write_config(
        &data,
        "five-tuple-only",
        &["SrcIP", "DstIP", "SrcPort", "DstPort", "Protocol"],
    );

    if let Ok(revision) = std::env::var("NETSPECTRA_BASELINE_REV") {
        let baseline = build_revision(root, &revision);
        compare_binaries(
            &baseline, &binary, &skewed, &six_tasks, runs, &data, &revision,
        );
    }

    println!(
        "throughput: {THROUGHPUT_PACKETS} packets, ~{FIVE_TUPLES} skewed 5-tuples, {runs} runs each"
    );
    let (base, cand) = interleave(&binary, &skewed, &protocol_only, &six_tasks, runs, &data);
    report("baseline (1 task: per_protocol)", &base, THROUGHPUT_PACKETS);
    report("netspectra (6 default tasks)", &cand, THROUGHPUT_PACKETS);
    println!(
        "ratio six tasks / baseline: {:.2}",
        median_rate(&cand, THROUGHPUT_PACKETS) / median_rate(&base, THROUGHPUT_PACKETS)
    );

    sketch_cost(&binary, &skewed, &six_tasks, runs, &data);
    read_floor(&binary, &skewed, &six_tasks, runs, &data);
    cpu_per_worker_count(&binary, &skewed, &six_tasks, runs, &data);
    instructions_per_worker_count(&binary, &skewed_prefix, &six_tasks, &data);
    listen_off_and_on(&binary, &skewed, &six_tasks, runs, &data);

    println!("\nmemory: {DISTINCT_FLOWS} distinct 5-tuples, {runs} runs each");
    let (base, cand) = interleave(
        &binary,
        &distinct,
        &protocol_only,
        &five_tuple_only,
        runs,
        &data,
    );
    report("baseline (per_protocol only)", &base, DISTINCT_FLOWS);
    report("per_five_tuple only", &cand, DISTINCT_FLOWS);
    let extra = median(cand.iter().map(|run| run.peak_rss_kib).collect()) as f64
        - median(base.iter().map(|run| run.peak_rss_kib).collect()) as f64;
    println!(
        "memory per 5-tuple flow: {:.1} bytes",
        extra * 1024.0 / DISTINCT_FLOWS as f64
    );
}

/// The default six tasks plus a heavy-hitter and a super-spreader task
/// (width 32768, depth 2, m 128) against the six alone, interleaved.
fn sketch_cost(binary: &Path, capture: &Path, six_tasks: &Path, runs: usize, data: &Path) {
    let with_sketches = data.join("six-plus-sketches.yaml");
    let defaults = std::fs::read_to_string(six_tasks).expect("default config readable");
    let sketches = "    - {name: heavy_sources, skt_type: 0, flow_fields: [SrcIP], width: 32768, depth: 2}\n    \
                    - {name: spreading_sources, skt_type: 1, flow_fields: [SrcIP], \
                    element_fields: [DstIP], width: 32768, depth: 2, m: 128}\n";
    // The sketch list goes inside the `aggregator:` section, before the next section.
    let at = defaults
        .find("\ncapture:")
        .expect("default config has a capture section");
    let text = format!(
        "{}\n  sketch_tasks:\n{sketches}{}",
        &defaults[..at],
        &defaults[at..]
    );
    std::fs::write(&with_sketches, text).expect("bench config written");
    println!("\nsketches: six tasks + heavy hitters + super-spreaders (32768 x 2, m 128)");
    let (base, cand) = interleave(binary, capture, six_tasks, &with_sketches, runs, data);
    report("six default tasks", &base, THROUGHPUT_PACKETS);
    report("six tasks + two sketch tasks", &cand, THROUGHPUT_PACKETS);
    let rss = |runs: &[Measured]| median(runs.iter().map(|run| run.peak_rss_kib).collect()) as f64;
    println!(
        "throughput with sketches / without: {:.2}; peak RSS +{:.1} MiB \
         (sketch tables: heavy hitters {} bytes, super-spreaders {} bytes, one window each)",
        median_rate(&cand, THROUGHPUT_PACKETS) / median_rate(&base, THROUGHPUT_PACKETS),
        (rss(&cand) - rss(&base)) / 1024.0,
        HeavyHitterParams {
            width: 32768,
            depth: 2,
            packet_threshold: 0,
            byte_threshold: 0,
            seed: 0,
        }
        .sketch_bytes(),
        SpreadParams {
            element: KeySchema::from_fields(&[KeyField::DstIp]),
            width: 32768,
            depth: 2,
            registers: 128,
            threshold: 0,
            seed: 0,
        }
        .sketch_bytes(),
    );
}

/// `analyze` against libpcap reading the same file, interleaved.
fn read_floor(binary: &Path, capture: &Path, config: &Path, runs: usize, data: &Path) {
    let floor = |capture: &Path| {
        run_measured(
            Command::new("tcpdump")
                .args(["-q", "-r"])
                .arg(capture)
                .args(["-w", "/dev/null"]),
        )
    };
    if Command::new("tcpdump").arg("--version").output().is_err() {
        println!("\nread floor: skipped, tcpdump is not installed");
        return;
    }
    let mut ratios = Vec::new();
    for _ in 0..runs {
        let read = floor(capture);
        let ours = run_once(binary, capture, config, data);
        ratios.push(ours.seconds / read.seconds);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nread floor: analyze (default config) / tcpdump -r -w /dev/null, time: median {:.2} (min {:.2}, max {:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

/// Worker counts whose cost is compared with one worker's.
const WORKER_COUNTS: [usize; 4] = [1, 2, 4, 8];

/// CPU seconds of the same run with 1, 2, 4 and 8 workers, the four in
/// turn in every round, and each against 1 worker of the same round.
fn cpu_per_worker_count(binary: &Path, capture: &Path, config: &Path, runs: usize, data: &Path) {
    println!("cpu seconds (user + sys), default config, {runs} rounds of -w 1, 2, 4, 8 in turn:");
    let rounds: Vec<Vec<f64>> = (0..runs)
        .map(|_| {
            WORKER_COUNTS
                .iter()
                .map(|workers| {
                    run_analyze(
                        binary,
                        capture,
                        config,
                        data,
                        &["--workers", &workers.to_string()],
                    )
                    .cpu_seconds
                })
                .collect()
        })
        .collect();
    for (column, workers) in WORKER_COUNTS.iter().enumerate() {
        let mut cpu: Vec<f64> = rounds.iter().map(|round| round[column]).collect();
        let mut ratios: Vec<f64> = rounds
            .iter()
            .map(|round| round[column] / round[0])
            .collect();
        cpu.sort_by(f64::total_cmp);
        ratios.sort_by(f64::total_cmp);
        println!(
            "  -w {workers}: median {:.3} s, median ratio to -w 1 of the same round {:.2}",
            cpu[cpu.len() / 2],
            ratios[ratios.len() / 2]
        );
    }
}

/// Instructions executed with 1, 2, 4 and 8 workers, counted by valgrind's
/// callgrind (skipped without valgrind): the work per packet, free of what
/// CPU time also holds on a busy or small machine (cache refills when
/// threads take turns on a core). Deterministic, so one run each, on a
/// capture of `INSTRUCTION_PACKETS` packets drawn like the skewed one.
fn instructions_per_worker_count(binary: &Path, prefix: &Path, config: &Path, data: &Path) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("\ninstructions: skipped, valgrind is not installed");
        return;
    }
    println!(
        "\ninstructions per packet (callgrind), default config, {INSTRUCTION_PACKETS}-packet skewed capture:"
    );
    let out = data.join("out-callgrind");
    let mut one_worker = 0.0;
    for workers in WORKER_COUNTS {
        let _ = std::fs::remove_dir_all(&out);
        let run = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(binary)
            .args(["analyze", "--snapshot-interval", "1h", "--workers"])
            .arg(workers.to_string())
            .arg("--config")
            .arg(config)
            .arg("--output")
            .arg(&out)
            .arg(prefix)
            .env("RUST_LOG", "warn")
            .output()
            .expect("valgrind runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        let collected = stderr
            .lines()
            .find_map(|line| line.split("Collected :").nth(1))
            .and_then(|count| count.trim().parse::<f64>().ok());
        let Some(collected) = collected.filter(|_| run.status.success()) else {
            println!(
                "  -w {workers}: no count ({})",
                stderr.lines().last().unwrap_or("")
            );
            return;
        };
        let per_packet = collected / INSTRUCTION_PACKETS as f64;
        if workers == 1 {
            one_worker = per_packet;
        }
        println!(
            "  -w {workers}: {per_packet:.0} ({:.2} x -w 1)",
            per_packet / one_worker
        );
    }
}

/// The default config with and without `--listen`, interleaved; with it, a
/// client scrapes `/metrics` every 100 ms while the run lasts.
fn listen_off_and_on(binary: &Path, capture: &Path, config: &Path, runs: usize, data: &Path) {
    println!("\n--listen, default config, {runs} runs each:");
    let mut off = Vec::new();
    let mut on = Vec::new();
    let mut scrapes = Vec::new();
    for _ in 0..runs {
        off.push(run_analyze(binary, capture, config, data, &[]));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scraper = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || scrape_until(&stop, port))
        };
        let listen = format!("127.0.0.1:{port}");
        on.push(run_analyze(
            binary,
            capture,
            config,
            data,
            &["--listen", &listen],
        ));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        scrapes.push(scraper.join().expect("scraper thread"));
    }
    report("--listen off", &off, THROUGHPUT_PACKETS);
    report(
        "--listen on, /metrics every 100 ms",
        &on,
        THROUGHPUT_PACKETS,
    );
    println!(
        "  ratio on / off: {:.3} (answered scrapes per run, median: {})",
        median_rate(&on, THROUGHPUT_PACKETS) / median_rate(&off, THROUGHPUT_PACKETS),
        median(scrapes)
    );
}

/// GETs `/metrics` on `port` every 100 ms until `stop`; returns the answers.
fn scrape_until(stop: &std::sync::atomic::AtomicBool, port: u16) -> u64 {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(1)))
        .build()
        .new_agent();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut answered = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if agent
            .get(&url)
            .call()
            .and_then(|mut response| response.body_mut().read_to_string())
            .is_ok()
        {
            answered += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    answered
}

/// Builds `revision`'s release binary in its own worktree and target folder.
fn build_revision(root: &Path, revision: &str) -> PathBuf {
    let base = root.join("target/bench-baseline");
    let tree = base.join("tree");
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(root)
            .args(args)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?} failed");
    };
    if !tree.exists() {
        git(&[
            "worktree",
            "add",
            "--detach",
            &tree.to_string_lossy(),
            revision,
        ]);
    }
    let status = Command::new("git")
        .current_dir(&tree)
        .args(["checkout", "--detach", "--quiet", revision])
        .status()
        .expect("git runs");
    assert!(status.success(), "cannot check out {revision}");
    let status = Command::new("cargo")
        .current_dir(&tree)
        .args(["build", "--release", "--quiet", "--bin", "netspectra"])
        .env("CARGO_TARGET_DIR", base.join("target"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cannot build {revision}");
    base.join("target/release/netspectra")
}

/// The same file and config through two binaries, interleaved.
fn compare_binaries(
    baseline: &Path,
    candidate: &Path,
    capture: &Path,
    config: &Path,
    runs: usize,
    data: &Path,
    revision: &str,
) {
    println!("against {revision}: {THROUGHPUT_PACKETS} packets, default config, {runs} runs each");
    let mut base = Vec::new();
    let mut cand = Vec::new();
    for _ in 0..runs {
        base.push(run_once(baseline, capture, config, data));
        cand.push(run_once(candidate, capture, config, data));
    }
    report(revision, &base, THROUGHPUT_PACKETS);
    report("this tree", &cand, THROUGHPUT_PACKETS);
    let mut ratios: Vec<f64> = base
        .iter()
        .zip(&cand)
        .map(|(base, cand)| base.seconds / cand.seconds)
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "  speed ratio this tree / {revision}: median {:.3} (min {:.3}, max {:.3})\n",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

fn interleave(
    binary: &Path,
    capture: &Path,
    baseline: &Path,
    candidate: &Path,
    runs: usize,
    data: &Path,
) -> (Vec<Measured>, Vec<Measured>) {
    let mut base = Vec::new();
    let mut cand = Vec::new();
    for _ in 0..runs {
        base.push(run_once(binary, capture, baseline, data));
        cand.push(run_once(binary, capture, candidate, data));
    }
    (base, cand)
}

/// Runs `analyze` once and measures wall time and the child's peak RSS.
fn run_once(binary: &Path, capture: &Path, config: &Path, data: &Path) -> Measured {
    run_analyze(binary, capture, config, data, &[])
}

/// `analyze` with one-hour windows, `config` and `extra` flags, into a fresh root.
fn run_analyze(
    binary: &Path,
    capture: &Path,
    config: &Path,
    data: &Path,
    extra: &[&str],
) -> Measured {
    let out = data.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let run = run_measured(
        Command::new(binary)
            .args(["analyze", "--json", "--snapshot-interval", "1h"])
            .args(extra)
            .arg("--config")
            .arg(config)
            .arg("--output")
            .arg(&out)
            .arg(capture)
            .env("RUST_LOG", "warn"),
    );
    assert!(run.success, "netspectra failed: {}", run.stderr);
    run
}

fn report(label: &str, runs: &[Measured], packets: u64) {
    let rss = median(runs.iter().map(|run| run.peak_rss_kib).collect());
    println!(
        "  {label:<34} median {:>6.2} M packets/s  peak RSS {:>7.1} MiB",
        median_rate(runs, packets) / 1e6,
        rss as f64 / 1024.0
    );
}

fn median_rate(runs: &[Measured], packets: u64) -> f64 {
    let mut rates: Vec<f64> = runs
        .iter()
        .map(|run| packets as f64 / run.seconds)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn write_config(dir: &Path, name: &str, fields: &[&str]) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let quoted: Vec<String> = fields.iter().map(|field| format!("\"{field}\"")).collect();
    let text = format!(
        "aggregator:\n  exact_tasks:\n    - name: \"{name}\"\n      key_fields: [{}]\n",
        quoted.join(", ")
    );
    std::fs::write(&path, text).expect("bench config written");
    path
}
