//! Every message of the pipeline: who sends it, who handles it, what comes back.
//!
//! Reader -> ShardActor x N -> SchedulerActor -> WriterActor, with the
//! SupervisorActor starting and stopping them. Messages carry owned data; the
//! only shared value is the immutable packet batch, which every shard reads
//! and none mutates.

use std::sync::Arc;

use actix::prelude::*;
use futures::channel::oneshot;

use crate::capture::live::CaptureStats;
use crate::flow::{FlowKey, FlowMap, Overflow};
use crate::output::TaskSnapshot;

use super::reader::ReadReport;

/// One keyed packet: the parser's full 5-tuple, the capture timestamp and the wire length.
#[derive(Debug, Clone, Copy)]
pub struct PacketRecord {
    pub key: FlowKey,
    /// Nanoseconds since the Unix epoch, from the capture.
    pub timestamp_ns: u64,
    /// The frame's original length on the wire.
    pub wire_len: u32,
}

/// The half-open time range `[start_ns, end_ns)` of one tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowBounds {
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Reader -> every ShardActor: packets of the current window, in capture order.
/// Each shard counts the keys that hash to it. Sent with `send`, so a slow
/// shard holds the reader back instead of growing a queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PacketBatch {
    pub packets: Arc<Vec<PacketRecord>>,
}

/// Reader -> every ShardActor: the window ends here in the packet stream.
/// The shard hands its maps to the scheduler and starts empty ones. Sent on
/// the same channel as the batches, after the window's last batch, so the cut
/// is ordered with the packets.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseWindow {
    pub window: WindowBounds,
    /// Live: libpcap's counters for this window.
    pub capture: Option<CaptureStats>,
}

/// Reader -> SchedulerActor, offline, just before it cuts `window`: fire
/// `done` when the writer has answered that window's `WriteWindow`. The
/// reader waits on it before the next cut, so windows cannot pile up in
/// memory faster than the disk takes them. Sent with `do_send` before the
/// `CloseWindow`s, so it arrives before any `ShardWindow` of that window.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AwaitWindow {
    pub window: WindowBounds,
    pub done: oneshot::Sender<()>,
}

/// ShardActor -> SchedulerActor: one shard's maps for a closed window, one per task
/// in config order, and per task what that shard refused beyond its key
/// limit. Sent with `do_send` (once per window, never dropped: the
/// scheduler's mailbox is unbounded for `do_send`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShardWindow {
    pub window: WindowBounds,
    /// Live: libpcap's counters for this window, as the reader sent them.
    pub capture: Option<CaptureStats>,
    pub shard: usize,
    pub maps: Vec<FlowMap>,
    /// Per task, in config order: packets of keys refused by `max_keys`.
    pub overflows: Vec<Overflow>,
}

/// SchedulerActor -> WriterActor: a complete window, every shard of every task.
#[derive(Message)]
#[rtype(result = "WriteReport")]
pub struct WriteWindow {
    pub window: WindowBounds,
    /// Live: libpcap's counters for this window. A live window writes a
    /// summary for every task, even with no packets, so that a reader can
    /// tell a quiet interface from a stopped capture.
    pub capture: Option<CaptureStats>,
    pub tasks: Vec<TaskSnapshot>,
}

/// SchedulerActor -> WriterActor, at shutdown: try the windows that failed
/// once more, then give up on those that still fail.
#[derive(Message)]
#[rtype(result = "WriteReport")]
pub struct RetryBacklog;

/// WriterActor -> SchedulerActor (reply to `WriteWindow` and `RetryBacklog`):
/// the windows that reached the disk (a retried older one included) and the
/// windows given up, one message each.
#[derive(Debug, Default, MessageResponse)]
pub struct WriteReport {
    pub written: Vec<WindowWritten>,
    pub lost: Vec<String>,
}

/// One window on disk, with what it holds.
#[derive(Debug, Clone)]
pub struct WindowWritten {
    pub window: WindowBounds,
    /// Per task in config order: (flows, packets, bytes) written.
    pub task_totals: Vec<TaskTotals>,
}

/// Flows, packets and bytes of one task, in one window or summed over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskTotals {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Supervisor -> ReaderActor: read every input to the end (or until the stop
/// flag is raised), then report with `ReaderFinished`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StartReading;

/// ReaderActor -> SupervisorActor: the reader sent its last batch and the
/// final `CloseWindow`, and every shard has handled them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReaderFinished {
    pub report: ReadReport,
}

/// Supervisor -> SchedulerActor: input is over and every shard has handed in
/// its last window; reply once every window is on disk (or failed).
#[derive(Message)]
#[rtype(result = "FlushReport")]
pub struct Flush;

/// SchedulerActor -> Supervisor (reply to `Flush`): the outcome of every window.
#[derive(Debug, Default, Clone)]
pub struct FlushReport {
    pub windows_written: u64,
    /// Per task in config order, summed over the windows written.
    pub task_totals: Vec<TaskTotals>,
    /// One message per window that could not be written.
    pub failures: Vec<String>,
}
