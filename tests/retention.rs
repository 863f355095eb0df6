//! Retention end to end, through the binary and the config's `retention:`
//! section: `max_windows` and `max_age` remove exactly the oldest complete
//! windows and nothing else; age is event time, measured from the newest
//! window end in the root; a run never removes a window it wrote itself.

pub mod support;

use std::path::Path;

use support::cli::{analyze, inspect_json};
use support::store::window_dirs;
use support::traffic::{
    PacketSpec, expected_tables, mixed_packets, tables_from_inspect, write_pcap,
};

const SECOND: u64 = 1_000_000_000;
const HOUR: u64 = 3_600 * SECOND;
const DAY: u64 = 24 * HOUR;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;
/// 2023-03-01T00:00:00Z
const MARCH_2023: u64 = 1_677_628_800 * SECOND;

/// Ten packets in the window starting at `start_ns`, keyed by `seed`.
fn ten_packets_at(start_ns: u64, seed: u64) -> Vec<PacketSpec> {
    mixed_packets(10, start_ns, SECOND / 100, seed)
}

/// Writes the packets of every window start in `starts` (in that order) to
/// `name` under `dir` and analyzes it into `out` with `config`.
fn analyze_windows(
    dir: &Path,
    name: &str,
    starts: &[u64],
    config: &Path,
    interval: &str,
    out: &Path,
) -> Vec<PacketSpec> {
    let mut specs: Vec<PacketSpec> = starts
        .iter()
        .enumerate()
        .flat_map(|(index, &start)| ten_packets_at(start, index as u64 + 1))
        .collect();
    let capture = dir.join(name);
    write_pcap(&capture, &mut specs);
    let config = config.to_string_lossy().into_owned();
    let run = analyze(
        &[&capture],
        out,
        &["--config", &config, "--snapshot-interval", interval],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.summary["windows"],
        starts.len() as u64,
        "{}",
        run.summary
    );
    specs
}

/// The names of the window directories under `root`, oldest first.
fn window_names(root: &Path) -> Vec<String> {
    window_dirs(root)
        .iter()
        .filter_map(|path| Some(path.file_name()?.to_str()?.to_string()))
        .collect()
}

/// Everything directly under `root` that is not a window directory.
fn other_entries(root: &Path) -> Vec<String> {
    let windows = window_names(root);
    let mut others: Vec<String> = std::fs::read_dir(root)
        .expect("root is readable")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !windows.contains(name))
        .collect();
    others.sort();
    others
}

fn config_file(dir: &Path, retention: &str) -> std::path::PathBuf {
    let path = dir.join("retention.yaml");
    std::fs::write(&path, format!("retention:\n{retention}\n")).expect("config written");
    path
}

#[test]
fn max_windows_removes_exactly_the_oldest_windows_but_never_those_of_the_current_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let config = config_file(dir.path(), "  max_windows: 3");
    std::fs::create_dir_all(out.join("notes")).expect("a foreign directory");
    std::fs::write(out.join("README.txt"), b"kept").expect("a foreign file");

    // The first run writes five windows, more than max_windows: all are its own.
    let starts: Vec<u64> = (0..5).map(|n| START + n * SECOND).collect();
    analyze_windows(dir.path(), "first.pcap", &starts, &config, "1s", &out);
    let first: Vec<String> = (0..5).map(|n| format!("2025-09-09T10-00-0{n}Z")).collect();
    assert_eq!(window_names(&out), first, "a run removed its own windows");

    // The second run adds two newer windows: the four oldest go, and nothing else.
    let starts = [START + 5 * SECOND, START + 6 * SECOND];
    let specs = analyze_windows(dir.path(), "second.pcap", &starts, &config, "1s", &out);
    assert_eq!(
        window_names(&out),
        [
            "2025-09-09T10-00-04Z",
            "2025-09-09T10-00-05Z",
            "2025-09-09T10-00-06Z"
        ]
    );
    assert_eq!(
        other_entries(&out),
        [
            ".netspectra.lock",
            "README.txt",
            "netspectra-root.json",
            "notes"
        ],
        "retention touched something that is not an old window"
    );
    let newest = tables_from_inspect(&inspect_json(&out.join("2025-09-09T10-00-06Z"), &[]));
    assert_eq!(
        newest.get("per_five_tuple"),
        expected_tables(&specs[10..]).get("per_five_tuple"),
        "the kept windows are whole"
    );
}

#[test]
fn max_age_counts_from_the_newest_window_end_so_an_old_capture_keeps_its_windows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let config = config_file(dir.path(), "  max_age: 7d");

    // A capture from March 2023, years before the wall clock: nothing is too old,
    // as long as the windows are within 7 days of the newest one.
    let old = [
        MARCH_2023,
        MARCH_2023 + HOUR,
        MARCH_2023 + 2 * DAY,
        MARCH_2023 + 4 * DAY,
    ];
    analyze_windows(dir.path(), "2023.pcap", &old, &config, "1h", &out);
    let first = [
        "2023-03-01T00-00-00Z",
        "2023-03-01T01-00-00Z",
        "2023-03-03T00-00-00Z",
        "2023-03-05T00-00-00Z",
    ];
    assert_eq!(window_names(&out), first);

    // A second run a day later, not protected by being the run that wrote
    // them: measured on the wall clock every 2023 window would be too old,
    // measured from the newest window end (2023-03-06T01:00) none is.
    analyze_windows(
        dir.path(),
        "next-day.pcap",
        &[MARCH_2023 + 5 * DAY],
        &config,
        "1h",
        &out,
    );
    let mut kept = first.to_vec();
    kept.push("2023-03-06T00-00-00Z");
    assert_eq!(window_names(&out), kept);

    // A third run nine days after the first, which also writes a window of
    // February: the newest end is 2023-03-10T01:00, so the windows that ended
    // before 2023-03-03T01:00 go; the one that ended exactly then stays, and
    // so do the run's own windows, however old.
    let newer = [MARCH_2023 - 20 * DAY, MARCH_2023 + 9 * DAY];
    analyze_windows(dir.path(), "later.pcap", &newer, &config, "1h", &out);
    assert_eq!(
        window_names(&out),
        [
            "2023-02-09T00-00-00Z",
            "2023-03-03T00-00-00Z",
            "2023-03-05T00-00-00Z",
            "2023-03-06T00-00-00Z",
            "2023-03-10T00-00-00Z",
        ]
    );
    assert_eq!(
        other_entries(&out),
        [".netspectra.lock", "netspectra-root.json"]
    );
}

#[test]
fn without_a_retention_section_every_window_stays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let config = dir.path().join("none.yaml");
    std::fs::write(&config, "aggregator:\n  batch_size: 1024\n").expect("config written");
    analyze_windows(dir.path(), "old.pcap", &[MARCH_2023], &config, "1h", &out);
    analyze_windows(dir.path(), "new.pcap", &[START], &config, "1h", &out);
    assert_eq!(
        window_names(&out),
        ["2023-03-01T00-00-00Z", "2025-09-09T10-00-00Z"]
    );
}
