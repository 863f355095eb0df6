//! Snapshot writer: puts complete windows on disk, on its own thread.
//!
//! Accepts: `WriteWindow` (Scheduler); replies `WindowWritten` or the
//! `OutputError`. Runs in a one-thread `SyncArbiter`, so disk latency never
//! reaches the packet path, and windows are written in the order sent. The
//! output layer writes each window under a temporary name and renames it
//! into place, so no reader sees a half-written window.

use std::path::PathBuf;

use actix::prelude::*;

use crate::capture::live::CaptureStats;
use crate::output::retention::Retention;
use crate::output::{self, OutputError};

use super::messages::{TaskTotals, WindowBounds, WindowWritten, WriteWindow};

pub struct WriterActor {
    root: PathBuf,
    retention: Retention,
}

impl WriterActor {
    /// A writer putting windows under `root` (which must exist and be
    /// writable) and removing old windows by `retention` after each write.
    pub fn new(root: PathBuf, retention: Retention) -> WriterActor {
        WriterActor { root, retention }
    }
}

impl Actor for WriterActor {
    type Context = SyncContext<Self>;
}

impl Handler<WriteWindow> for WriterActor {
    type Result = Result<WindowWritten, OutputError>;

    fn handle(&mut self, message: WriteWindow, _: &mut SyncContext<Self>) -> Self::Result {
        let WriteWindow {
            window,
            capture,
            tasks,
        } = message;
        let task_totals: Vec<TaskTotals> = tasks
            .iter()
            .map(|task| {
                task.shards.iter().fold(TaskTotals::default(), |sum, map| {
                    let (packets, bytes) = map.totals();
                    TaskTotals {
                        flows: sum.flows + map.len() as u64,
                        packets: sum.packets + packets,
                        bytes: sum.bytes + bytes,
                    }
                })
            })
            .collect();
        match capture {
            Some(stats) => {
                output::write_live_window(
                    &self.root,
                    window.start_ns,
                    window.end_ns,
                    &tasks,
                    &stats,
                )?;
                log_live_window(window, &task_totals, &stats);
            }
            None => {
                output::write_window(&self.root, window.start_ns, window.end_ns, &tasks)?;
            }
        }
        self.retention.apply(&self.root);
        Ok(WindowWritten {
            window,
            task_totals,
        })
    }
}

/// One info line per live window: its rate and libpcap's drop counters.
fn log_live_window(window: WindowBounds, totals: &[TaskTotals], stats: &CaptureStats) {
    let packets = totals.first().map_or(0, |task| task.packets);
    let seconds = (window.end_ns - window.start_ns) as f64 / 1e9;
    log::info!(
        "window {}: {packets} packets ({:.0} packets/s); pcap received {}, dropped {}, if_dropped {}",
        output::layout::window_dir_name(window.start_ns),
        packets as f64 / seconds,
        stats.received,
        stats.dropped,
        stats.if_dropped
    );
}
