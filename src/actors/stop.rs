//! The request to stop reading: raised once (a stop signal, `--duration`),
//! read by the reader between packets, and able to wake the reader from an
//! idle wait on a live interface, so that wait need not be short.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared stop request; clones are the same request.
#[derive(Clone)]
pub struct StopFlag {
    shared: Arc<Shared>,
}

struct Shared {
    raised: AtomicBool,
    /// An eventfd that becomes readable, and stays so, once raised.
    wake: OwnedFd,
}

impl StopFlag {
    /// A request not raised yet; the OS error if the eventfd cannot be made.
    pub fn new() -> io::Result<StopFlag> {
        // SAFETY: eventfd takes no pointers; a negative result is an error.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(StopFlag {
            shared: Arc::new(Shared {
                raised: AtomicBool::new(false),
                // SAFETY: eventfd succeeded: an open descriptor nobody else owns.
                wake: unsafe { OwnedFd::from_raw_fd(fd) },
            }),
        })
    }

    /// Raises the request and wakes whoever waits on [`StopFlag::wake_fd`].
    pub fn raise(&self) {
        self.shared.raised.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an open eventfd. It can
        // only fail when the counter is near overflow, and then it is
        // readable already.
        unsafe {
            libc::write(
                self.shared.wake.as_raw_fd(),
                (&raw const one).cast(),
                size_of::<u64>(),
            )
        };
    }

    /// Whether the request has been raised.
    #[inline]
    pub fn is_raised(&self) -> bool {
        self.shared.raised.load(Ordering::Relaxed)
    }

    /// A descriptor that is readable once the request has been raised.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.shared.wake.as_fd()
    }
}
