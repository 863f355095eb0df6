//! Tumbling windows over a packet stream: which window a packet falls in,
//! when a window is cut, and (live) when the wall clock closes one.
//!
//! Windows are `[start, start + interval)`, aligned to multiples of the
//! interval since the Unix epoch. Offline, they follow the packets' own
//! timestamps (event time): a packet later than the open window cuts it
//! and opens the packet's window; a packet earlier than the open window is
//! out of order and counted in the open window. Live, a window also closes
//! when the clock passes its end plus a grace period, so an idle interface
//! still yields its windows on time. Pure: no clock, no I/O; callers pass
//! the times in.

/// The half-open time range `[start_ns, end_ns)` of one tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowBounds {
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Where one packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// A window this packet closes: cut it before counting the packet.
    pub closes: Option<WindowBounds>,
    /// The packet is older than the open window (it is counted in the open window).
    pub out_of_order: bool,
}

/// The open window of a stream.
#[derive(Debug, Clone)]
pub struct Windowing {
    interval_ns: u64,
    open: Option<WindowBounds>,
}

impl Windowing {
    /// No window open yet; the first packet opens one. `interval_ns` > 0.
    pub fn new(interval_ns: u64) -> Windowing {
        Windowing {
            interval_ns: interval_ns.max(1),
            open: None,
        }
    }

    /// Opens the window containing `now_ns` (live capture starts here).
    pub fn open_at(&mut self, now_ns: u64) {
        self.open = Some(self.window_of(now_ns));
    }

    /// Places a packet stamped `timestamp_ns`.
    pub fn place(&mut self, timestamp_ns: u64) -> Placed {
        let mut placed = Placed {
            closes: None,
            out_of_order: false,
        };
        match self.open {
            None => self.open = Some(self.window_of(timestamp_ns)),
            Some(open) if timestamp_ns < open.start_ns => placed.out_of_order = true,
            // The common case, decided without a division.
            Some(open) if timestamp_ns < open.end_ns => {}
            Some(open) => {
                let window = self.window_of(timestamp_ns);
                // By start, not end: the last window's end saturates at u64::MAX.
                if window.start_ns > open.start_ns {
                    placed.closes = Some(open);
                    self.open = Some(window);
                }
            }
        }
        placed
    }

    /// Live: the open window, if the clock at `now_ns` has passed its end
    /// by `grace_ns`; the next window (right after it) is then open. Call
    /// until it returns `None` to catch up over a long idle spell.
    pub fn close_elapsed(&mut self, now_ns: u64, grace_ns: u64) -> Option<WindowBounds> {
        let open = self.open?;
        if now_ns < self.closes_at(grace_ns)? {
            return None;
        }
        self.open = Some(self.window_of(open.end_ns));
        Some(open)
    }

    /// Live: when the clock closes the open window (its end plus
    /// `grace_ns`); `None` when no window is open.
    pub fn closes_at(&self, grace_ns: u64) -> Option<u64> {
        self.open.map(|open| open.end_ns.saturating_add(grace_ns))
    }

    /// End of the stream: the open window, to be cut last.
    pub fn finish(&mut self) -> Option<WindowBounds> {
        self.open.take()
    }

    fn window_of(&self, timestamp_ns: u64) -> WindowBounds {
        let start_ns = timestamp_ns - timestamp_ns % self.interval_ns;
        WindowBounds {
            start_ns,
            end_ns: start_ns.saturating_add(self.interval_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn window(start: u64, end: u64) -> WindowBounds {
        WindowBounds {
            start_ns: start * SEC,
            end_ns: end * SEC,
        }
    }

    #[test]
    fn the_first_packet_opens_its_aligned_window_and_closes_nothing() {
        let mut windows = Windowing::new(60 * SEC);
        let placed = windows.place(125 * SEC);
        assert_eq!(placed.closes, None);
        assert_eq!(windows.finish(), Some(window(120, 180)));
    }

    #[test]
    fn a_packet_at_the_window_end_cuts_it_and_opens_the_next() {
        let mut windows = Windowing::new(60 * SEC);
        windows.place(0);
        assert_eq!(windows.place(60 * SEC - 1).closes, None);
        assert_eq!(windows.place(60 * SEC).closes, Some(window(0, 60)));
    }

    #[test]
    fn the_clock_closes_the_open_window_at_its_end_plus_the_grace() {
        let mut windows = Windowing::new(60 * SEC);
        assert_eq!(windows.closes_at(SEC), None);
        windows.open_at(125 * SEC);
        assert_eq!(windows.closes_at(SEC), Some(181 * SEC));
        assert_eq!(windows.close_elapsed(181 * SEC - 1, SEC), None);
        assert_eq!(
            windows.close_elapsed(181 * SEC, SEC),
            Some(window(120, 180))
        );
        assert_eq!(windows.closes_at(SEC), Some(241 * SEC));
    }

    #[test]
    fn a_gap_skips_empty_windows() {
        let mut windows = Windowing::new(10 * SEC);
        windows.place(SEC);
        assert_eq!(windows.place(95 * SEC).closes, Some(window(0, 10)));
        assert_eq!(windows.finish(), Some(window(90, 100)));
    }

    #[test]
    fn packets_in_the_last_representable_window_never_cut_it_again() {
        let mut windows = Windowing::new(60 * SEC);
        windows.place(u64::MAX - 1);
        assert_eq!(windows.place(u64::MAX).closes, None);
        assert_eq!(windows.place(u64::MAX).closes, None);
    }

    #[test]
    fn an_older_packet_is_out_of_order_and_stays_in_the_open_window() {
        let mut windows = Windowing::new(10 * SEC);
        windows.place(25 * SEC);
        let placed = windows.place(3 * SEC);
        assert_eq!(
            placed,
            Placed {
                closes: None,
                out_of_order: true
            }
        );
        assert_eq!(windows.finish(), Some(window(20, 30)));
    }

    #[test]
    fn the_clock_closes_windows_only_after_the_grace_period_and_catches_up() {
        let mut windows = Windowing::new(SEC);
        windows.open_at(10 * SEC + 5);
        let grace = SEC / 5;
        assert_eq!(windows.close_elapsed(11 * SEC + grace - 1, grace), None);
        assert_eq!(
            windows.close_elapsed(13 * SEC + grace, grace),
            Some(window(10, 11))
        );
        assert_eq!(
            windows.close_elapsed(13 * SEC + grace, grace),
            Some(window(11, 12))
        );
        assert_eq!(
            windows.close_elapsed(13 * SEC + grace, grace),
            Some(window(12, 13))
        );
        assert_eq!(windows.close_elapsed(13 * SEC + grace, grace), None);
        assert_eq!(windows.finish(), Some(window(13, 14)));
        assert_eq!(windows.finish(), None);
    }
}
