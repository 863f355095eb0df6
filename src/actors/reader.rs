//! Reader: turns capture files or a live interface into ordered packet
//! batches and window cuts.
//!
//! Accepts: `StartReading` (Supervisor). Sends: `PacketBatch` and
//! `CloseWindow` to every shard, then `ReaderFinished` to the supervisor.
//!
//! The reader runs alone on its own arbiter thread and blocks there on reads
//! and on shard backpressure: at most `max_in_flight` batches per shard are
//! unanswered at any time, so a slow shard slows the reader instead of
//! growing memory, and offline no packet is ever dropped. The reader alone
//! decides where a window ends and sends the cut on the same channel as the
//! packets, after the window's last batch. Offline, windows follow the
//! packets' own timestamps (event time); live, they also close when the wall
//! clock passes their end, so an idle interface still yields its windows.
//! It stops early when the shared stop flag is raised.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::BoxFuture;
use indicatif::ProgressBar;

use crate::capture::live::{CaptureStats, LiveCapture};
use crate::capture::{CaptureFile, RawPacket};
use crate::packet::{self, SkipReason};

use super::messages::{
    AwaitWindow, CloseWindow, PacketBatch, PacketRecord, ReaderFinished, StartReading, WindowBounds,
};
use super::scheduler::SchedulerActor;
use super::shard::ShardActor;
use super::supervisor::SupervisorActor;

/// Longest a live read waits for a packet before the reader checks the
/// stop flag and the wall clock again.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Live: how long after its end a window is closed by the clock, so packets
/// the kernel stamped just before the end are still read into it.
const CLOSE_GRACE_NS: u64 = 200_000_000;

/// A shard's pending answer to one `PacketBatch` or `CloseWindow`.
type ShardReply = BoxFuture<'static, Result<(), MailboxError>>;

/// Where the reader's packets come from.
pub enum PacketSource {
    /// Capture files, read in this order as one stream. With `strict`, the
    /// first file that fails ends the input; otherwise the others are read.
    Files {
        inputs: Vec<InputFile>,
        strict: bool,
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

/// What happened to one input file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub packets: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub error: Option<String>,
}

/// Counts of everything the reader saw;
/// `packets_read = counted + non_ip + malformed + bad_timestamp`.
#[derive(Debug, Clone, Default)]
pub struct ReadReport {
    pub files: Vec<FileOutcome>,
    pub packets_read: u64,
    pub packets_counted: u64,
    pub non_ip: u64,
    pub malformed: u64,
    /// Packets whose timestamp is out of range (before 1970, after 2554): in no window.
    pub bad_timestamp: u64,
    /// Packets older than the start of the window open when they arrived;
    /// counted in that window.
    pub out_of_order: u64,
    /// The stop flag was raised before the input ended.
    pub interrupted: bool,
    /// A shard stopped answering: packets sent to it may be lost.
    pub pipeline_failure: Option<String>,
    /// Live: why capture stopped early, if a read failed.
    pub capture_error: Option<String>,
    /// Live: libpcap's counters over the whole run.
    pub capture_stats: Option<CaptureStats>,
}

/// How the reader batches and paces its sends.
#[derive(Debug, Clone, Copy)]
pub struct ReaderSettings {
    /// Packets per `PacketBatch`.
    pub batch_size: usize,
    /// Unanswered batches allowed per shard before the reader waits.
    pub max_in_flight: usize,
    /// Window length in nanoseconds.
    pub interval_ns: u64,
}

/// The actors the reader talks to, and the stop flag it obeys.
pub struct ReaderLinks {
    pub shards: Vec<Addr<ShardActor>>,
    pub scheduler: Addr<SchedulerActor>,
    pub supervisor: Addr<SupervisorActor>,
    pub stop: Arc<AtomicBool>,
}

pub struct ReaderActor {
    source: PacketSource,
    settings: ReaderSettings,
    shards: Vec<Addr<ShardActor>>,
    scheduler: Addr<SchedulerActor>,
    supervisor: Addr<SupervisorActor>,
    stop: Arc<AtomicBool>,
    progress: ProgressBar,
    stream: StreamState,
}

/// The part of the reader's state that changes per packet.
struct StreamState {
    batch: Vec<PacketRecord>,
    window: Option<WindowBounds>,
    /// Unanswered sends to shards, oldest first.
    in_flight: VecDeque<ShardReply>,
    /// Offline: the closed window still on its way to the disk, if any.
    unwritten: Option<oneshot::Receiver<()>>,
    /// Offline reads wait for the writer (`pace_by_writer`); live ones never do.
    paced_by_writer: bool,
    report: ReadReport,
    skips_seen: Vec<SkipReason>,
}

/// A live capture and its counters at the last window cut.
struct LiveState {
    capture: LiveCapture,
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
            shards: links.shards,
            scheduler: links.scheduler,
            supervisor: links.supervisor,
            stop: links.stop,
            progress,
            stream: StreamState {
                batch: Vec::with_capacity(settings.batch_size),
                window: None,
                in_flight: VecDeque::new(),
                unwritten: None,
                paced_by_writer: false,
                report: ReadReport::default(),
                skips_seen: Vec::new(),
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
        };
        match std::mem::replace(&mut self.source, nothing) {
            PacketSource::Files { inputs, strict } => self.read_files(inputs, strict),
            PacketSource::Live { capture, count } => self.read_live(*capture, count),
        }
        self.progress.finish_and_clear();
        let report = std::mem::take(&mut self.stream.report);
        self.supervisor.do_send(ReaderFinished { report });
    }
}

impl ReaderActor {
    fn read_files(&mut self, inputs: Vec<InputFile>, strict: bool) {
        self.stream.paced_by_writer = true;
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
                    let (outcome, bytes) = self.read_file(input.path, bytes_before);
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
    fn read_file(&mut self, path: PathBuf, bytes_before: u64) -> (FileOutcome, u64) {
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
        while !self.should_stop() {
            let keyed = match file.next_packet() {
                Ok(Some(raw)) => self.stream.key_packet(&raw, self.settings.interval_ns),
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
    /// even when no packet arrives.
    fn read_live(&mut self, capture: LiveCapture, count: Option<u64>) {
        let mut live = LiveState::new(capture);
        let interval = self.settings.interval_ns;
        let now = wall_clock_ns();
        self.stream.window = Some(window_at(now - now % interval, interval));
        log::info!("capturing on {}", live.capture.interface());
        while !self.should_stop()
            && count.is_none_or(|limit| self.stream.report.packets_read < limit)
        {
            let keyed = match live.capture.next_packet(IDLE_WAIT) {
                Ok(Some(raw)) => self.stream.key_packet(&raw, interval),
                Ok(None) => {
                    // Idle: hand over what is batched so counts do not wait for a full batch.
                    self.send_batch();
                    self.close_elapsed_windows(&mut live);
                    continue;
                }
                Err(error) => {
                    log::error!("{error}");
                    self.stream.report.capture_error = Some(error.to_string());
                    break;
                }
            };
            if let Some(keyed) = keyed
                && self.push(keyed, Some(&mut live))
            {
                self.close_elapsed_windows(&mut live);
            }
        }
        self.finish_stream(Some(&mut live));
        self.stream.report.capture_stats = live.capture.stats().ok();
    }

    /// Whether to stop reading: a stop request, or a shard that stopped answering.
    fn should_stop(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            self.stream.report.interrupted = true;
        }
        self.stream.report.interrupted || self.stream.report.pipeline_failure.is_some()
    }

    /// Sends the window cut a packet causes, then batches the packet; returns
    /// true when the batch was full and has been sent.
    fn push(&mut self, keyed: KeyedPacket, live: Option<&mut LiveState>) -> bool {
        if let Some(closed) = keyed.closes {
            let capture = live.and_then(LiveState::window_stats);
            self.send_batch();
            self.send_close(closed, capture);
        }
        self.stream.batch.push(keyed.record);
        if self.stream.batch.len() >= self.settings.batch_size {
            self.send_batch();
            return true;
        }
        false
    }

    /// Live: closes every window whose end has passed on the wall clock.
    fn close_elapsed_windows(&mut self, live: &mut LiveState) {
        let now = wall_clock_ns();
        while let Some(open) = self.stream.window
            && now >= open.end_ns.saturating_add(CLOSE_GRACE_NS)
        {
            let capture = live.window_stats();
            self.send_batch();
            self.send_close(open, capture);
            self.stream.window = Some(window_at(open.end_ns, self.settings.interval_ns));
        }
    }

    /// Sends the pending batch to every shard, waiting first if too many are unanswered.
    fn send_batch(&mut self) {
        if self.stream.batch.is_empty() {
            return;
        }
        let packets = std::mem::replace(
            &mut self.stream.batch,
            Vec::with_capacity(self.settings.batch_size),
        );
        let packets = Arc::new(packets);
        for shard in &self.shards {
            self.stream.in_flight.push_back(
                shard
                    .send(PacketBatch {
                        packets: Arc::clone(&packets),
                    })
                    .boxed(),
            );
        }
        self.bound_in_flight();
    }

    /// Waits for the oldest unanswered messages until at most
    /// `max_in_flight` per shard remain. Batches and cuts both count: a shard
    /// mailbox must never fill, or actix would hold a message back in its
    /// request and let later ones overtake it.
    fn bound_in_flight(&mut self) {
        let limit = self.settings.max_in_flight * self.shards.len();
        while self.stream.in_flight.len() > limit {
            if let Some(oldest) = self.stream.in_flight.pop_front() {
                self.await_shard(oldest);
            }
        }
    }

    /// Sends the window cut to every shard, on the same channel as the batches before it.
    fn send_close(&mut self, window: WindowBounds, capture: Option<CaptureStats>) {
        if self.stream.paced_by_writer {
            self.pace_by_writer(window);
        }
        for shard in &self.shards {
            self.stream
                .in_flight
                .push_back(shard.send(CloseWindow { window, capture }).boxed());
        }
        self.bound_in_flight();
    }

    /// Offline: before cutting `window`, waits until the writer is done with
    /// the previous one, so at most two windows' maps exist at a time (one on
    /// its way to the disk, one filling) however fast the files are read.
    /// Live windows never wait: the reader must keep up with the interface.
    fn pace_by_writer(&mut self, window: WindowBounds) {
        if let Some(previous) = self.stream.unwritten.take() {
            // A dropped sender (scheduler gone) is no reason to wait longer.
            let _ = futures::executor::block_on(previous);
        }
        let (done, written) = oneshot::channel();
        self.scheduler.do_send(AwaitWindow { window, done });
        self.stream.unwritten = Some(written);
    }

    /// End of input: send what is left, close the open window, and wait until
    /// every shard has handled everything.
    fn finish_stream(&mut self, live: Option<&mut LiveState>) {
        self.send_batch();
        if let Some(window) = self.stream.window.take() {
            let capture = live.and_then(LiveState::window_stats);
            self.send_close(window, capture);
        }
        while let Some(request) = self.stream.in_flight.pop_front() {
            self.await_shard(request);
        }
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
    record: PacketRecord,
    /// The packet opens a new window: this one must be closed before it is sent.
    closes: Option<WindowBounds>,
}

impl StreamState {
    /// Counts one packet read and keys it; `None` when it is a counted skip.
    /// Moves the open window forward when the packet's timestamp passes it.
    fn key_packet(&mut self, raw: &RawPacket<'_>, interval_ns: u64) -> Option<KeyedPacket> {
        self.report.packets_read += 1;
        let Some(timestamp) = raw.timestamp_ns else {
            self.report.bad_timestamp += 1;
            return None;
        };
        let key = match packet::parse(raw.link_type, raw.data) {
            Ok(key) => key,
            Err(reason) => {
                self.count_skip(reason);
                return None;
            }
        };
        let start = timestamp - timestamp % interval_ns;
        let mut closes = None;
        match self.window {
            None => self.window = Some(window_at(start, interval_ns)),
            Some(open) if start > open.start_ns => {
                closes = Some(open);
                self.window = Some(window_at(start, interval_ns));
            }
            Some(open) if timestamp < open.start_ns => self.report.out_of_order += 1,
            Some(_) => {}
        }
        self.report.packets_counted += 1;
        let record = PacketRecord {
            key,
            timestamp_ns: timestamp,
            wire_len: raw.wire_len,
        };
        Some(KeyedPacket { record, closes })
    }

    fn count_skip(&mut self, reason: SkipReason) {
        if reason.is_malformed() {
            self.report.malformed += 1;
        } else {
            self.report.non_ip += 1;
        }
        if !self.skips_seen.contains(&reason) {
            self.skips_seen.push(reason);
            log::warn!(
                "packet #{} skipped: {} (further such packets are only counted)",
                self.report.packets_read,
                reason.describe()
            );
        }
    }
}

fn window_at(start_ns: u64, interval_ns: u64) -> WindowBounds {
    WindowBounds {
        start_ns,
        end_ns: start_ns.saturating_add(interval_ns),
    }
}

/// An error with its chain of causes, "outer: inner: innermost", for reports.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}

/// Now, in nanoseconds since the Unix epoch.
fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}
