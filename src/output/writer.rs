//! The Writer seam: what a sink is to the rest of the program.
//!
//! A sink implements [`Writer`]: it receives a [`ClosedWindow`] (every
//! task's parts, the window bounds, the run mode and the capture counters)
//! and stores it, or says with a [`WriteError`] whether trying again can
//! help. Retrying, the bounded backlog of windows not yet stored and the
//! reporting of windows given up are the writer actor's, the same for every
//! sink. Which sinks a run has is decided in one place,
//! [`crate::output::build_writers`].

use std::fmt;

use super::run::RunId;
use crate::capture::{CaptureStats, RunMode};
use crate::flow::{Overflow, Part, PartTotals, TaskSpec, WindowBounds};

/// A window every shard has handed in: the unit a writer stores.
#[derive(Debug)]
pub struct ClosedWindow {
    pub bounds: WindowBounds,
    /// The run that counted it; names the run's part of the window.
    pub run: RunId,
    pub mode: RunMode,
    /// Live: libpcap's counters for this window. Offline: zero.
    pub capture: CaptureStats,
    /// Every task of the run, in config order.
    pub tasks: Vec<TaskWindow>,
}

/// One task's parts of a window: one per share of its keys, in share order.
/// Shares hold disjoint keys, so their totals add up.
#[derive(Debug)]
pub struct TaskWindow {
    pub spec: TaskSpec,
    pub parts: Vec<Box<dyn Part>>,
}

impl TaskWindow {
    /// The parts' totals summed (saturating: a part's counts came from
    /// packets read in this run and cannot reach 2^64).
    pub fn totals(&self) -> PartTotals {
        self.parts
            .iter()
            .map(|part| part.totals())
            .fold(PartTotals::default(), |sum, totals| {
                sum.checked_add(totals).unwrap_or(PartTotals {
                    records: u64::MAX,
                    packets: u64::MAX,
                    bytes: u64::MAX,
                })
            })
    }

    /// The parts' overflows summed: packets of keys refused by `max_keys`.
    pub fn overflow(&self) -> Overflow {
        let mut sum = Overflow::default();
        for part in &self.parts {
            // Counts from one run's packets cannot reach 2^64 (see `totals`);
            // should they, the sum stops growing rather than wrapping.
            if sum.checked_merge(&part.overflow()).is_none() {
                break;
            }
        }
        sum
    }

    /// Whether the task counted any packet in this window.
    pub fn has_packets(&self) -> bool {
        self.totals().packets > 0
    }
}

/// A sink for closed windows.
pub trait Writer: Send {
    /// Names the sink in log lines and reports, e.g. `files under snapshots`.
    fn describe(&self) -> String;

    /// Stores `window` completely or not at all (a reader never sees part
    /// of it). Windows arrive in the order they closed; a failed one is
    /// offered again, before any later one.
    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError>;
}

/// Why a window was not stored, and whether trying again may help.
#[derive(Debug)]
pub struct WriteError {
    /// True for conditions that can pass (a full disk, a server down);
    /// false when the same window will fail again (it cannot be encoded).
    pub retryable: bool,
    pub message: String,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {}
