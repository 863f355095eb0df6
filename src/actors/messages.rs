//! The pipeline's protocol: every message, who sends it, who handles it,
//! what comes back, and every type that crosses an actor boundary.
//!
//! Reader -> ShardActor x N -> SchedulerActor -> WriterActor, with the
//! SupervisorActor stopping them in order, and the HTTP API asking the
//! shards for copies of their open windows. Messages carry owned data; the
//! only shared value is the immutable packet batch, which every shard reads
//! and none mutates. Counting happens behind the `Aggregator` seam and
//! storing behind the `Writer` seam, so nothing here names a task kind or
//! a sink.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::prelude::*;
use futures::channel::oneshot;

use crate::capture::{CaptureStats, RunMode};
use crate::flow::{Part, PartTotals, WindowBounds};
use crate::output::ClosedWindow;
use crate::output::run::RunId;

pub use crate::flow::PacketRecord;

/// What every window of a run shares: how it reads, and the identity that
/// names its part of each window. Given to the scheduler at start-up.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo {
    pub mode: RunMode,
    pub run: RunId,
}

/// Start-up -> ReaderActor: read every input to the end (or until the stop
/// flag is raised), then report with `ReaderFinished`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartReading;

/// ReaderActor -> every ShardActor, on one ordered channel: the packet
/// stream and the cuts in it. Sent with `send`, with a bounded number
/// unanswered, so a slow shard holds the reader back instead of growing a
/// queue. A cut travels behind the window's last batch on the same
/// channel, so no packet can overtake the cut of its window or be
/// overtaken by it.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Feed {
    /// Packets of the open window, in capture order.
    Packets(Arc<Vec<PacketRecord>>),
    /// The window ends here: hand over its parts and start empty ones.
    CloseWindow(WindowBounds),
}

/// ReaderActor -> SchedulerActor, just before the `Feed::CloseWindow`s of
/// `window`: what the window needs besides the shards' parts. Sent with
/// `do_send` before the cut reaches any shard, so it arrives before any
/// `ShardParts` of that window.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WindowClosing {
    pub window: WindowBounds,
    /// Live: libpcap's counters for this window. Offline: zero.
    pub capture: CaptureStats,
    /// Offline: fired when the writer has answered this window; the reader
    /// waits on it before its next cut, so windows cannot pile up in memory
    /// faster than the sinks take them. Live: `None`, the reader never waits.
    pub written: Option<oneshot::Sender<()>>,
}

/// ShardActor -> SchedulerActor: everything one shard counted in a closed
/// window, one part per share it holds. Sent with `do_send` (once per
/// shard and window; the scheduler's mailbox is unbounded for `do_send`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShardParts {
    pub window: WindowBounds,
    pub shard: usize,
    pub parts: Vec<PlacedPart>,
}

/// HTTP API -> every ShardActor (through `pipeline::ShardCopies`): a copy
/// of one task's open window so far, leaving it counting. Sent with `send`
/// by one request at a time (the API caches copies), so it takes one
/// mailbox slot beside the reader's batches and never reorders them.
#[derive(Message)]
#[rtype(result = "OpenWindowParts")]
pub struct CopyOpenWindow {
    /// Index of the task in config order.
    pub task: usize,
}

/// ShardActor -> HTTP API (reply to `CopyOpenWindow`).
#[derive(Debug, MessageResponse)]
pub struct OpenWindowParts {
    /// End of the newest window this shard has closed; `None`: none yet.
    pub closed_until_ns: Option<u64>,
    /// A copy of each of the task's shares on this shard; `None` when the
    /// task's kind cannot copy its open state.
    pub parts: Option<Vec<Box<dyn Part>>>,
}

/// One share's part, with the task and share it belongs to.
#[derive(Debug)]
pub struct PlacedPart {
    /// Index of the task in config order.
    pub task: usize,
    /// Index of the share among the task's shares.
    pub share: usize,
    pub part: Box<dyn Part>,
}

/// SchedulerActor -> WriterActor: a complete window, every share of every task.
#[derive(Message)]
#[rtype(result = "WriteReport")]
pub struct WriteWindow {
    pub window: Arc<ClosedWindow>,
}

/// SchedulerActor -> WriterActor, at shutdown: offer the windows that
/// failed once more to their sinks, then give up on those that still fail.
#[derive(Message)]
#[rtype(result = "WriteReport")]
pub struct RetryBacklog;

/// WriterActor -> SchedulerActor (reply to `WriteWindow` and
/// `RetryBacklog`): the windows every sink has now stored (a retried older
/// one included) and the windows given up, one message each.
#[derive(Debug, Default, MessageResponse)]
pub struct WriteReport {
    pub written: Vec<WindowWritten>,
    pub lost: Vec<String>,
}

/// One window stored by every sink, with what it holds.
#[derive(Debug, Clone)]
pub struct WindowWritten {
    pub window: WindowBounds,
    /// Per task in config order.
    pub task_totals: Vec<PartTotals>,
}

/// ReaderActor -> SupervisorActor: the reader sent its last batch and the
/// final cut, and every shard has handled them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReaderFinished {
    pub report: ReadReport,
}

/// Supervisor -> SchedulerActor: input is over and every shard has handed in
/// its last window; reply once every window is stored (or given up).
#[derive(Message)]
#[rtype(result = "FlushReport")]
pub struct Flush;

/// SchedulerActor -> Supervisor (reply to `Flush`): the outcome of every window.
#[derive(Debug, Default, Clone)]
pub struct FlushReport {
    pub windows_written: u64,
    /// Per task in config order, summed over the windows written.
    pub task_totals: Vec<PartTotals>,
    /// One message per window that could not be written.
    pub failures: Vec<String>,
}

/// Counts of everything the reader saw;
/// `packets_read = counted + non_ip + malformed + filtered`.
#[derive(Debug, Clone, Default)]
pub struct ReadReport {
    pub files: Vec<FileOutcome>,
    pub packets_read: u64,
    /// Wire length of every packet read, in bytes.
    pub wire_bytes: u64,
    pub packets_counted: u64,
    pub non_ip: u64,
    pub malformed: u64,
    /// Packets `analyze --filter` rejected: read, never keyed.
    pub filtered: u64,
    /// Counted packets whose time is before 1970 or after 2554: counted in
    /// the first or last representable window, and reported here.
    pub bad_timestamp: u64,
    /// Packets older than the start of the window open when they arrived;
    /// counted in that window.
    pub out_of_order: u64,
    /// The stop flag was raised before the input ended.
    pub interrupted: bool,
    /// A shard stopped answering: packets sent to it may be lost.
    pub pipeline_failure: Option<String>,
    /// Live: why capture stopped early, if a read failed.
    pub capture_error: Option<String>,
    /// Live: libpcap's counters over the whole run.
    pub capture_stats: Option<CaptureStats>,
}

/// What happened to one input file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub packets: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub error: Option<String>,
}

/// The end of the newest window every sink has stored, in nanoseconds (0:
/// none yet), written by the writer and readable from any thread without a
/// lock: the supervisor reports it when a second signal cuts the shutdown short.
#[derive(Debug, Clone, Default)]
pub struct WriteProgress(Arc<AtomicU64>);

impl WriteProgress {
    /// The end of the newest window written so far, if any.
    pub fn written_until(&self) -> Option<u64> {
        Some(self.0.load(Ordering::SeqCst)).filter(|&end| end > 0)
    }

    /// Records windows that every sink has stored.
    pub fn record(&self, written: &[WindowWritten]) {
        for window in written {
            self.0.fetch_max(window.window.end_ns, Ordering::SeqCst);
        }
    }
}
