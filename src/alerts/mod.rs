//! Alert rules: evaluated on every closed window, in event time, and
//! notified through the log and a webhook.
//!
//! The rules run as one more sink ([`AlertSink`], a `Writer`): the writer
//! actor hands it each closed window in order, on its own thread, so an
//! offline run alerts exactly like a live one and counting never waits for
//! a rule. A rule fires once when it becomes true and resolves once when
//! it becomes false; a change is notified only when at least
//! `check_interval` of event time has passed since the rule's previous
//! notification (until then the rule keeps its state and is looked at
//! again on the next window). Webhook deliveries run on a thread of their
//! own behind a bounded queue, each retried a bounded number of times; a
//! full queue drops the notification with an error line instead of
//! blocking. [`Alerter::finish`] waits, bounded, for what is queued.

pub mod config;

use crate::flow::Estimated;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::metrics::Metrics;
use crate::output::layout::rfc3339_nanos;
use crate::output::{ClosedWindow, TaskWindow, WriteError, Writer};

pub use config::{AlerterConfig, Metric, Operator, RuleConfig, SmtpSection, check_rules};

/// Notifications waiting for the webhook; beyond this they are dropped.
const QUEUE_LEN: usize = 256;
/// Attempts per notification before it is given up.
const WEBHOOK_ATTEMPTS: u32 = 3;
/// Wait before the second attempt; doubled for each further one.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(200);
/// Longest one webhook request may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `finish` waits for queued deliveries at shutdown.
const FINISH_WAIT: Duration = Duration::from_secs(30);

/// One state change of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub rule: String,
    pub task: String,
    /// Start of the window that caused it, ns since the epoch.
    pub window_start_ns: u64,
    pub value: f64,
    pub firing: bool,
}

impl Notice {
    /// The webhook's JSON body: `rule`, `task`, `window`, `value`, `state`.
    pub fn json(&self) -> String {
        json!({
            "rule": self.rule,
            "task": self.task,
            "window": rfc3339_nanos(self.window_start_ns),
            "value": self.value,
            "state": if self.firing { "firing" } else { "resolved" },
        })
        .to_string()
    }
}

/// One rule and where it stands.
struct Rule {
    config: RuleConfig,
    firing: bool,
    /// End of the window of the rule's last notification, ns.
    notified_at: Option<u64>,
}

/// The rules as a sink: evaluates each window it is handed.
pub struct AlertSink {
    rules: Vec<Rule>,
    check_interval_ns: u64,
    /// Where the firing gauges live (`Metrics::alerts`, in rule order).
    metrics: Arc<Metrics>,
    /// The webhook thread's queue, when a webhook is set.
    webhook: Option<SyncSender<Delivery>>,
}

/// What the webhook thread is asked to do.
enum Delivery {
    Post(Notice),
    /// Everything before this is delivered; stop.
    Finish,
}

/// The webhook thread, joined at the end of the run.
pub struct Alerter {
    queue: Option<SyncSender<Delivery>>,
    thread: Option<JoinHandle<()>>,
}

/// Builds the sink for `config` (enabled, rules checked by the config) and
/// starts the webhook thread if a webhook is set.
pub fn start(
    config: &AlerterConfig,
    metrics: Arc<Metrics>,
) -> std::io::Result<(AlertSink, Alerter)> {
    let (queue, thread) = match &config.webhook_url {
        Some(url) => {
            let (sender, receiver) = sync_channel(QUEUE_LEN);
            let url = url.clone();
            let thread = std::thread::Builder::new()
                .name("alert-webhook".to_string())
                .spawn(move || deliver_all(&url, &receiver))?;
            (Some(sender), Some(thread))
        }
        None => (None, None),
    };
    let sink = AlertSink {
        rules: config
            .rules
            .iter()
            .map(|rule| Rule {
                config: rule.clone(),
                firing: false,
                notified_at: None,
            })
            .collect(),
        check_interval_ns: u64::try_from(config.check_interval.as_nanos()).unwrap_or(u64::MAX),
        metrics,
        webhook: queue.clone(),
    };
    Ok((sink, Alerter { queue, thread }))
}

impl Alerter {
    /// Waits until every notification queued so far is delivered or given
    /// up, at most [`FINISH_WAIT`]. Call after the pipeline has finished.
    pub fn finish(mut self) {
        let (Some(queue), Some(thread)) = (self.queue.take(), self.thread.take()) else {
            return;
        };
        let deadline = Instant::now() + FINISH_WAIT;
        if queue.send(Delivery::Finish).is_err() {
            return;
        }
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                log::error!(
                    "alert webhook: deliveries still pending after {}; exiting without them",
                    humantime::format_duration(FINISH_WAIT)
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if thread.join().is_err() {
            log::error!("alert webhook: the delivery thread panicked");
        }
    }
}

/// How the alert sink is named among the sinks, for `rules` rules.
pub fn sink_name(rules: usize) -> String {
    format!("alert rules ({rules})")
}

impl Writer for AlertSink {
    fn describe(&self) -> String {
        sink_name(self.rules.len())
    }

    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
        let notices = self.evaluate(window);
        for notice in notices {
            self.notify(notice);
        }
        Ok(())
    }
}

impl AlertSink {
    /// The state changes `window` causes, in rule order.
    fn evaluate(&mut self, window: &ClosedWindow) -> Vec<Notice> {
        let mut notices = Vec::new();
        for (index, rule) in self.rules.iter_mut().enumerate() {
            let Some(task) = window
                .tasks
                .iter()
                .find(|task| task.spec.name == rule.config.task_name)
            else {
                continue;
            };
            let value = measure(task, rule.config.metric);
            let holds = rule.config.operator.holds(value, rule.config.threshold);
            let end = window.bounds.end_ns;
            let quiet_enough = rule
                .notified_at
                .is_none_or(|at| end.saturating_sub(at) >= self.check_interval_ns);
            if holds == rule.firing || !quiet_enough {
                continue;
            }
            rule.firing = holds;
            rule.notified_at = Some(end);
            if let Some((_, gauge)) = self.metrics.alerts.get(index) {
                gauge.store(u64::from(holds), Ordering::Relaxed);
            }
            notices.push(Notice {
                rule: rule.config.name.clone(),
                task: task.spec.name.clone(),
                window_start_ns: window.bounds.start_ns,
                value,
                firing: holds,
            });
        }
        notices
    }

    /// Logs `notice` and queues it for the webhook without waiting.
    fn notify(&self, notice: Notice) {
        let rule = self
            .rules
            .iter()
            .find(|rule| rule.config.name == notice.rule);
        let condition = rule.map_or_else(String::new, |rule| {
            format!(
                " ({} {} {})",
                rule.config.metric.name(),
                rule.config.operator,
                rule.config.threshold
            )
        });
        let window = rfc3339_nanos(notice.window_start_ns);
        if notice.firing {
            log::warn!(
                "alert {} firing: task {} measured {} in window {window}{condition}",
                notice.rule,
                notice.task,
                notice.value
            );
        } else {
            log::info!(
                "alert {} resolved: task {} measured {} in window {window}",
                notice.rule,
                notice.task,
                notice.value
            );
        }
        let Some(queue) = &self.webhook else {
            return;
        };
        match queue.try_send(Delivery::Post(notice)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::error!(
                "alert webhook: {QUEUE_LEN} notifications already waiting; this one is dropped"
            ),
            Err(TrySendError::Disconnected(_)) => {
                log::error!("alert webhook: the delivery thread is gone; notification dropped")
            }
        }
    }
}

/// A rule's metric in one task's window. For a sketch task (counted whole
/// by one shard, so one part): `heavy_hitter_count` is the keys its report
/// holds, `heavy_hitter_size` the largest estimated bytes among them,
/// `super_spreader_spread` the largest estimated spread.
fn measure(task: &TaskWindow, metric: Metric) -> f64 {
    let totals = task.totals();
    let largest = |field: fn(&Estimated) -> Option<u64>| {
        (task.parts.iter())
            .flat_map(|part| part.estimates())
            .filter_map(|row| field(&row))
            .max()
            .unwrap_or(0)
    };
    let value = match metric {
        Metric::TotalPackets => totals.packets,
        Metric::TotalBytes => totals.bytes,
        Metric::TotalFlows | Metric::HeavyHitterCount => totals.records,
        Metric::HeavyHitterSize => largest(|row| row.bytes),
        Metric::SuperSpreaderSpread => largest(|row| row.spread),
    };
    value as f64
}

/// The webhook thread: posts each notification in order until `Finish`.
fn deliver_all(url: &str, queue: &Receiver<Delivery>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(WEBHOOK_TIMEOUT))
        .build()
        .new_agent();
    while let Ok(Delivery::Post(notice)) = queue.recv() {
        deliver(&agent, url, &notice);
    }
}

/// Posts one notification, retrying with a doubling wait; gives up after
/// [`WEBHOOK_ATTEMPTS`] with an error line.
fn deliver(agent: &ureq::Agent, url: &str, notice: &Notice) {
    let body = notice.json();
    let mut wait = FIRST_RETRY_WAIT;
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let sent = agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        let problem = match sent {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => format!("answered {}", response.status()),
            Err(error) => error.to_string(),
        };
        if attempt == WEBHOOK_ATTEMPTS {
            log::error!(
                "alert webhook {url}: {problem}; gave up on alert {} ({}) after {attempt} attempts",
                notice.rule,
                if notice.firing { "firing" } else { "resolved" }
            );
            return;
        }
        log::warn!("alert webhook {url}: {problem}; retrying in {wait:?}");
        std::thread::sleep(wait);
        wait *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureStats, RunMode};
    use crate::flow::{Aggregator, FlowKey};
    use crate::flow::{
        ExactAggregator, KeySchema, PacketRecord, Share, TaskKind, TaskSpec, WindowBounds,
    };
    use crate::metrics::MetricsLayout;
    use crate::output::run::RunId;

    const SECOND: u64 = 1_000_000_000;

    fn spec() -> TaskSpec {
        TaskSpec {
            name: "per_proto".into(),
            kind: TaskKind::Exact,
            schema: KeySchema::from_fields(&[crate::flow::KeyField::Protocol]),
            max_keys: None,
        }
    }

    /// Window `n` (of one second) with `packets` packets in the task.
    fn window(n: u64, packets: u64) -> ClosedWindow {
        let spec = spec();
        let mut aggregator = ExactAggregator::new(&spec, Share::whole(&spec));
        let batch: Vec<PacketRecord> = (0..packets)
            .map(|_| PacketRecord {
                key: FlowKey::ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1, 2, 17),
                timestamp_ns: n * SECOND,
                wire_len: 100,
            })
            .collect();
        aggregator.count(&batch);
        ClosedWindow {
            bounds: WindowBounds {
                start_ns: n * SECOND,
                end_ns: (n + 1) * SECOND,
            },
            run: RunId(1),
            mode: RunMode::Offline,
            capture: CaptureStats::default(),
            tasks: vec![TaskWindow {
                spec,
                parts: vec![aggregator.take_part()],
            }],
        }
    }

    fn sink(check_interval: Duration) -> AlertSink {
        let config = AlerterConfig {
            enabled: true,
            check_interval,
            rules: vec![RuleConfig {
                name: "busy".into(),
                task_name: "per_proto".into(),
                metric: Metric::TotalPackets,
                operator: Operator::Greater,
                threshold: 5.0,
            }],
            webhook_url: None,
        };
        let metrics = Arc::new(Metrics::new(&MetricsLayout {
            rules: vec!["busy".into()],
            ..MetricsLayout::default()
        }));
        start(&config, metrics)
            .expect("no thread without a webhook")
            .0
    }

    fn states(sink: &mut AlertSink, packets: &[u64]) -> Vec<(u64, bool)> {
        packets
            .iter()
            .enumerate()
            .flat_map(|(n, &count)| sink.evaluate(&window(n as u64, count)))
            .map(|notice| (notice.window_start_ns / SECOND, notice.firing))
            .collect()
    }

    #[test]
    fn a_rule_fires_once_while_true_and_resolves_once_when_false() {
        let mut sink = sink(Duration::ZERO);
        let got = states(&mut sink, &[1, 9, 9, 9, 1, 1, 9]);
        assert_eq!(got, vec![(1, true), (4, false), (6, true)]);
        assert_eq!(sink.metrics.alerts[0].1.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn check_interval_holds_back_a_change_until_it_has_passed_in_event_time() {
        let mut sink = sink(Duration::from_secs(3));
        // Fires at window 1 (end 2 s); the drop at window 2 may not be told
        // before 5 s, so it resolves at window 4 (end 5 s).
        let got = states(&mut sink, &[1, 9, 1, 1, 1, 1]);
        assert_eq!(got, vec![(1, true), (4, false)]);
    }

    #[test]
    fn the_webhook_body_names_rule_task_window_value_and_state() {
        let notice = Notice {
            rule: "busy".into(),
            task: "per_proto".into(),
            window_start_ns: 0,
            value: 9.0,
            firing: true,
        };
        let body: serde_json::Value = serde_json::from_str(&notice.json()).expect("JSON");
        assert_eq!(
            body,
            json!({"rule": "busy", "task": "per_proto", "window": "1970-01-01T00:00:00.000000000Z", "value": 9.0, "state": "firing"})
        );
    }
}

#[cfg(test)]
mod sketch_metrics {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::sketch::{HeavyHitterParams, SpreadParams};
    use crate::flow::{
        FlowKey, KeyField, KeySchema, PacketRecord, Share, TaskKind, TaskSpec, build_aggregator,
    };

    /// One window of a task of `kind` over 300 packets of 10.0.0.1 to 300
    /// hosts and 10 packets of 10.0.0.2 to one host, 100 bytes each.
    fn task(kind: TaskKind) -> TaskWindow {
        let spec = TaskSpec {
            name: "sketch".into(),
            kind,
            schema: KeySchema::from_fields(&[KeyField::SrcIp]),
            max_keys: None,
        };
        let packet = |source: u8, host: u32| PacketRecord {
            key: FlowKey::ipv4(
                Ipv4Addr::new(10, 0, 0, source),
                Ipv4Addr::from(0xc000_0200 + host),
                1,
                2,
                17,
            ),
            timestamp_ns: 0,
            wire_len: 100,
        };
        let mut batch: Vec<PacketRecord> = (0..300).map(|host| packet(1, host)).collect();
        batch.extend((0..10).map(|_| packet(2, 0)));
        let mut aggregator = build_aggregator(&spec, Share::whole(&spec));
        aggregator.count(&batch);
        TaskWindow {
            spec,
            parts: vec![aggregator.take_part()],
        }
    }

    #[test]
    fn sketch_metrics_read_the_report() {
        let heavy = task(TaskKind::HeavyHitters(HeavyHitterParams {
            width: 1024,
            depth: 3,
            packet_threshold: 100,
            byte_threshold: u64::MAX,
            seed: 1,
        }));
        assert_eq!(measure(&heavy, Metric::HeavyHitterCount), 1.0);
        assert_eq!(measure(&heavy, Metric::HeavyHitterSize), 30_000.0);
        assert_eq!(measure(&heavy, Metric::TotalPackets), 310.0);
        let spread = task(TaskKind::SuperSpread(SpreadParams {
            element: KeySchema::from_fields(&[KeyField::DstIp]),
            width: 256,
            depth: 2,
            registers: 128,
            threshold: 50,
            seed: 1,
        }));
        let value = measure(&spread, Metric::SuperSpreaderSpread);
        assert!((250.0..=350.0).contains(&value), "{value}");
    }
}
