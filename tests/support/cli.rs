//! Runs the `netspectra` binary the way a user does and reads its answers.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One finished `analyze` run: exit status, the `--json` summary, and stderr.
pub struct Run {
    pub status: i32,
    pub summary: Value,
    pub stderr: String,
}

/// The binary under test.
pub fn netspectra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netspectra"))
}

/// `netspectra analyze --json -o <out> <extra...> <files...>`.
pub fn analyze(files: &[&Path], out: &Path, extra: &[&str]) -> Run {
    let output = netspectra()
        .arg("analyze")
        .arg("--json")
        .arg("--output")
        .arg(out)
        .args(extra)
        .args(files)
        .env("RUST_LOG", "warn")
        .output()
        .expect("netspectra runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    Run {
        status: output.status.code().unwrap_or(-1),
        summary: serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `netspectra inspect --format json <path> <extra...>`, one value per line.
pub fn inspect_json(path: &Path, extra: &[&str]) -> Vec<Value> {
    let output = netspectra()
        .arg("inspect")
        .arg(path)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .expect("netspectra inspect runs");
    assert!(
        output.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("inspect prints one JSON object per line"))
        .collect()
}

/// What a finished `netspectra capture` printed.
pub struct CaptureRun {
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub log: String,
}

/// Runs `netspectra capture -i lo <args...> --output <out>` to its end;
/// `None`, after printing why, when this process may not capture.
pub fn capture_on_loopback(args: &[&str], out: &Path) -> Option<CaptureRun> {
    let output = netspectra()
        .args(["capture", "-i", "lo"])
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .expect("netspectra runs");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    if log.contains("permission denied") && !log.contains("not writable") {
        super::skip::skip(&format!("this process may not capture on lo:\n{log}"));
        return None;
    }
    Some(CaptureRun {
        status: output.status.code(),
        stdout: output.stdout,
        log,
    })
}

/// Whether the tests run as root (some need to drop to another user).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}
