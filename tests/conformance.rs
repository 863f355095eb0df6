//! Conformance: netspectra's counts equal tshark's on every capture of the
//! shared corpus (`../shared/corpus`, expected results computed by tshark)
//! and of the encapsulation captures kept in the repository
//! (`tests/data/encap`, same layout and oracle, see its MANIFEST.tsv).
//!
//! Each file is analyzed with the default six tasks; the merged snapshots
//! are compared key by key with `expected/<file>.json`. The shared corpus
//! part is skipped, with a printed reason, where its folder is absent; the
//! encapsulation part never is.

pub mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::cli::{Run, analyze, inspect_json};
use support::skip::skip_without_corpus;

/// (task in the default config, table in the expected JSON, key builder)
const TABLES: [(&str, &str); 6] = [
    ("per_src_ip", "by_src_ip"),
    ("per_dst_ip", "by_dst_ip"),
    ("per_protocol", "by_protocol"),
    ("per_src_port", "by_src_port"),
    ("per_dst_port", "by_dst_port"),
    ("per_five_tuple", "by_five_tuple"),
];

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    dir.join("pcaps").is_dir().then_some(dir)
}

/// The expected table's key for one JSON line of `inspect`.
fn key_of(table: &str, line: &Value) -> String {
    let text = |field: &str| match &line[field] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match table {
        "by_src_ip" => text("src_ip"),
        "by_dst_ip" => text("dst_ip"),
        "by_protocol" => text("protocol"),
        "by_src_port" => text("src_port"),
        "by_dst_port" => text("dst_port"),
        _ => ["src_ip", "dst_ip", "src_port", "dst_port", "protocol"]
            .map(text)
            .join("|"),
    }
}

/// Captures with frames whose link layer announces IP (an IPv4 or IPv6
/// EtherType) but whose IP header is invalid or cut: README counts them as
/// `malformed`; every other frame outside `frames_ip` is `non_ip`. The
/// expected files give only the sum (`frames_non_ip`); this split comes
/// from tshark on the same files, listing the protocols of every frame
/// without an outermost IP source and destination:
/// `tshark -r F -Y 'not (ip.src and ip.dst) and not (ipv6.src and ipv6.dst)'
/// -T fields -e frame.protocols` gives `eth:ethertype:ip` and
/// `eth:ethertype:ipv6` for these two and ARP, LLC, CDP, STP, SLARP, PPPoE
/// discovery, PPP LCP and 802.11 frames for all others.
const MALFORMED: [(&str, u64); 2] = [
    ("tcpdump__ipv4_invalid_hdr_length.pcap", 1),
    ("zeek__trunc-ip6-trunc.pcap", 1),
];

/// Every difference between netspectra's run and the expected JSON, as text.
fn differences(name: &str, run: &Run, lines: &[Value], expected: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let summary = &run.summary;
    let malformed = MALFORMED
        .iter()
        .find(|(file, _)| *file == name)
        .map_or(0, |(_, count)| *count);
    let non_ip = expected["frames_non_ip"]
        .as_u64()
        .and_then(|skipped| skipped.checked_sub(malformed));
    for (what, got, want) in [
        (
            "frames_total",
            summary["packets_read"].as_u64(),
            expected["frames_total"].as_u64(),
        ),
        (
            "frames_ip",
            summary["packets_counted"].as_u64(),
            expected["frames_ip"].as_u64(),
        ),
        ("non_ip", summary["non_ip"].as_u64(), non_ip),
        ("malformed", summary["malformed"].as_u64(), Some(malformed)),
    ] {
        if got != want {
            problems.push(format!("{what}: netspectra {got:?}, tshark {want:?}"));
        }
    }
    for (task, table) in TABLES {
        let mut got: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for line in lines.iter().filter(|line| line["task"] == task) {
            let counts = (
                line["packets"].as_u64().unwrap_or(0),
                line["bytes"].as_u64().unwrap_or(0),
            );
            if got.insert(key_of(table, line), counts).is_some() {
                problems.push(format!("{task}: key {} listed twice", key_of(table, line)));
            }
        }
        let want: BTreeMap<String, (u64, u64)> = expected[table]
            .as_object()
            .map(|entries| {
                entries
                    .iter()
                    .map(|(key, pair)| {
                        (
                            key.clone(),
                            (pair[0].as_u64().unwrap_or(0), pair[1].as_u64().unwrap_or(0)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for key in got
            .keys()
            .chain(want.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if got.get(key) != want.get(key) {
                problems.push(format!(
                    "{task}[{key}]: netspectra {:?}, tshark {:?}",
                    got.get(key),
                    want.get(key)
                ));
            }
        }
    }
    problems
}

#[test]
fn every_corpus_file_agrees_with_tshark() {
    let Some(corpus) = corpus_dir() else {
        skip_without_corpus("../shared/corpus is absent next to the project");
        return;
    };
    assert_every_file_agrees(&corpus.join("pcaps"), &corpus.join("expected"));
}

#[test]
fn every_encapsulation_capture_agrees_with_tshark() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/encap");
    assert_every_file_agrees(&dir, &dir.join("expected"));
}

/// Analyzes every capture file in `captures` and compares it with
/// `expected/<file>.json`; fails listing every file that disagrees.
fn assert_every_file_agrees(captures: &Path, expected_dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures)
        .expect("captures folder is readable")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "pcap" || ext == "pcapng")
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no captures", captures.display());
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_string();
        let expected_path = expected_dir.join(format!("{name}.json"));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .expect("expected JSON exists for every capture"),
        )
        .expect("expected JSON parses");
        if let Some(failure) = disagreement(file, &name, &expected) {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files disagree:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// How netspectra's run over `file` differs from `expected`, if it does.
fn disagreement(file: &Path, name: &str, expected: &Value) -> Option<String> {
    let out = tempfile::tempdir().expect("temp dir");
    let run = analyze(&[file], out.path(), &[]);
    let broken = expected["notes"]
        .as_str()
        .is_some_and(|notes| !notes.is_empty());
    // A file tshark could not read to its end fails the run (status 1, the
    // file named among the errors) after its readable packets are counted.
    let want_status = if broken { 1 } else { 0 };
    let errors = run.summary["errors"].to_string();
    if run.status != want_status || (broken && !errors.contains(name)) {
        return Some(format!(
            "{name}: exit status {}, want {want_status}; errors {errors} ({})",
            run.status,
            run.stderr.trim()
        ));
    }
    let lines = if run.summary["windows"].as_u64() == Some(0) {
        Vec::new()
    } else {
        inspect_json(out.path(), &["--merge"])
    };
    let problems = differences(name, &run, &lines, expected);
    (!problems.is_empty()).then(|| {
        format!(
            "{name}:\n    {}",
            problems
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n    ")
        )
    })
}
