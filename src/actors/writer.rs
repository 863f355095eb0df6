//! Snapshot writer: puts complete windows on disk, on its own thread.
//!
//! Accepts: `WriteWindow` and `RetryBacklog` (Scheduler); replies a
//! `WriteReport` of the windows that reached the disk and those given up.
//! Runs in a one-thread `SyncArbiter`, so disk latency never reaches the
//! packet path, and windows are written in the order sent. The output layer
//! writes each window under a temporary name and renames it into place, so
//! no reader sees a half-written window.
//!
//! A window whose write fails stays in memory, in a bounded backlog, and is
//! retried (oldest first) before the next window; when the backlog is full
//! the oldest window is given up and reported. Nothing already on disk is
//! touched by a failed write.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;

use crate::output::retention::Retention;
use crate::output::{self, OutputError, layout};

use super::messages::{RetryBacklog, TaskTotals, WindowWritten, WriteReport, WriteWindow};

pub struct WriterActor {
    root: PathBuf,
    retention: Retention,
    backlog: Backlog,
    progress: WriteProgress,
}

/// The end of the newest window on disk, in nanoseconds (0: none yet),
/// readable from any thread without a lock: the supervisor reports it when
/// a second signal cuts the shutdown short.
#[derive(Debug, Clone, Default)]
pub struct WriteProgress(Arc<AtomicU64>);

impl WriteProgress {
    /// The end of the newest window written so far, if any.
    pub fn written_until(&self) -> Option<u64> {
        Some(self.0.load(Ordering::SeqCst)).filter(|&end| end > 0)
    }

    fn record(&self, written: &[WindowWritten]) {
        for window in written {
            self.0.fetch_max(window.window.end_ns, Ordering::SeqCst);
        }
    }
}

impl WriterActor {
    /// A writer putting windows under `root` (which must exist and be
    /// writable), keeping at most `max_backlog` failed windows for retry, and
    /// removing old windows by `retention` after each write.
    pub fn new(
        root: PathBuf,
        retention: Retention,
        max_backlog: usize,
        progress: WriteProgress,
    ) -> WriterActor {
        WriterActor {
            root,
            retention,
            progress,
            backlog: Backlog::new(max_backlog),
        }
    }
}

impl Actor for WriterActor {
    type Context = SyncContext<Self>;
}

impl Handler<WriteWindow> for WriterActor {
    type Result = WriteReport;

    fn handle(&mut self, window: WriteWindow, _: &mut SyncContext<Self>) -> WriteReport {
        let mut report = WriteReport::default();
        if let Some(given_up) = self.backlog.push(window) {
            report.lost.push(given_up);
        }
        let root = self.root.clone();
        self.backlog
            .write_all(&mut report, |window| write(&root, window));
        if !report.written.is_empty() {
            self.progress.record(&report.written);
            self.retention.apply(&self.root);
        }
        report
    }
}

impl Handler<RetryBacklog> for WriterActor {
    type Result = WriteReport;

    fn handle(&mut self, _: RetryBacklog, _: &mut SyncContext<Self>) -> WriteReport {
        let mut report = WriteReport::default();
        let root = self.root.clone();
        self.backlog
            .write_all(&mut report, |window| write(&root, window));
        report.lost.extend(self.backlog.give_up_all());
        report
    }
}

/// Windows not yet on disk, oldest first, at most `capacity` of them.
struct Backlog {
    windows: VecDeque<WriteWindow>,
    capacity: usize,
}

impl Backlog {
    fn new(capacity: usize) -> Backlog {
        Backlog {
            windows: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues a window; when over capacity, gives up the oldest and says why.
    fn push(&mut self, window: WriteWindow) -> Option<String> {
        self.windows.push_back(window);
        if self.windows.len() <= self.capacity {
            return None;
        }
        let oldest = self.windows.pop_front()?;
        let message = format!(
            "window {}: not written, dropped from a full backlog of {} windows awaiting a retry",
            layout::window_dir_name(oldest.window.start_ns),
            self.capacity
        );
        log::error!("{message}");
        Some(message)
    }

    /// Writes queued windows oldest first until one fails; that one and the
    /// later ones stay queued for the next attempt.
    fn write_all(
        &mut self,
        report: &mut WriteReport,
        mut write: impl FnMut(&WriteWindow) -> Result<WindowWritten, OutputError>,
    ) {
        while let Some(window) = self.windows.front() {
            match write(window) {
                Ok(written) => {
                    report.written.push(written);
                    self.windows.pop_front();
                }
                Err(error) => {
                    log::error!(
                        "window {} not written: {error}; kept in memory and retried with the next window ({} waiting)",
                        layout::window_dir_name(window.window.start_ns),
                        self.windows.len()
                    );
                    return;
                }
            }
        }
    }

    /// Gives up every queued window, with one message each.
    fn give_up_all(&mut self) -> Vec<String> {
        self.windows
            .drain(..)
            .map(|window| {
                let message = format!(
                    "window {}: not written (the output kept failing until shutdown)",
                    layout::window_dir_name(window.window.start_ns)
                );
                log::error!("{message}");
                message
            })
            .collect()
    }
}

/// Writes one window and sums what it holds.
fn write(root: &std::path::Path, message: &WriteWindow) -> Result<WindowWritten, OutputError> {
    let WriteWindow {
        window,
        capture,
        tasks,
    } = message;
    match capture {
        Some(stats) => {
            output::write_live_window(root, window.start_ns, window.end_ns, tasks, stats)?
        }
        None => output::write_window(root, window.start_ns, window.end_ns, tasks)?,
    };
    let task_totals: Vec<TaskTotals> = tasks
        .iter()
        .map(|task| {
            let overflow = TaskTotals {
                flows: 0,
                packets: task.overflow.stats.packets,
                bytes: task.overflow.stats.bytes,
            };
            task.shards.iter().fold(overflow, |sum, map| {
                let (packets, bytes) = map.totals();
                TaskTotals {
                    flows: sum.flows + map.len() as u64,
                    packets: sum.packets + packets,
                    bytes: sum.bytes + bytes,
                }
            })
        })
        .collect();
    if let Some(stats) = capture {
        let packets = task_totals.first().map_or(0, |task| task.packets);
        let seconds = (window.end_ns - window.start_ns) as f64 / 1e9;
        log::info!(
            "window {}: {packets} packets ({:.0} packets/s); pcap received {}, dropped {}, if_dropped {}",
            layout::window_dir_name(window.start_ns),
            packets as f64 / seconds,
            stats.received,
            stats.dropped,
            stats.if_dropped
        );
    }
    Ok(WindowWritten {
        window: *window,
        task_totals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::messages::WindowBounds;

    fn window(minute: u64) -> WriteWindow {
        let start_ns = minute * 60_000_000_000;
        WriteWindow {
            window: WindowBounds {
                start_ns,
                end_ns: start_ns + 60_000_000_000,
            },
            capture: None,
            tasks: Vec::new(),
        }
    }

    fn written(window: &WriteWindow) -> Result<WindowWritten, OutputError> {
        Ok(WindowWritten {
            window: window.window,
            task_totals: Vec::new(),
        })
    }

    fn failing(window: &WriteWindow) -> Result<WindowWritten, OutputError> {
        Err(OutputError::BadTaskName {
            path: PathBuf::from("out"),
            task: format!("{}", window.window.start_ns),
            reason: "test failure",
        })
    }

    #[test]
    fn a_failed_window_is_retried_before_the_next_one_and_both_land_in_order() {
        let mut backlog = Backlog::new(4);
        let mut report = WriteReport::default();
        assert!(backlog.push(window(0)).is_none());
        backlog.write_all(&mut report, failing);
        assert!(report.written.is_empty());
        assert!(backlog.push(window(1)).is_none());
        backlog.write_all(&mut report, written);
        let order: Vec<u64> = report.written.iter().map(|w| w.window.start_ns).collect();
        assert_eq!(order, vec![0, 60_000_000_000]);
        assert!(backlog.give_up_all().is_empty());
    }

    #[test]
    fn a_full_backlog_gives_up_its_oldest_window_and_says_which() {
        let mut backlog = Backlog::new(2);
        let mut report = WriteReport::default();
        for minute in 0..2 {
            assert!(backlog.push(window(minute)).is_none());
            backlog.write_all(&mut report, failing);
        }
        let lost = backlog
            .push(window(2))
            .expect("the oldest window is given up");
        assert!(lost.contains("1970-01-01T00-00-00Z"), "{lost}");
        let remaining = backlog.give_up_all();
        assert_eq!(remaining.len(), 2);
        assert!(
            remaining[0].contains("1970-01-01T00-01-00Z"),
            "{remaining:?}"
        );
    }
}
