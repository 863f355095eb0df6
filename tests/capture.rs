//! `netspectra capture` on the loopback interface: exact counts of traffic
//! sent by real sockets, windows cut by the clock, an idle interface, and
//! the errors an operator meets. Skipped with a message where this process
//! may not capture.

pub mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::cli::{capture_on_loopback, inspect_json, netspectra, running_as_root};
use support::logs::{LogFollower, follow};
use support::skip::skip;
use support::store::{task_dir, window_dirs};
use support::traffic::tables_from_inspect;

/// Ethernet (14) + IPv4 (20) + UDP (8): loopback frames are Ethernet-framed.
const UDP_OVERHEAD: u64 = 42;

/// A running capture whose log has reported that it is capturing.
struct Capture {
    child: Child,
    /// Every log line after start-up, as the capture writes it.
    log: LogFollower,
}

/// The log filter of a started capture: lifecycle lines, and the shards'
/// per-batch lines that tell how many packets have been handed over.
const CAPTURE_LOG: &str = "info,netspectra::actors::shard=debug";

/// Starts `netspectra capture -i lo` with `extra` arguments and waits until it
/// captures; `None` (after printing why) when this process may not capture.
fn start_capture(out: &Path, extra: &[&str]) -> Option<Capture> {
    start_capture_on("lo", out, extra)
}

/// [`start_capture`] on any interface.
fn start_capture_on(interface: &str, out: &Path, extra: &[&str]) -> Option<Capture> {
    let mut child = netspectra()
        .args(["capture", "-i", interface, "--json", "--output"])
        .arg(out)
        .args(extra)
        .env("RUST_LOG", CAPTURE_LOG)
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
                if line.contains(&format!("capturing on {interface}")) {
                    break;
                }
            }
            _ => {
                let status = child.wait().expect("netspectra exits");
                if seen.contains("permission denied") {
                    skip(&format!(
                        "this process may not capture on {interface}:\n{seen}"
                    ));
                    return None;
                }
                panic!("capture did not start ({status}):\n{seen}");
            }
        }
    }
    Some(Capture {
        child,
        log: follow(lines, seen),
    })
}

impl Capture {
    /// Waits until the shards have been handed `packets` packets.
    fn wait_until_read(&self, packets: u64) {
        self.log.wait_until_read(packets);
    }

    /// Sends SIGTERM and returns the JSON summary, the log, and how long the exit took.
    fn terminate(self) -> (serde_json::Value, String, Duration) {
        let asked = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.finish(asked)
    }

    /// Waits for the exit (status 0) and returns the summary, the log, and the time since `since`.
    fn finish(self, since: Instant) -> (serde_json::Value, String, Duration) {
        let output = self.child.wait_with_output().expect("netspectra exits");
        let took = since.elapsed();
        let log = self.log.join();
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

/// Waits until 300 ms into a wall-clock second, far from both window edges;
/// returns that second (since the epoch).
fn wait_for_second_boundary() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let into_second = now.subsec_millis();
    let wait = if into_second < 300 {
        300 - into_second
    } else {
        1300 - into_second
    };
    std::thread::sleep(Duration::from_millis(u64::from(wait)));
    unix_second()
}

fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
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
    capture.wait_until_read(36);
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
    let bursts = [3u64, 5, 7];
    // The second each burst was sent in: a burst delayed past its second
    // (a loaded machine) still lands in one window, only a later one.
    let mut want = BTreeMap::new();
    for count in bursts {
        let second = wait_for_second_boundary();
        send_udp(&sender, to, count as usize, 64);
        let after = unix_second();
        assert_eq!(second, after, "a burst of {count} straddled a second");
        want.insert(second, count);
    }
    capture.wait_until_read(15);
    let (summary, log, _) = capture.terminate();
    assert_eq!(summary["packets_counted"], 15, "{log}");

    let mut got = BTreeMap::new();
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
            let start = window_summary["window_start"]
                .as_str()
                .expect("window_start");
            got.insert(start.to_string(), packets);
        }
    }
    let want: BTreeMap<String, u64> = want
        .into_iter()
        .map(|(second, count)| (rfc3339_second(second), count))
        .collect();
    assert_eq!(got, want, "packets per non-empty window");
}

/// `second` since the epoch as `window_start` prints it (UTC, nine digits).
fn rfc3339_second(second: u64) -> String {
    let output = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{second}"),
            "+%Y-%m-%dT%H:%M:%S.000000000Z",
        ])
        .output()
        .expect("date runs");
    String::from_utf8(output.stdout)
        .expect("UTF-8")
        .trim()
        .to_string()
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
        skip("no capture privilege");
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
        skip("needs root and setpriv to run the binary as an unprivileged user");
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
    let Capture { child, log, .. } = capture;
    let output = child.wait_with_output().expect("netspectra exits");
    let log = log.join();
    assert_eq!(output.status.code(), Some(130), "{log}");
    assert!(
        log.contains("second signal: exiting now; windows up to"),
        "{log}"
    );
    assert!(log.contains("are stored in files under"), "{log}");
}

/// UDP datagrams sent from a thread, one every millisecond, until stopped.
struct SteadyTraffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
    port: u16,
}

impl SteadyTraffic {
    fn start() -> SteadyTraffic {
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("UDP receiver");
        let sender = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
        let to = receiver.local_addr().expect("address");
        let (stop, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let thread = {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                let _keep = receiver;
                while !stop.load(Ordering::Relaxed) {
                    send_udp(&sender, to, 1, 32);
                    sent.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        SteadyTraffic {
            stop,
            sent,
            thread,
            port: to.port(),
        }
    }

    /// Stops sending; returns how many datagrams were sent.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sender thread");
        self.sent.load(Ordering::Relaxed)
    }
}

/// A config whose batches never fill (65,536 packets), so the reader hands
/// over packets only when the interface idles or the capture ends: whatever
/// it holds at the stop is the last partial batch.
fn big_batch_config(dir: &Path) -> String {
    config_file(
        dir,
        "big-batches.yaml",
        "aggregator:\n  batch_size: 65536\n  size_of_packet_channel: 65536\n",
    )
}

/// Writes `yaml` to `name` in `dir`; returns the path, for `--config`.
fn config_file(dir: &Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).expect("config written");
    path.to_string_lossy().into_owned()
}

/// Packets read = counted + skipped, and every task's written packets equal
/// the packets counted; returns the packets counted.
#[track_caller]
fn assert_all_read_is_written(summary: &serde_json::Value, out: &Path, log: &str) -> u64 {
    let number = |field: &str| {
        summary[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {summary}"))
    };
    let counted = number("packets_counted");
    assert_eq!(
        number("packets_read"),
        counted + number("non_ip") + number("malformed"),
        "{summary}"
    );
    let written = tables_from_inspect(&inspect_json(out, &["--merge"]));
    for task in ["per_src_ip", "per_protocol", "per_five_tuple"] {
        let packets: u64 = written
            .get(task)
            .map_or(0, |table| table.values().map(|counts| counts.0).sum());
        assert_eq!(
            packets, counted,
            "{task} lost packets at the stop:\n{summary}\n{log}"
        );
    }
    counted
}

#[test]
fn count_ends_a_capture_with_its_last_partial_batch_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let traffic = SteadyTraffic::start();
    let filter = format!("udp port {}", traffic.port);
    let config = big_batch_config(dir.path());
    let started = Instant::now();
    let Some(capture) = start_capture(
        &out,
        &["--config", &config, "--filter", &filter, "--count", "300"],
    ) else {
        traffic.stop();
        return;
    };
    let (summary, log, _) = capture.finish(started);
    traffic.stop();
    assert_eq!(summary["interrupted"], false, "{summary}");
    assert_eq!(summary["packets_read"], 300, "{summary}");
    assert_eq!(assert_all_read_is_written(&summary, &out, &log), 300);
}

#[test]
fn count_is_exact_when_the_ring_holds_more_packets_than_one_read_over_several_windows() {
    // 60,000 frames in chunks of 1,000, 30 ms apart (at least 1.8 s), into
    // the default 32 MiB ring: the reader is handed many blocks' worth at a
    // time, and 1 s windows are cut between packets of one read.
    let Some(veth) = VethPair::create("nsc") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let wanted: u64 = 50_001;
    let wanted_arg = wanted.to_string();
    let args = [
        "--filter",
        "udp port 7777",
        "--snapshot-interval",
        "1s",
        "--count",
        &wanted_arg,
    ];
    let started = Instant::now();
    let Some(capture) = start_capture_on(&veth.local, &out, &args) else {
        return;
    };
    let sent = veth.flood((0..60_000).map(|index| {
        if index % 1_000 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
        udp_frame_from(index % 500, 16)
    }));
    let (summary, log, _) = capture.finish(started);
    assert_eq!(summary["interrupted"], false, "{summary}");
    assert_eq!(summary["packets_read"], wanted, "{sent} sent: {summary}");
    assert_eq!(assert_all_read_is_written(&summary, &out, &log), wanted);
    let windows_with_packets = window_summaries(&out, "per_protocol")
        .iter()
        .filter(|window| {
            window["total_packets"]
                .as_u64()
                .is_some_and(|packets| packets > 0)
        })
        .count();
    assert!(
        windows_with_packets >= 2,
        "{windows_with_packets} windows: {summary}"
    );
}

#[test]
fn duration_ends_a_busy_capture_with_its_last_partial_batch_written() {
    // Traffic keeps arriving until after the stop, so the reader is never
    // idle for 100 ms and holds unsent packets when the run time is up.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let traffic = SteadyTraffic::start();
    let filter = format!("udp port {}", traffic.port);
    let config = big_batch_config(dir.path());
    let started = Instant::now();
    let Some(capture) = start_capture(
        &out,
        &["--config", &config, "--filter", &filter, "--duration", "2s"],
    ) else {
        traffic.stop();
        return;
    };
    let (summary, log, _) = capture.finish(started);
    let sent = traffic.stop();
    assert_eq!(summary["interrupted"], false, "{summary}");
    let counted = assert_all_read_is_written(&summary, &out, &log);
    assert!(
        counted > 100 && counted <= sent,
        "{counted} of {sent}: {summary}"
    );
}

#[test]
fn sigterm_during_busy_capture_writes_the_last_partial_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let traffic = SteadyTraffic::start();
    let filter = format!("udp port {}", traffic.port);
    let config = big_batch_config(dir.path());
    let Some(capture) = start_capture(&out, &["--config", &config, "--filter", &filter]) else {
        traffic.stop();
        return;
    };
    capture.wait_until_read(100);
    let (summary, log, _) = capture.terminate();
    traffic.stop();
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert!(assert_all_read_is_written(&summary, &out, &log) >= 100);
}

/// A veth pair whose peer lives in a network namespace made for one test;
/// both are deleted when dropped. Frames sent on `local` leave towards the
/// namespace, and a capture on `local` sees them as outgoing traffic.
struct VethPair {
    namespace: String,
    local: String,
}

impl VethPair {
    /// `None`, after a skip, where `ip netns` or veth links are not available.
    fn create(tag: &str) -> Option<VethPair> {
        let pid = std::process::id();
        let pair = VethPair {
            namespace: format!("ns-{tag}-{pid}"),
            local: format!("{tag}{pid}"),
        };
        let (namespace, local) = (pair.namespace.clone(), pair.local.clone());
        let peer = format!("{tag}p{pid}");
        let steps: [Vec<&str>; 4] = [
            vec!["netns", "add", &namespace],
            vec![
                "link", "add", &local, "type", "veth", "peer", "name", &peer, "netns", &namespace,
            ],
            vec!["link", "set", &local, "up"],
            vec!["-n", &namespace, "link", "set", &peer, "up"],
        ];
        for step in steps {
            let done = Command::new("ip").args(&step).output();
            if !done.as_ref().is_ok_and(|output| output.status.success()) {
                let why = done.map_or_else(
                    |error| error.to_string(),
                    |output| String::from_utf8_lossy(&output.stderr).into_owned(),
                );
                drop(pair);
                skip(&format!(
                    "cannot make a veth pair in a namespace (ip {}): {why}",
                    step.join(" ")
                ));
                return None;
            }
        }
        Some(pair)
    }

    /// Sends every frame of `frames` on the local end through a packet
    /// socket, as fast as the kernel takes them; returns how many it took.
    fn flood(&self, frames: impl Iterator<Item = Vec<u8>>) -> u64 {
        let name = std::ffi::CString::new(self.local.as_str()).expect("no NUL");
        // SAFETY: plain libc calls on a socket this function owns; the
        // sockaddr_ll is zeroed, then filled, and outlives the bind call.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            assert!(index > 0, "{} has an index", self.local);
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            let mut address: libc::sockaddr_ll = std::mem::zeroed();
            address.sll_family = libc::AF_PACKET as u16;
            address.sll_ifindex = index as i32;
            let bound = libc::bind(
                fd,
                (&raw const address).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
            let mut sent = 0;
            for frame in frames {
                loop {
                    let done = libc::send(fd, frame.as_ptr().cast(), frame.len(), 0);
                    if done >= 0 {
                        sent += 1;
                        break;
                    }
                    // ENOBUFS: the device queue is full; try again.
                    assert_eq!(
                        std::io::Error::last_os_error().raw_os_error(),
                        Some(libc::ENOBUFS),
                        "send on a packet socket"
                    );
                }
            }
            libc::close(fd);
            sent
        }
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.local])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .output();
    }
}

/// An Ethernet + IPv4 + UDP frame from 10.0.0.0 + `source` to 192.168.1.1,
/// port 40000 to 7777, with `payload` bytes.
fn udp_frame_from(source: u32, payload: usize) -> Vec<u8> {
    let spec = support::traffic::PacketSpec {
        src: std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + source)),
        dst: std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 1)),
        src_port: 40_000,
        dst_port: 7_777,
        protocol: 17,
        timestamp_ns: 0,
        wire_len: 0,
    };
    support::traffic::ethernet_frame(&spec, payload)
}

/// The `summary.json`s of `task` in every window under `out`.
fn window_summaries(out: &Path, task: &str) -> Vec<serde_json::Value> {
    window_dirs(out)
        .iter()
        .filter_map(|window| {
            std::fs::read_to_string(task_dir(window, task).join("summary.json")).ok()
        })
        .map(|text| serde_json::from_str(&text).expect("summary is JSON"))
        .collect()
}

#[test]
fn bursts_read_after_pauses_are_all_counted_and_none_dropped() {
    // Bursts of 5,000 frames 25 ms apart into a 4 MiB ring, with the
    // longest pause allowed (1 s): after each read that empties the ring
    // the reader pauses, never long enough for the traffic it has seen to
    // fill a quarter of the ring or a quarter of its blocks to time out.
    let Some(veth) = VethPair::create("nsp") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let config = config_file(dir.path(), "pause.yaml", "capture:\n  read_pause: \"1s\"\n");
    let args = [
        "--config",
        &config,
        "--filter",
        "udp port 7777",
        "--buffer-size",
        "4194304",
        "--snapshot-interval",
        "1s",
    ];
    let Some(capture) = start_capture_on(&veth.local, &out, &args) else {
        return;
    };
    let sent = veth.flood((0..40_000).map(|index| {
        if index % 5_000 == 0 {
            std::thread::sleep(Duration::from_millis(25));
        }
        udp_frame_from(index % 700, 64)
    }));
    capture.wait_until_read(sent);
    let (summary, log, _) = capture.terminate();
    assert_eq!(summary["pcap_dropped"], 0, "{summary}\n{log}");
    assert_eq!(summary["packets_read"], sent, "{summary}\n{log}");
    assert_eq!(assert_all_read_is_written(&summary, &out, &log), sent);
}

#[test]
fn a_flood_into_a_tiny_buffer_reports_its_drops_in_the_windows_and_the_summary() {
    let Some(veth) = VethPair::create("nsd") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let args = [
        "--filter",
        "udp port 7777",
        "--buffer-size",
        "1048576",
        "--snapshot-interval",
        "1s",
        "--workers",
        "1",
    ];
    let Some(capture) = start_capture_on(&veth.local, &out, &args) else {
        return;
    };
    // 300,000 frames of 1,442 bytes: over 400 MB into a 1 MiB ring.
    let sent = veth.flood((0..300_000).map(|index| udp_frame_from(index % 1_000, 1_400)));
    let (summary, log, _) = capture.terminate();
    let dropped = summary["pcap_dropped"].as_u64().expect("pcap_dropped");
    assert!(
        dropped > 0,
        "no drop out of {sent} frames: {summary}\n{log}"
    );
    assert!(summary["pcap_if_dropped"].is_u64(), "{summary}");
    let windows = window_summaries(&out, "per_src_ip");
    let in_windows: Vec<u64> = windows
        .iter()
        .map(|window| {
            window["pcap_dropped"]
                .as_u64()
                .expect("every live window has pcap_dropped")
        })
        .collect();
    assert!(in_windows.iter().any(|&drops| drops > 0), "{in_windows:?}");
    assert!(
        in_windows.iter().sum::<u64>() <= dropped,
        "{in_windows:?} vs {dropped}"
    );
    let read = summary["packets_read"].as_u64().expect("packets_read");
    assert!(
        read + dropped <= sent,
        "{read} read + {dropped} dropped of {sent} sent"
    );
}

#[test]
fn capture_refuses_the_1_000_001st_key_of_a_task_without_max_keys() {
    let Some(veth) = VethPair::create("nsk") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    // No max_keys: the capture default applies.
    let config = config_file(
        dir.path(),
        "one-task.yaml",
        "aggregator:\n  exact_tasks:\n    - name: per_src_ip\n      key_fields: [SrcIP]\n",
    );
    let args = [
        "--config",
        &config,
        "--filter",
        "udp port 7777",
        "--buffer-size",
        "268435456",
        "--snapshot-interval",
        "24h",
        "--workers",
        "1",
    ];
    let Some(capture) = start_capture_on(&veth.local, &out, &args) else {
        return;
    };
    let keys = 1_100_000;
    let template = udp_frame_from(0, 0);
    let sent = veth.flood((0..keys).map(|source: u32| {
        let mut frame = template.clone();
        frame[26..30].copy_from_slice(&(0x0a00_0000 + source).to_be_bytes());
        frame
    }));
    assert_eq!(sent, u64::from(keys));
    capture.wait_until_read(1_000_001);
    let (summary, log, _) = capture.terminate();
    let windows = window_summaries(&out, "per_src_ip");
    let capped = windows
        .iter()
        .find(|window| {
            window["overflow_packets"]
                .as_u64()
                .is_some_and(|packets| packets > 0)
        })
        .unwrap_or_else(|| panic!("no window refused a key: {windows:?}\n{summary}\n{log}"));
    assert_eq!(capped["total_flows"], 1_000_000, "{capped}");
}
