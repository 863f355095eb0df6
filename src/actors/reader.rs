//! Reader: turns capture files or a live interface into ordered packet
//! batches and window cuts.
//!
//! Accepts: `StartReading` (start-up). Sends: `Feed::Packets` and
//! `Feed::CloseWindow` to every shard, `WindowClosing` to the scheduler
//! before each cut, then `ReaderFinished` to the supervisor.
//!
//! The reader runs alone on its own arbiter thread and blocks there on reads
//! and on shard backpressure: at most `max_in_flight` batches per shard are
//! unanswered at any time, so a slow shard slows the reader instead of
//! growing memory, and offline no packet is ever dropped. The reader alone
//! decides where a window ends and sends the cut on the same channel as the
//! packets, after the window's last batch. Offline, windows follow the
//! packets' own timestamps (event time); live, they also close when the wall
//! clock passes their end, so an idle interface still yields its windows.
//! It stops early when the shared stop flag is raised. It publishes its
//! totals to the live metrics each time it hands a batch over, and
//! libpcap's counters at each live window cut.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use indicatif::ProgressBar;

use crate::capture::live::LiveCapture;
use crate::capture::{CaptureFile, CaptureStats, PacketFilter, RawPacket};
use crate::flow::{WindowBounds, Windowing};
use crate::metrics::Metrics;
use crate::packet::{self, SkipReason};
use crate::with_causes;

use super::messages::{
    Feed, FileOutcome, PacketRecord, ReadReport, ReaderFinished, StartReading, WindowClosing,
};
use super::stop::StopFlag;

/// Longest a live read waits for a packet before the reader looks at the
/// wall clock again. A stop request wakes the wait at once, and the open
/// window's close shortens it, so this bound only matters when the clock
/// is set: an idle reader wakes about once a second, not ten times.
const LONGEST_IDLE_WAIT: Duration = Duration::from_secs(1);
/// Live: most packets one read of the ring hands over (a 256 KiB ring block
/// holds a few thousand small packets), so a busy interface never keeps the
/// reader from its stop flag and the wall clock for more than a few ms.
const PACKETS_PER_DISPATCH: u64 = 4096;
/// Live: how long after its end a window is closed by the clock, so packets
/// the kernel stamped just before the end are still read into it.
const CLOSE_GRACE_NS: u64 = 200_000_000;
/// Live: how long a partial batch waits for more packets once the ring has
/// run empty. Every batch handed over wakes a shard's thread, tens of µs of
/// CPU on a VM; sent at every empty ring (once per ring block), batches
/// cost a wake-up per block, where this lets them fill on a busy link.
/// Cuts and the stop send the batch at once: the wait only delays counts.
const PARTIAL_BATCH_WAIT_NS: u64 = 100_000_000;

/// A shard's pending answer to one `Feed`.
type ShardReply = BoxFuture<'static, Result<(), MailboxError>>;

/// Where the reader's packets come from.
pub enum PacketSource {
    /// Capture files, read in this order as one stream. With `strict`, the
    /// first file that fails ends the input; otherwise the others are read.
    /// Packets `filter` rejects are counted as `filtered`, never keyed.
    Files {
        inputs: Vec<InputFile>,
        strict: bool,
        filter: Option<PacketFilter>,
    },
    /// An open interface; stop by itself after `count` packets when given.
    Live {
        capture: Box<LiveCapture>,
        count: Option<u64>,
    },
}

/// One capture file to read, or the reason it was refused before the run.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    /// Set when the file failed its check before the run; it is not opened.
    pub refused: Option<String>,
}

/// How the reader batches and paces its sends.
#[derive(Debug, Clone, Copy)]
pub struct ReaderSettings {
    /// Packets per `Feed::Packets` batch.
    pub batch_size: usize,
    /// Unanswered batches allowed per shard before the reader waits.
    pub max_in_flight: usize,
    /// Window length in nanoseconds.
    pub interval_ns: u64,
}

/// Whom the reader talks to, and the stop flag it obeys.
pub struct ReaderLinks {
    /// Every shard's feed, in shard order.
    pub shards: Vec<Recipient<Feed>>,
    /// The scheduler, told of each window before it is cut.
    pub scheduler: Recipient<WindowClosing>,
    /// The supervisor, told when reading is over.
    pub finished_to: Recipient<ReaderFinished>,
    pub stop: StopFlag,
    /// Live counters the reader publishes to, once per batch.
    pub metrics: Arc<Metrics>,
}

pub struct ReaderActor {
    /// Taken when reading starts.
    source: PacketSource,
    /// Batch size, in-flight bound and window length.
    settings: ReaderSettings,
    /// The shards, the scheduler, the supervisor and the stop flag.
    links: ReaderLinks,
    /// The bytes-read bar (hidden when stderr is not a terminal).
    progress: ProgressBar,
    /// What changes as packets are read.
    stream: StreamState,
}

/// The part of the reader's state that changes per packet.
struct StreamState {
    /// Packets keyed since the last send, at most `batch_size`.
    batch: Vec<PacketRecord>,
    /// Live: when an empty ring first found `batch` partly filled (wall
    /// clock); `None` while the batch is empty or no ring has run empty.
    partial_since: Option<u64>,
    /// The open window.
    windows: Windowing,
    /// Unanswered sends to shards, oldest first.
    in_flight: VecDeque<ShardReply>,
    /// Offline: the closed window still on its way to the sinks, if any.
    unwritten: Option<oneshot::Receiver<()>>,
    /// Counts so far, handed to the supervisor at the end.
    report: ReadReport,
    /// The file (or interface) being read, and its packets so far: skip
    /// warnings name them, once per kind and input.
    input_name: String,
    input_packets: u64,
    /// Skip reasons already warned about in this input (each is warned once).
    skips_seen: Vec<SkipReason>,
    /// Packets skipped per kind over the whole run, reported at the end.
    skip_totals: Vec<(SkipReason, u64)>,
}

/// A live capture and its counters at the last window cut.
struct LiveState {
    /// The open interface.
    capture: LiveCapture,
    /// libpcap's counters when the previous window was cut.
    at_last_cut: CaptureStats,
}

impl LiveState {
    fn new(mut capture: LiveCapture) -> LiveState {
        let at_last_cut = capture.stats().unwrap_or_default();
        LiveState {
            capture,
            at_last_cut,
        }
    }

    /// libpcap's counters since the previous cut; `None` if they cannot be read.
    fn window_stats(&mut self) -> Option<CaptureStats> {
        let now = self.capture.stats().ok()?;
        let delta = now.since(&self.at_last_cut);
        self.at_last_cut = now;
        Some(delta)
    }
}

impl ReaderActor {
    pub fn new(
        source: PacketSource,
        settings: ReaderSettings,
        links: ReaderLinks,
        progress: ProgressBar,
    ) -> ReaderActor {
        ReaderActor {
            source,
            settings,
            links,
            progress,
            stream: StreamState {
                batch: Vec::with_capacity(settings.batch_size),
                partial_since: None,
                windows: Windowing::new(settings.interval_ns),
                in_flight: VecDeque::new(),
                unwritten: None,
                report: ReadReport::default(),
                input_name: String::new(),
                input_packets: 0,
                skips_seen: Vec::new(),
                skip_totals: Vec::new(),
            },
        }
    }
}

impl Actor for ReaderActor {
    type Context = Context<Self>;
}

impl Handler<StartReading> for ReaderActor {
    type Result = ();

    fn handle(&mut self, _: StartReading, _: &mut Context<Self>) {
        let nothing = PacketSource::Files {
            inputs: Vec::new(),
            strict: false,
            filter: None,
        };
        match std::mem::replace(&mut self.source, nothing) {
            PacketSource::Files {
                inputs,
                strict,
                mut filter,
            } => self.read_files(inputs, strict, filter.as_mut()),
            PacketSource::Live { capture, count } => self.read_live(*capture, count),
        }
        self.stream.report_skip_totals();
        self.progress.finish_and_clear();
        let report = std::mem::take(&mut self.stream.report);
        self.links.finished_to.do_send(ReaderFinished { report });
    }
}

impl ReaderActor {
    fn read_files(
        &mut self,
        inputs: Vec<InputFile>,
        strict: bool,
        mut filter: Option<&mut PacketFilter>,
    ) {
        let mut bytes_before = 0;
        for input in inputs {
            if self.should_stop() {
                break;
            }
            let outcome = match input.refused {
                Some(error) => FileOutcome {
                    path: input.path,
                    packets: 0,
                    error: Some(error),
                },
                None => {
                    let (outcome, bytes) =
                        self.read_file(input.path, bytes_before, filter.as_deref_mut());
                    bytes_before += bytes;
                    outcome
                }
            };
            let failed = outcome.error.is_some();
            self.stream.report.files.push(outcome);
            if failed && strict {
                log::error!("--strict: stopping at the first damaged file");
                break;
            }
        }
        self.finish_stream(None);
    }

    /// Reads one file to its end, an error, or a stop request; returns its
    /// outcome and its size in bytes consumed (for the progress bar).
    fn read_file(
        &mut self,
        path: PathBuf,
        bytes_before: u64,
        mut filter: Option<&mut PacketFilter>,
    ) -> (FileOutcome, u64) {
        let mut outcome = FileOutcome {
            path: path.clone(),
            packets: 0,
            error: None,
        };
        let mut file = match CaptureFile::open(&path) {
            Ok(file) => file,
            Err(error) => {
                let message = with_causes(&error);
                log::error!("{message}");
                outcome.error = Some(message);
                return (outcome, 0);
            }
        };
        log::info!("reading {}", path.display());
        self.stream.begin_input(path.display().to_string());
        while !self.should_stop() {
            let keyed = match file.next_packet() {
                Ok(Some(raw)) => match filter.as_deref_mut().map(|f| f.matches(&raw)) {
                    Some(Ok(false)) => self.stream.count_filtered(&raw),
                    Some(Ok(true)) | None => self.stream.key_packet(&raw),
                    Some(Err(error)) => {
                        let message = with_causes(&error);
                        log::error!("{}: {message}", path.display());
                        outcome.error = Some(format!("{}: {message}", path.display()));
                        break;
                    }
                },
                Ok(None) => break,
                Err(error) => {
                    let message = with_causes(&error);
                    log::error!("{message}");
                    outcome.error = Some(message);
                    break;
                }
            };
            if let Some(keyed) = keyed
                && self.push(keyed, None)
            {
                self.progress
                    .set_position(bytes_before + file.bytes_consumed());
            }
        }
        outcome.packets = file.packets_read();
        (outcome, file.bytes_consumed())
    }

    /// Captures until a stop request, `count` packets, or a read error.
    /// Windows start at the wall clock and close when their end has passed,
    /// even when no packet arrives. Packets come a ring's worth per call,
    /// at most `PACKETS_PER_DISPATCH`; the stop flag, the count and the
    /// clock are checked between calls.
    fn read_live(&mut self, capture: LiveCapture, count: Option<u64>) {
        let mut live = LiveState::new(capture);
        self.stream.windows.open_at(crate::wall_clock_ns());
        log::info!("capturing on {}", live.capture.interface());
        self.stream
            .begin_input(live.capture.interface().to_string());
        let mut after_cut = Vec::new();
        let stop = self.links.stop.clone();
        while !self.should_stop() {
            let limit = match count {
                Some(limit) => limit.saturating_sub(self.stream.report.packets_read),
                None => PACKETS_PER_DISPATCH,
            };
            if limit == 0 {
                break;
            }
            let limit = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .min(PACKETS_PER_DISPATCH as usize);
            let wait = self.idle_wait();
            let read = live.capture.dispatch(limit, wait, stop.wake_fd(), |raw| {
                self.take_live_packet(&raw, &mut after_cut);
            });
            // The capture is free again: cuts can read its counters.
            for keyed in after_cut.drain(..) {
                self.push(keyed, Some(&mut live));
            }
            match read {
                Ok(handed) if handed < limit => {
                    // The ring is empty: a partial batch goes once it has
                    // waited long enough for more packets.
                    if self.partial_batch_due(crate::wall_clock_ns()) {
                        self.send_batch();
                    }
                    self.publish_totals();
                    self.close_elapsed_windows(&mut live);
                }
                Ok(_) => self.close_elapsed_windows(&mut live),
                Err(error) => {
                    log::error!("{error}");
                    self.stream.report.capture_error = Some(error.to_string());
                    break;
                }
            }
        }
        self.finish_stream(Some(&mut live));
        self.stream.report.capture_stats = live.capture.stats().ok();
    }

    /// Live, the ring being empty: whether the partial batch has waited
    /// `PARTIAL_BATCH_WAIT_NS` since an empty ring first found it.
    fn partial_batch_due(&mut self, now: u64) -> bool {
        if self.stream.batch.is_empty() {
            return false;
        }
        let since = *self.stream.partial_since.get_or_insert(now);
        now >= since.saturating_add(PARTIAL_BATCH_WAIT_NS)
    }

    /// Live: how long an empty ring may be waited on: until the clock
    /// closes the open window or a partial batch is due, at most
    /// `LONGEST_IDLE_WAIT`, in whole milliseconds rounded up (poll(2)'s
    /// unit), so the wait never ends just before and spins.
    fn idle_wait(&self) -> Duration {
        let now = crate::wall_clock_ns();
        let batch_due = self
            .stream
            .partial_since
            .map(|since| since.saturating_add(PARTIAL_BATCH_WAIT_NS));
        let window_closes = self.stream.windows.closes_at(CLOSE_GRACE_NS);
        batch_due
            .into_iter()
            .chain(window_closes)
            .min()
            .map_or(LONGEST_IDLE_WAIT, |until| {
                Duration::from_millis(until.saturating_sub(now).div_ceil(1_000_000))
                    .min(LONGEST_IDLE_WAIT)
            })
    }

    /// Live, inside a dispatch: keys one packet and batches it, unless it or
    /// an earlier packet of this dispatch cuts a window. A cut needs
    /// libpcap's counters, which cannot be read while the capture is
    /// dispatching, so from the first cut on the packets wait in `after_cut`
    /// (in order) until the dispatch returns.
    fn take_live_packet(&mut self, raw: &RawPacket<'_>, after_cut: &mut Vec<KeyedPacket>) {
        let Some(keyed) = self.stream.key_packet(raw) else {
            return;
        };
        if keyed.closes.is_none() && after_cut.is_empty() {
            self.batch_record(keyed.record);
        } else {
            after_cut.push(keyed);
        }
    }

    /// Whether to stop reading: a stop request, or a shard that stopped answering.
    fn should_stop(&mut self) -> bool {
        if self.links.stop.is_raised() {
            self.stream.report.interrupted = true;
        }
        self.stream.report.interrupted || self.stream.report.pipeline_failure.is_some()
    }

    /// Sends the window cut a packet causes, then batches the packet; returns
    /// true when the batch was full and has been sent.
    fn push(&mut self, keyed: KeyedPacket, live: Option<&mut LiveState>) -> bool {
        if let Some(closed) = keyed.closes {
            self.send_batch();
            self.send_close(closed, live);
        }
        self.batch_record(keyed.record)
    }

    /// Batches one record; returns true when the batch was full and has been sent.
    fn batch_record(&mut self, record: PacketRecord) -> bool {
        self.stream.batch.push(record);
        if self.stream.batch.len() >= self.settings.batch_size {
            self.send_batch();
            return true;
        }
        false
    }

    /// Live: closes every window whose end has passed on the wall clock.
    fn close_elapsed_windows(&mut self, live: &mut LiveState) {
        let now = crate::wall_clock_ns();
        while let Some(elapsed) = self.stream.windows.close_elapsed(now, CLOSE_GRACE_NS) {
            self.send_batch();
            self.send_close(elapsed, Some(&mut *live));
        }
    }

    /// Sends the pending batch to every shard, waiting first if too many are unanswered.
    fn send_batch(&mut self) {
        if self.stream.batch.is_empty() {
            return;
        }
        self.stream.partial_since = None;
        let packets = std::mem::replace(
            &mut self.stream.batch,
            Vec::with_capacity(self.settings.batch_size),
        );
        let packets = Arc::new(packets);
        for shard in &self.links.shards {
            self.stream
                .in_flight
                .push_back(shard.send(Feed::Packets(Arc::clone(&packets))).boxed());
        }
        self.publish_fed();
        self.bound_in_flight();
    }

    /// One more feed sent to every shard; the reader's totals so far.
    fn publish_fed(&self) {
        // The plan may start fewer shards than workers (sketch tasks are never split).
        for queue in self
            .links
            .metrics
            .shards
            .iter()
            .take(self.links.shards.len())
        {
            queue.fed.fetch_add(1, Ordering::Relaxed);
        }
        self.publish_totals();
    }

    /// The reader's totals so far, into the live metrics.
    fn publish_totals(&self) {
        let report = &self.stream.report;
        let read = &self.links.metrics.read;
        for (counter, value) in [
            (&read.packets_read, report.packets_read),
            (&read.packets_counted, report.packets_counted),
            (&read.non_ip, report.non_ip),
            (&read.malformed, report.malformed),
            (&read.filtered, report.filtered),
            (&read.out_of_order, report.out_of_order),
            (&read.wire_bytes, report.wire_bytes),
        ] {
            counter.store(value, Ordering::Relaxed);
        }
    }

    /// Waits for the oldest unanswered messages until at most
    /// `max_in_flight` per shard remain. Batches and cuts both count: a shard
    /// mailbox must never fill, or actix would hold a message back in its
    /// request and let later ones overtake it.
    fn bound_in_flight(&mut self) {
        let limit = self.settings.max_in_flight * self.links.shards.len();
        while self.stream.in_flight.len() > limit {
            if let Some(oldest) = self.stream.in_flight.pop_front() {
                self.await_shard(oldest);
            }
        }
    }

    /// Announces the window to the scheduler, then sends the cut to every
    /// shard on the same channel as the batches before it. Offline, first
    /// waits until the sinks are done with the previous window, so at most
    /// two windows' parts exist at a time (one on its way out, one filling)
    /// however fast the files are read. Live windows never wait: the reader
    /// must keep up with the interface.
    fn send_close(&mut self, window: WindowBounds, live: Option<&mut LiveState>) {
        let (capture, written) = match live {
            Some(live) => {
                let stats = live.window_stats().unwrap_or_default();
                let counters = &self.links.metrics.capture;
                counters
                    .received
                    .fetch_add(stats.received, Ordering::Relaxed);
                counters
                    .dropped_buffer
                    .fetch_add(stats.dropped, Ordering::Relaxed);
                counters
                    .dropped_interface
                    .fetch_add(stats.if_dropped, Ordering::Relaxed);
                (stats, None)
            }
            None => {
                if let Some(previous) = self.stream.unwritten.take() {
                    // A dropped sender (scheduler gone) is no reason to wait longer.
                    let _ = futures::executor::block_on(previous);
                }
                let (done, written) = oneshot::channel();
                self.stream.unwritten = Some(written);
                (CaptureStats::default(), Some(done))
            }
        };
        self.links.scheduler.do_send(WindowClosing {
            window,
            capture,
            written,
        });
        for shard in &self.links.shards {
            self.stream
                .in_flight
                .push_back(shard.send(Feed::CloseWindow(window)).boxed());
        }
        self.publish_fed();
        self.bound_in_flight();
    }

    /// End of input: send what is left, close the open window, and wait until
    /// every shard has handled everything.
    fn finish_stream(&mut self, live: Option<&mut LiveState>) {
        self.send_batch();
        if let Some(window) = self.stream.windows.finish() {
            self.send_close(window, live);
        }
        while let Some(request) = self.stream.in_flight.pop_front() {
            self.await_shard(request);
        }
        self.publish_totals();
    }

    fn await_shard(&mut self, request: ShardReply) {
        // The reader blocks inside its arbiter's tokio task, which never yields:
        // tokio's cooperative budget would run out after ~128 replies and defer
        // the wake-up forever, so the wait must not count against it.
        if let Err(error) = futures::executor::block_on(tokio::task::unconstrained(request)) {
            let message = format!("a shard stopped answering ({error}); counts are incomplete");
            log::error!("{message}");
            self.stream.report.pipeline_failure = Some(message);
        }
    }
}

/// A packet that goes into the tasks.
struct KeyedPacket {
    /// The key, timestamp and wire length the tasks count.
    record: PacketRecord,
    /// The packet opens a new window: this one must be closed before it is sent.
    closes: Option<WindowBounds>,
}

impl StreamState {
    /// Counts one packet read and keys it; `None` when it is a counted skip.
    /// Moves the open window forward when the packet's timestamp passes it.
    fn key_packet(&mut self, raw: &RawPacket<'_>) -> Option<KeyedPacket> {
        self.report.packets_read += 1;
        self.report.wire_bytes += u64::from(raw.wire_len);
        self.input_packets += 1;
        let key = match packet::parse(raw.link_type, raw.data) {
            Ok(key) => key,
            Err(reason) => {
                self.count_skip(reason);
                return None;
            }
        };
        // Out-of-range times are counted where they are clamped to, and reported.
        self.report.bad_timestamp += u64::from(raw.timestamp_ns.is_clamped());
        let timestamp = raw.timestamp_ns.ns();
        let placed = self.windows.place(timestamp);
        self.report.out_of_order += u64::from(placed.out_of_order);
        self.report.packets_counted += 1;
        let record = PacketRecord {
            key,
            timestamp_ns: timestamp,
            wire_len: raw.wire_len,
        };
        Some(KeyedPacket {
            record,
            closes: placed.closes,
        })
    }

    /// Counts one packet read that the filter rejected; never keyed.
    fn count_filtered(&mut self, raw: &RawPacket<'_>) -> Option<KeyedPacket> {
        self.report.packets_read += 1;
        self.report.wire_bytes += u64::from(raw.wire_len);
        self.input_packets += 1;
        self.report.filtered += 1;
        None
    }

    /// A new input starts: its skips are warned about afresh.
    fn begin_input(&mut self, name: String) {
        self.input_name = name;
        self.input_packets = 0;
        self.skips_seen.clear();
    }

    fn count_skip(&mut self, reason: SkipReason) {
        if reason.is_malformed() {
            self.report.malformed += 1;
        } else {
            self.report.non_ip += 1;
        }
        match self
            .skip_totals
            .iter_mut()
            .find(|(kind, _)| *kind == reason)
        {
            Some((_, total)) => *total += 1,
            None => self.skip_totals.push((reason, 1)),
        }
        if !self.skips_seen.contains(&reason) {
            self.skips_seen.push(reason);
            log::warn!(
                "{}: packet #{} skipped: {} (further such packets in this input are only counted)",
                self.input_name,
                self.input_packets,
                reason.describe()
            );
        }
    }

    /// The end of the run: how many packets each kind of skip took in all.
    fn report_skip_totals(&self) {
        for (reason, total) in &self.skip_totals {
            let noun = if *total == 1 { "packet" } else { "packets" };
            log::warn!("{total} {noun} skipped in all: {}", reason.describe());
        }
    }
}
