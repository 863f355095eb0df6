//! The command line as a user meets it: help, and errors that name what is
//! wrong with the documented exit status.

pub mod support;

use support::capture_writer::{Endian, PcapWriter};
use support::cli::{analyze, inspect_json, netspectra};
use support::traffic::{ethernet_frame, mixed_packets};

const START: u64 = 1_757_412_000_000_000_000;

#[test]
fn help_teaches_the_subcommands_and_options() {
    let output = netspectra().arg("--help").output().expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("analyze") && text.contains("inspect"),
        "{text}"
    );
    let output = netspectra()
        .args(["analyze", "--help"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--config",
        "--output",
        "--workers",
        "--snapshot-interval",
        "--json",
        "Example",
    ] {
        assert!(
            text.contains(option),
            "analyze --help lacks {option}:\n{text}"
        );
    }
}

#[test]
fn a_bad_config_is_refused_with_its_key_line_and_status_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bad.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  exact_tasks:\n    - name: x\n      key_fields: [SrcMac]\n",
    )
    .expect("config written");
    let capture = dir.path().join("x.pcap");
    PcapWriter::new(1, false, Endian::Little)
        .write_to(&capture)
        .expect("capture written");
    let output = netspectra()
        .args(["analyze", "--config"])
        .arg(&config)
        .arg(&capture)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("bad.yaml"), "{text}");
    assert!(text.contains("key_fields"), "{text}");
    assert!(text.contains("SrcMac") && text.contains("line 4"), "{text}");
}

#[test]
fn a_missing_file_is_named_with_status_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = analyze(
        &[&dir.path().join("nope.pcap")],
        &dir.path().join("out"),
        &[],
    );
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("nope.pcap"), "{}", run.stderr);
}

#[test]
fn an_unknown_link_type_is_refused_before_anything_is_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.pcap");
    let mut writer = PcapWriter::new(1, false, Endian::Little);
    let spec = &mixed_packets(1, START, 1, 1)[0];
    let frame = ethernet_frame(spec, 10);
    writer.packet(START, &frame, frame.len() as u32);
    writer.write_to(&good).expect("capture written");
    let odd = dir.path().join("usb.pcap");
    let mut writer = PcapWriter::new(189, false, Endian::Little);
    writer.packet(START, &[0; 48], 48);
    writer.write_to(&odd).expect("capture written");
    let out = dir.path().join("out");
    let run = analyze(&[&good, &odd], &out, &[]);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains("usb.pcap") && run.stderr.contains("189"),
        "{}",
        run.stderr
    );
    assert!(
        !out.exists()
            || std::fs::read_dir(&out)
                .map(|mut dir| dir.next().is_none())
                .unwrap_or(true)
    );
}

#[test]
fn a_truncated_file_counts_what_came_before_the_break_and_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("cut.pcap");
    let mut writer = PcapWriter::new(1, false, Endian::Little);
    let specs = mixed_packets(10, START, 1_000, 4);
    for spec in &specs {
        let frame = ethernet_frame(spec, 20);
        writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
    }
    let bytes = writer.finish();
    std::fs::write(&capture, &bytes[..bytes.len() - 5]).expect("capture written");
    let out = dir.path().join("out");
    let run = analyze(&[&capture], &out, &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cut.pcap"), "{}", run.stderr);
    assert!(
        run.stderr.contains("9 packet"),
        "names the packets read: {}",
        run.stderr
    );
    assert_eq!(run.summary["packets_read"], 9);
    let lines = inspect_json(&out, &["--merge", "--task", "per_protocol"]);
    let packets: u64 = lines
        .iter()
        .map(|line| line["packets"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(packets, 9);
}

#[test]
fn a_zero_snapshot_interval_is_a_usage_error() {
    let output = netspectra()
        .args(["analyze", "--snapshot-interval", "0s", "x.pcap"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("snapshot-interval"));
}
