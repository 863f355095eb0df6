//! netspectra: exact per-key packet and byte counts from capture files and
//! live interfaces, cut into time windows by an actor pipeline.
//!
//! `packet` and `flow` are pure (no I/O, no actix); `capture` reads files;
//! `actors` is the pipeline; `output` writes and reads snapshots; `cli` is
//! the binary's edge; `safe_read` reads the files a user names (config,
//! stored windows) only when they are regular files of a sane size.

pub mod actors;
pub mod alerts;
pub mod api;
pub mod capture;
pub mod cli;
pub mod config;
pub mod flow;
pub mod metrics;
pub mod output;
pub mod packet;
pub mod safe_read;

/// An error with its chain of causes, "outer: inner: innermost", for
/// reports and logs, so an I/O failure names the OS reason (ENOSPC, EROFS).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}

/// Now, in nanoseconds since the Unix epoch (0 before it, `u64::MAX` past 2554).
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// CPUs this process may use (1 when the system cannot tell).
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// CPUs left for shard threads beside the reader's: one less than
/// [`available_cpus`], at least one.
pub fn cpus_beside_reader() -> usize {
    available_cpus().saturating_sub(1).max(1)
}
