//! Stop requests by signal: SIGINT, SIGTERM and SIGHUP all ask for the same
//! ordered stop.
//!
//! The handlers are installed once, before the first input is opened. A
//! handler counts the signal into a static counter and writes a byte into
//! a non-blocking pipe, both async-signal-safe; [`arrivals`] wakes on that
//! pipe. So a signal at any moment, even while inputs are still being
//! checked, ends in the ordered shutdown, never in the default action that
//! kills the process, and a process waiting for signals sleeps until one
//! comes instead of looking at the count on a timer.

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use futures::stream::{self, BoxStream, Stream, StreamExt};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// The wake-up pipe's write end, for the handler; -1 until [`install`].
static WAKE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// The wake-up pipe's read end, which [`arrivals`] waits on.
static WAKE_READ: OnceLock<OwnedFd> = OnceLock::new();

/// The signals that request a stop.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn count_signal(_: libc::c_int) {
    RECEIVED.fetch_add(1, Ordering::SeqCst);
    let wake = WAKE_WRITE.load(Ordering::SeqCst);
    if wake >= 0 {
        // SAFETY: write(2) is async-signal-safe and the byte outlives the
        // call. errno belongs to the interrupted code: it is put back. A
        // full pipe (EAGAIN) already holds a wake-up, so the result is moot.
        unsafe {
            let errno = libc::__errno_location();
            let saved = *errno;
            libc::write(wake, [1u8].as_ptr().cast(), 1);
            *errno = saved;
        }
    }
}

/// Creates the wake-up pipe (once per process) and installs the counting
/// handlers; returns the OS error if either fails.
pub fn install() -> io::Result<()> {
    if WAKE_READ.get().is_none() {
        let mut ends = [0; 2];
        // SAFETY: `ends` has room for the two descriptors pipe2 fills in.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are open descriptors owned by nobody else.
        let (read, write) =
            unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
        // Another thread may have installed first: then both ends close here.
        if WAKE_READ.set(read).is_ok() {
            WAKE_WRITE.store(write.into_raw_fd(), Ordering::SeqCst);
        }
    }
    for signal in STOP_SIGNALS {
        // SAFETY: a zeroed sigaction is a valid value to fill in; the handler
        // is an `extern "C" fn(c_int)` that touches only an atomic and
        // write(2), both async-signal-safe.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How many stop signals have arrived since start.
pub fn received() -> u32 {
    RECEIVED.load(Ordering::SeqCst)
}

/// How often [`arrivals`] looks at the count when the pipe cannot be
/// watched. Each look wakes a thread, which costs CPU whether or not
/// packets arrive (on a 2-core VM, 1.7 ms of CPU per second at this
/// period), so watching the pipe is the rule.
const FALLBACK_POLL: Duration = Duration::from_millis(100);

/// Yields after stop signals arrive: at least once after each, maybe once
/// for several, maybe with none new (read [`received`] for how many); it
/// never ends. Each caller watches a descriptor of its own, so every one
/// of them wakes. Where the pipe cannot be watched (said in a warning), it
/// yields every `FALLBACK_POLL` instead; before [`install`], never. Must be
/// called inside a Tokio runtime with I/O and time (any actix system).
pub fn arrivals() -> BoxStream<'static, ()> {
    let Some(read) = WAKE_READ.get() else {
        return stream::pending().boxed();
    };
    match watch(read) {
        Ok(watched) => stream::unfold(watched, |watched| async move {
            {
                let mut ready = watched.readable().await.ok()?;
                drain(watched.get_ref());
                // Only this wake-up's readiness: a byte written since stays seen.
                ready.clear_ready();
            }
            Some(((), watched))
        })
        .chain(stream::once(async {
            log::warn!("{}", polling_because("the signal pipe stopped answering"));
        }))
        .chain(polled())
        .boxed(),
        Err(error) => {
            log::warn!("{}", polling_because(&error.to_string()));
            polled().boxed()
        }
    }
}

/// A duplicate of the pipe's read end, registered with the runtime.
fn watch(read: &OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns this duplicate, which stays open and the
    // same pipe for as long as the AsyncFd lives.
    Ok(unsafe { AsyncFd::register_with_interest(read.try_clone()?, Interest::READABLE) }?)
}

/// Yields every `FALLBACK_POLL`.
fn polled() -> impl Stream<Item = ()> {
    stream::unfold((), |()| async {
        actix_rt::time::sleep(FALLBACK_POLL).await;
        Some(((), ()))
    })
}

fn polling_because(why: &str) -> String {
    format!(
        "cannot wait for signals ({why}); looking for them every {} ms instead",
        FALLBACK_POLL.as_millis()
    )
}

/// Reads the pipe until it is empty (it is non-blocking).
fn drain(read: &OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut bytes = [0u8; 64];
    // SAFETY: reads into a buffer of the given length from an open descriptor.
    while unsafe { libc::read(read.as_raw_fd(), bytes.as_mut_ptr().cast(), bytes.len()) } > 0 {}
}
