//! Talking HTTP to a netspectra process started with `--listen` (or
//! `serve`): starting it on a free port, and plain GET and POST requests
//! that return the status and body whatever the status is.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::logs::{LogFollower, follow};

/// A running process with an HTTP server, and its log.
pub struct Listening {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub log: LogFollower,
}

/// The log line that names the server's address.
const LISTENING: &str = "HTTP API listening on ";

/// Starts `command` (which must include `--listen 127.0.0.1:0` or similar)
/// and waits until its log shows the server's address and every line in
/// `ready_when`; `None` when the log says it may not capture (the caller
/// skips).
pub fn start_listening(mut command: Command, ready_when: &[&str]) -> Option<Listening> {
    let mut child = command
        .env("RUST_LOG", "info,netspectra::actors::shard=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("netspectra starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut seen = String::new();
    let mut base = None;
    while base.is_none() || !ready_when.iter().all(|want| seen.contains(want)) {
        let Some(Ok(line)) = lines.next() else {
            let status = child.wait().expect("netspectra exits");
            if seen.contains("permission denied") {
                return None;
            }
            panic!("netspectra did not start listening ({status}):\n{seen}");
        };
        if let Some((_, url)) = line.split_once(LISTENING) {
            base = Some(url.trim().to_string());
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    Some(Listening {
        child,
        base: base.expect("the loop ends with an address"),
        log: follow(lines, seen),
    })
}

/// `netspectra capture -i lo --json --listen 127.0.0.1:0 <extra>`, counting
/// only UDP to `udp_port`, into `out`, once it captures; `None` (after a
/// skip) where this process may not capture.
pub fn capture_listening(out: &Path, udp_port: u16, extra: &[&str]) -> Option<Listening> {
    let mut command = super::cli::netspectra();
    command
        .args(["capture", "-i", "lo", "--json", "--listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--filter")
        .arg(format!("udp port {udp_port}"))
        .arg("--output")
        .arg(out);
    let started = start_listening(command, &["capturing on lo"]);
    if started.is_none() {
        super::skip::skip("this process may not capture on lo");
    }
    started
}

impl Listening {
    /// Sends SIGTERM, waits for the exit, and returns (status, stdout, log).
    pub fn terminate(self) -> (Option<i32>, String, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.finish()
    }

    /// Waits for the exit and returns (status, stdout, log).
    pub fn finish(self) -> (Option<i32>, String, String) {
        let output = self.child.wait_with_output().expect("netspectra exits");
        let log = self.log.join();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            log,
        )
    }

    /// Waits until the shards have been handed `packets` packets.
    pub fn wait_until_read(&self, packets: u64) {
        self.log.wait_until_read(packets);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// GET `url`, with a bearer token if given: (status, body).
pub fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = agent().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .call()
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|error| panic!("GET {url}: body: {error}"));
    (status, body)
}

/// POST `body` as JSON to `url`: (status, body).
pub fn post(url: &str, body: &str) -> (u16, String) {
    let mut response = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .unwrap_or_else(|error| panic!("POST {url}: {error}"));
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|error| panic!("POST {url}: body: {error}"));
    (status, text)
}

/// The value of an unlabelled sample in Prometheus text, if present.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
