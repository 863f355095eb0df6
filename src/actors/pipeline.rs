//! Start-up: builds the actors, wires them to each other, starts reading,
//! and waits for the supervisor's outcome. The only code that names the
//! concrete actor types; the actors themselves address each other through
//! `Recipient`s.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::channel::oneshot;
use futures::future::{LocalBoxFuture, join_all};
use indicatif::ProgressBar;

use crate::api::{self, ApiSpec, OpenWindowCopy, OpenWindowSource, OpenWindows};
use crate::flow::{Aggregator, Part, Share, TaskSpec, build_placed, place_tasks};
use crate::metrics::Metrics;
use crate::output::Writer;

use super::messages::{CopyOpenWindow, RunInfo, StartReading, WriteProgress};
use super::reader::{PacketSource, ReaderActor, ReaderLinks, ReaderSettings};
use super::scheduler::{SchedulerActor, WriterLinks};
use super::shard::{PlacedAggregator, ShardActor};
use super::stop::StopFlag;
use super::supervisor::{RunOutcome, SupervisorActor, SupervisorSettings};
use super::writer::WriterActor;

/// Everything `run` needs to build the pipeline.
pub struct PipelineSettings {
    pub source: PacketSource,
    /// Offline or live, and the run identity naming its parts.
    pub run: RunInfo,
    pub tasks: Vec<TaskSpec>,
    /// Builds each share's aggregator: `flow::build_aggregator`, the
    /// registry of task kinds (tests pass kinds of their own).
    pub build_aggregator: fn(&TaskSpec, Share) -> Box<dyn Aggregator>,
    /// Whether a task can be derived from another by a roll-up
    /// (`flow::derivable`; `flow::never_derived` counts each on its own).
    /// A derived task's counts come from its base's roll-up aggregator
    /// (`flow::build_rollup`), not from `build_aggregator`.
    pub derives: fn(&TaskSpec, &TaskSpec) -> bool,
    /// Number of shard actors; they share at most one thread per CPU.
    pub workers: usize,
    pub reader: ReaderSettings,
    /// The sinks every window goes to (`output::build_writers`).
    pub writers: Vec<Box<dyn Writer>>,
    /// Windows kept in memory per sink for a retry when storing fails.
    pub write_backlog: usize,
    /// Raise the stop flag by itself after this long (live `--duration`).
    pub stop_after: Option<Duration>,
    pub progress: ProgressBar,
    /// Live counters every stage publishes to (laid out for these tasks,
    /// workers and writers).
    pub metrics: Arc<Metrics>,
    /// `--listen`: the HTTP server to run beside the pipeline.
    pub api: Option<ApiSpec>,
}

/// Builds the pipeline, reads every input, shuts down in order, and returns the outcome.
pub fn run(settings: PipelineSettings) -> std::io::Result<RunOutcome> {
    let system = System::new();
    system.block_on(async move {
        let writers = settings.writers;
        let sinks = describe_sinks(&writers.iter().map(|w| w.describe()).collect::<Vec<_>>());
        let progress = WriteProgress::default();
        let writer_progress = progress.clone();
        let backlog = settings.write_backlog;
        let metrics = settings.metrics;
        let writer_metrics = Arc::clone(&metrics);
        // A SyncArbiter builds its actor in the thread it runs on, through a
        // shared factory; it runs once, for the one thread.
        let writers = std::sync::Mutex::new(Some(writers));
        let writer = SyncArbiter::start(1, move || {
            let writers = writers.lock().ok().and_then(|mut slot| slot.take());
            WriterActor::new(
                writers.unwrap_or_default(),
                backlog,
                writer_progress.clone(),
                Arc::clone(&writer_metrics),
            )
        });
        let plan = place_tasks(&settings.tasks, settings.workers, settings.derives);
        let share_counts = share_counts(&settings.tasks, &plan);
        let scheduler = SchedulerActor::new(
            settings.tasks.clone(),
            share_counts,
            plan.len(),
            settings.run,
            WriterLinks {
                write_to: writer.clone().recipient(),
                retry_to: writer.recipient(),
            },
        )
        .start();
        let mailbox = settings.reader.max_in_flight + 16;
        let mut arbiters: Vec<Arbiter> = (0..shard_threads(plan.len()))
            .map(|_| Arbiter::new())
            .collect();
        let threads = arbiters.len();
        let shards = plan
            .iter()
            .enumerate()
            .map(|(index, placements)| {
                let aggregators = placements
                    .iter()
                    .map(|placed| {
                        let aggregator =
                            build_placed(&settings.tasks, placed, settings.build_aggregator);
                        PlacedAggregator {
                            task: placed.task,
                            share: placed.share.index,
                            derived: placed.derived.clone(),
                            aggregator,
                        }
                    })
                    .collect();
                let shard = ShardActor::new(
                    index,
                    aggregators,
                    scheduler.clone().recipient(),
                    Arc::clone(&metrics),
                );
                let thread = &arbiters[index % threads];
                ShardActor::start_in_arbiter(&thread.handle(), move |ctx| {
                    // Larger than the reader's in-flight limit: a send never finds the
                    // mailbox full, so batches and cuts stay in the order they were sent.
                    ctx.set_mailbox_capacity(mailbox);
                    shard
                })
            })
            .collect::<Vec<_>>();
        let server = settings
            .api
            .map(|spec| {
                let copies = ShardCopies(
                    shards
                        .iter()
                        .map(|shard| shard.clone().recipient())
                        .collect(),
                );
                let tasks = settings
                    .tasks
                    .iter()
                    .map(|task| (task.name.clone(), task.schema))
                    .collect();
                api::start(ApiSpec {
                    open_windows: Some(OpenWindows::new(settings.run.run, tasks, Box::new(copies))),
                    ..spec
                })
            })
            .transpose()?
            .map(|server| {
                let handle = server.handle();
                actix_rt::spawn(server);
                handle
            });
        let shards = shards.into_iter().map(Addr::recipient).collect();
        let stop = StopFlag::new().map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot create the stop request's eventfd: {error}"),
            )
        })?;
        let (done, finished) = oneshot::channel();
        let supervisor = SupervisorActor::new(SupervisorSettings {
            flush_to: scheduler.clone().recipient(),
            sinks,
            progress,
            stop: stop.clone(),
            stop_after: settings.stop_after,
            done,
            server,
        })
        .start();
        let links = ReaderLinks {
            shards,
            scheduler: scheduler.recipient(),
            finished_to: supervisor.recipient(),
            stop,
            metrics,
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
            .map_err(|_| std::io::Error::other("the pipeline stopped before reporting its outcome"))
    })
}

/// The API's way to the shards' open windows: asks every shard for its
/// copy of a task's open window and merges the shares into one part.
struct ShardCopies(Vec<Recipient<CopyOpenWindow>>);

impl OpenWindowSource for ShardCopies {
    fn copy(&self, task: usize) -> LocalBoxFuture<'static, Option<OpenWindowCopy>> {
        let requests: Vec<_> = self
            .0
            .iter()
            .map(|shard| shard.send(CopyOpenWindow { task }))
            .collect();
        Box::pin(async move {
            let mut closed_until_ns = Some(u64::MAX);
            let mut merged: Option<Box<dyn Part>> = None;
            for reply in join_all(requests).await {
                let reply = reply.ok()?;
                closed_until_ns = closed_until_ns
                    .zip(reply.closed_until_ns)
                    .map(|(a, b)| a.min(b));
                for part in reply.parts? {
                    match merged.as_mut() {
                        Some(merged) => merged.merge(part.as_ref()).ok()?,
                        None => merged = Some(part),
                    }
                }
            }
            Some(OpenWindowCopy {
                closed_until_ns,
                part: merged?,
            })
        })
    }
}

/// How many threads the `shards` shard actors run on: one each, but no more
/// than the CPUs this process may use less the reader's (at least one).
/// More busy threads than cores would only take turns on them, and each
/// turn refills the core's cache with another shard's tables: on 2 CPUs, a
/// five-tuple task split over 3 shard threads took 1.5x the CPU time of 1
/// thread, and the six default tasks on 2 shard threads beside the reader
/// took 1.13x the wall time of 1. Shard `i` runs on thread `i % threads`.
fn shard_threads(shards: usize) -> usize {
    shards.min(crate::cpus_beside_reader()).max(1)
}

/// Per task: the number of shares the plan split it into.
fn share_counts(tasks: &[TaskSpec], plan: &[Vec<crate::flow::Placement>]) -> Vec<usize> {
    let mut counts = vec![0; tasks.len()];
    for placed in plan.iter().flatten() {
        counts[placed.task] = placed.share.count;
        for &derived in &placed.derived {
            counts[derived] = 1;
        }
    }
    counts
}

/// "files under a and files under b", for messages about all sinks.
fn describe_sinks(sinks: &[String]) -> String {
    match sinks {
        [] => "no sink".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
