//! The HTTP API against stores with known content: every endpoint's
//! answer, bad parameters, bad tokens, `analyze --listen` stopping with
//! the run, and a burst of 1,000 requests from 50 clients during a live
//! capture that loses no packet.

pub mod support;

use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use support::capture_writer::{Endian, PcapWriter};
use support::cli::{analyze, inspect_json, netspectra};
use support::http::{Listening, capture_listening, get, post, sample, start_listening};
use support::measure::peak_rss_kib_of;
use support::traffic::{PacketSpec, ethernet_frame};

/// 2025-09-09T10:00:00Z, in seconds.
const T0: u64 = 1_757_412_000;
const SECOND: u64 = 1_000_000_000;
/// Ethernet + IPv4 + UDP headers and a 10-byte payload; TCP with 20 bytes.
const UDP_FRAME: u64 = 14 + 20 + 8 + 10;
const TCP_FRAME: u64 = 14 + 20 + 20 + 20;

fn spec(src: &str, src_port: u16, dst_port: u16, protocol: u8, at_s: u64) -> PacketSpec {
    PacketSpec {
        src: src.parse::<IpAddr>().expect("an address"),
        dst: "10.0.0.9".parse().expect("an address"),
        src_port,
        dst_port,
        protocol,
        timestamp_ns: at_s * SECOND,
        wire_len: 0,
    }
}

/// A root of two one-minute windows: in the first, 5 UDP packets from
/// 10.0.0.1:1000 to 10.0.0.9:53 and 3 TCP packets from 10.0.0.2:2000 to
/// port 80; in the second, 2 more of the UDP flow.
fn known_root(dir: &Path) -> PathBuf {
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    let packets = [
        (spec("10.0.0.1", 1000, 53, 17, T0), 10, 5),
        (spec("10.0.0.2", 2000, 80, 6, T0 + 1), 20, 3),
        (spec("10.0.0.1", 1000, 53, 17, T0 + 61), 10, 2),
    ];
    for (spec, payload, count) in packets {
        let frame = ethernet_frame(&spec, payload);
        for _ in 0..count {
            writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
        }
    }
    let capture = dir.join("known.pcap");
    writer.write_to(&capture).expect("capture written");
    let root = dir.join("root");
    let run = analyze(&[&capture], &root, &["--snapshot-interval", "1m"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    root
}

/// `netspectra serve ROOT --listen 127.0.0.1:0 <extra>`.
fn serve(root: &Path, extra: &[&str]) -> Listening {
    let mut command = netspectra();
    command
        .arg("serve")
        .arg(root)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra);
    start_listening(command, &[]).expect("serve needs no capture privilege")
}

#[track_caller]
fn get_json(url: &str) -> Value {
    let (status, body) = get(url, None);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|error| panic!("GET {url}: not JSON ({error}): {body}"))
}

#[track_caller]
fn assert_error(url: &str, want_status: u16, want_start: &str) {
    let (status, body) = get(url, None);
    assert_eq!(status, want_status, "GET {url}: {body}");
    let answer: Value = serde_json::from_str(&body).expect("errors are JSON");
    let error = answer["error"].as_str().expect("an error text");
    assert!(
        error.starts_with(want_start),
        "GET {url}: {error:?} does not start with {want_start:?}"
    );
}

#[test]
fn every_endpoint_answers_from_a_root_with_known_content() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = known_root(dir.path());
    let server = serve(&root, &[]);
    let base = &server.base;

    assert_eq!(
        get_json(&format!("{base}/healthz")),
        json!({"status": "ok"})
    );
    let tasks = get_json(&format!("{base}/api/v1/tasks"));
    assert!(
        tasks
            .as_array()
            .expect("a list")
            .contains(&json!({"name": "per_src_ip", "kind": "exact", "fields": ["src_ip"]})),
        "{tasks}"
    );

    let windows = get_json(&format!("{base}/api/v1/windows"));
    assert_eq!(windows.as_array().map(Vec::len), Some(2), "{windows}");
    assert_eq!(windows[0]["window_start"], "2025-09-09T10:00:00.000000000Z");
    assert_eq!(windows[0]["window_end"], "2025-09-09T10:01:00.000000000Z");
    let per_src = |window: &Value| {
        window["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|task| task["task"] == "per_src_ip"))
            .cloned()
            .expect("per_src_ip in every window")
    };
    assert_eq!(
        per_src(&windows[0]),
        json!({"task": "per_src_ip", "flows": 2, "packets": 8, "bytes": 5 * UDP_FRAME + 3 * TCP_FRAME})
    );
    assert_eq!(per_src(&windows[1])["packets"], 2);
    let later = get_json(&format!("{base}/api/v1/windows?from={}", T0 + 60));
    assert_eq!(later.as_array().map(Vec::len), Some(1), "{later}");

    let top = get_json(&format!("{base}/api/v1/top?task=per_src_ip"));
    let inspect = inspect_json(&root, &["--task", "per_src_ip", "--merge"]);
    assert_eq!(
        top,
        Value::from(inspect),
        "top answers what inspect --format json --merge prints"
    );
    assert_eq!(top[0]["src_ip"], "10.0.0.1");
    assert_eq!(top[0]["packets"], 7);
    let by_bytes = get_json(&format!(
        "{base}/api/v1/top?task=per_dst_port&sort=bytes&limit=1"
    ));
    assert_eq!(
        by_bytes,
        json!([{
            "task": "per_dst_port", "dst_port": 53, "packets": 7, "bytes": 7 * UDP_FRAME,
            "flows": 2, "duration": 61, "rate": 7 * UDP_FRAME * 8 / 61,
            "first_seen": "2025-09-09T10:00:00.000000000Z", "last_seen": "2025-09-09T10:01:01.000000000Z",
            "other": false
        }])
    );
    let second = get_json(&format!(
        "{base}/api/v1/top?task=per_src_ip&from=2025-09-09T10:01:00Z&to={}",
        T0 + 120
    ));
    assert_eq!(second[0]["packets"], 2, "{second}");
    assert_eq!(second.as_array().map(Vec::len), Some(1), "{second}");

    let flow = get_json(&format!(
        "{base}/api/v1/flow?task=per_five_tuple&src_ip=10.0.0.1&dst_ip=10.0.0.9&src_port=1000&dst_port=53&protocol=17"
    ));
    assert_eq!(flow["packets"], 7, "{flow}");
    assert_eq!(flow["bytes"], 7 * UDP_FRAME);
    assert_eq!(flow["first_seen"], "2025-09-09T10:00:00.000000000Z");
    assert_eq!(flow["last_seen"], "2025-09-09T10:01:01.000000000Z");
    assert_error(
        &format!("{base}/api/v1/flow?task=per_src_ip&src_ip=10.9.9.9"),
        404,
        "task per_src_ip: no such key",
    );

    let (status, body) = post(&format!("{base}/search"), "{\"target\": \"src\"}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!(["per_src_ip", "per_src_port"])
    );
    let request = json!({
        "range": {"from": "2025-09-09T10:00:00.000Z", "to": "2025-09-09T10:05:00.000Z"},
        "targets": [{"target": "per_src_ip", "refId": "A"}],
    });
    let (status, body) = post(&format!("{base}/query"), &request.to_string());
    assert_eq!(status, 200, "{body}");
    let t0_ms = T0 * 1000;
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        json!([{"target": "per_src_ip", "datapoints": [[8, t0_ms], [2, t0_ms + 60_000]]}])
    );
    let (_, metrics) = get(&format!("{base}/metrics"), None);
    assert_eq!(
        sample(&metrics, "netspectra_build_info{version=\"0.1.0\"}"),
        Some(1.0),
        "{metrics}"
    );
    server.terminate();
}

#[test]
fn bad_parameters_are_a_400_naming_them_and_unknown_things_a_404() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = known_root(dir.path());
    let server = serve(&root, &[]);
    let base = &server.base;
    let top = format!("{base}/api/v1/top");
    for (query, start) in [
        ("", "task: required"),
        (
            "?task=per_src_ip&limit=0",
            "limit: \"0\" is not a whole number from 1 to 10000",
        ),
        ("?task=per_src_ip&limit=10001", "limit: \"10001\""),
        ("?task=per_src_ip&limit=ten", "limit: \"ten\""),
        (
            "?task=per_src_ip&sort=spread",
            "sort: unknown sort \"spread\"",
        ),
        (
            "?task=per_src_ip&from=yesterday",
            "from: \"yesterday\" is not a time",
        ),
        ("?task=per_src_ip&to=2025-13-01T00:00:00Z", "to: "),
        ("?task=per_src_ip&from=20&to=10", "from: later than to"),
        ("?task=per_src_ip&colour=red", "colour: unknown parameter"),
    ] {
        assert_error(&format!("{top}{query}"), 400, start);
    }
    assert_error(
        &format!("{top}?task=nope"),
        404,
        "task: no task \"nope\"; tasks: per_dst_ip",
    );
    let flow = format!("{base}/api/v1/flow?task=per_src_ip");
    assert_error(
        &format!("{flow}&src_ip=10.0.0.1&dst_port=53"),
        400,
        "dst_port: not a key field of task per_src_ip",
    );
    assert_error(&flow, 400, "src_ip: required");
    assert_error(
        &format!("{flow}&src_ip=10.0.0.300"),
        400,
        "src_ip: \"10.0.0.300\" is not an IP address",
    );
    assert_error(&format!("{base}/api/v1/windows?from=x"), 400, "from: ");
    assert_error(&format!("{base}/nowhere"), 404, "no such endpoint");
    for (body, start) in [
        ("{", "body: not JSON"),
        ("{}", "targets: required"),
        ("{\"targets\": [{}]}", "targets[0].target: required"),
        (
            "{\"targets\": [{\"target\": \"x\"}]}",
            "task: no task \"x\"",
        ),
        (
            "{\"targets\": [{\"target\": \"per_src_ip\"}], \"range\": {\"from\": \"soon\"}}",
            "range.from: ",
        ),
    ] {
        let (status, answer) = post(&format!("{base}/query"), body);
        let error: Value = serde_json::from_str(&answer).expect("JSON");
        let text = error["error"].as_str().unwrap_or_default();
        assert!(status == 400 || status == 404, "{body}: {status} {answer}");
        assert!(text.starts_with(start), "{body}: {text:?}");
    }
    server.terminate();
}

#[test]
fn with_a_token_every_endpoint_but_healthz_needs_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = known_root(dir.path());
    let server = serve(&root, &["--api-token", "s3cret"]);
    let base = &server.base;
    assert_eq!(get(&format!("{base}/healthz"), None).0, 200);
    for path in ["/metrics", "/api/v1/tasks", "/api/v1/top?task=per_src_ip"] {
        let url = format!("{base}{path}");
        for token in [None, Some("wrong"), Some("s3cret2"), Some("")] {
            let (status, body) = get(&url, token);
            assert_eq!(status, 401, "{path} with {token:?}: {body}");
            assert!(
                body.contains(
                    "\"error\":\"a valid `Authorization: Bearer <token>` header is required\""
                ),
                "{body}"
            );
        }
        assert_eq!(get(&url, Some("s3cret")).0, 200, "{path}");
    }
    server.terminate();
}

#[test]
fn listening_beyond_loopback_without_a_token_is_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = known_root(dir.path());
    let mut command = netspectra();
    command
        .arg("serve")
        .arg(&root)
        .args(["--listen", "0.0.0.0:0"]);
    let server = start_listening(command, &[]).expect("serve needs no capture privilege");
    let (_, _, log) = server.terminate();
    assert!(
        log.contains("reachable from other hosts, without a token; set --api-token or api.token"),
        "{log}"
    );
    let mut command = netspectra();
    command
        .arg("serve")
        .arg(&root)
        .args(["--listen", "0.0.0.0:0", "--api-token", "s3cret"]);
    let server = start_listening(command, &[]).expect("serve needs no capture privilege");
    let (status, _, log) = server.terminate();
    assert_eq!(status, Some(0), "{log}");
    assert!(!log.contains("without a token"), "{log}");
}

#[test]
fn analyze_with_listen_serves_while_running_and_stops_with_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = known_root(dir.path());
    let capture = dir.path().join("known.pcap");
    let mut command = netspectra();
    command
        .args([
            "analyze",
            "--snapshot-interval",
            "1m",
            "--listen",
            "127.0.0.1:0",
            "-o",
        ])
        .arg(dir.path().join("again"))
        .arg(&capture);
    let run = start_listening(command, &[]).expect("analyze needs no capture privilege");
    let (status, _, log) = run.finish();
    assert_eq!(status, Some(0), "{log}");
    assert!(log.contains("stopping the HTTP server"), "{log}");
    assert!(root.exists());
}

/// A `capture -i lo --listen` of the UDP datagrams sent to `to`, storing
/// windows of the given length under `out`.
struct LoCapture {
    /// Kept for the test's length: the output lives in it.
    _dir: tempfile::TempDir,
    /// Kept bound, so the datagrams have a port to go to.
    _receiver: UdpSocket,
    to: std::net::SocketAddr,
    out: PathBuf,
    capture: Listening,
}

impl LoCapture {
    /// `None` (the test skipped) where this process may not capture on lo.
    fn start(interval: &str) -> Option<LoCapture> {
        let dir = tempfile::tempdir().expect("temp dir");
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("UDP receiver");
        let to = receiver.local_addr().expect("address");
        let out = dir.path().join("out");
        let capture = capture_listening(&out, to.port(), &["--snapshot-interval", interval])?;
        Some(LoCapture {
            _dir: dir,
            _receiver: receiver,
            to,
            out,
            capture,
        })
    }
}

/// Sends UDP datagrams until `stop` is raised; returns how many.
fn send_until(stop: &AtomicBool, to: std::net::SocketAddr) -> u64 {
    let sender = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    let mut sent = 0;
    while !stop.load(Ordering::SeqCst) {
        sender.send_to(&[0x17; 32], to).expect("UDP send");
        sent += 1;
        if sent % 50 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    sent
}

#[test]
fn a_burst_of_1000_requests_from_50_clients_during_a_capture_fails_none_and_drops_nothing() {
    let Some(lo) = LoCapture::start("1s") else {
        return;
    };
    let (to, capture) = (lo.to, lo.capture);
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || send_until(&stop, to))
    };
    let base = capture.base.clone();
    let clients: Vec<_> = (0..50)
        .map(|client| {
            let base = base.clone();
            std::thread::spawn(move || {
                let paths = [
                    "/metrics",
                    "/healthz",
                    "/api/v1/tasks",
                    "/api/v1/windows",
                    "/api/v1/top?task=per_src_ip",
                ];
                (0..20)
                    .map(|request| {
                        let path = paths[(client + request) % paths.len()];
                        let (status, body) = get(&format!("{base}{path}"), None);
                        (path, status, body)
                    })
                    .filter(|(_, status, _)| *status != 200)
                    .map(|(path, status, body)| format!("{path}: {status} {body}"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|client| client.join().expect("client thread"))
        .collect();
    stop.store(true, Ordering::SeqCst);
    let sent = traffic.join().expect("traffic thread");
    capture.wait_until_read(sent);
    let peak_kib = peak_rss_kib_of(&capture.child.id().to_string());
    let (status, stdout, log) = capture.terminate();
    assert!(
        failures.is_empty(),
        "{} of 1000 requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(status, Some(0), "{log}");
    let summary: Value = serde_json::from_str(&stdout).expect("the summary is JSON");
    assert_eq!(summary["packets_counted"], sent, "{summary}");
    assert_eq!(summary["pcap_dropped"], 0, "{summary}");
    assert!(
        peak_kib > 0 && peak_kib < 512 * 1024,
        "peak RSS {peak_kib} KiB"
    );
}

#[test]
fn heavy_hitters_answers_a_sketch_task_merged_over_windows_and_refuses_other_tasks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("sketch.yaml");
    std::fs::write(
        &config,
        "aggregator:\n  sketch_tasks:\n    - {name: hh, skt_type: 0, flow_fields: [SrcIP], \
         width: 256, depth: 2, count_threshold: 2, size_threshold: 1000000}\n",
    )
    .expect("config written");
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    for (spec, count) in [
        (spec("10.0.0.1", 1000, 53, 17, T0), 5),
        (spec("10.0.0.2", 2000, 80, 6, T0 + 1), 1),
        (spec("10.0.0.1", 1000, 53, 17, T0 + 61), 2),
    ] {
        let frame = ethernet_frame(&spec, 10);
        for _ in 0..count {
            writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
        }
    }
    let capture = dir.path().join("hh.pcap");
    writer.write_to(&capture).expect("capture written");
    let root = dir.path().join("root");
    let config = config.to_str().expect("UTF-8 path");
    let run = analyze(
        &[&capture],
        &root,
        &["--snapshot-interval", "1m", "--config", config],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let server = serve(&root, &[]);
    let base = &server.base;
    let rows = get_json(&format!("{base}/api/v1/heavy-hitters?task=hh&limit=5"));
    let rows = rows.as_array().expect("a list");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["src_ip"], "10.0.0.1");
    assert_eq!(rows[0]["packets"], 7, "both windows' sketches merged");
    assert_eq!(rows[0]["estimated"], true);
    assert_error(
        &format!("{base}/api/v1/heavy-hitters?task=per_src_ip"),
        400,
        "task: \"per_src_ip\" is of kind exact",
    );
}

/// Sum of `packets` over the rows of a `top` answer.
fn packets_in(rows: &Value) -> u64 {
    rows.as_array()
        .expect("top answers an array")
        .iter()
        .map(|row| row["packets"].as_u64().expect("packets"))
        .sum()
}

#[test]
fn top_and_flow_include_the_open_window_of_a_running_capture() {
    let Some(lo) = LoCapture::start("1h") else {
        return;
    };
    let (to, out, capture) = (lo.to, lo.out.clone(), lo.capture);
    let busy = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    let quiet = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    for _ in 0..200 {
        busy.send_to(&[1; 20], to).expect("UDP send");
    }
    for _ in 0..70 {
        quiet.send_to(&[2; 20], to).expect("UDP send");
    }
    capture.wait_until_read(270);
    let top = get_json(&format!(
        "{}/api/v1/top?task=per_five_tuple&limit=10",
        capture.base
    ));
    let quiet_port = quiet.local_addr().expect("address").port();
    let flow = get_json(&format!(
        "{}/api/v1/flow?task=per_five_tuple&src_ip=127.0.0.1&dst_ip=127.0.0.1&src_port={quiet_port}&dst_port={}&protocol=17",
        capture.base,
        to.port()
    ));
    let (status, _, log) = capture.terminate();
    assert_eq!(status, Some(0), "{log}");
    let rows = top.as_array().expect("an array");
    let ports_and_packets: Vec<(u64, u64)> = rows
        .iter()
        .map(|row| {
            (
                row["src_port"].as_u64().unwrap(),
                row["packets"].as_u64().unwrap(),
            )
        })
        .collect();
    let busy_port = u64::from(busy.local_addr().expect("address").port());
    assert_eq!(
        ports_and_packets,
        [(busy_port, 200), (u64::from(quiet_port), 70)],
        "{top}"
    );
    assert_eq!(flow["packets"], 70, "{flow}");
    let stored = inspect_json(&out, &["--task", "per_five_tuple", "--merge"]);
    let stored_packets: u64 = stored
        .iter()
        .map(|row| row["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(
        stored_packets, 270,
        "the window closed at exit holds what was open"
    );
}

#[test]
fn while_windows_close_top_never_counts_a_packet_twice_and_catches_up_with_every_packet() {
    let Some(lo) = LoCapture::start("1s") else {
        return;
    };
    let (to, capture) = (lo.to, lo.capture);
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sender = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    let url = format!("{}/api/v1/top?task=per_src_ip", capture.base);
    let started = std::time::Instant::now();
    let mut answers = 0;
    while started.elapsed() < std::time::Duration::from_secs(4) {
        for _ in 0..20 {
            sender.send_to(&[3; 16], to).expect("UDP send");
            sent.fetch_add(1, Ordering::SeqCst);
        }
        let shown = packets_in(&get_json(&url));
        let sent_by_now = sent.load(Ordering::SeqCst);
        assert!(
            shown <= sent_by_now,
            "top shows {shown} packets after {sent_by_now} were sent: some counted twice"
        );
        answers += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let total = sent.load(Ordering::SeqCst);
    capture.wait_until_read(total);
    let caught_up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        packets_in(&get_json(&url)) == total
    });
    let (status, _, log) = capture.terminate();
    assert_eq!(status, Some(0), "{log}");
    assert!(answers > 20, "only {answers} answers in 4 s");
    assert!(caught_up, "top never showed all {total} packets sent");
}
