//! Numbers about a packet source that travel with the windows: libpcap's
//! per-window drop counters, and whether the run reads files or an
//! interface. Plain data, so the output layer can carry them without
//! depending on libpcap.

/// Whether a run reads capture files or a live interface; decided once,
/// from the command, and read by every stage that behaves differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Capture files: windows follow packet time; the reader may wait for
    /// the writer, so nothing is ever dropped.
    Offline,
    /// A live interface: windows also close on the clock, the reader never
    /// waits for the disk, and every window carries libpcap's counters.
    Live,
}

/// libpcap's counters since the capture opened (or a difference of two readings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets the kernel passed to the capture (on `lo`, each packet counts twice).
    pub received: u64,
    /// Packets dropped because the capture buffer was full.
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
}

impl CaptureStats {
    /// The counts between an earlier reading and this one. libpcap's counters
    /// are 32-bit and wrap, so the difference wraps too.
    pub fn since(&self, earlier: &CaptureStats) -> CaptureStats {
        let delta = |now: u64, then: u64| u64::from((now as u32).wrapping_sub(then as u32));
        CaptureStats {
            received: delta(self.received, earlier.received),
            dropped: delta(self.dropped, earlier.dropped),
            if_dropped: delta(self.if_dropped, earlier.if_dropped),
        }
    }
}
