//! Supervisor: starts the pipeline, watches for signals, and runs the ordered shutdown.
//!
//! Accepts: `ReaderFinished` (Reader). Sends: `StartReading` (Reader),
//! `Flush` (Scheduler).
//!
//! Shutdown protocol, the same at end of input and on SIGINT/SIGTERM:
//! 1. A signal (or `--duration`) raises the stop flag; the reader checks it
//!    before every packet and at least every 100 ms when a live interface is
//!    idle, and stops reading (end of input or `--count` needs no flag).
//! 2. The reader sends its last partial batch and the final `CloseWindow` to
//!    every shard, and waits until every shard has answered every message it
//!    sent. Each shard has then handed its last maps to the scheduler.
//! 3. The reader reports `ReaderFinished`; the supervisor sends `Flush` to the
//!    scheduler, which is handled after every shard's `ShardWindow` (they were
//!    queued before step 2 ended).
//! 4. The scheduler answers `Flush` once the writer has answered every
//!    `WriteWindow`: every window is on disk or reported as failed.
//! 5. The supervisor hands the outcome to `run`, which stops the arbiters.
//!
//! A second signal during shutdown exits at once with status 130.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use actix::prelude::*;
use actix_rt::signal::unix::{SignalKind, signal};
use futures::channel::oneshot;
use indicatif::ProgressBar;

use crate::output::retention::Retention;

use super::messages::{Flush, FlushReport, ReaderFinished, StartReading};
use super::reader::{PacketSource, ReadReport, ReaderActor, ReaderLinks, ReaderSettings};
use super::scheduler::{SchedulerActor, TaskInfo};
use super::shard::ShardActor;
use super::writer::{WriteProgress, WriterActor};

/// Everything `run` needs to build the pipeline.
pub struct PipelineSettings {
    pub source: PacketSource,
    pub tasks: Vec<TaskInfo>,
    /// Number of shard actors, each on its own thread.
    pub workers: usize,
    pub reader: ReaderSettings,
    pub output_root: PathBuf,
    pub retention: Retention,
    /// Windows kept in memory for a retry when writing fails.
    pub write_backlog: usize,
    /// Raise the stop flag by itself after this long (live `--duration`).
    pub stop_after: Option<Duration>,
    pub progress: ProgressBar,
}

/// The result of a whole run: what was read and what was written.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub read: ReadReport,
    pub written: FlushReport,
}

pub struct SupervisorActor {
    scheduler: Addr<SchedulerActor>,
    output_root: PathBuf,
    progress: WriteProgress,
    stop: Arc<AtomicBool>,
    stop_after: Option<Duration>,
    /// The stop came from `stop_after`, a planned end, not an interruption.
    ran_out: bool,
    done: Option<oneshot::Sender<RunOutcome>>,
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let stop = Arc::clone(&self.stop);
        let last_words = LastWords {
            root: self.output_root.clone(),
            progress: self.progress.clone(),
        };
        ctx.spawn(watch_signals(stop, last_words).into_actor(self));
        if let Some(after) = self.stop_after {
            ctx.run_later(after, move |act, _| {
                act.ran_out = !act.stop.load(Ordering::SeqCst);
                log::info!(
                    "run time of {} reached: stopping",
                    humantime::format_duration(after)
                );
                act.stop.store(true, Ordering::SeqCst);
            });
        }
    }
}

impl Handler<ReaderFinished> for SupervisorActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, finished: ReaderFinished, _: &mut Context<Self>) -> Self::Result {
        log::info!("reader finished; writing the remaining windows");
        let mut read = finished.report;
        read.interrupted &= !self.ran_out;
        let flush = self.scheduler.send(Flush);
        Box::pin(flush.into_actor(self).map(move |written, act, _| {
            let written = written.unwrap_or_else(|error| FlushReport {
                failures: vec![format!("scheduler unreachable: {error}")],
                ..FlushReport::default()
            });
            if let Some(done) = act.done.take() {
                let _ = done.send(RunOutcome { read, written });
            }
        }))
    }
}

/// What a second signal says before the process exits.
struct LastWords {
    root: PathBuf,
    progress: WriteProgress,
}

impl LastWords {
    fn say(&self) {
        let written = match self.progress.written_until() {
            Some(end) => format!(
                "windows up to {} are on disk",
                crate::output::layout::rfc3339_nanos(end)
            ),
            None => "no window was written".to_string(),
        };
        eprintln!(
            "netspectra: second signal: exiting now; {written} under {}; the counts after that are not written",
            self.root.display()
        );
    }
}

/// Raises the stop flag on the first SIGINT or SIGTERM; exits with 130 on the second.
async fn watch_signals(stop: Arc<AtomicBool>, last_words: LastWords) {
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::warn!(
            "cannot install signal handlers; Ctrl-C will kill the run without a final snapshot"
        );
        return;
    };
    let received = AtomicU32::new(0);
    loop {
        futures::future::select(Box::pin(terminate.recv()), Box::pin(interrupt.recv())).await;
        if received.fetch_add(1, Ordering::SeqCst) == 0 {
            log::warn!(
                "signal received: stopping; everything read so far will be counted and written"
            );
            stop.store(true, Ordering::SeqCst);
        } else {
            last_words.say();
            std::process::exit(130);
        }
    }
}

/// Builds the pipeline, reads every input, shuts down in order, and returns the outcome.
pub fn run(settings: PipelineSettings) -> std::io::Result<RunOutcome> {
    let system = System::new();
    let outcome = system.block_on(async move {
        let mut arbiters = Vec::new();
        let writer_root = settings.output_root.clone();
        let (retention, backlog) = (settings.retention, settings.write_backlog);
        let progress = WriteProgress::default();
        let writer_progress = progress.clone();
        let writer = SyncArbiter::start(1, move || {
            WriterActor::new(
                writer_root.clone(),
                retention,
                backlog,
                writer_progress.clone(),
            )
        });
        let scheduler =
            SchedulerActor::new(settings.tasks.clone(), settings.workers, writer).start();
        let mailbox = settings.reader.max_in_flight + 16;
        let shards: Vec<Addr<ShardActor>> = (0..settings.workers)
            .map(|index| {
                let arbiter = Arbiter::new();
                let shard =
                    ShardActor::new(index, settings.workers, &settings.tasks, scheduler.clone());
                let addr = ShardActor::start_in_arbiter(&arbiter.handle(), move |ctx| {
                    // Larger than the reader's in-flight limit: a send never finds the
                    // mailbox full, so batches and cuts stay in the order they were sent.
                    ctx.set_mailbox_capacity(mailbox);
                    shard
                });
                arbiters.push(arbiter);
                addr
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (done, finished) = oneshot::channel();
        let supervisor = SupervisorActor {
            scheduler: scheduler.clone(),
            output_root: settings.output_root.clone(),
            progress,
            stop: Arc::clone(&stop),
            stop_after: settings.stop_after,
            ran_out: false,
            done: Some(done),
        }
        .start();
        let links = ReaderLinks {
            shards,
            scheduler,
            supervisor,
            stop,
        };
        let reader = ReaderActor::new(settings.source, settings.reader, links, settings.progress);
        let reader_arbiter = Arbiter::new();
        let reader = ReaderActor::start_in_arbiter(&reader_arbiter.handle(), |_| reader);
        arbiters.push(reader_arbiter);
        reader.do_send(StartReading);
        let outcome = finished.await;
        for arbiter in arbiters {
            arbiter.stop();
            let _ = arbiter.join();
        }
        outcome
    });
    outcome.map_err(|_| std::io::Error::other("the pipeline stopped before reporting its outcome"))
}
