//! Conformance: netspectra's counts equal tshark's on every capture of the
//! shared corpus (`../shared/corpus`, expected results computed by tshark).
//!
//! Each file is analyzed with the default six tasks; the merged snapshots
//! are compared key by key with `expected/<file>.json`. Skipped, with a
//! printed reason, where the corpus folder is absent.
//!
//! tshark keys every IP frame whatever its timestamp; netspectra puts a
//! frame stamped before 1970 or past 2554 in no window (`bad_timestamp`).
//! For a file with such frames the IP frame total still has to match
//! (counted + bad_timestamp), but per key netspectra may only hold less
//! than tshark, never more or another key.

pub mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::cli::{Run, analyze, inspect_json};

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

/// Every difference between netspectra's run and the expected JSON, as text.
fn differences(run: &Run, lines: &[Value], expected: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let summary = &run.summary;
    let skipped =
        summary["non_ip"].as_u64().unwrap_or(0) + summary["malformed"].as_u64().unwrap_or(0);
    let bad_timestamp = summary["bad_timestamp"].as_u64().unwrap_or(0);
    for (what, got, want) in [
        (
            "frames_total",
            summary["packets_read"].as_u64(),
            expected["frames_total"].as_u64(),
        ),
        (
            "frames_ip",
            summary["packets_counted"]
                .as_u64()
                .map(|counted| counted + bad_timestamp),
            expected["frames_ip"].as_u64(),
        ),
        (
            "frames_non_ip",
            Some(skipped),
            expected["frames_non_ip"].as_u64(),
        ),
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
            let fewer_for_bad_timestamps = bad_timestamp > 0
                && match (got.get(key), want.get(key)) {
                    (None, Some(_)) => true,
                    (Some(got), Some(want)) => got.0 <= want.0 && got.1 <= want.1,
                    _ => false,
                };
            if got.get(key) != want.get(key) && !fewer_for_bad_timestamps {
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
        eprintln!(
            "SKIP every_corpus_file_agrees_with_tshark: ../shared/corpus is absent next to the project"
        );
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("pcaps"))
        .expect("corpus pcaps folder is readable")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus has no captures");
    let mut failures = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_string();
        let expected_path = corpus.join("expected").join(format!("{name}.json"));
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .expect("expected JSON exists for every capture"),
        )
        .expect("expected JSON parses");
        let out = tempfile::tempdir().expect("temp dir");
        let run = analyze(&[file.as_path()], out.path(), &[]);
        let broken = expected["notes"]
            .as_str()
            .is_some_and(|notes| !notes.is_empty());
        if run.status != 0 && !(broken && run.status == 1) {
            failures.push(format!(
                "{name}: exit status {} ({})",
                run.status,
                run.stderr.trim()
            ));
            continue;
        }
        let lines = if run.summary["windows"].as_u64() == Some(0) {
            Vec::new()
        } else {
            inspect_json(out.path(), &["--merge"])
        };
        let problems = differences(&run, &lines, &expected);
        if !problems.is_empty() {
            failures.push(format!(
                "{name}:\n    {}",
                problems
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
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
