//! Live counters of a run, shared between the pipeline (which writes them)
//! and the HTTP server (which renders them as Prometheus text).
//!
//! Owns the counter layout and the exposition format, nothing else: it
//! never reads packets or files. Every value is a relaxed atomic with one
//! writer: the reader publishes its totals once per batch it hands over,
//! each shard once per batch it counts, the writer once per window it
//! stores. No lock, and nothing is touched per packet. Labels name things
//! the config names (tasks, sinks, rules, shards), never a key: no address
//! or port ever becomes a label.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the write-duration histogram's buckets, in seconds.
const WRITE_SECONDS_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// Picks one counter of a share, for rendering a family over every task.
type ShareField = fn(&ShareCounters) -> &AtomicU64;

/// What the counters are laid out for: known before the first packet.
#[derive(Debug, Clone, Default)]
pub struct MetricsLayout {
    /// Task names in config order.
    pub tasks: Vec<String>,
    /// Number of shard actors.
    pub shards: usize,
    /// Sink descriptions in writer order (`files under out`).
    pub sinks: Vec<String>,
    /// Alert rule names in config order.
    pub rules: Vec<String>,
}

/// Every live counter of one process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// The reader's totals; see [`ReadCounters`].
    pub read: ReadCounters,
    /// libpcap's counters summed over the windows cut so far (live only).
    pub capture: CaptureCounters,
    /// Per task in config order.
    pub tasks: Vec<TaskCounters>,
    /// Per shard in shard order.
    pub shards: Vec<ShardQueue>,
    /// Per sink in writer order.
    pub sinks: Vec<SinkCounters>,
    /// Windows waiting in the sinks' retry backlogs, summed over sinks.
    pub backlog_windows: AtomicU64,
    /// End of the newest window every sink has stored, ns since the epoch (0: none).
    pub last_window_end_ns: AtomicU64,
    /// Per alert rule in config order: 1 while it fires.
    pub alerts: Vec<(String, AtomicU64)>,
}

/// The reader's running totals, each published as a whole (a store, not an
/// add): the reader is their only writer.
#[derive(Debug, Default)]
pub struct ReadCounters {
    pub packets_read: AtomicU64,
    pub packets_counted: AtomicU64,
    pub non_ip: AtomicU64,
    pub malformed: AtomicU64,
    pub filtered: AtomicU64,
    pub out_of_order: AtomicU64,
    /// Wire length of every packet read, in bytes.
    pub wire_bytes: AtomicU64,
}

/// libpcap's counters, added window by window.
#[derive(Debug, Default)]
pub struct CaptureCounters {
    pub received: AtomicU64,
    /// Dropped because the capture buffer was full.
    pub dropped_buffer: AtomicU64,
    /// Dropped by the interface or its driver.
    pub dropped_interface: AtomicU64,
}

/// One task's counts, one slot per share: a share is counted by one shard,
/// which alone writes its slot.
#[derive(Debug)]
pub struct TaskCounters {
    pub name: String,
    pub shares: Vec<ShareCounters>,
}

/// One share of a task: totals since start (packets, bytes, overflow) and
/// the open window's keys.
#[derive(Debug, Default)]
pub struct ShareCounters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Keys held in the open window.
    pub keys: AtomicU64,
    /// Packets of keys refused by `max_keys`.
    pub overflow_packets: AtomicU64,
}

/// Feeds sent to a shard by the reader and handled by the shard: their
/// difference is the shard's queue depth.
#[derive(Debug, Default)]
pub struct ShardQueue {
    pub fed: AtomicU64,
    pub handled: AtomicU64,
}

/// One sink's windows and how long storing them took.
#[derive(Debug)]
pub struct SinkCounters {
    pub name: String,
    pub windows_written: AtomicU64,
    pub write_errors: AtomicU64,
    /// Writes per histogram bucket (not cumulative), the last for +Inf.
    buckets: [AtomicU64; WRITE_SECONDS_BUCKETS.len() + 1],
    /// Sum of write durations, in microseconds.
    duration_sum_us: AtomicU64,
}

impl SinkCounters {
    fn new(name: String) -> SinkCounters {
        SinkCounters {
            name,
            windows_written: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            buckets: Default::default(),
            duration_sum_us: AtomicU64::new(0),
        }
    }

    /// Records one write attempt of `took`, stored or failed.
    pub fn observe_write(&self, took: std::time::Duration, stored: bool) {
        let seconds = took.as_secs_f64();
        let bucket = WRITE_SECONDS_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(WRITE_SECONDS_BUCKETS.len());
        if let Some(count) = self.buckets.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_us.fetch_add(micros, Ordering::Relaxed);
        let counter = if stored {
            &self.windows_written
        } else {
            &self.write_errors
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Zeroed counters for `layout`; each task has one slot per shard (a
    /// task is never split into more shares than there are shards).
    pub fn new(layout: &MetricsLayout) -> Metrics {
        let shards = layout.shards.max(1);
        Metrics {
            tasks: layout
                .tasks
                .iter()
                .map(|name| TaskCounters {
                    name: name.clone(),
                    shares: (0..shards).map(|_| ShareCounters::default()).collect(),
                })
                .collect(),
            shards: (0..shards).map(|_| ShardQueue::default()).collect(),
            sinks: layout
                .sinks
                .iter()
                .cloned()
                .map(SinkCounters::new)
                .collect(),
            alerts: layout
                .rules
                .iter()
                .map(|rule| (rule.clone(), AtomicU64::new(0)))
                .collect(),
            ..Metrics::default()
        }
    }

    /// The slot of one share of one task, if the layout has it.
    pub fn share(&self, task: usize, share: usize) -> Option<&ShareCounters> {
        self.tasks.get(task)?.shares.get(share)
    }

    /// Every counter in the Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        render_build_info(&mut out);
        self.render_read(&mut out);
        self.render_capture(&mut out);
        self.render_tasks(&mut out);
        self.render_sinks(&mut out);
        self.render_pipeline(&mut out);
        self.render_alerts(&mut out);
        out.text
    }

    fn render_read(&self, out: &mut Exposition) {
        let read = &self.read;
        let plain = [
            (
                "netspectra_packets_read_total",
                "Packets read from every input.",
                &read.packets_read,
            ),
            (
                "netspectra_packets_counted_total",
                "Packets keyed and counted by the tasks.",
                &read.packets_counted,
            ),
            (
                "netspectra_packets_out_of_order_total",
                "Packets older than the window open when they arrived.",
                &read.out_of_order,
            ),
            (
                "netspectra_wire_bytes_total",
                "Wire length of every packet read, in bytes.",
                &read.wire_bytes,
            ),
        ];
        for (name, help, value) in plain {
            out.family(name, help, "counter");
            out.sample(name, &[], load(value));
        }
        let name = "netspectra_packets_skipped_total";
        out.family(name, "Packets read but not counted, by reason.", "counter");
        for (reason, value) in [
            ("non_ip", &read.non_ip),
            ("malformed", &read.malformed),
            ("filtered", &read.filtered),
        ] {
            out.sample(name, &[("reason", reason)], load(value));
        }
    }

    fn render_capture(&self, out: &mut Exposition) {
        let capture = &self.capture;
        let name = "netspectra_capture_received_packets_total";
        out.family(
            name,
            "Packets libpcap received (live; on lo each counts twice), summed at window cuts.",
            "counter",
        );
        out.sample(name, &[], load(&capture.received));
        let name = "netspectra_capture_dropped_packets_total";
        out.family(
            name,
            "Packets libpcap reports dropped (live), summed at window cuts, by cause.",
            "counter",
        );
        out.sample(name, &[("cause", "buffer")], load(&capture.dropped_buffer));
        out.sample(
            name,
            &[("cause", "interface")],
            load(&capture.dropped_interface),
        );
    }

    fn render_tasks(&self, out: &mut Exposition) {
        let families: [(&str, &str, &str, ShareField); 4] = [
            (
                "netspectra_task_packets_total",
                "Packets a task counted.",
                "counter",
                |s| &s.packets,
            ),
            (
                "netspectra_task_bytes_total",
                "Wire bytes a task counted.",
                "counter",
                |s| &s.bytes,
            ),
            (
                "netspectra_task_keys",
                "Distinct keys a task holds in the open window.",
                "gauge",
                |s| &s.keys,
            ),
            (
                "netspectra_task_overflow_packets_total",
                "Packets of keys a task refused beyond max_keys.",
                "counter",
                |s| &s.overflow_packets,
            ),
        ];
        for (name, help, kind, field) in families {
            out.family(name, help, kind);
            for task in &self.tasks {
                let sum = task
                    .shares
                    .iter()
                    .fold(0u64, |sum, share| sum.saturating_add(load(field(share))));
                out.sample(name, &[("task", &task.name)], sum);
            }
        }
    }

    fn render_sinks(&self, out: &mut Exposition) {
        let name = "netspectra_windows_written_total";
        out.family(name, "Windows a sink stored.", "counter");
        for sink in &self.sinks {
            out.sample(name, &[("writer", &sink.name)], load(&sink.windows_written));
        }
        let name = "netspectra_write_errors_total";
        out.family(
            name,
            "Failed attempts to store a window, per sink.",
            "counter",
        );
        for sink in &self.sinks {
            out.sample(name, &[("writer", &sink.name)], load(&sink.write_errors));
        }
        let name = "netspectra_write_duration_seconds";
        out.family(
            name,
            "Time a sink took to store (or fail to store) one window.",
            "histogram",
        );
        for sink in &self.sinks {
            let mut cumulative = 0u64;
            let bounds = WRITE_SECONDS_BUCKETS.iter().map(|b| b.to_string());
            for (bound, count) in bounds.chain(["+Inf".to_string()]).zip(&sink.buckets) {
                cumulative = cumulative.saturating_add(load(count));
                let labels = [("writer", sink.name.as_str()), ("le", bound.as_str())];
                out.sample(&format!("{name}_bucket"), &labels, cumulative);
            }
            let sum = load(&sink.duration_sum_us) as f64 / 1e6;
            out.sample_float(&format!("{name}_sum"), &[("writer", &sink.name)], sum);
            out.sample(
                &format!("{name}_count"),
                &[("writer", &sink.name)],
                cumulative,
            );
        }
    }

    fn render_pipeline(&self, out: &mut Exposition) {
        let name = "netspectra_write_backlog_windows";
        out.family(
            name,
            "Windows kept in memory for a retry, over every sink.",
            "gauge",
        );
        out.sample(name, &[], load(&self.backlog_windows));
        let name = "netspectra_last_window_end_seconds";
        out.family(
            name,
            "End of the newest window every sink has stored, in seconds since the epoch.",
            "gauge",
        );
        out.sample_float(name, &[], load(&self.last_window_end_ns) as f64 / 1e9);
        let name = "netspectra_shard_queue_depth";
        out.family(
            name,
            "Batches and cuts sent to a shard and not yet handled.",
            "gauge",
        );
        for (index, shard) in self.shards.iter().enumerate() {
            let depth = load(&shard.fed).saturating_sub(load(&shard.handled));
            out.sample(name, &[("shard", &index.to_string())], depth);
        }
    }

    fn render_alerts(&self, out: &mut Exposition) {
        let name = "netspectra_alerts_firing";
        out.family(name, "1 while an alert rule fires, else 0.", "gauge");
        for (rule, firing) in &self.alerts {
            out.sample(name, &[("rule", rule)], load(firing));
        }
    }
}

/// What `/metrics` shows without a pipeline (`serve`): the build only.
pub fn render_build_only() -> String {
    let mut out = Exposition::default();
    render_build_info(&mut out);
    out.text
}

fn render_build_info(out: &mut Exposition) {
    let name = "netspectra_build_info";
    out.family(name, "Always 1; the version is a label.", "gauge");
    out.sample(name, &[("version", env!("CARGO_PKG_VERSION"))], 1);
}

fn load(value: &AtomicU64) -> u64 {
    value.load(Ordering::Relaxed)
}

/// Text being built in the exposition format.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let _ = writeln!(self.text, "{name}{} {value}", label_set(labels));
    }

    fn sample_float(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = writeln!(self.text, "{name}{} {value}", label_set(labels));
    }
}

/// `{a="x",b="y"}` with values escaped as the format asks; empty without labels.
fn label_set(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> MetricsLayout {
        MetricsLayout {
            tasks: vec!["per_src_ip".into()],
            shards: 2,
            sinks: vec!["files under \"out\"".into()],
            rules: vec!["busy".into()],
        }
    }

    #[test]
    fn shares_of_a_task_are_summed_under_one_task_label() {
        let metrics = Metrics::new(&layout());
        for (share, packets) in [(0, 5), (1, 7)] {
            let slot = metrics.share(0, share).expect("two shares");
            slot.packets.store(packets, Ordering::Relaxed);
        }
        let text = metrics.render();
        assert!(
            text.contains("netspectra_task_packets_total{task=\"per_src_ip\"} 12\n"),
            "{text}"
        );
    }

    #[test]
    fn the_histogram_is_cumulative_and_label_values_are_escaped() {
        let metrics = Metrics::new(&layout());
        let sink = &metrics.sinks[0];
        sink.observe_write(std::time::Duration::from_millis(3), true);
        sink.observe_write(std::time::Duration::from_secs(2), false);
        let text = metrics.render();
        let writer = "writer=\"files under \\\"out\\\"\"";
        for want in [
            format!("netspectra_write_duration_seconds_bucket{{{writer},le=\"0.001\"}} 0\n"),
            format!("netspectra_write_duration_seconds_bucket{{{writer},le=\"0.005\"}} 1\n"),
            format!("netspectra_write_duration_seconds_bucket{{{writer},le=\"+Inf\"}} 2\n"),
            format!("netspectra_write_duration_seconds_count{{{writer}}} 2\n"),
            format!("netspectra_windows_written_total{{{writer}}} 1\n"),
            format!("netspectra_write_errors_total{{{writer}}} 1\n"),
        ] {
            assert!(text.contains(&want), "{want} missing from\n{text}");
        }
    }

    #[test]
    fn queue_depth_is_fed_minus_handled() {
        let metrics = Metrics::new(&layout());
        metrics.shards[1].fed.store(9, Ordering::Relaxed);
        metrics.shards[1].handled.store(4, Ordering::Relaxed);
        let text = metrics.render();
        assert!(
            text.contains("netspectra_shard_queue_depth{shard=\"1\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("netspectra_build_info{version=\""), "{text}");
    }
}
