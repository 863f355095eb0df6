//! Skipping a test whose precondition is missing (no `../shared`, no capture
//! privilege, not root, no `setpriv`, no tmpfs mount, no network namespace),
//! visibly, and never silently in CI.
//!
//! With `NETSPECTRA_REQUIRE_ALL=1` (set by `.ci/run`) a skip is a failure.
//! Otherwise the reason is printed twice: with `println!`, which the test
//! runner shows when the test fails, and as one line written straight to
//! the process's stderr, which the runner does not capture, so a green
//! `cargo test` still lists every skipped test as `SKIP <test>: <reason>`.

use std::io::Write;

/// The variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = "NETSPECTRA_REQUIRE_ALL";

/// Whether skips are failures in this run.
pub fn require_all() -> bool {
    std::env::var_os(REQUIRE_ALL).is_some_and(|value| value == "1")
}

/// Records that the calling test does not run because of `reason`; the
/// caller returns right after. Panics under `NETSPECTRA_REQUIRE_ALL=1`.
#[track_caller]
pub fn skip(reason: &str) {
    if require_all() {
        panic!("{REQUIRE_ALL}=1, so this skip is a failure: {reason}");
    }
    announce(reason);
}

/// Like [`skip`] for a missing shared corpus, which `.ci/run` allows
/// (`NETSPECTRA_CORPUS_OPTIONAL=1`) when the machine has none: a plain clone
/// of the project does not carry it.
#[track_caller]
pub fn skip_without_corpus(reason: &str) {
    if std::env::var_os("NETSPECTRA_CORPUS_OPTIONAL").is_some_and(|value| value == "1") {
        announce(reason);
    } else {
        skip(reason);
    }
}

/// Prints the skip where a green run shows it.
fn announce(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    println!("SKIP {test}: {reason}");
    // One write of one line, so lines of parallel tests do not interleave.
    let line = format!("SKIP {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
