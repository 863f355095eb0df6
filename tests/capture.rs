//! `netspectra capture` on the loopback interface: exact counts of traffic
//! sent by real sockets, windows cut by the clock, an idle interface, and
//! the errors an operator meets. Skipped with a message where this process
//! may not capture.

pub mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::cli::{capture_on_loopback, inspect_json, netspectra, running_as_root};
use support::store::{task_dir, window_dirs};
use support::traffic::tables_from_inspect;

/// Ethernet (14) + IPv4 (20) + UDP (8): loopback frames are Ethernet-framed.
const UDP_OVERHEAD: u64 = 42;

/// A running capture whose log has reported that it is capturing.
struct Capture {
    child: Child,
    log: std::thread::JoinHandle<String>,
}

/// Starts `netspectra capture -i lo` with `extra` arguments and waits until it
/// captures; `None` (after printing why) when this process may not capture.
fn start_capture(out: &Path, extra: &[&str]) -> Option<Capture> {
    let mut child = netspectra()
        .args(["capture", "-i", "lo", "--json", "--output"])
        .arg(out)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("capturing on lo") {
                    break;
                }
            }
            _ => {
                let status = child.wait().expect("netspectra exits");
                if seen.contains("permission denied") {
                    eprintln!("SKIP: this process may not capture on lo:\n{seen}");
                    return None;
                }
                panic!("capture did not start ({status}):\n{seen}");
            }
        }
    }
    let log = std::thread::spawn(move || {
        lines.map_while(Result::ok).fold(seen, |mut all, line| {
            all.push_str(&line);
            all.push('\n');
            all
        })
    });
    Some(Capture { child, log })
}

impl Capture {
    /// Sends SIGTERM and returns the JSON summary, the log, and how long the exit took.
    fn terminate(self) -> (serde_json::Value, String, Duration) {
        let asked = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let output = self.child.wait_with_output().expect("netspectra exits");
        let took = asked.elapsed();
        let log = self.log.join().expect("log reader thread");
        assert_eq!(output.status.code(), Some(0), "capture failed:\n{log}");
        let summary = serde_json::from_slice(&output.stdout).expect("the summary is JSON");
        (summary, log, took)
    }
}

/// Sends `count` UDP datagrams of `payload` bytes from `from` to `to`, where a socket listens.
fn send_udp(from: &UdpSocket, to: SocketAddr, count: usize, payload: usize) {
    for _ in 0..count {
        from.send_to(&vec![0x42; payload], to).expect("UDP send");
    }
}

/// Linux's SYN on loopback: TCP header 20 + MSS 4, timestamps (with SACK-permitted) 12
/// or SACK-permitted alone 4, window scale 4: options follow the sysctls.
fn syn_frame_len() -> u64 {
    let sysctl = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
            .map(|text| text.trim() != "0")
            .unwrap_or(true)
    };
    let timestamps = sysctl("tcp_timestamps");
    let options =
        4 + if timestamps {
            12
        } else if sysctl("tcp_sack") {
            4
        } else {
            0
        } + if sysctl("tcp_window_scaling") { 4 } else { 0 };
    14 + 20 + 20 + options
}

fn wait_for_second_boundary() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let into_second = now.subsec_millis();
    // Send 300 ms into a second, far from both window edges.
    let wait = if into_second < 300 {
        300 - into_second
    } else {
        1300 - into_second
    };
    std::thread::sleep(Duration::from_millis(u64::from(wait)));
}

#[test]
fn loopback_udp_and_tcp_from_real_sockets_are_counted_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("UDP receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("pick a free TCP port");
    let closed_port = closed.local_addr().expect("address").port();
    drop(closed);
    let (udp_port, sender_port) = (
        receiver.local_addr().expect("address").port(),
        sender.local_addr().expect("address").port(),
    );
    let filter = format!("host 127.0.0.1 and (udp port {udp_port} or tcp port {closed_port})");
    let Some(capture) = start_capture(&out, &["--filter", &filter]) else {
        return;
    };

    send_udp(&sender, receiver.local_addr().expect("address"), 25, 100);
    send_udp(&sender, receiver.local_addr().expect("address"), 5, 1000);
    for _ in 0..3 {
        // A connection to a closed port: one SYN, one RST+ACK (20-byte header).
        let refused = TcpStream::connect(("127.0.0.1", closed_port));
        assert!(refused.is_err(), "port {closed_port} unexpectedly open");
    }
    std::thread::sleep(Duration::from_millis(500));
    let (summary, log, _) = capture.terminate();

    assert_eq!(summary["packets_read"], 36, "{summary}\n{log}");
    assert_eq!(summary["packets_counted"], 36);
    assert_eq!(summary["interrupted"], true);
    let tables = tables_from_inspect(&inspect_json(&out, &["--merge"]));
    let udp_bytes = 25 * (UDP_OVERHEAD + 100) + 5 * (UDP_OVERHEAD + 1000);
    let rst_len = 14 + 20 + 20;
    assert_eq!(tables["per_protocol"]["17"], (30, udp_bytes));
    assert_eq!(
        tables["per_protocol"]["6"],
        (6, 3 * syn_frame_len() + 3 * rst_len)
    );
    let udp_flow = format!("127.0.0.1|127.0.0.1|{sender_port}|{udp_port}|17");
    assert_eq!(tables["per_five_tuple"][&udp_flow], (30, udp_bytes));
    assert_eq!(
        tables["per_dst_port"][&closed_port.to_string()],
        (3, 3 * syn_frame_len())
    );
    assert_eq!(
        tables["per_src_port"][&closed_port.to_string()],
        (3, 3 * rst_len)
    );
    assert_eq!(tables["per_src_ip"]["127.0.0.1"].0, 36);
}

#[test]
fn traffic_over_three_one_second_windows_lands_in_each_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("UDP receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    let to = receiver.local_addr().expect("address");
    let filter = format!("udp port {}", to.port());
    let Some(capture) = start_capture(&out, &["--filter", &filter, "--snapshot-interval", "1s"])
    else {
        return;
    };
    let bursts = [3usize, 5, 7];
    for count in bursts {
        wait_for_second_boundary();
        send_udp(&sender, to, count, 64);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (summary, log, _) = capture.terminate();
    assert_eq!(summary["packets_counted"], 15, "{log}");

    let mut counts = Vec::new();
    for window in &window_dirs(&out) {
        let summary_path = task_dir(window, "per_protocol").join("summary.json");
        let text = std::fs::read_to_string(&summary_path).expect("every live window has a summary");
        let window_summary: serde_json::Value =
            serde_json::from_str(&text).expect("summary is JSON");
        assert!(window_summary["pcap_received"].is_u64(), "{text}");
        let packets = window_summary["total_packets"]
            .as_u64()
            .expect("total_packets");
        if packets > 0 {
            counts.push(packets as usize);
        }
    }
    assert_eq!(counts, bursts, "packets per non-empty window");
}

#[test]
fn an_idle_interface_writes_its_windows_on_time_and_stops_within_a_second() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let Some(capture) = start_capture(
        &out,
        &["--filter", "udp port 9", "--snapshot-interval", "1s"],
    ) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(2600));
    let (summary, _, took) = capture.terminate();
    assert_eq!(summary["packets_read"], 0);
    assert!(took < Duration::from_secs(1), "stopping took {took:?}");
    let quiet: Vec<serde_json::Value> = window_dirs(&out)
        .iter()
        .filter_map(|window| {
            std::fs::read_to_string(task_dir(window, "per_src_ip").join("summary.json")).ok()
        })
        .map(|text| serde_json::from_str(&text).expect("summary is JSON"))
        .collect();
    assert!(
        quiet.len() >= 2,
        "at least two windows closed while idle: {quiet:?}"
    );
    assert!(
        quiet
            .iter()
            .all(|window| window["total_packets"] == 0 && window["total_flows"] == 0)
    );
}

#[test]
fn a_missing_interface_is_refused_with_the_list_of_interfaces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = netspectra()
        .args(["capture", "-i", "nosuchif0", "--output"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stderr);
    if text.contains("permission denied") {
        eprintln!("SKIP: no capture privilege");
        return;
    }
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("nosuchif0") && text.contains("lo"), "{text}");
}

#[test]
fn a_filter_libpcap_rejects_is_refused_with_its_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some(run) = capture_on_loopback(&["--filter", "udp prot 53"], dir.path()) else {
        return;
    };
    assert_eq!(run.status, Some(2), "{}", run.log);
    assert!(
        run.log.contains("udp prot 53") && run.log.contains("syntax error"),
        "{}",
        run.log
    );
}

#[test]
fn an_unwritable_output_is_refused_before_capture_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let run =
        capture_on_loopback(&[], &file).expect("refused before any capture privilege matters");
    assert_eq!(run.status, Some(2), "{}", run.log);
    assert!(
        run.log.contains("a-file") && run.log.contains("not writable"),
        "{}",
        run.log
    );
}

#[test]
fn capturing_without_privileges_says_which_capabilities_are_needed() {
    let is_root = running_as_root();
    if !is_root || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIP: needs root and setpriv to run the binary as an unprivileged user");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("output dir");
    Command::new("chmod")
        .args(["0777"])
        .arg(dir.path())
        .arg(&out)
        .status()
        .expect("chmod");
    let output = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_netspectra"))
        .args(["capture", "-i", "lo", "--output"])
        .arg(&out)
        .output()
        .expect("setpriv runs");
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("CAP_NET_RAW") && text.contains("setcap"),
        "{text}"
    );
}

#[test]
fn duration_ends_a_capture_as_planned_not_as_an_interruption() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = ["--filter", "udp port 9", "--duration", "1s", "--json"];
    let Some(run) = capture_on_loopback(&args, dir.path()) else {
        return;
    };
    assert_eq!(run.status, Some(0), "{}", run.log);
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON summary");
    assert_eq!(summary["interrupted"], false, "{summary}");
    assert!(run.log.contains("run time of 1s reached"), "{}", run.log);
}

#[test]
fn a_second_signal_exits_at_once_with_130_and_says_what_is_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let Some(capture) = start_capture(
        &out,
        &["--filter", "udp port 9", "--snapshot-interval", "1s"],
    ) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(2300));
    let pid = capture.child.id().to_string();
    // Two different signals back to back: the first starts the ordered
    // shutdown, the second (while the reader still waits on the interface) ends it.
    for signal in ["-TERM", "-INT"] {
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
    let Capture { child, log } = capture;
    let output = child.wait_with_output().expect("netspectra exits");
    let log = log.join().expect("log reader thread");
    assert_eq!(output.status.code(), Some(130), "{log}");
    assert!(
        log.contains("second signal: exiting now; windows up to"),
        "{log}"
    );
    assert!(log.contains("are stored in files under"), "{log}");
}
