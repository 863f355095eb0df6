//! A real Prometheus scrapes `netspectra capture -i lo --listen`: the count
//! it stores for `netspectra_packets_counted_total` is exactly the number of
//! UDP datagrams the test sent, and `promtool check metrics` accepts the
//! exposition text. Skipped with a message where Debian's `prometheus`
//! package is not installed or this process may not capture.

pub mod support;

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::http::{capture_listening, get, sample};
use support::skip::skip;

const SENT: u64 = 500;

/// A Prometheus server of the test's own, killed when dropped.
struct Prometheus {
    child: Child,
    base: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Starts Prometheus on a free loopback port, scraping `target` every
/// 500 ms, with its data under `dir`; waits until it is ready. The port is
/// released before Prometheus binds it, so another process may take it in
/// between: a Prometheus that exits before it is ready is started again on
/// a fresh port, up to five times.
fn start_prometheus(dir: &Path, target: &str) -> Prometheus {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: netspectra\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("scrape config written");
    for _ in 0..5 {
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        let mut prometheus = Prometheus {
            child,
            base: format!("http://{address}"),
        };
        if wait_ready(&mut prometheus, &address) {
            return prometheus;
        }
        eprintln!("prometheus exited before it was ready on {address}; trying a fresh port");
    }
    panic!("prometheus exited before it was ready on five fresh ports");
}

/// True once `prometheus` answers ready on `address`; false if it exits first.
fn wait_ready(prometheus: &mut Prometheus, address: &str) -> bool {
    let started = Instant::now();
    while std::net::TcpStream::connect(address).is_err()
        || get(&format!("{}/-/ready", prometheus.base), None).0 != 200
    {
        if prometheus.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "prometheus not ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// The value Prometheus has stored for `query`, once it has one equal to `want`
/// (or the last one seen after 30 s).
fn query_until(prometheus: &Prometheus, query: &str, want: f64) -> Option<f64> {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(30) {
        let url = format!("{}/api/v1/query?query={query}", prometheus.base);
        let (status, body) = get(&url, None);
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value =
            serde_json::from_str(&body).expect("Prometheus answers JSON");
        last = answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|text| text.parse::<f64>().ok());
        if last == Some(want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

#[test]
fn prometheus_scrapes_a_live_capture_and_stores_exactly_the_packets_sent() {
    if !installed("prometheus") || !installed("promtool") {
        skip("Debian's prometheus package is not installed (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("UDP receiver");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("UDP sender");
    let to = receiver.local_addr().expect("address");
    let Some(capture) = capture_listening(&dir.path().join("out"), to.port(), &[]) else {
        return;
    };
    for _ in 0..SENT {
        sender.send_to(&[0x42; 64], to).expect("UDP send");
    }
    capture.wait_until_read(SENT);
    let target = capture.base.trim_start_matches("http://").to_string();
    let prometheus = start_prometheus(dir.path(), &target);

    let stored = query_until(&prometheus, "netspectra_packets_counted_total", SENT as f64);
    let (_, metrics) = get(&format!("{}/metrics", capture.base), None);
    assert_eq!(
        stored,
        Some(SENT as f64),
        "Prometheus stored {stored:?}; /metrics says\n{metrics}"
    );
    assert_eq!(
        sample(&metrics, "netspectra_packets_read_total"),
        Some(SENT as f64)
    );
    let wire = SENT as f64 * (14 + 20 + 8 + 64) as f64;
    assert_eq!(
        sample(&metrics, "netspectra_wire_bytes_total"),
        Some(wire),
        "{metrics}"
    );
    assert!(
        metrics.contains("netspectra_task_packets_total{task=\"per_protocol\"} 500\n"),
        "{metrics}"
    );

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    promtool
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(metrics.as_bytes())
        .expect("metrics handed to promtool");
    let checked = promtool.wait_with_output().expect("promtool exits");
    assert!(
        checked.status.success(),
        "promtool check metrics failed:\n{}{}\n{metrics}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    drop(prometheus);
    let (status, _, log) = capture.terminate();
    assert_eq!(status, Some(0), "{log}");
}
