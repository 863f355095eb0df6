//! How long a live reader pauses after emptying the capture ring before it
//! waits on the ring again, so that one wake-up reads several ring blocks.
//!
//! libpcap's TPACKET_V3 ring makes the socket readable each time the kernel
//! hands over a block: when it is full (256 KiB, about 1,700 small packets)
//! or its timeout has passed. A reader that waits on the socket again at
//! once wakes once per block, and each wake-up is a context switch: tens
//! of µs of CPU on a VM, about a fifth of a packet's cost at 100 k packets
//! a second. After a read that emptied the ring and found packets, the
//! reader pauses instead, letting the kernel fill more blocks.
//!
//! The pause never exceeds the configured longest pause, nor the time the
//! traffic just seen takes to fill a quarter of the ring (a burst four
//! times as fast still finds room), nor the time a quarter of the ring's
//! blocks take to be handed over by their timeout alone (slow traffic
//! retires a block per timeout however little it holds). A rise faster
//! than that within one pause can fill the ring; the kernel then drops,
//! and its counters report it with the window. An idle ring gets no pause:
//! the reader waits on the socket, as before.

use std::time::{Duration, Instant};

/// Bytes a packet takes in the ring besides its captured bytes: the
/// TPACKET_V3 header and the link-layer address behind it, with alignment.
const RING_BYTES_PER_PACKET: u64 = 96;

/// A pause may fill at most this fraction of the ring: one over it.
const RING_SHARE_PER_PAUSE: u32 = 4;

/// Size of a TPACKET_V3 ring block as libpcap makes them, whatever the
/// snap length: its frame size is the largest snap length, 256 KiB.
const RING_BLOCK_BYTES: u32 = 256 * 1024;

/// Measures the traffic between two emptyings of the ring and derives the
/// next pause from it.
#[derive(Debug, Clone)]
pub struct ReadPacing {
    /// Longest pause: the configured one, or less where the ring's blocks
    /// would run out sooner; zero turns pausing off.
    longest: Duration,
    /// Bytes of the ring that a pause may fill.
    pause_budget: u64,
    /// Ring bytes taken by the packets read since the ring last ran empty.
    bytes_since_empty: u64,
    /// When the ring last ran empty; `None` before the first time.
    last_empty: Option<Instant>,
}

impl ReadPacing {
    /// Pacing for a ring of `ring_bytes` bytes whose blocks are handed
    /// over at the latest `block_timeout` after their first packet,
    /// pausing at most `longest`.
    pub fn new(ring_bytes: u32, block_timeout: Duration, longest: Duration) -> ReadPacing {
        let blocks = (ring_bytes / RING_BLOCK_BYTES).max(1);
        let blocks_last = block_timeout * blocks / RING_SHARE_PER_PAUSE;
        ReadPacing {
            longest: longest.min(blocks_last),
            pause_budget: u64::from(ring_bytes / RING_SHARE_PER_PAUSE),
            bytes_since_empty: 0,
            last_empty: None,
        }
    }

    /// Notes one packet read, of `captured` bytes.
    #[inline]
    pub fn note_packet(&mut self, captured: u32) {
        self.bytes_since_empty += u64::from(captured).next_multiple_of(16) + RING_BYTES_PER_PACKET;
    }

    /// The ring ran empty at `now`: how long to pause before waiting on it
    /// again. Zero when nothing was read since it last ran empty, the
    /// first time (no rate is known yet), and when pausing is off.
    pub fn pause_after_empty(&mut self, now: Instant) -> Duration {
        let bytes = std::mem::take(&mut self.bytes_since_empty);
        let since = self.last_empty.replace(now);
        let Some(since) = since else {
            return Duration::ZERO;
        };
        if bytes == 0 || self.longest.is_zero() {
            return Duration::ZERO;
        }
        let elapsed_ns = now.saturating_duration_since(since).as_nanos();
        let fills_budget_ns = elapsed_ns * u128::from(self.pause_budget) / u128::from(bytes);
        let fills_budget = Duration::from_nanos(u64::try_from(fills_budget_ns).unwrap_or(u64::MAX));
        fills_budget.min(self.longest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u32 = 1 << 20;
    const LONGEST: Duration = Duration::from_millis(50);
    const BLOCK_TIMEOUT: Duration = Duration::from_millis(50);

    /// A pacing that has seen the ring run empty once, at the returned time.
    fn started(ring_bytes: u32, longest: Duration) -> (ReadPacing, Instant) {
        let mut pacing = ReadPacing::new(ring_bytes, BLOCK_TIMEOUT, longest);
        let start = Instant::now();
        assert_eq!(pacing.pause_after_empty(start), Duration::ZERO);
        (pacing, start)
    }

    /// Notes `packets` packets of `captured` bytes.
    fn read(pacing: &mut ReadPacing, packets: u32, captured: u32) {
        for _ in 0..packets {
            pacing.note_packet(captured);
        }
    }

    #[test]
    fn the_first_emptying_gives_no_pause() {
        let mut pacing = ReadPacing::new(32 * MIB, BLOCK_TIMEOUT, LONGEST);
        read(&mut pacing, 1000, 100);
        assert_eq!(pacing.pause_after_empty(Instant::now()), Duration::ZERO);
    }

    #[test]
    fn an_idle_ring_gives_no_pause() {
        let (mut pacing, start) = started(32 * MIB, LONGEST);
        let pause = pacing.pause_after_empty(start + Duration::from_millis(500));
        assert_eq!(pause, Duration::ZERO);
    }

    #[test]
    fn light_traffic_pauses_the_longest() {
        let (mut pacing, start) = started(32 * MIB, LONGEST);
        // 1,700 packets of 112 ring bytes in 17 ms: 11 MB/s, far from
        // filling 8 MiB in 50 ms.
        read(&mut pacing, 1700, 16);
        let pause = pacing.pause_after_empty(start + Duration::from_millis(17));
        assert_eq!(pause, LONGEST);
    }

    #[test]
    fn heavy_traffic_pauses_only_until_a_quarter_of_the_ring_would_fill() {
        let (mut pacing, start) = started(4 * MIB, LONGEST);
        // 1 MiB of ring in 10 ms: a quarter of the ring fills in 10 ms.
        read(&mut pacing, 1024, 1024 - 96);
        let pause = pacing.pause_after_empty(start + Duration::from_millis(10));
        assert_eq!(pause, Duration::from_millis(10));
    }

    #[test]
    fn each_pause_follows_the_traffic_since_the_ring_last_ran_empty() {
        let (mut pacing, start) = started(4 * MIB, LONGEST);
        read(&mut pacing, 1024, 1024 - 96);
        let first = start + Duration::from_millis(10);
        assert_eq!(pacing.pause_after_empty(first), Duration::from_millis(10));
        // Twice the bytes in the same time: half the pause.
        read(&mut pacing, 2048, 1024 - 96);
        let second = first + Duration::from_millis(10);
        assert_eq!(pacing.pause_after_empty(second), Duration::from_millis(5));
    }

    #[test]
    fn a_small_ring_pauses_no_longer_than_a_quarter_of_its_blocks_take_to_time_out() {
        // 2 MiB: 8 blocks, handed over by their timeout within 400 ms.
        let (mut pacing, start) = started(2 * MIB, Duration::from_secs(1));
        read(&mut pacing, 10, 16);
        let pause = pacing.pause_after_empty(start + Duration::from_millis(100));
        assert_eq!(pause, Duration::from_millis(100));
    }

    #[test]
    fn a_zero_longest_pause_turns_pausing_off() {
        let (mut pacing, start) = started(32 * MIB, Duration::ZERO);
        read(&mut pacing, 10, 100);
        let pause = pacing.pause_after_empty(start + Duration::from_millis(100));
        assert_eq!(pause, Duration::ZERO);
    }

    #[test]
    fn captured_bytes_count_rounded_up_to_the_ring_alignment() {
        let mut pacing = ReadPacing::new(MIB, BLOCK_TIMEOUT, LONGEST);
        pacing.note_packet(1);
        pacing.note_packet(16);
        assert_eq!(
            pacing.bytes_since_empty,
            16 + 16 + 2 * RING_BYTES_PER_PACKET
        );
    }
}
