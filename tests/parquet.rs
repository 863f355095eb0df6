//! The Parquet writer through the binary: what `--parquet` and a
//! `type: parquet` writer store reads back, with the parquet crate and with
//! DuckDB, as exactly the counts of the capture and of `inspect --merge`;
//! a full disk leaves no partial file and reports what it lost; a rerun
//! counts each key once; leftovers and retention behave as in the file store.

pub mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::cli::{analyze, capture_on_loopback, inspect_json};
use support::disk::{SmallDisk, assert_filled_part_way};
use support::parquet_files::{all_files, flow_files, parquet_tables, read_batches, text_column};
use support::skip::skip;
use support::traffic::{
    PacketSpec, expected_tables, mixed_packets, tables_from_inspect, write_pcap,
};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;
/// The variable naming a Python that can `import duckdb` (`.ci/run` sets it).
const DUCKDB_PYTHON: &str = "NETSPECTRA_DUCKDB_PYTHON";

/// `count` packets from `START`, `per_second` a second, written to `dir/name`.
fn capture(
    dir: &Path,
    name: &str,
    count: usize,
    per_second: u64,
    seed: u64,
) -> (PathBuf, Vec<PacketSpec>) {
    let path = dir.join(name);
    let mut specs = mixed_packets(count, START, SECOND / per_second, seed);
    write_pcap(&path, &mut specs);
    (path, specs)
}

/// `analyze` into the files store `out` and the Parquet tree `parquet`.
fn analyze_both(input: &Path, out: &Path, parquet: &Path, extra: &[&str]) {
    let parquet = parquet.to_string_lossy().into_owned();
    let mut args = vec!["--parquet", parquet.as_str()];
    args.extend_from_slice(extra);
    let run = analyze(&[input], out, &args);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

/// The expected tables, keyed by owned task names.
fn expected(specs: &[PacketSpec]) -> BTreeMap<String, support::traffic::Table> {
    expected_tables(specs)
        .into_iter()
        .map(|(task, table)| (task.to_string(), table))
        .collect()
}

#[test]
fn parquet_rows_read_back_equal_the_exact_counts_and_inspect_merge() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 3,000 packets at 20 a second: 150 s, three one-minute windows.
    let (input, specs) = capture(dir.path(), "three-minutes.pcap", 3_000, 20, 31);
    let (out, parquet) = (dir.path().join("out"), dir.path().join("pq"));
    analyze_both(&input, &out, &parquet, &[]);

    let tables = parquet_tables(&parquet);
    assert_eq!(tables, expected(&specs));
    assert_eq!(
        tables,
        tables_from_inspect(&inspect_json(&out, &["--merge"]))
    );
    let files = all_files(&parquet);
    let per_protocol: Vec<&String> = files
        .iter()
        .filter(|name| name.starts_with("task=per_protocol/"))
        .collect();
    assert_eq!(per_protocol.len(), 3, "{files:?}");
    for (name, minute) in per_protocol.iter().zip(0..) {
        let prefix = format!("task=per_protocol/date=2025-09-09/2025-09-09T10-0{minute}-00Z-run-");
        assert!(
            name.starts_with(&prefix) && name.ends_with(".parquet"),
            "{name}"
        );
    }
    assert_eq!(
        files.len(),
        3 * 7,
        "six tasks and `windows`, three windows: {files:?}"
    );
    assert!(files.iter().all(|name| !name.contains("/.")), "{files:?}");
    // The probe is the host name unless the writer names one.
    let batch = &read_batches(&flow_files(&parquet)[0].1)[0];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    assert_eq!(text_column(batch, "probe")[0].as_deref(), Some(host.trim()));
}

#[test]
fn a_rerun_of_the_same_capture_replaces_its_files_and_counts_every_key_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, specs) = capture(dir.path(), "once.pcap", 1_000, 20, 32);
    let (out, parquet) = (dir.path().join("out"), dir.path().join("pq"));
    analyze_both(&input, &out, &parquet, &[]);
    let first = all_files(&parquet);
    analyze_both(&input, &out, &parquet, &[]);
    assert_eq!(
        all_files(&parquet),
        first,
        "the rerun writes the same names"
    );
    assert_eq!(parquet_tables(&parquet), expected(&specs));

    let (other, more) = capture(dir.path(), "next.pcap", 500, 20, 33);
    analyze_both(&other, &out, &parquet, &[]);
    let mut both = specs.clone();
    both.extend(more);
    assert_eq!(
        parquet_tables(&parquet),
        expected(&both),
        "another input adds"
    );
}

#[test]
fn a_disk_full_mid_run_leaves_no_partial_parquet_file_and_lists_the_lost_windows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "400k") else {
        skip("cannot mount a small tmpfs here (needs root)");
        return;
    };
    // 40 one-second windows of 50 packets.
    let (input, _) = capture(dir.path(), "spread.pcap", 2_000, 50, 34);
    let parquet = disk.0.join("pq");
    let parquet_arg = parquet.to_string_lossy().into_owned();
    let run = analyze(
        &[&input],
        &dir.path().join("unused"),
        &[
            "--no-store",
            "--parquet",
            &parquet_arg,
            "--snapshot-interval",
            "1s",
        ],
    );
    let written = assert_filled_part_way(&run, 40);
    assert!(
        run.stderr.contains("No space left on device"),
        "{}",
        run.stderr
    );

    let files = all_files(&parquet);
    assert!(
        files
            .iter()
            .all(|name| name.ends_with(".parquet") && !name.contains("/.")),
        "only complete files are left: {files:?}"
    );
    // Each written window is whole (a file per task and one in `windows`),
    // each lost one absent: the window's files are renamed in only once
    // all of them are complete.
    let mut per_window: BTreeMap<String, usize> = BTreeMap::new();
    for name in &files {
        let file = name.rsplit('/').next().expect("a file name");
        *per_window.entry(file.to_string()).or_default() += 1;
    }
    assert_eq!(per_window.len() as u64, written, "{files:?}");
    assert!(
        per_window.values().all(|&count| count == 7),
        "{per_window:?}"
    );
    let tables = parquet_tables(&parquet);
    let packets: u64 = tables["per_protocol"].values().map(|counts| counts.0).sum();
    assert_eq!(packets, written * 50);
}

#[test]
fn a_dead_writers_temporary_files_are_removed_at_start_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let parquet = dir.path().join("pq");
    let date = parquet.join("task=per_src_ip/date=2025-09-09");
    std::fs::create_dir_all(&date).expect("planted directory");
    let dead = dead_pid();
    let name = "2025-09-09T09-00-00Z-run-00c0ffee12345678.parquet";
    let killed = date.join(format!(".tmp-{name}-{dead}"));
    let kept = [
        date.join(format!(".tmp-{name}-{}", std::process::id())),
        date.join(format!(".tmp-notes-{dead}")),
        date.join("notes.parquet"),
    ];
    for path in kept.iter().chain([&killed]) {
        std::fs::write(path, b"x").expect("planted file");
    }
    let (input, _) = capture(dir.path(), "tiny.pcap", 10, 100, 35);
    analyze_both(&input, &dir.path().join("out"), &parquet, &[]);
    assert!(!killed.exists(), "{} was left in place", killed.display());
    for path in &kept {
        assert!(path.exists(), "{} was removed", path.display());
    }
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("true runs");
    let pid = child.id();
    child.wait().expect("reaped");
    pid
}

#[test]
fn retention_prunes_old_parquet_windows_by_event_time_and_a_config_writer_compresses_as_told() {
    let dir = tempfile::tempdir().expect("temp dir");
    let parquet = dir.path().join("pq");
    let config = dir.path().join("pq.yaml");
    std::fs::write(
        &config,
        format!(
            "retention:\n  max_windows: 2\nwriters:\n  - {{type: parquet, root: {}, compression: snappy, probe: edge-7}}\n",
            parquet.display()
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().into_owned();
    // Five one-minute windows in this run: all kept, though over the limit.
    let (five, _) = capture(dir.path(), "five.pcap", 300, 1, 36);
    let run = analyze(&[&five], &dir.path().join("out"), &["--config", &config]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let windows = |root: &Path| -> Vec<String> {
        let mut names: Vec<String> = all_files(root)
            .iter()
            .filter(|name| name.starts_with("windows/"))
            .map(|name| name["windows/date=2025-09-09/".len()..][..20].to_string())
            .collect();
        names.dedup();
        names
    };
    let first = windows(&parquet);
    assert!(first.len() > 2, "{first:?}");
    // A later run keeps its own window and the newest other one.
    let mut late = mixed_packets(10, START + 3_600 * SECOND, SECOND / 100, 37);
    let later = dir.path().join("later.pcap");
    write_pcap(&later, &mut late);
    let run = analyze(&[&later], &dir.path().join("out"), &["--config", &config]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        windows(&parquet),
        [
            first.last().expect("a window").clone(),
            "2025-09-09T11-00-00Z".to_string()
        ]
    );
    let (_, file) = &flow_files(&parquet)[0];
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(file).expect("file"))
            .expect("Parquet");
    let metadata = parquet::file::reader::FileReader::metadata(&reader);
    assert_eq!(
        metadata.row_group(0).column(0).compression(),
        parquet::basic::Compression::SNAPPY
    );
    let batch = &read_batches(file)[0];
    assert_eq!(text_column(batch, "probe")[0].as_deref(), Some("edge-7"));
}

/// DuckDB's answers for the tree `dir/pq` (see parquet_duckdb.py), or
/// `None`, after a skip, where no Python with duckdb is named.
fn duckdb(dir: &Path) -> Option<serde_json::Value> {
    let Some(python) = std::env::var_os(DUCKDB_PYTHON) else {
        skip(&format!(
            "{DUCKDB_PYTHON} is not set: no Python with the duckdb package (bash .ci/run installs one)"
        ));
        return None;
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(&python)
        .arg(manifest.join("tests/support/parquet_duckdb.py"))
        .arg(dir)
        .arg(manifest.join("README.md"))
        .output()
        .unwrap_or_else(|error| panic!("{}: cannot run: {error}", python.to_string_lossy()));
    assert!(
        output.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("one JSON object"))
}

#[test]
fn duckdb_sums_and_top_ten_keys_equal_inspect_merge_and_hive_partitions_show_task_and_date() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Two days, so `date` takes two values.
    let mut specs = mixed_packets(2_000, START, SECOND / 20, 38);
    specs.extend(mixed_packets(
        1_000,
        START + 24 * 3_600 * SECOND,
        SECOND / 20,
        39,
    ));
    let input = dir.path().join("two-days.pcap");
    write_pcap(&input, &mut specs);
    let (out, parquet) = (dir.path().join("out"), dir.path().join("pq"));
    analyze_both(&input, &out, &parquet, &[]);
    std::fs::write(
        dir.path().join("hosts.csv"),
        "ip,name\n10.0.1.1,printer\n10.0.2.2,nas\n",
    )
    .expect("hosts.csv");
    let Some(answer) = duckdb(dir.path()) else {
        return;
    };

    let inspect = tables_from_inspect(&inspect_json(&out, &["--merge"]));
    let tasks = answer["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), inspect.len(), "{answer}");
    for (task, table) in &inspect {
        let got = &tasks[task.as_str()];
        let packets: u64 = table.values().map(|counts| counts.0).sum();
        let bytes: u64 = table.values().map(|counts| counts.1).sum();
        assert_eq!(
            (got["packets"].as_u64(), got["bytes"].as_u64()),
            (Some(packets), Some(bytes)),
            "{task}"
        );
        let mut rows: Vec<(&String, &(u64, u64))> = table.iter().collect();
        rows.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
        let want: Vec<serde_json::Value> = rows
            .iter()
            .take(10)
            .map(|(key, (packets, bytes))| serde_json::json!([key, bytes, packets]))
            .collect();
        assert_eq!(got["top"].as_array().expect("top"), &want, "{task}");
    }
    let partitions = answer["partitions"].as_array().expect("partitions");
    assert_eq!(partitions.len(), 6 * 2, "{partitions:?}");
    for partition in partitions {
        assert_eq!(
            partition[2], "DATE",
            "hive_partitioning types `date`: {partition}"
        );
        assert!(
            ["2025-09-09", "2025-09-10"].contains(&partition[1].as_str().expect("date")),
            "{partition}"
        );
    }
    let queries = answer["queries"].as_array().expect("queries");
    assert_eq!(queries.len(), 5, "README's five DuckDB queries: {answer}");
    let rows: Vec<u64> = queries
        .iter()
        .map(|query| query["rows"].as_u64().expect("rows"))
        .collect();
    // Top talkers in the first hour, bytes per protocol per hour, no source
    // reached 100 ports, two hosts of the CSV sent, no capture drops offline.
    assert_eq!(rows[0], 10, "{answer}");
    assert!(
        rows[1] > 0 && rows[3] == 2 && rows[2] == 0 && rows[4] == 0,
        "{answer}"
    );
}

#[test]
fn a_live_capture_writes_windows_rows_with_the_capture_counters_even_when_quiet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let parquet = dir.path().join("pq");
    let parquet_arg = parquet.to_string_lossy().into_owned();
    let args = [
        "--duration",
        "2500ms",
        "--snapshot-interval",
        "1s",
        "--filter",
        "udp port 9",
        "--parquet",
        &parquet_arg,
    ];
    let Some(run) = capture_on_loopback(&args, &dir.path().join("out")) else {
        return;
    };
    assert_eq!(run.status, Some(0), "{}", run.log);
    let windows: Vec<String> = all_files(&parquet)
        .into_iter()
        .filter(|name| name.starts_with("windows/"))
        .collect();
    assert!(windows.len() >= 2, "a file per window: {windows:?}");
    for name in &windows {
        for batch in read_batches(&parquet.join(name)) {
            let modes = text_column(&batch, "mode");
            assert!(
                modes.iter().all(|mode| mode.as_deref() == Some("live")),
                "{name}"
            );
            assert_eq!(batch.num_rows(), 6, "one row per default task: {name}");
            for counter in ["pcap_received", "pcap_dropped", "pcap_if_dropped"] {
                let column = batch.column_by_name(counter).expect("counter column");
                assert_eq!(column.null_count(), 0, "{counter} in {name}");
            }
        }
    }
}
