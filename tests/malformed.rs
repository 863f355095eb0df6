//! Damaged and odd inputs: every case ends with a message naming the file
//! (and the record or byte offset where there is one), what came before the
//! damage counted and written, and the documented exit status; with several
//! files a broken one does not stop the others unless `--strict`.

pub mod support;

use std::path::{Path, PathBuf};

use support::capture_writer::{Endian, Interface, PcapWriter, PcapngWriter};
use support::cli::{Run, analyze, inspect_json};
use support::traffic::{ethernet_frame, mixed_packets};

const START: u64 = 1_757_412_000_000_000_000;

/// A valid Ethernet pcap of `count` packets; returns its bytes.
fn good_pcap(count: usize, seed: u64) -> Vec<u8> {
    let mut writer = PcapWriter::new(1, false, Endian::Little);
    for spec in mixed_packets(count, START, 1_000, seed) {
        let frame = ethernet_frame(&spec, 30);
        writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
    }
    writer.finish()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("test file written");
    path
}

/// Packets written to the snapshots under `out` (per_protocol, all windows).
fn written_packets(out: &Path) -> u64 {
    if !out.exists()
        || std::fs::read_dir(out)
            .map(|mut dir| dir.next().is_none())
            .unwrap_or(true)
    {
        return 0;
    }
    inspect_json(out, &["--merge", "--task", "per_protocol"])
        .iter()
        .map(|line| line["packets"].as_u64().unwrap_or(0))
        .sum()
}

/// Runs `good(5) + broken + good(7)` and checks the outcome of each file.
#[track_caller]
fn check_between_good_files(
    broken_name: &str,
    broken: &[u8],
    packets_before_damage: u64,
    message: &[&str],
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = write(dir.path(), "first.pcap", &good_pcap(5, 1));
    let damaged = write(dir.path(), broken_name, broken);
    let last = write(dir.path(), "last.pcap", &good_pcap(7, 2));
    let out = dir.path().join("out");
    let run = analyze(&[&first, &damaged, &last], &out, &[]);
    assert_file_failed(&run, 1, broken_name, message);
    assert_eq!(
        run.summary["files"][1]["packets"], packets_before_damage,
        "{}",
        run.summary
    );
    assert_eq!(run.summary["files"][0]["error"], serde_json::Value::Null);
    assert_eq!(run.summary["files"][2]["error"], serde_json::Value::Null);
    assert_eq!(written_packets(&out), 5 + packets_before_damage + 7);
}

#[track_caller]
fn assert_file_failed(run: &Run, index: usize, name: &str, message: &[&str]) {
    assert_eq!(run.status, 1, "{}", run.stderr);
    let error = run.summary["files"][index]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains(name),
        "error does not name the file: {error}"
    );
    for part in message {
        assert!(error.contains(part), "error lacks {part:?}: {error}");
    }
    assert!(
        run.stderr.contains(name),
        "stderr does not name the file: {}",
        run.stderr
    );
}

#[test]
fn an_empty_file_is_reported_and_the_others_are_counted() {
    check_between_good_files("empty.pcap", b"", 0, &["empty file"]);
}

#[test]
fn a_file_with_only_the_global_header_is_zero_packets_and_no_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let header = write(
        dir.path(),
        "header.pcap",
        &PcapWriter::new(1, true, Endian::Big).finish(),
    );
    let run = analyze(&[&header], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["packets_read"], 0);
    assert_eq!(run.summary["windows"], 0);
}

#[test]
fn bad_magic_is_reported_with_the_first_bytes() {
    check_between_good_files(
        "text.pcap",
        b"GET / HTTP/1.1\r\n\r\n",
        0,
        &["not a pcap or pcapng file", "47 45 54 20"],
    );
}

#[test]
fn an_unknown_pcap_version_is_reported() {
    let mut bytes = good_pcap(3, 3);
    bytes[4] = 3; // major version 3, little-endian
    check_between_good_files("v3.pcap", &bytes, 0, &["version 3.4"]);
}

#[test]
fn a_record_longer_than_256_kib_is_refused_with_its_number_and_offset() {
    let mut bytes = good_pcap(4, 4);
    let header_len = 24;
    let first_len = u32::from_le_bytes(
        bytes[header_len + 8..header_len + 12]
            .try_into()
            .expect("4 bytes"),
    );
    let second = header_len + 16 + first_len as usize;
    bytes[second + 8..second + 12].copy_from_slice(&(300_000u32).to_le_bytes());
    check_between_good_files(
        "huge.pcap",
        &bytes,
        1,
        &["packet #2", &format!("byte offset {second}"), "300000"],
    );
}

#[test]
fn a_record_cut_in_its_header_counts_the_packets_before_it() {
    let bytes = good_pcap(6, 5);
    let mut cut = bytes.clone();
    // Drop the last record's data and half its 16-byte header.
    let last_len = {
        let mut offset = 24;
        let mut last = 0;
        while offset < bytes.len() {
            last = offset;
            let caplen =
                u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().expect("4 bytes"));
            offset += 16 + caplen as usize;
        }
        bytes.len() - last
    };
    cut.truncate(bytes.len() - last_len + 8);
    check_between_good_files("cut-header.pcap", &cut, 5, &["cut short", "packet #6"]);
}

#[test]
fn a_record_cut_in_its_data_counts_the_packets_before_it() {
    let bytes = good_pcap(6, 6);
    check_between_good_files(
        "cut-data.pcap",
        &bytes[..bytes.len() - 3],
        5,
        &["cut short", "packet #6", "byte offset"],
    );
}

#[test]
fn a_pcapng_block_with_a_bad_length_is_reported_with_its_offset() {
    let mut writer = PcapngWriter::new(Endian::Little);
    let interface = writer.interface(Interface::new(1));
    for spec in mixed_packets(3, START, 1_000, 7) {
        let frame = ethernet_frame(&spec, 10);
        writer.packet(interface, spec.timestamp_ns, &frame, frame.len() as u32);
    }
    let damaged_at = writer.position();
    let frame = ethernet_frame(&mixed_packets(1, START, 1, 8)[0], 10);
    writer.packet(interface, START, &frame, frame.len() as u32);
    let mut bytes = writer.finish();
    let at = damaged_at as usize;
    bytes[at + 4..at + 8].copy_from_slice(&13u32.to_le_bytes()); // not a multiple of 4, too short
    check_between_good_files(
        "bad-block.pcapng",
        &bytes,
        3,
        &[&format!("byte offset {damaged_at}")],
    );
}

#[test]
fn a_pcapng_section_with_an_unsupported_version_stops_that_file() {
    let mut writer = PcapngWriter::new(Endian::Little);
    let interface = writer.interface(Interface::new(1));
    let frame = ethernet_frame(&mixed_packets(1, START, 1, 9)[0], 10);
    writer.packet(interface, START, &frame, frame.len() as u32);
    writer.section(2, 0);
    let interface = writer.interface(Interface::new(1));
    writer.packet(interface, START, &frame, frame.len() as u32);
    check_between_good_files(
        "v2-section.pcapng",
        &writer.finish(),
        1,
        &["unsupported version 2.0", "byte offset"],
    );
}

#[test]
fn zero_length_packets_are_counted_as_malformed_skips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut writer = PcapWriter::new(1, false, Endian::Little);
    writer.packet(START, &[], 0);
    writer.packet(START, &[], 60);
    let frame = ethernet_frame(&mixed_packets(1, START, 1, 10)[0], 10);
    writer.packet(START, &frame, frame.len() as u32);
    let path = write(dir.path(), "zero.pcap", &writer.finish());
    let run = analyze(&[&path], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["packets_read"], 3);
    assert_eq!(run.summary["malformed"], 2);
    assert_eq!(run.summary["packets_counted"], 1);
}

#[test]
fn a_directory_given_as_a_file_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sub = dir.path().join("captures");
    std::fs::create_dir(&sub).expect("dir");
    let good = write(dir.path(), "good.pcap", &good_pcap(4, 11));
    let run = analyze(&[&sub, &good], &dir.path().join("out"), &[]);
    assert_file_failed(&run, 0, "captures", &["a directory"]);
    assert_eq!(written_packets(&dir.path().join("out")), 4);
}

#[test]
fn a_file_that_cannot_be_read_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = write(dir.path(), "good.pcap", &good_pcap(4, 13));
    let missing = dir.path().join("gone.pcap");
    let run = analyze(&[&missing, &good], &dir.path().join("out"), &[]);
    assert_file_failed(&run, 0, "gone.pcap", &["No such file"]);
    assert_eq!(written_packets(&dir.path().join("out")), 4);
}

#[test]
fn strict_stops_at_the_first_damaged_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = write(dir.path(), "first.pcap", &good_pcap(5, 14));
    let bytes = good_pcap(6, 15);
    let cut = write(dir.path(), "cut.pcap", &bytes[..bytes.len() - 3]);
    let last = write(dir.path(), "last.pcap", &good_pcap(7, 16));
    let out = dir.path().join("out");
    let run = analyze(&[&first, &cut, &last], &out, &["--strict"]);
    assert_file_failed(&run, 1, "cut.pcap", &["cut short"]);
    assert_eq!(
        run.summary["files"].as_array().map(Vec::len),
        Some(2),
        "the last file is not read"
    );
    assert_eq!(written_packets(&out), 5 + 5);
}

#[test]
fn a_file_without_read_permission_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let locked = write(dir.path(), "locked.pcap", &good_pcap(3, 17));
    let good = write(dir.path(), "good.pcap", &good_pcap(4, 18));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("output dir");
    let chmod = |mode: &str, path: &Path| {
        let status = std::process::Command::new("chmod")
            .arg(mode)
            .arg(path)
            .status();
        assert!(status.expect("chmod runs").success());
    };
    chmod("0000", &locked);
    chmod("0777", dir.path());
    chmod("0777", &out);
    chmod("0644", &good);
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|id| id.stdout.trim_ascii() == b"0");
    // Root reads anything: drop to an unprivileged user where possible.
    let mut command = if root {
        let mut command = std::process::Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_netspectra"));
        command
    } else {
        support::cli::netspectra()
    };
    let output = command
        .args(["analyze", "--json", "--output"])
        .arg(&out)
        .arg(&locked)
        .arg(&good)
        .output();
    let Ok(output) = output else {
        support::skip::skip("cannot run the binary as an unprivileged user (setpriv missing)");
        return;
    };
    let run = Run {
        status: output.status.code().unwrap_or(-1),
        summary: serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_file_failed(&run, 0, "locked.pcap", &["Permission denied"]);
    assert_eq!(run.summary["packets_counted"], 4);
}

#[test]
fn a_record_longer_than_the_snap_length_is_counted_and_reported_with_its_number() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bytes = good_pcap(3, 19);
    bytes[16..20].copy_from_slice(&64u32.to_le_bytes()); // snap length 64 < every frame
    let path = write(dir.path(), "snap64.pcap", &bytes);
    let run = analyze(&[&path], &dir.path().join("out"), &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.summary["packets_counted"], 3);
    assert!(
        run.stderr
            .contains("snap64.pcap: packet #1 at byte offset 24")
            && run.stderr.contains("exceeds the file's snap length 64"),
        "{}",
        run.stderr
    );
}
