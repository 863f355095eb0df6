//! What the writer benches store (one big window of distinct 5-tuples),
//! how fast a writer stores it, and the process's peak memory.

use netspectra::capture::{CaptureStats, RunMode};
use netspectra::flow::{
    FlowKey, KeySchema, PacketRecord, Share, TaskKind, TaskSpec, WindowBounds, build_aggregator,
};
use netspectra::output::run::RunId;
use netspectra::output::{ClosedWindow, TaskWindow, Writer};

/// 2025-09-09T10:00:00Z, in seconds.
pub const START_SECS: u64 = 1_757_412_000;

/// Rows per window: `NETSPECTRA_BENCH_ROWS`, default 1,000,000.
pub fn rows_from_env() -> u64 {
    std::env::var("NETSPECTRA_BENCH_ROWS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000)
}

/// A one-task window starting at second `start` of `rows` distinct
/// 5-tuples, one 100-byte packet each, first seen in no particular order
/// of their addresses and ports (as on a real link, where a store sorting
/// by key has work to do).
pub fn window(start: u64, rows: u64) -> ClosedWindow {
    let spec = TaskSpec {
        name: "per_five_tuple".into(),
        kind: TaskKind::Exact,
        schema: KeySchema::FIVE_TUPLE,
        max_keys: None,
    };
    let mut aggregator = build_aggregator(&spec, Share::whole(&spec));
    let start_ns = start * 1_000_000_000;
    let batch: Vec<PacketRecord> = (0..rows)
        .map(|index| {
            // An odd multiplier permutes the u32s: distinct indexes, distinct keys.
            let mixed = (index as u32).wrapping_mul(0x9e37_79b1);
            PacketRecord {
                key: FlowKey::ipv4(
                    (0x0a00_0000 | (mixed >> 16)).into(),
                    [192, 168, 1, 1].into(),
                    mixed as u16,
                    443,
                    6,
                ),
                timestamp_ns: start_ns + index,
                wire_len: 100,
            }
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

/// Stores `window` (of `rows` rows) with `writer`; rows per second.
pub fn rows_per_second(writer: &mut dyn Writer, window: &ClosedWindow, rows: u64) -> u64 {
    let started = std::time::Instant::now();
    writer
        .write(window)
        .unwrap_or_else(|error| panic!("{}: {error}", writer.describe()));
    (rows as f64 / started.elapsed().as_secs_f64()) as u64
}
