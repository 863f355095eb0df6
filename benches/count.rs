//! Where a packet's time goes, inside one process: reading and parsing the
//! skewed capture of the e2e bench, and counting it in each default task.
//!
//! `cargo bench --bench count` writes target/bench-data/skewed-2m.pcap if it
//! is missing (the e2e bench's capture: 2,000,000 packets, about 50,000
//! skewed 5-tuples), then, in each round:
//!
//! * reads the file's records without parsing them (the framing alone);
//! * reads the file and parses every frame to its key, as the reader thread
//!   does (framing, parsing, no hand-off);
//! * counts the parsed packets, in batches of 1,024 as the reader sends
//!   them, into a fresh aggregator of each default task, one task at a time,
//!   as a shard thread does (the window's part is taken after the clock
//!   stops).
//!
//! * counts them once more as the pipeline does with `-w 1`: the five-tuple
//!   task's roll-up aggregator with the five others derived from it, the
//!   cut (which adds up the derived tasks' records) inside the clock.
//!
//! Prints, per stage and task, the median and minimum ns per packet over
//! the rounds (NETSPECTRA_BENCH_RUNS, default 7), the sum of the tasks'
//! medians (each task counted on its own), and the roll-up's: what one
//! shard thread spends on a packet with `-w 1`. The
//! figures are in-process times, steadier than whole runs on a shared
//! machine; compare two builds by running each in turn.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

#[path = "../tests/support/measure.rs"]
pub mod measure;
#[path = "support/skewed_capture.rs"]
mod skewed_capture;

use netspectra::capture::CaptureFile;
use netspectra::config::Config;
use netspectra::flow::{
    Aggregator, PacketRecord, Share, TaskSpec, build_aggregator, build_placed, derivable,
    place_tasks,
};
use netspectra::packet;

const PACKETS: u64 = 2_000_000;
/// The default `batch_size`: packets per message from the reader.
const BATCH: usize = 1024;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench data folder");
    let capture = data.join("skewed-2m.pcap");
    if !capture.exists() {
        skewed_capture::write_capture(&capture, PACKETS, skewed_capture::zipf_flow);
    }
    let runs = measure::runs_from_env(7);
    let specs = Config::bundled().aggregator.task_specs(None);

    let mut frame_ns = Vec::new();
    let mut read_ns = Vec::new();
    let mut task_ns = vec![Vec::new(); specs.len()];
    let mut rollup_ns = Vec::new();
    let mut packets = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let records = read_only(&capture);
        frame_ns.push(per_packet(started, records));
        let started = Instant::now();
        packets = read_and_parse(&capture);
        read_ns.push(per_packet(started, packets.len()));
        for (spec, times) in specs.iter().zip(&mut task_ns) {
            let mut aggregator = build_aggregator(spec, Share::whole(spec));
            let started = Instant::now();
            for batch in packets.chunks(BATCH) {
                aggregator.count(batch);
            }
            times.push(per_packet(started, packets.len()));
            black_box(aggregator.take_part());
        }
        let mut shard = one_shard(&specs);
        let started = Instant::now();
        for batch in packets.chunks(BATCH) {
            for aggregator in &mut shard {
                aggregator.count(batch);
            }
        }
        for aggregator in &mut shard {
            black_box((aggregator.take_part(), aggregator.take_derived_parts()));
        }
        rollup_ns.push(per_packet(started, packets.len()));
    }
    println!(
        "{} packets of {}, {runs} rounds; ns per packet, median (min)",
        packets.len(),
        capture.display()
    );
    print_row("read records only", &mut frame_ns);
    print_row("read and parse (reader thread)", &mut read_ns);
    let mut counting = 0.0;
    for (spec, times) in specs.iter().zip(&mut task_ns) {
        counting += print_row(&format!("count {}", spec.name), times);
    }
    println!(
        "{:<34} {counting:>7.1}",
        "count, all tasks, each on its own"
    );
    print_row("count, all tasks, rolled up + cut", &mut rollup_ns);
}

/// The aggregators of a one-shard plan, roll-ups included, as the pipeline builds them.
fn one_shard(specs: &[TaskSpec]) -> Vec<Box<dyn Aggregator>> {
    place_tasks(specs, 1, derivable)
        .iter()
        .flatten()
        .map(|placed| build_placed(specs, placed, build_aggregator))
        .collect()
}

/// Reads every record of `path`; returns how many there were.
fn read_only(path: &Path) -> usize {
    let mut file = CaptureFile::open(path).expect("bench capture opens");
    let mut bytes = 0u64;
    while let Some(raw) = file.next_packet().expect("bench capture reads") {
        bytes += u64::from(raw.wire_len);
    }
    black_box(bytes);
    file.packets_read() as usize
}

/// Every packet of `path`, keyed as the reader keys it; skips are dropped.
fn read_and_parse(path: &Path) -> Vec<PacketRecord> {
    let mut file = CaptureFile::open(path).expect("bench capture opens");
    let mut records = Vec::with_capacity(PACKETS as usize);
    while let Some(raw) = file.next_packet().expect("bench capture reads") {
        if let Ok(key) = packet::parse(raw.link_type, raw.data) {
            records.push(PacketRecord {
                key,
                timestamp_ns: raw.timestamp_ns.ns(),
                wire_len: raw.wire_len,
            });
        }
    }
    records
}

fn per_packet(started: Instant, packets: usize) -> f64 {
    started.elapsed().as_nanos() as f64 / packets.max(1) as f64
}

/// Prints the median and minimum of `times`; returns the median.
fn print_row(label: &str, times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("{label:<34} {median:>7.1} ({:.1})", times[0]);
    median
}
