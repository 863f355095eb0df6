//! Snapshot scheduler: assembles closed windows from the shards' parts and
//! hands each complete window to the writer.
//!
//! Accepts: `AwaitWindow` (Reader, offline), `ShardWindow` (each shard, once
//! per window), `Flush` (Supervisor). Answers an `AwaitWindow` when the
//! writer has answered that window.
//! Sends: `WriteWindow` (to the writer), one per complete window, in window
//! order; `RetryBacklog` once, when flushing.
//!
//! A window is complete when every shard has handed in its maps for it. The
//! scheduler never touches packets; it only moves whole maps along, and sums
//! the shards' overflows (packets of keys refused by `max_keys`) per task.

use std::collections::{BTreeMap, HashMap};

use actix::prelude::*;
use futures::channel::oneshot;

use crate::capture::live::CaptureStats;
use crate::flow::{FlowMap, KeySchema, Overflow};
use crate::output::TaskSnapshot;

use super::messages::{
    AwaitWindow, Flush, FlushReport, RetryBacklog, ShardWindow, TaskTotals, WindowBounds,
    WriteReport, WriteWindow,
};
use super::writer::WriterActor;

/// One task as the pipeline needs it, in config order.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub name: String,
    pub schema: KeySchema,
    /// Distinct keys counted per window before new keys go to the overflow;
    /// each shard holds `ceil(max_keys / shards)`. `None`: no limit.
    pub max_keys: Option<u64>,
}

/// One shard's part of a window: per task, its map and its overflow.
type ShardPart = (Vec<FlowMap>, Vec<Overflow>);

pub struct SchedulerActor {
    tasks: Vec<TaskInfo>,
    shard_count: usize,
    writer: Addr<WriterActor>,
    /// Windows still waiting for some shards, by window: per shard, its part.
    partial: BTreeMap<WindowBounds, Vec<Option<ShardPart>>>,
    writes_in_flight: usize,
    /// Offline: the reader waits for these windows to be written.
    waiters: HashMap<WindowBounds, oneshot::Sender<()>>,
    report: FlushReport,
    /// Fired when the last write in flight completes after a `Flush`.
    flush_waiter: Option<oneshot::Sender<()>>,
}

impl SchedulerActor {
    pub fn new(tasks: Vec<TaskInfo>, shard_count: usize, writer: Addr<WriterActor>) -> Self {
        let report = FlushReport {
            task_totals: vec![TaskTotals::default(); tasks.len()],
            ..FlushReport::default()
        };
        SchedulerActor {
            tasks,
            shard_count,
            writer,
            partial: BTreeMap::new(),
            writes_in_flight: 0,
            waiters: HashMap::new(),
            report,
            flush_waiter: None,
        }
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
}

impl Handler<ShardWindow> for SchedulerActor {
    type Result = ();

    fn handle(&mut self, part: ShardWindow, ctx: &mut Context<Self>) {
        let shard_count = self.shard_count;
        let parts = self
            .partial
            .entry(part.window)
            .or_insert_with(|| (0..shard_count).map(|_| None).collect());
        if let Some(slot) = parts.get_mut(part.shard) {
            *slot = Some((part.maps, part.overflows));
        }
        if parts.iter().all(Option::is_some) {
            let parts = self.partial.remove(&part.window).unwrap_or_default();
            let shards = parts.into_iter().flatten().collect();
            self.write(part.window, part.capture, shards, ctx);
        }
    }
}

impl Handler<AwaitWindow> for SchedulerActor {
    type Result = ();

    fn handle(&mut self, wait: AwaitWindow, _: &mut Context<Self>) {
        self.waiters.insert(wait.window, wait.done);
    }
}

impl Handler<Flush> for SchedulerActor {
    type Result = ResponseActFuture<Self, FlushReport>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        for (window, parts) in std::mem::take(&mut self.partial) {
            let missing = parts.iter().filter(|part| part.is_none()).count();
            let message = format!(
                "window {}: {missing} of {} shards never handed in their counts",
                crate::output::layout::window_dir_name(window.start_ns),
                self.shard_count
            );
            log::error!("{message}");
            self.report.failures.push(message);
        }
        let (done, wait) = oneshot::channel();
        if self.writes_in_flight == 0 {
            let _ = done.send(());
        } else {
            self.flush_waiter = Some(done);
        }
        let writer = self.writer.clone();
        Box::pin(
            async move {
                // A dropped sender means the scheduler stopped: report what we have.
                let _ = wait.await;
                writer.send(RetryBacklog).await
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
    /// Regroups per-shard map lists into per-task snapshots, sums each
    /// task's overflow over the shards, and sends them to the writer.
    fn write(
        &mut self,
        window: WindowBounds,
        capture: Option<CaptureStats>,
        shards: Vec<ShardPart>,
        ctx: &mut Context<Self>,
    ) {
        let mut tasks: Vec<TaskSnapshot> = self
            .tasks
            .iter()
            .map(|task| TaskSnapshot {
                task: task.name.clone(),
                schema: task.schema,
                shards: Vec::with_capacity(shards.len()),
                overflow: Overflow::default(),
            })
            .collect();
        for (maps, overflows) in shards {
            for ((task, map), overflow) in tasks.iter_mut().zip(maps).zip(&overflows) {
                task.shards.push(map);
                task.overflow.merge(overflow);
            }
        }
        self.writes_in_flight += 1;
        let request = self.writer.send(WriteWindow {
            window,
            capture,
            tasks,
        });
        ctx.spawn(request.into_actor(self).map(move |result, act, _| {
            act.record(result);
            if let Some(done) = act.waiters.remove(&window) {
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
                sum.flows += task.flows;
                sum.packets += task.packets;
                sum.bytes += task.bytes;
            }
        }
        self.report.failures.extend(report.lost);
    }
}
