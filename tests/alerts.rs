//! Alert rules end to end: an offline run over a generated capture makes a
//! rule fire, resolve and fire again in event time, posting each change to
//! a webhook receiver the test runs on loopback (which fails the first
//! delivery, so the retry is exercised); bad rules are config errors.

pub mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::capture_writer::{Endian, PcapWriter};
use support::cli::netspectra;
use support::traffic::{PacketSpec, ethernet_frame};

/// 2025-09-09T10:00:00Z, in seconds.
const T0: u64 = 1_757_412_000;

/// A capture of one-second windows holding `counts[i]` UDP packets each.
fn write_windows(path: &Path, counts: &[u64]) {
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    for (second, &count) in counts.iter().enumerate() {
        let spec = PacketSpec {
            src: "10.0.0.1".parse().expect("an address"),
            dst: "10.0.0.2".parse().expect("an address"),
            src_port: 5000,
            dst_port: 53,
            protocol: 17,
            timestamp_ns: (T0 + second as u64) * 1_000_000_000,
            wire_len: 0,
        };
        let frame = ethernet_frame(&spec, 10);
        for _ in 0..count {
            writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
        }
    }
    writer.write_to(path).expect("capture written");
}

/// A webhook receiver on loopback: answers 503 to the first request and
/// 200 to the rest, recording every body it is sent.
fn webhook_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) && line != "\r\n" {
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().expect("a length");
                }
                line.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("the body");
            seen.lock()
                .expect("no panic while recording")
                .push(String::from_utf8_lossy(&body).into_owned());
            let status = if index == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let answer =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (url, bodies)
}

fn config(rules: &str, webhook: &str) -> String {
    format!(
        "aggregator:\n  snapshot_interval: 1s\nalerter:\n  enabled: true\n  check_interval: 0s\n  webhook_url: {webhook}\n  rules:\n{rules}\nsmtp:\n  host: mail.invalid\n  port: 25\n"
    )
}

const BUSY: &str = "    - name: busy\n      task_name: per_protocol\n      metric: total_packets\n      operator: \">\"\n      threshold: 5\n";

#[test]
fn a_rule_fires_resolves_and_fires_again_in_event_time_and_posts_each_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("windows.pcap");
    write_windows(&capture, &[1, 10, 10, 1, 1, 10]);
    let (url, bodies) = webhook_receiver();
    let config_path = dir.path().join("alerts.yaml");
    std::fs::write(&config_path, config(BUSY, &url)).expect("config written");
    let output = netspectra()
        .args(["analyze", "--no-store", "-c"])
        .arg(&config_path)
        .arg(&capture)
        .env("RUST_LOG", "info")
        .output()
        .expect("netspectra runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("alert busy firing: task per_protocol measured 10 in window 2025-09-09T10:00:01.000000000Z (total_packets > 5)"), "{log}");
    assert!(log.contains("smtp: accepted and not used"), "{log}");
    assert!(
        log.contains("retrying in"),
        "the first delivery failed and was retried:\n{log}"
    );

    let posted: Vec<Value> = bodies
        .lock()
        .expect("no panic while recording")
        .iter()
        .map(|body| serde_json::from_str(body).expect("the webhook body is JSON"))
        .collect();
    let change = |second: u64, value: f64, state: &str| {
        json!({
            "rule": "busy",
            "task": "per_protocol",
            "window": format!("2025-09-09T10:00:0{second}.000000000Z"),
            "value": value,
            "state": state,
        })
    };
    let firing = change(1, 10.0, "firing");
    assert_eq!(
        posted,
        vec![
            firing.clone(),
            firing,
            change(3, 1.0, "resolved"),
            change(5, 10.0, "firing")
        ],
        "{log}"
    );
}

#[track_caller]
fn refused(rules: &str, want: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("bad.yaml");
    std::fs::write(&config_path, config(rules, "http://127.0.0.1:9/hook")).expect("config written");
    let capture = dir.path().join("one.pcap");
    write_windows(&capture, &[1]);
    let output = netspectra()
        .args(["analyze", "--no-store", "-c"])
        .arg(&config_path)
        .arg(&capture)
        .output()
        .expect("netspectra runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(want), "{want:?} not in:\n{stderr}");
}

#[test]
fn an_unknown_metric_operator_or_task_is_a_config_error_naming_the_key() {
    refused(
        &BUSY.replace("total_packets", "total_packet"),
        "alerter.rules[0].metric: unknown variant `total_packet`",
    );
    refused(
        &BUSY.replace("\">\"", "\"!=\""),
        "alerter.rules[0].operator: unknown operator \"!=\" (want >, <, =, >= or <=)",
    );
    refused(
        &BUSY.replace("per_protocol", "per_planet"),
        "alerter.rules[0].task_name: no task \"per_planet\"",
    );
    refused(
        &BUSY.replace("total_packets", "heavy_hitter_count"),
        "alerter.rules[0].metric: task \"per_protocol\" is of kind exact and has no metric heavy_hitter_count",
    );
    refused(
        &format!("{BUSY}{BUSY}"),
        "alerter.rules[1].name: duplicate rule name \"busy\"",
    );
}
