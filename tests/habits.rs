//! The habits of tcpdump, tshark and nfdump users, through the binary:
//! captures from standard input, FIFOs and gzip/zstd files, `-f` filters
//! that count what `tcpdump -r FILE EXPR` counts, `--top` and `--no-store`,
//! shell completions, the man page, `-q`, and the small things of issue 12.

pub mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::capture_writer::{Endian, PcapWriter};
use support::cli::{Run, analyze, netspectra};
use support::traffic::{arp_frame, expected_tables, mixed_packets, write_pcap};

const SECOND: u64 = 1_000_000_000;
/// 2025-09-09T10:00:00Z
const START: u64 = 1_757_412_000 * SECOND;

/// A capture of 600 mixed packets (plus ARP frames) in `dir`.
fn mixed_capture(dir: &Path) -> PathBuf {
    let path = dir.join("mixed.pcap");
    let mut specs = mixed_packets(600, START, SECOND / 100, 12);
    write_pcap(&path, &mut specs);
    path
}

/// `netspectra analyze --json --no-store <args...>` with `stdin` as standard input.
fn analyze_with_stdin(args: &[&str], stdin: Stdio) -> Run {
    let output = netspectra()
        .args(["analyze", "--json", "--no-store"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(stdin)
        .output()
        .expect("netspectra runs");
    run_of(&output)
}

fn run_of(output: &Output) -> Run {
    Run {
        status: output.status.code().unwrap_or(-1),
        summary: serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim())
            .unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The counters that must not depend on where the bytes came from.
fn counts(summary: &Value) -> Value {
    serde_json::json!({
        "packets_read": summary["packets_read"],
        "packets_counted": summary["packets_counted"],
        "non_ip": summary["non_ip"],
        "malformed": summary["malformed"],
        "filtered": summary["filtered"],
        "windows": summary["windows"],
        "tasks": summary["tasks"],
    })
}

fn plain_counts(capture: &Path) -> Value {
    let run = analyze_with_stdin(&[capture.to_str().expect("utf-8 path")], Stdio::null());
    assert_eq!(run.status, 0, "{}", run.stderr);
    counts(&run.summary)
}

#[test]
fn a_capture_on_standard_input_is_read_with_a_dash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let file = std::fs::File::open(&capture).expect("capture opens");
    let run = analyze_with_stdin(&["-"], Stdio::from(file));
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(counts(&run.summary), plain_counts(&capture));
    assert_eq!(run.summary["files"][0]["path"], "-");
}

#[test]
fn a_fifo_is_read_as_a_stream_and_stored_twice_as_two_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let fifo = dir.path().join("capture.fifo");
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let out = dir.path().join("out");
    let mut summaries = Vec::new();
    for _ in 0..2 {
        let feeder = {
            let (fifo, capture) = (fifo.clone(), capture.clone());
            std::thread::spawn(move || {
                let bytes = std::fs::read(capture).expect("capture reads");
                let mut pipe = std::fs::OpenOptions::new()
                    .write(true)
                    .open(fifo)
                    .expect("fifo opens for writing");
                pipe.write_all(&bytes).expect("fifo takes the capture");
            })
        };
        let run = analyze(&[&fifo], &out, &[]);
        feeder.join().expect("feeder finishes");
        assert_eq!(run.status, 0, "{}", run.stderr);
        summaries.push(run.summary);
    }
    assert_eq!(counts(&summaries[0]), plain_counts(&capture));
    // A stream cannot be fingerprinted: the rerun adds its own part.
    let merged = support::cli::inspect_json(&out, &["--merge", "--task", "per_protocol"]);
    let packets: u64 = merged
        .iter()
        .map(|line| line["packets"].as_u64().expect("packets"))
        .sum();
    assert_eq!(
        packets,
        2 * summaries[0]["packets_counted"].as_u64().expect("count")
    );
}

#[test]
fn gzip_and_zstd_captures_are_recognised_by_their_bytes_not_their_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let bytes = std::fs::read(&capture).expect("capture reads");
    let gzipped = dir.path().join("gzip-without-suffix");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&bytes).expect("gzip encodes");
    std::fs::write(&gzipped, encoder.finish().expect("gzip finishes")).expect("written");
    let zstded = dir.path().join("capture.pcap.zst");
    std::fs::write(
        &zstded,
        zstd::encode_all(&bytes[..], 3).expect("zstd encodes"),
    )
    .expect("written");
    let want = plain_counts(&capture);
    for compressed in [&gzipped, &zstded] {
        assert_eq!(plain_counts(compressed), want, "{}", compressed.display());
    }
    let file = std::fs::File::open(&zstded).expect("opens");
    let run = analyze_with_stdin(&["-"], Stdio::from(file));
    assert_eq!(counts(&run.summary), want, "zstd on standard input");
}

#[test]
fn a_cut_gzip_stream_counts_the_packets_before_the_cut_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let bytes = std::fs::read(&capture).expect("capture reads");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).expect("gzip encodes");
    let gzipped = encoder.finish().expect("gzip finishes");
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &gzipped[..gzipped.len() / 2]).expect("written");
    let run = analyze_with_stdin(&[cut.to_str().expect("utf-8")], Stdio::null());
    assert_eq!(run.status, 1, "{}", run.stderr);
    let read = run.summary["packets_read"].as_u64().expect("count");
    let whole = plain_counts(&capture)["packets_read"]
        .as_u64()
        .expect("count");
    assert!(read > 0 && read < whole, "read {read} of {whole}");
    let error = run.summary["files"][0]["error"]
        .as_str()
        .expect("the file has an error");
    assert!(
        error.contains("cut.pcap.gz") && error.contains(&format!("{read} packets read before it")),
        "{error}"
    );
}

/// Packet records in a pcap file written by tcpdump.
fn pcap_records(bytes: &[u8]) -> u64 {
    let big_endian = bytes.get(..4) == Some(&[0xa1, 0xb2, 0xc3, 0xd4][..])
        || bytes.get(..4) == Some(&[0xa1, 0xb2, 0x3c, 0x4d][..]);
    let mut offset = 24;
    let mut records = 0;
    while let Some(field) = bytes.get(offset + 8..offset + 12) {
        let field: [u8; 4] = field.try_into().expect("four bytes");
        let caplen = if big_endian {
            u32::from_be_bytes(field)
        } else {
            u32::from_le_bytes(field)
        };
        offset += 16 + caplen as usize;
        records += 1;
    }
    records
}

/// Packets `tcpdump -r FILE EXPR` matches; `None` where tcpdump fails on the file.
fn tcpdump_count(file: &Path, expression: &str) -> Option<u64> {
    let output = Command::new("tcpdump")
        .arg("-r")
        .arg(file)
        .args(["-w", "-", expression])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| pcap_records(&output.stdout))
}

#[test]
fn a_filter_counts_what_tcpdump_counts_on_the_corpus() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pcaps");
    if Command::new("tcpdump").arg("--version").output().is_err() {
        println!("skipped: tcpdump is not installed (.ci/run installs it)");
        return;
    }
    let Ok(entries) = std::fs::read_dir(&corpus) else {
        println!("skipped: no corpus at {}", corpus.display());
        return;
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    let expressions = [
        "tcp",
        "udp port 53",
        "ip6",
        "tcp[tcpflags] & tcp-syn != 0",
        "greater 200",
        "not ip and not ip6",
    ];
    let mut compared = 0;
    for file in &files {
        for expression in expressions {
            let Some(want) = tcpdump_count(file, expression) else {
                continue;
            };
            let run = analyze_with_stdin(
                &["-f", expression, file.to_str().expect("utf-8")],
                Stdio::null(),
            );
            if run.status != 0 {
                // Damaged corpus files are read up to the damage, as tcpdump
                // does, but tcpdump's exit status already excluded most.
                continue;
            }
            let read = run.summary["packets_read"].as_u64().expect("count");
            let filtered = run.summary["filtered"].as_u64().expect("count");
            assert_eq!(
                read - filtered,
                want,
                "{} with {expression:?}",
                file.display()
            );
            let parts = ["packets_counted", "non_ip", "malformed", "filtered"]
                .map(|name| run.summary[name].as_u64().expect("count"));
            assert_eq!(parts.iter().sum::<u64>(), read, "{}", file.display());
            compared += 1;
        }
    }
    println!("compared {compared} (file, filter) pairs with tcpdump");
    assert!(compared >= 20, "only {compared} comparisons ran");
}

#[test]
fn a_filter_libpcap_rejects_exits_2_with_libpcaps_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let run = analyze_with_stdin(
        &["-f", "tcp port", capture.to_str().expect("utf-8")],
        Stdio::null(),
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("syntax error"), "{}", run.stderr);
    assert!(run.stderr.contains("\"tcp port\""), "{}", run.stderr);
}

#[test]
fn top_names_each_tasks_largest_keys_over_the_whole_run_without_changing_the_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("spread.pcap");
    // 2,000 packets over 20 s in 5 s windows: --top merges four windows.
    let mut specs = mixed_packets(2_000, START, SECOND / 100, 21);
    write_pcap(&capture, &mut specs);
    let expected = expected_tables(&specs);
    let with_top = analyze(
        &[&capture],
        &dir.path().join("a"),
        &["--top", "5", "--snapshot-interval", "5s"],
    );
    let without = analyze(
        &[&capture],
        &dir.path().join("b"),
        &["--snapshot-interval", "5s"],
    );
    assert_eq!(with_top.status, 0, "{}", with_top.stderr);
    assert_eq!(with_top.summary["windows"], 4);
    assert_eq!(counts(&with_top.summary), counts(&without.summary));
    for (task, field) in [
        ("per_src_ip", "src_ip"),
        ("per_dst_port", "dst_port"),
        ("per_protocol", "protocol"),
    ] {
        let table = &expected[task];
        let rows = with_top.summary["top"][task]
            .as_array()
            .expect("a list per task");
        assert_eq!(rows.len(), table.len().min(5), "{task}");
        let mut previous = u64::MAX;
        for row in rows {
            let key = match &row[field] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let packets = row["packets"].as_u64().expect("packets");
            assert_eq!(
                Some(&(packets, row["bytes"].as_u64().expect("bytes"))),
                table.get(&key),
                "{task} {key}"
            );
            assert!(packets <= previous, "{task}: largest first");
            previous = packets;
        }
        let outside = table.values().filter(|counts| counts.0 > previous).count();
        assert!(outside < rows.len(), "{task}: a larger key was left out");
    }
}

#[test]
fn top_prints_a_table_per_task_after_the_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let output = netspectra()
        .args(["analyze", "--no-store", "--top", "2"])
        .arg(&capture)
        .output()
        .expect("netspectra runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("top 2 keys of per_protocol (by packets)\n  protocol  packets"),
        "{stdout}"
    );
}

#[test]
fn no_store_counts_the_same_and_creates_no_output_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let stored = analyze(&[&capture], &dir.path().join("stored"), &[]);
    let out = dir.path().join("never");
    let unstored = analyze(&[&capture], &out, &["--no-store"]);
    assert_eq!(unstored.status, 0, "{}", unstored.stderr);
    assert_eq!(counts(&unstored.summary), counts(&stored.summary));
    assert!(!out.exists(), "--no-store created {}", out.display());
}

#[test]
fn completions_are_printed_for_bash_and_zsh() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef netspectra")] {
        let output = netspectra()
            .args(["completions", shell])
            .output()
            .expect("runs");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success());
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(
            script.contains("--no-store"),
            "{shell} completes analyze's flags"
        );
    }
}

#[test]
fn man_prints_a_roff_page_naming_the_subcommands() {
    let output = netspectra().arg("man").output().expect("runs");
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        page.starts_with(".ie") || page.contains(".TH netspectra"),
        "{page}"
    );
    for subcommand in ["analyze", "capture", "inspect"] {
        assert!(page.contains(subcommand), "{subcommand} missing");
    }
}

#[test]
fn quiet_keeps_warnings_and_drops_info_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let stderr = |flags: &[&str]| {
        let output = netspectra()
            .args(flags)
            .args(["analyze", "--no-store"])
            .arg(&capture)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let normal = stderr(&[]);
    assert!(normal.contains(" INFO "), "{normal}");
    let quiet = stderr(&["-q"]);
    assert!(!quiet.contains(" INFO "), "{quiet}");
    assert!(quiet.contains(" WARN "), "ARP frames still warn: {quiet}");
    let verbose = stderr(&["-v"]);
    assert!(verbose.contains(" DEBUG "), "{verbose}");
}

#[test]
fn a_kind_of_skipped_frame_is_warned_once_per_file_then_totalled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let output = netspectra()
        .args(["-q", "analyze", "--no-store"])
        .args([&capture, &capture])
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let per_file = stderr
        .lines()
        .filter(|line| line.contains("mixed.pcap: packet #") && line.contains("not IP"))
        .count();
    assert_eq!(per_file, 2, "{stderr}");
    let arp = 2 * 600u64.div_ceil(25);
    assert!(
        stderr.contains(&format!("{arp} packets skipped in all: not IP")),
        "{stderr}"
    );
}

#[test]
fn a_file_of_one_packet_says_1_packet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("one.pcap");
    let mut writer = PcapWriter::new(1, false, Endian::Little);
    let frame = arp_frame();
    writer.packet(START, &frame, frame.len() as u32);
    writer.write_to(&capture).expect("written");
    let output = netspectra()
        .args(["-q", "analyze", "--no-store"])
        .arg(&capture)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("one.pcap: 1 packet, ok"), "{stdout}");
}

#[test]
fn inspect_of_an_unknown_task_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = mixed_capture(dir.path());
    let out = dir.path().join("out");
    assert_eq!(analyze(&[&capture], &out, &[]).status, 0);
    let output = netspectra()
        .arg("inspect")
        .arg(&out)
        .args(["--task", "nosuch"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nosuch"));
}
