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
