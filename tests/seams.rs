//! The two seams, proven from outside the crate: the whole pipeline runs
//! into an in-memory test writer (no disk), with a task kind that exists
//! only here (a packet tally per window) beside the exact tasks.

pub mod support;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use netspectra::actors::messages::RunInfo;
use netspectra::actors::pipeline::{self, PipelineSettings};
use netspectra::actors::reader::{InputFile, PacketSource, ReaderSettings};
use netspectra::capture::RunMode;
use netspectra::config::Config;
use netspectra::flow::{
    Aggregator, FlowRecord, KeyField, KeySchema, MergeError, Overflow, PacketRecord, Part,
    PartTotals, Share, TaskKind, TaskSpec, WindowBounds, build_aggregator, derivable,
};
use netspectra::metrics::{Metrics, MetricsLayout};
use netspectra::output::run::RunId;
use netspectra::output::{ClosedWindow, WriteError, Writer};
use support::traffic::{expected_tables, mixed_packets, write_pcap};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;
const TALLY: &str = "tally";

/// Packets and bytes of one window, and nothing per key.
#[derive(Debug, Default)]
struct Tally(PartTotals);

impl Part for Tally {
    fn kind(&self) -> &'static str {
        TALLY
    }

    fn totals(&self) -> PartTotals {
        self.0
    }

    fn records(&self) -> Box<dyn ExactSizeIterator<Item = &FlowRecord> + '_> {
        Box::new(std::iter::empty())
    }

    fn overflow(&self) -> Overflow {
        Overflow::default()
    }

    fn merge(&mut self, other: &dyn Part) -> Result<(), MergeError> {
        let other = other.totals();
        self.0 = self.0.checked_add(other).ok_or(MergeError::CountOverflow)?;
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Counts every packet of a batch: a shared task (`Share.count` > 1) would
/// count each packet once per share, so it keeps only share 0's count.
struct TallyAggregator {
    share: Share,
    tally: Tally,
}

impl Aggregator for TallyAggregator {
    fn count(&mut self, batch: &[PacketRecord]) {
        if self.share.index == 0 {
            self.tally.0.packets += batch.len() as u64;
            self.tally.0.bytes += batch.iter().map(|p| u64::from(p.wire_len)).sum::<u64>();
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        Box::new(std::mem::take(&mut self.tally))
    }
}

/// The registry as the test sees it: the tally kind by name, the rest as usual.
fn with_tally(spec: &TaskSpec, share: Share) -> Box<dyn Aggregator> {
    if spec.name == TALLY {
        Box::new(TallyAggregator {
            share,
            tally: Tally::default(),
        })
    } else {
        build_aggregator(spec, share)
    }
}

/// Roll-ups as usual, but the tally, an exact task to the planner, is
/// counted by its own kind.
fn derives_but_not_the_tally(base: &TaskSpec, task: &TaskSpec) -> bool {
    ![base, task].iter().any(|spec| spec.name == TALLY) && derivable(base, task)
}

/// What the memory writer kept of one window: per task, totals and rows.
#[derive(Debug)]
struct Stored {
    bounds: WindowBounds,
    tasks: BTreeMap<String, (PartTotals, Vec<FlowRecord>)>,
}

#[derive(Clone, Default)]
struct MemoryWriter(Arc<Mutex<Vec<Stored>>>);

impl Writer for MemoryWriter {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
        let tasks = window
            .tasks
            .iter()
            .map(|task| {
                let rows = task
                    .parts
                    .iter()
                    .flat_map(|part| part.records().copied().collect::<Vec<_>>())
                    .collect();
                (task.spec.name.clone(), (task.totals(), rows))
            })
            .collect();
        self.0.lock().expect("no writer panicked").push(Stored {
            bounds: window.bounds,
            tasks,
        });
        Ok(())
    }
}

/// Runs the pipeline over `capture` with the default tasks plus the tally.
fn run_into_memory(capture: &std::path::Path, workers: usize) -> Vec<Stored> {
    let mut tasks = Config::bundled().aggregator.task_specs(None);
    tasks.push(TaskSpec {
        name: TALLY.to_string(),
        kind: TaskKind::Exact,
        schema: KeySchema::from_fields(&[KeyField::Protocol]),
        max_keys: None,
    });
    let memory = MemoryWriter::default();
    let task_names = tasks.iter().map(|task| task.name.clone()).collect();
    let settings = PipelineSettings {
        source: PacketSource::Files {
            inputs: vec![InputFile {
                path: capture.to_path_buf(),
                refused: None,
            }],
            strict: false,
            filter: None,
        },
        run: RunInfo {
            mode: RunMode::Offline,
            run: RunId(0x5ea5),
        },
        tasks,
        build_aggregator: with_tally,
        derives: derives_but_not_the_tally,
        workers,
        reader: ReaderSettings {
            batch_size: 64,
            max_in_flight: 4,
            interval_ns: 10 * SECOND,
        },
        writers: vec![Box::new(memory.clone())],
        write_backlog: 2,
        stop_after: None,
        progress: ProgressBar::hidden(),
        metrics: Arc::new(Metrics::new(&MetricsLayout {
            tasks: task_names,
            shards: workers,
            sinks: vec!["memory".to_string()],
            rules: Vec::new(),
        })),
        api: None,
    };
    let outcome = pipeline::run(settings).expect("the pipeline reports");
    assert!(
        outcome.written.failures.is_empty(),
        "{:?}",
        outcome.written.failures
    );
    let stored = std::mem::take(&mut *memory.0.lock().expect("no writer panicked"));
    assert_eq!(outcome.written.windows_written, stored.len() as u64);
    stored
}

#[test]
fn the_pipeline_feeds_a_test_writer_and_a_test_task_kind_beside_the_exact_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("mixed.pcap");
    // 2,000 packets 25 ms apart: 50 s, five 10 s windows.
    let mut specs = mixed_packets(2_000, START, 25_000_000, 5);
    write_pcap(&capture, &mut specs);
    let expected = expected_tables(&specs);
    for workers in [1, 3, 8] {
        let stored = run_into_memory(&capture, workers);
        let starts: Vec<u64> = stored
            .iter()
            .map(|w| (w.bounds.start_ns - START) / SECOND)
            .collect();
        assert_eq!(starts, [0, 10, 20, 30, 40], "{workers} workers");
        let mut tally_packets = 0;
        let mut src_ips: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for window in &stored {
            let tally = window.tasks[TALLY].0;
            assert_eq!(tally.records, 0);
            tally_packets += tally.packets;
            for (name, (totals, rows)) in &window.tasks {
                assert_eq!(
                    (totals.packets, totals.bytes),
                    (tally.packets, tally.bytes),
                    "task {name}, window {:?}, {workers} workers",
                    window.bounds
                );
                if name != TALLY {
                    assert_eq!(totals.records, rows.len() as u64, "task {name}");
                }
            }
            for row in &window.tasks["per_src_ip"].1 {
                let ip = row.key.src_ip().expect("an IP key").to_string();
                let entry = src_ips.entry(ip).or_default();
                entry.0 += row.stats.packets;
                entry.1 += row.stats.bytes;
            }
        }
        assert_eq!(tally_packets, specs.len() as u64, "{workers} workers");
        assert_eq!(&src_ips, &expected["per_src_ip"], "{workers} workers");
    }
}
