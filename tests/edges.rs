//! Edges of the window store and its inputs (issue 7): no silent loss and
//! no double counting. Snapshot intervals are whole seconds, so windows
//! never overwrite each other; config and stored files are read only when
//! they are regular files of a sane size; quiet windows read back as zero.

pub mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use support::capture_writer::{Endian, PcapWriter, PcapngWriter};
use support::cli::{analyze, capture_on_loopback, running_as_root};
use support::skip::skip;
use support::store::task_dir;
use support::traffic::{ethernet_frame, mixed_packets};

/// No test here may wait longer than this for the binary: a FIFO or a
/// device read in place of a file would otherwise hang the suite.
const PROMPTLY: Duration = Duration::from_secs(20);

/// 2025-09-09T10:00:00Z.
const START: u64 = 1_757_412_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const WINDOW: &str = "2025-09-09T10-00-00Z";
/// The run part that windows written by hand in these tests belong to.
const PART: &str = "run-0000000000000001";

const INTERVAL_RULE: &str =
    "the snapshot interval must be a whole number of seconds, from 1s to 24h";

/// The binary under test, killed if it runs longer than [`PROMPTLY`].
fn netspectra() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netspectra"));
    command.timeout(PROMPTLY).env("RUST_LOG", "warn");
    command
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("test file written");
    path
}

/// A valid Ethernet pcap of `count` packets, 1 µs apart from [`START`].
fn good_pcap(count: usize, seed: u64) -> Vec<u8> {
    let mut writer = PcapWriter::new(1, false, Endian::Little);
    for spec in mixed_packets(count, START, 1_000, seed) {
        let frame = ethernet_frame(&spec, 30);
        writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
    }
    writer.finish()
}

/// `netspectra inspect <path> <extra...>`: exit status, stdout, stderr.
fn inspect(path: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let output = netspectra()
        .arg("inspect")
        .arg(path)
        .args(extra)
        .output()
        .expect("inspect runs and ends");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), stdout, stderr_of(&output))
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `value` is refused with exit status 2 and the same words as
/// `--snapshot-interval` and as `aggregator.snapshot_interval`.
#[track_caller]
fn check_interval_refused(value: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = write(dir.path(), "x.pcap", b"");
    let want = format!("{value}: {INTERVAL_RULE}");

    let flag = netspectra()
        .args(["analyze", "--snapshot-interval", value])
        .arg(&capture)
        .output()
        .expect("runs");
    assert_eq!(flag.status.code(), Some(2), "{}", stderr_of(&flag));
    assert!(stderr_of(&flag).contains(&want), "{}", stderr_of(&flag));

    let config = write(
        dir.path(),
        "interval.yaml",
        format!("aggregator:\n  snapshot_interval: {value}\n").as_bytes(),
    );
    let file = netspectra()
        .args(["analyze", "--config"])
        .arg(&config)
        .arg(&capture)
        .output()
        .expect("runs");
    let log = stderr_of(&file);
    assert_eq!(file.status.code(), Some(2), "{log}");
    assert!(
        log.contains(&want) && log.contains("aggregator.snapshot_interval"),
        "{log}"
    );
}

#[test]
fn a_sub_second_snapshot_interval_is_refused_by_flag_and_config_in_the_same_words() {
    check_interval_refused("500ms");
    check_interval_refused("1ns");
}

#[test]
fn a_snapshot_interval_over_a_day_is_refused_by_flag_and_config_in_the_same_words() {
    check_interval_refused("100y");
    check_interval_refused("25h");
}

/// Runs `analyze -c <config>` and returns its exit status and stderr.
fn analyze_with_config(config: &Path) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = write(dir.path(), "x.pcap", b"");
    let output = netspectra()
        .args(["analyze", "--config"])
        .arg(config)
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg(&capture)
        .output()
        .expect("runs and ends");
    (output.status.code(), stderr_of(&output))
}

#[test]
fn a_fifo_given_as_the_config_is_refused_at_once_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("config-pipe.yaml");
    make_fifo(&fifo);
    let (status, log) = analyze_with_config(&fifo);
    assert_eq!(status, Some(2), "{log}");
    assert!(
        log.contains(&format!(
            "{}: is a FIFO (named pipe), not a regular file",
            fifo.display()
        )),
        "{log}"
    );
}

#[test]
fn dev_zero_given_as_the_config_is_refused_without_reading_it() {
    let (status, log) = analyze_with_config(Path::new("/dev/zero"));
    assert_eq!(status, Some(2), "{log}");
    assert!(
        log.contains("/dev/zero: is a character device, not a regular file"),
        "{log}"
    );
}

/// An output root holding one window of 10 packets, written by `analyze`.
fn analyzed_root(dir: &Path) -> PathBuf {
    let capture = write(dir, "ten.pcap", &good_pcap(10, 1));
    let out = dir.join("out");
    let run = analyze(&[&capture], &out, &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    out
}

/// Replaces `file` by a FIFO.
fn make_fifo(file: &Path) {
    if file.exists() {
        std::fs::remove_file(file).expect("remove");
    }
    let made = std::process::Command::new("mkfifo")
        .arg(file)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
}

/// Replaces `file` by a symlink to `/dev/zero`.
fn link_to_dev_zero(file: &Path) {
    std::fs::remove_file(file).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", file).expect("symlink");
}

/// `inspect` on `root` fails promptly (no hang, no unbounded read), naming
/// `file` and saying `what`.
#[track_caller]
fn check_inspect_refuses(root: &Path, file: &Path, what: &str) {
    for extra in [&[][..], &["--merge"][..]] {
        let (status, _, log) = inspect(root, extra);
        assert_eq!(status, Some(1), "{extra:?}: {log}");
        let want = format!("{}: {what}", file.display());
        assert!(log.contains(&want), "{extra:?}: want {want:?} in {log}");
    }
}

#[test]
fn inspect_refuses_a_symlink_to_dev_zero_in_place_of_a_shard_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = analyzed_root(dir.path());
    let shard = task_dir(&root.join(WINDOW), "per_src_ip").join("shard_0.dat");
    link_to_dev_zero(&shard);
    check_inspect_refuses(
        &root,
        &shard,
        "is a symbolic link, which is not followed here",
    );
}

#[test]
fn inspect_refuses_a_fifo_in_place_of_a_shard_file_without_waiting_on_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = analyzed_root(dir.path());
    let shard = task_dir(&root.join(WINDOW), "per_protocol").join("shard_0.dat");
    make_fifo(&shard);
    check_inspect_refuses(&root, &shard, "is a FIFO (named pipe), not a regular file");
}

#[test]
fn inspect_refuses_a_fifo_or_a_symlink_in_place_of_a_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = analyzed_root(dir.path());
    let summary = task_dir(&root.join(WINDOW), "per_dst_ip").join("summary.json");
    make_fifo(&summary);
    check_inspect_refuses(
        &root,
        &summary,
        "is a FIFO (named pipe), not a regular file",
    );
    std::fs::remove_file(&summary).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &summary).expect("symlink");
    check_inspect_refuses(
        &root,
        &summary,
        "is a symbolic link, which is not followed here",
    );
}

/// A window of task `per_protocol` whose one record holds `packets`, as
/// the writer stores it: a `.dat` file and a summary that agrees with it.
fn write_heavy_window(root: &Path, start_ns: u64, packets: u64) {
    use netspectra::flow::{FlowKey, FlowRecord, FlowStats, KeyField, KeySchema};
    use netspectra::output::dat::write_dat;
    use netspectra::output::layout::{rfc3339_nanos, window_dir_name};

    let task_dir = root
        .join(window_dir_name(start_ns))
        .join(PART)
        .join("per_protocol");
    std::fs::create_dir_all(&task_dir).expect("task dir");
    let schema = KeySchema::from_fields(&[KeyField::Protocol]);
    let record = FlowRecord {
        key: schema.project(&FlowKey::ipv4(
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            1,
            2,
            17,
        )),
        stats: FlowStats {
            packets,
            bytes: packets,
            first_seen: start_ns,
            last_seen: start_ns,
        },
    };
    let end_ns = start_ns + 60 * SECOND;
    write_dat(
        &task_dir.join("shard_0.dat"),
        "per_protocol",
        schema,
        start_ns..end_ns,
        [record].iter(),
    )
    .expect("dat written");
    let summary = serde_json::json!({
        "task": "per_protocol",
        "window_start": rfc3339_nanos(start_ns),
        "window_end": rfc3339_nanos(end_ns),
        "total_flows": 1,
        "total_packets": packets,
        "total_bytes": packets,
        "shards": 1,
        "written_at": rfc3339_nanos(end_ns),
    });
    write(&task_dir, "summary.json", summary.to_string().as_bytes());
}

#[test]
fn merged_counts_that_overflow_64_bits_are_reported_as_a_corrupt_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("out");
    write_heavy_window(&root, START, u64::MAX - 5);
    write_heavy_window(&root, START + 60 * SECOND, 10);
    let (status, _, log) = inspect(&root, &[]);
    assert_eq!(status, Some(0), "each window alone is fine: {log}");
    let (status, _, log) = inspect(&root, &["--merge"]);
    assert_eq!(status, Some(1), "{log}");
    let second = root
        .join("2025-09-09T10-01-00Z")
        .join(PART)
        .join("per_protocol/summary.json");
    assert!(
        log.contains(&format!(
            "{}: packet or byte counts overflow 64 bits; file corrupt",
            second.display()
        )),
        "{log}"
    );
}

const DEFAULT_TASKS: [&str; 6] = [
    "per_src_ip",
    "per_dst_ip",
    "per_src_port",
    "per_dst_port",
    "per_protocol",
    "per_five_tuple",
];

/// Writes the window starting at `start_ns` as `capture` writes a live
/// window without packets (`write_live_window`): for every default task a
/// summary with zero totals, libpcap's counters and `"shards": 0`, and no
/// shard file.
fn write_quiet_window(root: &Path, start_ns: u64) {
    use netspectra::output::layout::{rfc3339_nanos, window_dir_name};

    let end_ns = start_ns + 60 * SECOND;
    for task in DEFAULT_TASKS {
        let task_dir = root.join(window_dir_name(start_ns)).join(PART).join(task);
        std::fs::create_dir_all(&task_dir).expect("task dir");
        let summary = format!(
            r#"{{
  "task": "{task}",
  "window_start": "{}",
  "window_end": "{}",
  "total_flows": 0,
  "total_packets": 0,
  "total_bytes": 0,
  "shards": 0,
  "written_at": "{}",
  "pcap_received": 0,
  "pcap_dropped": 0,
  "pcap_if_dropped": 0
}}
"#,
            rfc3339_nanos(start_ns),
            rfc3339_nanos(end_ns),
            rfc3339_nanos(end_ns + SECOND / 5),
        );
        write(&task_dir, "summary.json", summary.as_bytes());
    }
}

#[track_caller]
fn inspect_ok(root: &Path, extra: &[&str]) -> String {
    let (status, stdout, log) = inspect(root, extra);
    assert_eq!(status, Some(0), "inspect {extra:?}: {log}");
    stdout
}

#[test]
fn a_quiet_window_shows_as_zero_in_every_inspect_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("out");
    write_quiet_window(&root, START);

    let table = inspect_ok(&root, &[]);
    assert!(
        table.contains("task per_src_ip: 0 flows, 0 packets, 0 bytes"),
        "{table}"
    );
    let merged = inspect_ok(&root, &["--merge", "--task", "per_protocol"]);
    assert!(
        merged.contains("(1 windows merged)  task per_protocol: 0 flows, 0 packets, 0 bytes"),
        "{merged}"
    );
    for extra in [
        &["--format", "json"][..],
        &["--format", "json", "--merge"][..],
    ] {
        assert_eq!(inspect_ok(&root, extra), "", "no flow, no JSON line");
    }
    let csv = inspect_ok(&root, &["--format", "csv"]);
    assert_eq!(
        csv,
        "task,window_start,packets,bytes,flows,duration,rate,first_seen,last_seen,other\n"
    );
    let csv = inspect_ok(&root, &["--format", "csv", "--merge"]);
    assert_eq!(
        csv,
        "task,packets,bytes,flows,duration,rate,first_seen,last_seen,other\n"
    );
}

#[test]
fn quiet_windows_next_to_busy_ones_add_zero_to_merged_totals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = analyzed_root(dir.path());
    let csv_before = inspect_ok(&root, &["--format", "csv"]);
    write_quiet_window(&root, START + 60 * SECOND);

    let lines: Vec<Value> = inspect_ok(
        &root,
        &["--format", "json", "--merge", "--task", "per_protocol"],
    )
    .lines()
    .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
    .collect();
    let packets: u64 = lines
        .iter()
        .filter_map(|line| line["packets"].as_u64())
        .sum();
    assert_eq!(packets, 10);
    let merged = inspect_ok(&root, &["--merge", "--task", "per_protocol"]);
    assert!(
        merged.contains("(2 windows merged)  task per_protocol [Protocol]: "),
        "{merged}"
    );
    let table = inspect_ok(&root, &["--task", "per_protocol"]);
    assert!(
        table.contains("task per_protocol: 0 flows, 0 packets, 0 bytes"),
        "{table}"
    );
    assert_eq!(inspect_ok(&root, &["--format", "csv"]), csv_before);
}

#[test]
fn strict_counts_and_writes_the_files_before_a_refused_one_and_reads_none_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = write(dir.path(), "good.pcap", &good_pcap(5, 2));
    let bad = write(dir.path(), "bad.pcap", b"GET / HTTP/1.1\r\n");
    let good2 = write(dir.path(), "good2.pcap", &good_pcap(7, 3));
    let out = dir.path().join("out");
    let run = analyze(&[&good, &bad, &good2], &out, &["--strict"]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let files = run.summary["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "good2.pcap is not read: {}", run.summary);
    assert_eq!(files[0]["packets"], 5);
    let error = files[1]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("bad.pcap") && error.contains("not a pcap or pcapng file"),
        "{error}"
    );
    assert_eq!(run.summary["packets_counted"], 5);
    assert_eq!(run.summary["tasks"]["per_protocol"]["packets"], 5);
    let on_disk: u64 = support::cli::inspect_json(&out, &["--merge", "--task", "per_protocol"])
        .iter()
        .filter_map(|line| line["packets"].as_u64())
        .sum();
    assert_eq!(on_disk, 5);
}

#[test]
fn json_lists_every_refused_file_in_errors_when_nothing_could_be_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = write(dir.path(), "notes.pcap", b"just text\n");
    let missing = dir.path().join("gone.pcap");
    let run = analyze(&[&text, &missing], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let errors = run.summary["errors"].as_array().expect("one JSON summary");
    assert_eq!(errors.len(), 2, "{}", run.summary);
    assert!(
        errors[0]
            .as_str()
            .unwrap_or_default()
            .contains("notes.pcap")
    );
    assert!(errors[1].as_str().unwrap_or_default().contains("gone.pcap"));
    assert_eq!(run.summary["packets_read"], 0);
}

#[test]
fn json_prints_a_summary_naming_the_error_when_a_link_type_refuses_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = write(dir.path(), "good.pcap", &good_pcap(3, 4));
    let usb = write(
        dir.path(),
        "usb.pcap",
        &PcapWriter::new(220, false, Endian::Little).finish(),
    );
    let run = analyze(&[&good, &usb], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let errors = run.summary["errors"].as_array().expect("one JSON summary");
    assert_eq!(errors.len(), 1, "{}", run.summary);
    let error = errors[0].as_str().unwrap_or_default();
    assert!(
        error.contains("usb.pcap") && error.contains("link type 220 (Linux USB)"),
        "{error}"
    );
    assert_eq!(run.summary["packets_read"], 0);
    assert_eq!(run.summary["tasks"]["per_src_ip"]["packets"], 0);
}

const NOBODY: u32 = 65_534;

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn capture_with_user_creates_a_new_output_root_owned_by_that_user() {
    use std::os::unix::fs::MetadataExt;
    if !running_as_root() {
        skip("--user needs the test to run as root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    set_mode(dir.path(), 0o755);
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).expect("shared dir");
    set_mode(&shared, 0o777);
    let root = shared.join("new-root");
    let args = [
        "--filter",
        "udp port 9",
        "--user",
        "nobody",
        "--duration",
        "1s",
        "--snapshot-interval",
        "1s",
    ];
    let Some(run) = capture_on_loopback(&args, &root) else {
        return;
    };
    assert_eq!(run.status, Some(0), "{}", run.log);
    let meta = std::fs::metadata(&root).expect("the output root exists");
    assert_eq!(meta.uid(), NOBODY, "{}", run.log);
}

#[test]
fn capture_with_user_refuses_a_root_that_user_cannot_reach_and_creates_nothing() {
    if !running_as_root() {
        skip("--user needs the test to run as root");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    set_mode(dir.path(), 0o700);
    let root = dir.path().join("new-root");
    let Some(run) = capture_on_loopback(&["--user", "nobody", "--duration", "1s"], &root) else {
        return;
    };
    assert_eq!(run.status, Some(2), "{}", run.log);
    assert!(
        run.log.contains("new-root") && run.log.contains("not writable"),
        "{}",
        run.log
    );
    assert!(!root.exists(), "nothing is created");
}

#[test]
fn a_pcap_whose_link_type_carries_fcs_bits_is_counted_with_wire_lengths() {
    let dir = tempfile::tempdir().expect("temp dir");
    // LINKTYPE_ETHERNET with the FCS length present: 2 16-bit words.
    let mut writer = PcapWriter::new(0x2400_0001, false, Endian::Little);
    let mut bytes = 0;
    for spec in mixed_packets(6, START, 1_000, 5) {
        let mut frame = ethernet_frame(&spec, 30);
        frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // the CRC
        bytes += frame.len() as u64;
        writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
    }
    let capture = write(dir.path(), "fcs.pcap", &writer.finish());
    let run = analyze(&[&capture], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["packets_counted"], 6);
    assert_eq!(run.summary["malformed"], 0);
    assert_eq!(run.summary["tasks"]["per_protocol"]["bytes"], bytes);
}

/// A pcapng interface block, little-endian, microsecond timestamps, whose
/// `if_tsoffset` is `offset_secs`, which the test writer's packets ignore.
fn interface_with_offset(writer: &mut PcapngWriter, offset_secs: i64) {
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_le_bytes()); // Ethernet
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // reserved, snap length 0
    body.extend_from_slice(&[9, 0, 1, 0, 6, 0, 0, 0]); // if_tsresol 6
    body.extend_from_slice(&[14, 0, 8, 0]);
    body.extend_from_slice(&offset_secs.to_le_bytes()); // if_tsoffset
    body.extend_from_slice(&[0; 4]); // opt_endofopt
    writer.block(1, &body);
}

/// A pcapng whose interface 0 is good and interface 1 has `offset_secs`:
/// `good` packets on 0, then 3 on 1 (out of range), then 1 more on 0.
fn pcapng_with_offset(offset_secs: i64, good: usize) -> Vec<u8> {
    let mut writer = PcapngWriter::new(Endian::Little);
    interface_with_offset(&mut writer, 0);
    interface_with_offset(&mut writer, offset_secs);
    let specs = mixed_packets(good + 4, START, 1_000, 6);
    for (index, spec) in specs.iter().enumerate() {
        let frame = ethernet_frame(spec, 30);
        let on = u32::from(index >= good && index < good + 3);
        writer.packet(on, spec.timestamp_ns, &frame, frame.len() as u32);
    }
    writer.finish()
}

#[test]
fn packets_stamped_before_1970_or_past_2554_are_counted_clamped_reported_as_bad_timestamp_and_warned_once()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let early = write(
        dir.path(),
        "early.pcapng",
        &pcapng_with_offset(-2_000_000_000, 2),
    );
    let late = write(
        dir.path(),
        "late.pcapng",
        &pcapng_with_offset(20_000_000_000, 4),
    );
    let run = analyze(&[&early, &late], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let summary = &run.summary;
    assert_eq!(summary["packets_read"], 6 + 8, "{summary}");
    assert_eq!(summary["bad_timestamp"], 6, "{summary}");
    assert_eq!(summary["packets_counted"], 6 + 8, "{summary}");
    assert_eq!(summary["tasks"]["per_protocol"]["packets"], 6 + 8);
    // Clamped: the 3 early ones to 1970, older than the open window, so
    // counted there as out of order; the late ones to the last window, after
    // which the late file's last, normal packet is out of order too.
    assert_eq!(summary["out_of_order"], 3 + 1, "{summary}");
    let windows = support::store::window_dirs(&dir.path().join("out"));
    let names: Vec<_> = windows
        .iter()
        .filter_map(|w| w.file_name()?.to_str())
        .collect();
    assert!(
        names.iter().any(|name| name.starts_with("2554-07-21")),
        "{names:?}"
    );
    for (file, first) in [(&early, 3), (&late, 5)] {
        let warning = format!("{}: packet #{first} at byte offset", file.display());
        assert_eq!(run.stderr.matches(&warning).count(), 1, "{}", run.stderr);
        assert_eq!(
            run.stderr
                .matches(&format!("{}: packet #", file.display()))
                .count(),
            1,
            "one warning per file: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains("timestamp is before 1970 or after 2554")
    );
}
