//! Runs a child process to its end and measures it: wall time and peak
//! resident memory (from `wait4`'s rusage, which `std::process` does not
//! expose). Shared by the memory tests and the benches.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A finished child: exit status, wall time, peak RSS and its output.
pub struct Measured {
    pub success: bool,
    pub seconds: f64,
    /// User plus system CPU time of the child, in seconds.
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Spawns `command` with stdout and stderr captured, waits for it and measures it.
#[expect(
    clippy::zombie_processes,
    reason = "wait4 reaps the child to read its rusage"
)]
pub fn run_measured(command: &mut Command) -> Measured {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            pipe.read_to_string(&mut text).expect("output is UTF-8");
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our child, not yet reaped; both pointers are valid.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(reaped, pid, "wait4 failed");
    Measured {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        seconds,
        cpu_seconds: [usage.ru_utime, usage.ru_stime]
            .iter()
            .map(|time| time.tv_sec as f64 + time.tv_usec as f64 / 1e6)
            .sum(),
        peak_rss_kib: usage.ru_maxrss as u64,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// The median (upper middle for an even count) of some measurements.
pub fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Benches: builds the release binary of the crate at `root` and returns its path.
pub fn release_binary(root: &std::path::Path) -> std::path::PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--bin", "netspectra"])
        .current_dir(root)
        .status()
        .expect("cargo builds the binary");
    assert!(status.success(), "release build failed");
    root.join("target/release/netspectra")
}

/// Benches: the number of runs, from NETSPECTRA_BENCH_RUNS or `default`.
pub fn runs_from_env(default: usize) -> usize {
    std::env::var("NETSPECTRA_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory (VmHWM) of process `pid` (`self` for this one), in
/// KiB, from /proc; 0 when it cannot be read.
pub fn peak_rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
