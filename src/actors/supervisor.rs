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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use actix::prelude::*;
use actix_rt::signal::unix::{SignalKind, signal};
use futures::channel::oneshot;

use super::messages::{Flush, FlushReport, ReadReport, ReaderFinished, WriteProgress};

/// The result of a whole run: what was read and what was written.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub read: ReadReport,
    pub written: FlushReport,
}

pub struct SupervisorActor {
    /// The scheduler, flushed once the reader is done.
    flush_to: Recipient<Flush>,
    /// Names the sinks in what a second signal says.
    sinks: String,
    /// Newest window every sink has stored, for a second signal's message.
    progress: WriteProgress,
    /// Raised on the first signal or when `stop_after` runs out; the reader obeys it.
    stop: Arc<AtomicBool>,
    stop_after: Option<Duration>,
    /// The stop came from `stop_after`, a planned end, not an interruption.
    ran_out: bool,
    /// Where the outcome goes when the shutdown is complete.
    done: Option<oneshot::Sender<RunOutcome>>,
}

/// What the supervisor is built from.
pub struct SupervisorSettings {
    pub flush_to: Recipient<Flush>,
    pub sinks: String,
    pub progress: WriteProgress,
    pub stop: Arc<AtomicBool>,
    pub stop_after: Option<Duration>,
    pub done: oneshot::Sender<RunOutcome>,
}

impl SupervisorActor {
    pub fn new(settings: SupervisorSettings) -> SupervisorActor {
        SupervisorActor {
            flush_to: settings.flush_to,
            sinks: settings.sinks,
            progress: settings.progress,
            stop: settings.stop,
            stop_after: settings.stop_after,
            ran_out: false,
            done: Some(settings.done),
        }
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let stop = Arc::clone(&self.stop);
        let last_words = LastWords {
            sinks: self.sinks.clone(),
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
        let flush = self.flush_to.send(Flush);
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
    sinks: String,
    progress: WriteProgress,
}

impl LastWords {
    fn say(&self) {
        let written = match self.progress.written_until() {
            Some(end) => format!(
                "windows up to {} are stored",
                crate::output::layout::rfc3339_nanos(end)
            ),
            None => "no window was written".to_string(),
        };
        eprintln!(
            "netspectra: second signal: exiting now; {written} in {}; the counts after that are not written",
            self.sinks
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
