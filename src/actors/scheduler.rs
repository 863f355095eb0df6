//! Snapshot scheduler: assembles closed windows from the shards' parts and
//! hands each complete window to the writer.
//!
//! Accepts: `WindowClosing` (Reader, once per window), `ShardParts` (each
//! shard, once per window), `Flush` (Supervisor).
//! Sends: `WriteWindow` (to the writer), one per complete window, in the
//! order windows complete; `RetryBacklog` once, when flushing. Fires a
//! window's `written` signal (offline) when the writer has answered it.
//!
//! A window is complete when the reader has announced it and every shard
//! has handed in its parts for it. The scheduler never touches packets or
//! looks inside a part: it only moves parts into their task's slot.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use futures::channel::oneshot;

use crate::capture::{CaptureStats, RunMode};
use crate::flow::{Part, PartTotals, TaskSpec, WindowBounds};
use crate::output::run::RunId;
use crate::output::{ClosedWindow, TaskWindow, layout};

use super::messages::{
    Flush, FlushReport, RetryBacklog, RunInfo, ShardParts, WindowClosing, WriteReport, WriteWindow,
};

pub struct SchedulerActor {
    /// The run's tasks, in config order.
    tasks: Vec<TaskSpec>,
    /// Per task: how many shares its keys are split into.
    share_counts: Vec<usize>,
    /// Shards that hand in parts for every window.
    shard_count: usize,
    /// Offline or live, carried into every window.
    mode: RunMode,
    /// Names this run's part of every window.
    run: RunId,
    /// The writer actor, for complete windows and the final retry.
    write_to: Recipient<WriteWindow>,
    /// The writer actor again, for the final retry.
    retry_to: Recipient<RetryBacklog>,
    /// Windows still waiting for the reader's announcement or some shards.
    pending: BTreeMap<WindowBounds, PendingWindow>,
    /// `WriteWindow`s not yet answered.
    writes_in_flight: usize,
    /// The outcome so far, the answer to `Flush`.
    report: FlushReport,
    /// Fired when the last write in flight completes after a `Flush`.
    flush_waiter: Option<oneshot::Sender<()>>,
}

/// A window being assembled.
struct PendingWindow {
    /// From the reader's `WindowClosing`: the capture counters and the
    /// offline writer signal.
    announced: Option<(CaptureStats, Option<oneshot::Sender<()>>)>,
    /// Shards whose parts have arrived.
    shards_in: usize,
    /// Per task, per share.
    parts: Vec<Vec<Option<Box<dyn Part>>>>,
}

/// How the scheduler reaches the writer actor.
pub struct WriterLinks {
    pub write_to: Recipient<WriteWindow>,
    pub retry_to: Recipient<RetryBacklog>,
}

impl SchedulerActor {
    pub fn new(
        tasks: Vec<TaskSpec>,
        share_counts: Vec<usize>,
        shard_count: usize,
        run: RunInfo,
        writer: WriterLinks,
    ) -> Self {
        let report = FlushReport {
            task_totals: vec![PartTotals::default(); tasks.len()],
            ..FlushReport::default()
        };
        SchedulerActor {
            tasks,
            share_counts,
            shard_count,
            mode: run.mode,
            run: run.run,
            write_to: writer.write_to,
            retry_to: writer.retry_to,
            pending: BTreeMap::new(),
            writes_in_flight: 0,
            report,
            flush_waiter: None,
        }
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
}

impl Handler<WindowClosing> for SchedulerActor {
    type Result = ();

    fn handle(&mut self, closing: WindowClosing, ctx: &mut Context<Self>) {
        self.pending_mut(closing.window).announced = Some((closing.capture, closing.written));
        self.write_if_complete(closing.window, ctx);
    }
}

impl Handler<ShardParts> for SchedulerActor {
    type Result = ();

    fn handle(&mut self, shard: ShardParts, ctx: &mut Context<Self>) {
        let pending = self.pending_mut(shard.window);
        pending.shards_in += 1;
        for placed in shard.parts {
            if let Some(slot) = pending
                .parts
                .get_mut(placed.task)
                .and_then(|shares| shares.get_mut(placed.share))
            {
                *slot = Some(placed.part);
            }
        }
        self.write_if_complete(shard.window, ctx);
    }
}

impl Handler<Flush> for SchedulerActor {
    type Result = ResponseActFuture<Self, FlushReport>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        for (window, pending) in std::mem::take(&mut self.pending) {
            let message = format!(
                "window {}: {} of {} shards never handed in their counts",
                layout::window_dir_name(window.start_ns),
                self.shard_count - pending.shards_in,
                self.shard_count
            );
            log::error!("{message}");
            self.report.failures.push(message);
        }
        let (done, wait) = oneshot::channel();
        if self.writes_in_flight == 0 {
            // The receiver is awaited just below; it cannot be gone.
            let _ = done.send(());
        } else {
            self.flush_waiter = Some(done);
        }
        let retry_to = self.retry_to.clone();
        Box::pin(
            async move {
                // A dropped sender means the scheduler stopped: report what we have.
                let _ = wait.await;
                retry_to.send(RetryBacklog).await
            }
            .into_actor(self)
            .map(|retried, act, _| {
                act.record(retried);
                act.report.clone()
            }),
        )
    }
}

impl SchedulerActor {
    fn pending_mut(&mut self, window: WindowBounds) -> &mut PendingWindow {
        let share_counts = &self.share_counts;
        self.pending.entry(window).or_insert_with(|| PendingWindow {
            announced: None,
            shards_in: 0,
            parts: share_counts
                .iter()
                .map(|&count| (0..count).map(|_| None).collect())
                .collect(),
        })
    }

    /// Sends `window` to the writer once the reader has announced it and
    /// every shard has handed in its parts.
    fn write_if_complete(&mut self, window: WindowBounds, ctx: &mut Context<Self>) {
        let complete = self.pending.get(&window).is_some_and(|pending| {
            pending.announced.is_some() && pending.shards_in == self.shard_count
        });
        if !complete {
            return;
        }
        let Some(pending) = self.pending.remove(&window) else {
            return;
        };
        let (capture, written) = pending.announced.unwrap_or_default();
        let tasks = self
            .tasks
            .iter()
            .zip(pending.parts)
            .map(|(spec, parts)| TaskWindow {
                spec: spec.clone(),
                parts: parts.into_iter().flatten().collect(),
            })
            .collect();
        let closed = ClosedWindow {
            bounds: window,
            run: self.run,
            mode: self.mode,
            capture,
            tasks,
        };
        self.writes_in_flight += 1;
        let request = self.write_to.send(WriteWindow {
            window: Arc::new(closed),
        });
        ctx.spawn(request.into_actor(self).map(move |result, act, _| {
            act.record(result);
            if let Some(done) = written {
                // The reader may have stopped waiting (it is finishing): nothing to tell.
                let _ = done.send(());
            }
            act.writes_in_flight -= 1;
            if act.writes_in_flight == 0
                && let Some(done) = act.flush_waiter.take()
            {
                let _ = done.send(());
            }
        }));
    }

    /// Folds the writer's answer into the run's report.
    fn record(&mut self, result: Result<WriteReport, MailboxError>) {
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                let message =
                    format!("the writer stopped answering ({error}); windows may be lost");
                log::error!("{message}");
                self.report.failures.push(message);
                return;
            }
        };
        for written in report.written {
            self.report.windows_written += 1;
            for (sum, task) in self.report.task_totals.iter_mut().zip(&written.task_totals) {
                *sum = sum.checked_add(*task).unwrap_or(*sum);
            }
        }
        self.report.failures.extend(report.lost);
    }
}
