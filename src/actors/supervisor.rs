//! Supervisor: watches for stop requests and runs the ordered shutdown.
//!
//! Accepts: `ReaderFinished` (Reader). Sends: `Flush` (Scheduler).
//!
//! Shutdown protocol, the same at end of input and on SIGINT, SIGTERM or SIGHUP:
//! 1. A signal (counted by `signals`, whose pipe wakes the supervisor) or `--duration`
//!    raises the stop request (`StopFlag`); the reader checks it before
//!    every packet, and a live reader idle on its interface is woken by it,
//!    and stops reading (end of input or `--count` needs no request).
//! 2. The reader sends its last partial batch and the final
//!    `Feed::CloseWindow` to every shard (announced to the scheduler with
//!    `WindowClosing`), and waits until every shard has answered every
//!    message it sent. Each shard has then handed its last parts to the
//!    scheduler.
//! 3. The reader reports `ReaderFinished`; the supervisor sends `Flush` to the
//!    scheduler, which is handled after every shard's `ShardParts` (they were
//!    queued before step 2 ended).
//! 4. The scheduler answers `Flush` once the writer has answered every
//!    `WriteWindow` and one last `RetryBacklog`: every window is stored by
//!    every sink or reported as given up.
//! 5. The supervisor stops the HTTP server, if one runs (`--listen`):
//!    requests in flight get a few seconds to finish.
//! 6. The supervisor hands the outcome to `pipeline::run`, which stops the arbiters.
//!
//! A second signal during shutdown exits with status 130, naming the newest
//! window every sink has stored: as soon as it comes, or when the shutdown
//! ends, whichever comes first.

use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use futures::channel::oneshot;

use super::messages::{Flush, FlushReport, ReadReport, ReaderFinished, WriteProgress};
use super::signals;
use super::stop::StopFlag;

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
    stop: StopFlag,
    /// Live `--duration`: raise the stop flag after this long.
    stop_after: Option<Duration>,
    /// The stop came from `stop_after`, a planned end, not an interruption.
    ran_out: bool,
    /// The first stop signal has been acted on.
    signalled: bool,
    /// Where the outcome goes when the shutdown is complete.
    done: Option<oneshot::Sender<RunOutcome>>,
    /// The HTTP server of `--listen`, stopped once every window is written.
    server: Option<ServerHandle>,
}

/// What the supervisor is built from.
pub struct SupervisorSettings {
    pub flush_to: Recipient<Flush>,
    pub sinks: String,
    pub progress: WriteProgress,
    pub stop: StopFlag,
    pub stop_after: Option<Duration>,
    pub done: oneshot::Sender<RunOutcome>,
    pub server: Option<ServerHandle>,
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
            signalled: false,
            done: Some(settings.done),
            server: settings.server,
        }
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.add_stream(futures::StreamExt::map(signals::arrivals(), |()| {
            SignalArrived
        }));
        // A signal may have come before the stream watched the pipe.
        self.obey_signals();
        if let Some(after) = self.stop_after {
            ctx.run_later(after, move |act, _| {
                act.ran_out = !act.stop.is_raised();
                log::info!(
                    "run time of {} reached: stopping",
                    humantime::format_duration(after)
                );
                act.stop.raise();
            });
        }
    }
}

/// Stop signals arrived (from [`signals::arrivals`], which never ends).
struct SignalArrived;

impl StreamHandler<SignalArrived> for SupervisorActor {
    fn handle(&mut self, _: SignalArrived, _: &mut Context<Self>) {
        self.obey_signals();
    }
}

impl Handler<ReaderFinished> for SupervisorActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, finished: ReaderFinished, _: &mut Context<Self>) -> Self::Result {
        log::info!("reader finished; writing the remaining windows");
        let mut read = finished.report;
        read.interrupted &= !self.ran_out;
        let flush = self.flush_to.send(Flush);
        let server = self.server.take();
        let flushed = async move {
            let written = flush.await;
            if let Some(server) = server {
                log::info!("stopping the HTTP server");
                server.stop(true).await;
            }
            written
        };
        Box::pin(flushed.into_actor(self).map(move |written, act, _| {
            // A second signal that came during the shutdown, and was not yet
            // handled, still ends the run with status 130.
            act.exit_on_second_signal();
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

impl SupervisorActor {
    /// The first stop signal raises the stop flag; a second one exits at
    /// once with status 130, saying what is stored.
    fn obey_signals(&mut self) {
        self.exit_on_second_signal();
        if signals::received() == 1 && !self.signalled {
            self.signalled = true;
            log::warn!(
                "signal received: stopping; everything read so far will be counted and written"
            );
            self.stop.raise();
        }
    }

    /// Exits at once with status 130, saying what is stored, when a second
    /// stop signal has arrived.
    fn exit_on_second_signal(&self) {
        if signals::received() >= 2 {
            self.last_words();
            std::process::exit(130);
        }
    }

    fn last_words(&self) {
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
