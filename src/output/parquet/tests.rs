use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampNanosecondType, UInt16Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;
use crate::capture::{CaptureStats, RunMode};
use crate::flow::sketch::HeavyHitterParams;
use crate::flow::{
    FlowKey, FlowStats, KeyField, KeySchema, Overflow, PacketRecord, Share, TaskKind, TaskSpec,
    build_aggregator,
};
use crate::output::run::RunId;
use crate::output::window::tests::{SEC, T0, TestTask, by_src, map, test_window};

fn settings(root: &Path) -> ParquetSettings {
    ParquetSettings {
        root: root.to_path_buf(),
        compression: ParquetCompression::Zstd,
        probe: "probe-1".into(),
        retention: Retention {
            max_windows: None,
            max_age: None,
            interval: Duration::from_secs(60),
        },
    }
}

fn task(name: &str, schema: KeySchema, flows: &[(u8, u16, u64, u64)]) -> TestTask {
    TestTask {
        task: name.into(),
        schema,
        shards: vec![map(schema, flows, T0)],
        overflow: Overflow::default(),
    }
}

const NAME: &str = "2025-09-09T10-00-00Z-run-0000000000000001.parquet";

/// Every batch of one file.
fn read(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a Parquet file")
        .build()
        .expect("a reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_window_becomes_one_file_per_task_and_a_windows_file_in_the_hive_tree() {
    let root = tempfile::tempdir().expect("temp dir");
    let window = test_window(
        T0,
        T0 + 60 * SEC,
        &[
            task("by_src", by_src(), &[(1, 80, 3, 300), (2, 443, 1, 60)]),
            task("idle", by_src(), &[]),
        ],
    );
    let mut writer = ParquetWriter::new(settings(root.path()));
    writer.write(&window).expect("stored");
    assert_eq!(names(root.path()), ["task=by_src", "windows"]);
    let dir = root.path().join("task=by_src/date=2025-09-09");
    assert_eq!(names(&dir), [NAME]);
    assert_eq!(names(&root.path().join("windows/date=2025-09-09")), [NAME]);
    let batches = read(&dir.join(NAME));
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 2);
    let src: Vec<Option<&str>> = batch.column(3).as_string::<i32>().iter().collect();
    assert_eq!(src, [Some("10.0.0.1"), Some("10.0.0.2")]);
    assert_eq!(batch.column(4).null_count(), 2, "dst_ip is not keyed");
    assert_eq!(batch.column(6).null_count(), 2, "dst_port is not keyed");
    let packets: Vec<u64> = batch
        .column(8)
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec();
    assert_eq!(packets, [3, 1]);
    let start = batch.column(0).as_primitive::<TimestampNanosecondType>();
    assert_eq!(start.value(0), T0 as i64);
    assert_eq!(start.timezone(), Some("UTC"));
    assert_eq!(batch.column(2).as_string::<i32>().value(0), "probe-1");
    assert_eq!(batch.column(12).as_boolean().true_count(), 0);

    let windows = &read(&root.path().join("windows/date=2025-09-09").join(NAME))[0];
    let tasks: Vec<&str> = windows
        .column(3)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(tasks, ["by_src", "idle"]);
    let totals: Vec<u64> = windows
        .column(7)
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec();
    assert_eq!(totals, [4, 0]);
    assert_eq!(
        windows.column(13).null_count(),
        2,
        "offline: no pcap_dropped"
    );
}

#[test]
fn the_overflow_is_one_other_row_with_null_keys() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut flood = task(
        "ports",
        KeySchema::from_fields(&[KeyField::DstPort]),
        &[(1, 80, 2, 20)],
    );
    flood.overflow = Overflow {
        stats: FlowStats {
            packets: 5,
            bytes: 500,
            first_seen: T0 + 1,
            last_seen: T0 + 2,
        },
        keys_refused: 4,
    };
    let window = test_window(T0, T0 + 60 * SEC, &[flood]);
    ParquetWriter::new(settings(root.path()))
        .write(&window)
        .expect("stored");
    let batches = read(&root.path().join("task=ports/date=2025-09-09").join(NAME));
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 2);
    let last = batches.last().expect("a batch");
    let at = last.num_rows() - 1;
    assert!(last.column(12).as_boolean().value(at), "other = true");
    assert!(last.column(6).is_null(at), "the other row has no key");
    assert_eq!(last.column(8).as_primitive::<UInt64Type>().value(at), 5);
    let ports = batches[0].column(6).as_primitive::<UInt16Type>();
    assert_eq!(ports.value(0), 80);
}

#[test]
fn a_rerun_replaces_its_file_and_another_run_adds_one_beside_it() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut writer = ParquetWriter::new(settings(root.path()));
    writer
        .write(&test_window(
            T0,
            T0 + SEC,
            &[task("t", by_src(), &[(1, 80, 1, 1)])],
        ))
        .expect("first");
    writer
        .write(&test_window(
            T0,
            T0 + SEC,
            &[task("t", by_src(), &[(1, 80, 7, 7)])],
        ))
        .expect("rerun");
    let dir = root.path().join("task=t/date=2025-09-09");
    assert_eq!(names(&dir), [NAME], "no temporary file is left");
    let packets = read(&dir.join(NAME))[0]
        .column(8)
        .as_primitive::<UInt64Type>()
        .value(0);
    assert_eq!(packets, 7);
    let mut other = test_window(T0, T0 + SEC, &[task("t", by_src(), &[(1, 80, 1, 1)])]);
    other.run = RunId(2);
    writer.write(&other).expect("another run");
    assert_eq!(names(&dir).len(), 2);
}

#[test]
fn big_windows_are_cut_into_row_groups_with_statistics() {
    let root = tempfile::tempdir().expect("temp dir");
    let flows: Vec<(u8, u16, u64, u64)> = (0..=255u8)
        .flat_map(|octet| (0..600u16).map(move |port| (octet, port, 1, 100)))
        .collect();
    let schema = KeySchema::from_fields(&[KeyField::SrcIp, KeyField::DstPort]);
    let window = test_window(T0, T0 + SEC, &[task("big", schema, &flows)]);
    ParquetWriter::new(settings(root.path()))
        .write(&window)
        .expect("stored");
    let path = root.path().join("task=big/date=2025-09-09").join(NAME);
    let file = File::open(&path).expect("file");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("Parquet");
    let metadata = builder.metadata();
    let groups = metadata.row_groups();
    assert_eq!(groups.len(), flows.len().div_ceil(ROW_GROUP_ROWS));
    assert!(
        groups
            .iter()
            .all(|group| group.num_rows() as usize <= ROW_GROUP_ROWS)
    );
    let port = groups[0].column(6);
    assert!(
        port.statistics()
            .is_some_and(|stats| stats.min_bytes_opt().is_some())
    );
}

#[test]
fn timestamps_past_2262_are_refused_for_good() {
    let root = tempfile::tempdir().expect("temp dir");
    let late = 9_300_000_000 * SEC;
    let window = test_window(late, late + SEC, &[task("t", by_src(), &[(1, 80, 1, 1)])]);
    let error = ParquetWriter::new(settings(root.path()))
        .write(&window)
        .expect_err("not representable");
    assert!(!error.retryable);
    assert!(
        error.message.contains("past 2262-04-11"),
        "{}",
        error.message
    );
    let leftovers: Vec<String> = names(&root.path().join("task=t"))
        .iter()
        .flat_map(|date| names(&root.path().join("task=t").join(date)))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A heavy-hitter task's part over 60 packets of one source and 5 of another.
fn heavy_hitter_task() -> crate::output::TaskWindow {
    let params = HeavyHitterParams {
        width: 256,
        depth: 2,
        packet_threshold: 50,
        byte_threshold: u64::MAX,
        seed: 1,
    };
    let spec = TaskSpec {
        name: "heavy".into(),
        kind: TaskKind::HeavyHitters(params),
        schema: by_src(),
        max_keys: None,
    };
    let packet = |source: u8| PacketRecord {
        key: FlowKey::ipv4(
            std::net::Ipv4Addr::new(10, 0, 0, source),
            std::net::Ipv4Addr::new(10, 9, 9, 9),
            1,
            2,
            17,
        ),
        timestamp_ns: T0,
        wire_len: 100,
    };
    let batch: Vec<PacketRecord> = (0..65)
        .map(|n| packet(if n < 60 { 1 } else { 2 }))
        .collect();
    let mut aggregator = build_aggregator(&spec, Share::whole(&spec));
    aggregator.count(&batch);
    crate::output::TaskWindow {
        spec,
        parts: vec![aggregator.take_part()],
    }
}

#[test]
fn a_sketch_task_writes_its_estimates_and_its_totals_are_in_windows() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut window = test_window(T0, T0 + SEC, &[task("exact", by_src(), &[(1, 80, 1, 1)])]);
    window.tasks.push(heavy_hitter_task());
    window.mode = RunMode::Live;
    window.capture = CaptureStats {
        received: 10,
        dropped: 3,
        if_dropped: 0,
    };
    ParquetWriter::new(settings(root.path()))
        .write(&window)
        .expect("stored");
    assert_eq!(names(root.path()), ["task=exact", "task=heavy", "windows"]);
    let flows = &read(&root.path().join("task=heavy/date=2025-09-09").join(NAME))[0];
    assert_eq!(flows.num_rows(), 1, "only the heavy source is reported");
    let column = |name: &str| flows.column_by_name(name).expect(name);
    assert_eq!(column("src_ip").as_string::<i32>().value(0), "10.0.0.1");
    assert_eq!(column("packets").as_primitive::<UInt64Type>().value(0), 60);
    assert_eq!(column("bytes").as_primitive::<UInt64Type>().value(0), 6000);
    assert!(column("estimated").as_boolean().value(0));
    assert!(column("spread").is_null(0) && column("first_seen").is_null(0));
    let exact = &read(&root.path().join("task=exact/date=2025-09-09").join(NAME))[0];
    let estimated = exact.column_by_name("estimated").expect("estimated");
    assert!(!estimated.as_boolean().value(0));
    let windows = &read(&root.path().join("windows/date=2025-09-09").join(NAME))[0];
    let kinds: Vec<&str> = windows
        .column(4)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(kinds, ["exact", "heavy_hitters"]);
    let packets = windows.column(7).as_primitive::<UInt64Type>();
    assert_eq!(packets.value(1), 65);
    let dropped = windows.column(13).as_primitive::<UInt64Type>();
    assert_eq!((dropped.value(0), dropped.value(1)), (3, 3));
}
