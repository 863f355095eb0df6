//! Stop requests by signal: SIGINT, SIGTERM and SIGHUP all ask for the same
//! ordered stop.
//!
//! The handlers are installed once, before the first input is opened, and
//! only count signals into a static counter (the one thing a handler may
//! safely do); the supervisor polls the count. So a signal at any moment,
//! even while inputs are still being checked, ends in the ordered
//! shutdown, never in the default action that kills the process.

use std::sync::atomic::{AtomicU32, Ordering};

static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// The signals that request a stop.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn count_signal(_: libc::c_int) {
    RECEIVED.fetch_add(1, Ordering::SeqCst);
}

/// Installs the counting handlers; returns the OS error if one could not be installed.
pub fn install() -> std::io::Result<()> {
    for signal in STOP_SIGNALS {
        // SAFETY: a zeroed sigaction is a valid value to fill in; the handler
        // is an `extern "C" fn(c_int)` that touches only an atomic, which is
        // async-signal-safe.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How many stop signals have arrived since start.
pub fn received() -> u32 {
    RECEIVED.load(Ordering::SeqCst)
}
