//! Snapshot writer: hands complete windows to every sink, on its own thread.
//!
//! Accepts: `WriteWindow` and `RetryBacklog` (Scheduler); replies a
//! `WriteReport` of the windows every sink has stored and those given up.
//! Runs in a one-thread `SyncArbiter`, so sink latency never reaches the
//! packet path, and windows reach each sink in the order sent.
//!
//! The one retry policy of every sink lives here: a window a sink fails to
//! store stays in that sink's backlog (bounded, shared with the other sinks
//! through an `Arc`) and is offered again, oldest first, before the next
//! window; when a backlog is full its oldest window is given up and
//! reported, and so is a window whose failure the sink calls final. A
//! window counts as written once every sink has stored it. Each attempt's
//! duration and outcome, the backlog size and the newest window stored go
//! to the live metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix::prelude::*;

use crate::flow::WindowBounds;
use crate::metrics::Metrics;
use crate::output::{ClosedWindow, Writer, layout};

use super::messages::{RetryBacklog, WindowWritten, WriteProgress, WriteReport, WriteWindow};

pub struct WriterActor {
    /// Every configured sink, with its own backlog.
    sinks: Vec<Sink>,
    /// Windows some sink has not stored yet, by window.
    deliveries: BTreeMap<WindowBounds, Delivery>,
    /// Newest window stored by every sink, for the supervisor's last words.
    progress: WriteProgress,
    /// Live counters: per sink writes, the backlog, the newest window.
    metrics: Arc<Metrics>,
}

/// One sink and the windows it still has to store, oldest first.
struct Sink {
    /// Index of the sink in writer order (its metrics slot).
    index: usize,
    writer: Box<dyn Writer>,
    /// Windows this sink has not stored yet, oldest first.
    backlog: VecDeque<Arc<ClosedWindow>>,
    /// Most windows kept for retry; beyond it the oldest is given up.
    capacity: usize,
}

/// How far one window has got through the sinks.
struct Delivery {
    /// Sinks that have neither stored nor given up the window.
    waiting: usize,
    /// Some sink gave it up: it will not be reported as written.
    lost: bool,
}

/// What one sink did with one window.
enum Outcome {
    Stored,
    GivenUp(String),
}

impl WriterActor {
    /// A writer feeding `writers`, keeping at most `max_backlog` failed
    /// windows per sink for retry.
    pub fn new(
        writers: Vec<Box<dyn Writer>>,
        max_backlog: usize,
        progress: WriteProgress,
        metrics: Arc<Metrics>,
    ) -> WriterActor {
        WriterActor {
            sinks: writers
                .into_iter()
                .enumerate()
                .map(|(index, writer)| Sink {
                    index,
                    writer,
                    backlog: VecDeque::new(),
                    capacity: max_backlog.max(1),
                })
                .collect(),
            deliveries: BTreeMap::new(),
            progress,
            metrics,
        }
    }
}

impl Actor for WriterActor {
    type Context = SyncContext<Self>;
}

impl Handler<WriteWindow> for WriterActor {
    type Result = WriteReport;

    fn handle(&mut self, message: WriteWindow, _: &mut SyncContext<Self>) -> WriteReport {
        let window = message.window;
        self.deliveries.insert(
            window.bounds,
            Delivery {
                waiting: self.sinks.len(),
                lost: false,
            },
        );
        let mut outcomes = Vec::new();
        for sink in &mut self.sinks {
            sink.backlog.push_back(Arc::clone(&window));
            if let Some(given_up) = sink.shed_oldest() {
                outcomes.push(given_up);
            }
            outcomes.extend(sink.store_backlog(&self.metrics));
        }
        if self.sinks.is_empty() {
            outcomes.push((Arc::clone(&window), Outcome::Stored));
        }
        self.settle(outcomes)
    }
}

impl Handler<RetryBacklog> for WriterActor {
    type Result = WriteReport;

    fn handle(&mut self, _: RetryBacklog, _: &mut SyncContext<Self>) -> WriteReport {
        let mut outcomes = Vec::new();
        for sink in &mut self.sinks {
            outcomes.extend(sink.store_backlog(&self.metrics));
            outcomes.extend(sink.give_up_all());
        }
        self.settle(outcomes)
    }
}

impl WriterActor {
    /// Folds the sinks' outcomes into the windows' deliveries; reports the
    /// windows now stored by every sink and every window given up.
    fn settle(&mut self, outcomes: Vec<(Arc<ClosedWindow>, Outcome)>) -> WriteReport {
        let mut report = WriteReport::default();
        for (window, outcome) in outcomes {
            let Some(delivery) = self.deliveries.get_mut(&window.bounds) else {
                continue;
            };
            if let Outcome::GivenUp(message) = outcome {
                delivery.lost = true;
                report.lost.push(message);
            }
            delivery.waiting = delivery.waiting.saturating_sub(1);
            if delivery.waiting == 0 {
                let lost = delivery.lost;
                self.deliveries.remove(&window.bounds);
                if !lost {
                    report.written.push(WindowWritten {
                        window: window.bounds,
                        task_totals: window.tasks.iter().map(|task| task.totals()).collect(),
                    });
                }
            }
        }
        self.progress.record(&report.written);
        if let Some(end) = self.progress.written_until() {
            self.metrics
                .last_window_end_ns
                .store(end, Ordering::Relaxed);
        }
        let backlog: usize = self.sinks.iter().map(|sink| sink.backlog.len()).sum();
        self.metrics
            .backlog_windows
            .store(backlog as u64, Ordering::Relaxed);
        report
    }
}

impl Sink {
    /// Gives up the oldest window when the backlog is over capacity.
    fn shed_oldest(&mut self) -> Option<(Arc<ClosedWindow>, Outcome)> {
        if self.backlog.len() <= self.capacity {
            return None;
        }
        let oldest = self.backlog.pop_front()?;
        let message = format!(
            "window {}: not written to {}, dropped from a full backlog of {} windows awaiting a retry",
            layout::window_dir_name(oldest.bounds.start_ns),
            self.writer.describe(),
            self.capacity
        );
        log::error!("{message}");
        Some((oldest, Outcome::GivenUp(message)))
    }

    /// Stores backlogged windows oldest first until one fails with a
    /// retryable error; that one and the later ones stay for the next
    /// attempt. A final failure gives that window up and goes on.
    fn store_backlog(&mut self, metrics: &Metrics) -> Vec<(Arc<ClosedWindow>, Outcome)> {
        let mut outcomes = Vec::new();
        while let Some(window) = self.backlog.front() {
            let window = Arc::clone(window);
            let started = Instant::now();
            let result = self.writer.write(&window);
            if let Some(counters) = metrics.sinks.get(self.index) {
                counters.observe_write(started.elapsed(), result.is_ok());
            }
            match result {
                Ok(()) => {
                    self.backlog.pop_front();
                    outcomes.push((window, Outcome::Stored));
                }
                Err(error) if error.retryable => {
                    log::error!(
                        "window {} not written to {}: {error}; kept in memory and retried with the next window ({} waiting)",
                        layout::window_dir_name(window.bounds.start_ns),
                        self.writer.describe(),
                        self.backlog.len()
                    );
                    break;
                }
                Err(error) => {
                    self.backlog.pop_front();
                    let message = format!(
                        "window {}: not written to {}: {error}",
                        layout::window_dir_name(window.bounds.start_ns),
                        self.writer.describe()
                    );
                    log::error!("{message}");
                    outcomes.push((window, Outcome::GivenUp(message)));
                }
            }
        }
        outcomes
    }

    /// Gives up every window still backlogged, with one message each.
    fn give_up_all(&mut self) -> Vec<(Arc<ClosedWindow>, Outcome)> {
        let describe = self.writer.describe();
        self.backlog
            .drain(..)
            .map(|window| {
                let message = format!(
                    "window {}: not written to {describe} (it kept failing until shutdown)",
                    layout::window_dir_name(window.bounds.start_ns)
                );
                log::error!("{message}");
                (window, Outcome::GivenUp(message))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureStats, RunMode};
    use crate::output::WriteError;
    use crate::output::run::RunId;

    /// A sink that fails while `failing` holds and records what it stored.
    struct FlakySink {
        failing: Arc<std::sync::atomic::AtomicBool>,
        retryable: bool,
        stored: Arc<std::sync::Mutex<Vec<u64>>>,
    }

    impl Writer for FlakySink {
        fn describe(&self) -> String {
            "the test sink".to_string()
        }

        fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(WriteError {
                    retryable: self.retryable,
                    message: "disk full".to_string(),
                });
            }
            self.stored.lock().unwrap().push(window.bounds.start_ns);
            Ok(())
        }
    }

    fn window(minute: u64) -> WriteWindow {
        let start_ns = minute * 60_000_000_000;
        WriteWindow {
            window: Arc::new(ClosedWindow {
                bounds: WindowBounds {
                    start_ns,
                    end_ns: start_ns + 60_000_000_000,
                },
                run: RunId(7),
                mode: RunMode::Offline,
                capture: CaptureStats::default(),
                tasks: Vec::new(),
            }),
        }
    }

    struct Harness {
        actor: WriterActor,
        failing: Arc<std::sync::atomic::AtomicBool>,
        stored: Arc<std::sync::Mutex<Vec<u64>>>,
    }

    fn harness(capacity: usize, retryable: bool) -> Harness {
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let stored = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = FlakySink {
            failing: Arc::clone(&failing),
            retryable,
            stored: Arc::clone(&stored),
        };
        let actor = WriterActor::new(
            vec![Box::new(sink)],
            capacity,
            WriteProgress::default(),
            Arc::new(Metrics::default()),
        );
        Harness {
            actor,
            failing,
            stored,
        }
    }

    impl Harness {
        fn write(&mut self, minute: u64) -> WriteReport {
            let message = window(minute);
            let window = message.window;
            self.actor.deliveries.insert(
                window.bounds,
                Delivery {
                    waiting: 1,
                    lost: false,
                },
            );
            let sink = &mut self.actor.sinks[0];
            sink.backlog.push_back(window);
            let mut outcomes: Vec<_> = sink.shed_oldest().into_iter().collect();
            outcomes.extend(sink.store_backlog(&Metrics::default()));
            self.actor.settle(outcomes)
        }
    }

    #[test]
    fn a_failed_window_is_retried_before_the_next_one_and_both_land_in_order() {
        let mut harness = harness(4, true);
        let report = harness.write(0);
        assert!(report.written.is_empty() && report.lost.is_empty());
        harness
            .failing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let report = harness.write(1);
        let order: Vec<u64> = report.written.iter().map(|w| w.window.start_ns).collect();
        assert_eq!(order, vec![0, 60_000_000_000]);
        assert_eq!(*harness.stored.lock().unwrap(), order);
    }

    #[test]
    fn a_full_backlog_gives_up_its_oldest_window_and_says_which() {
        let mut harness = harness(2, true);
        harness.write(0);
        harness.write(1);
        let report = harness.write(2);
        assert_eq!(report.lost.len(), 1, "{:?}", report.lost);
        assert!(
            report.lost[0].contains("1970-01-01T00-00-00Z"),
            "{:?}",
            report.lost
        );
        assert!(
            report.lost[0].contains("the test sink"),
            "{:?}",
            report.lost
        );
    }

    #[test]
    fn a_final_failure_is_given_up_at_once_and_the_next_window_goes_on() {
        let mut harness = harness(4, false);
        let report = harness.write(0);
        assert_eq!(report.lost.len(), 1);
        assert!(report.lost[0].contains("disk full"), "{:?}", report.lost);
        harness
            .failing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let report = harness.write(1);
        assert_eq!(report.written.len(), 1);
    }
}
