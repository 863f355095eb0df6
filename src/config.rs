//! The YAML configuration: schema, defaults and validation.
//!
//! Owns turning a config file into a resolved [`Config`] (every default
//! filled in, every value checked) and nothing else: it never opens captures,
//! creates directories or starts threads. Go2NetSpectra phase-1 files and
//! HEAD files (`head`) load unchanged; `${VAR}` in the text is expanded
//! first (`env`). Sketch task entries are `sketch`'s.
//!
//! Values are checked while they are deserialized, so serde_yaml attaches the
//! key path and line to the message itself. Only checks spanning several
//! values (duplicate task names, keys that exclude each other) run
//! afterwards; they find their lines by walking the document again
//! (`line_of`), and add which environment variable a line's value came from.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::alerts::{AlerterConfig, SmtpSection, check_rules};
use crate::api::ApiConfig;
use crate::flow::{AddressPrefix, KeyField, KeySchema, TaskKind, TaskSpec};
use crate::safe_read::{SafeReadError, read_regular_file};

mod clickhouse_url;
mod env;
mod head;
mod sketch;

pub use clickhouse_url::ClickHouseUrl;
pub use sketch::SketchTaskConfig;

/// Largest config file read: far above any real config, far below what
/// would hurt (`-c /dev/zero` must not eat memory).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The bundled defaults; `Config::bundled` parses this text.
const DEFAULT_YAML: &str = include_str!("../config/default.yaml");

/// Upper bound of `aggregator.num_workers`: each worker is a thread.
const MAX_WORKERS: u64 = 1024;
const DEFAULT_PACKET_CHANNEL: usize = 32_768;
/// Upper bound of `size_of_packet_channel`, in packets; bounds queue memory.
const MAX_PACKET_CHANNEL: u64 = 1 << 24;
const DEFAULT_BATCH_SIZE: usize = 16_384;
const MAX_BATCH_SIZE: u64 = 65_536;
const DEFAULT_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);
const MAX_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
const DEFAULT_STORAGE_ROOT: &str = "snapshots";
const DEFAULT_WRITE_BACKLOG: usize = 8;
const MAX_WRITE_BACKLOG: u64 = 1024;
/// libpcap's and tcpdump's default snap length: whole packets.
pub const DEFAULT_SNAPLEN: u32 = 262_144;
const MIN_SNAPLEN: u64 = 64;
const DEFAULT_BUFFER_SIZE: u32 = 32 << 20;
/// Smallest kernel buffer accepted: a few full-size packets.
const MIN_BUFFER_SIZE: u64 = 1 << 20;
const DEFAULT_READ_PAUSE: Duration = Duration::from_millis(50);
/// Longest `capture.read_pause`: counts reach the shards that much later.
const MAX_READ_PAUSE: Duration = Duration::from_secs(1);
/// Task names become directory names; this keeps them well below any
/// file system's name limit.
const MAX_TASK_NAME_LEN: usize = 100;
/// Problems (and duplicate task names) reported with their lines. Each line
/// costs a parse of the whole text, so reporting every copy in a config of
/// thousands of identical tasks took minutes.
const MAX_REPORTED_DUPLICATES: usize = 5;
/// Upper bound of `exact_tasks[].max_keys`: about 7 GB of 5-tuple records.
const MAX_KEYS: u64 = 100_000_000;
/// `exact_tasks[].max_keys` of `capture` when the config leaves it out: a
/// live interface can be flooded with spoofed addresses.
pub const DEFAULT_CAPTURE_MAX_KEYS: u64 = 1_000_000;

/// The tasks used when `aggregator.exact_tasks` is absent: name and key fields.
const DEFAULT_TASKS: [(&str, &[KeyField]); 6] = [
    ("per_src_ip", &[KeyField::SrcIp]),
    ("per_dst_ip", &[KeyField::DstIp]),
    ("per_src_port", &[KeyField::SrcPort]),
    ("per_dst_port", &[KeyField::DstPort]),
    ("per_protocol", &[KeyField::Protocol]),
    ("per_five_tuple", &KeyField::ALL),
];

/// A whole, resolved configuration. One field per top-level YAML section.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The `aggregator:` section; all defaults when absent or empty.
    pub aggregator: AggregatorConfig,
    /// The `capture:` section: live-capture settings; flags override them.
    pub capture: CaptureConfig,
    /// The `retention:` section: which old windows the writer removes.
    pub retention: RetentionConfig,
    /// The `writers:` list: the sinks every window is stored in, in order.
    /// Default (absent): one files writer at `aggregator.storage_root_path`.
    pub writers: Option<Vec<WriterConfig>>,
    /// The `api:` section: the HTTP server (`crate::api::config`).
    pub api: ApiConfig,
    /// The `alerter:` section: alert rules (`crate::alerts::config`).
    pub alerter: AlerterConfig,
    /// The `smtp:` section: accepted and not used (alerts go to the log
    /// and the webhook); `Some` when present.
    pub smtp: Option<SmtpSection>,
}

/// The `capture:` section, used by `netspectra capture`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of capture settings"
)]
pub struct CaptureConfig {
    /// Interface to capture on (`-i`). Default: none; `-i` is then required.
    pub interface: Option<String>,
    /// BPF filter expression, as for tcpdump. Default: none (every packet).
    pub filter: Option<String>,
    /// Bytes kept of each packet; 64..=262144. Default: 262144.
    #[serde(deserialize_with = "snaplen")]
    pub snaplen: u32,
    /// Put the interface in promiscuous mode. Default: true.
    pub promisc: bool,
    /// Kernel capture buffer, in bytes. Default: 32 MiB. (libpcap's own
    /// 2 MiB holds only about 30 packets on `lo`, whose 64 KiB MTU sets the
    /// ring's slot size, and drops short bursts.)
    #[serde(deserialize_with = "buffer_size")]
    pub buffer_size: u32,
    /// Longest pause after a read that emptied a busy capture ring, so one
    /// wake-up reads several ring blocks; never longer than the traffic
    /// just seen takes to fill a quarter of `buffer_size`. 0s to 1s;
    /// 0s waits on the ring again at once. Default: 50 ms.
    #[serde(deserialize_with = "read_pause")]
    pub read_pause: Duration,
    /// Stop by itself after this long. Default: run until a signal.
    #[serde(deserialize_with = "optional_duration")]
    pub duration: Option<Duration>,
    /// Stop by itself after this many packets read. Default: no limit.
    pub count: Option<u64>,
    /// Drop root to this user (and its groups) once the interface is open
    /// and the output checked, like tcpdump -Z. Default: keep running as is.
    pub user: Option<String>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            interface: None,
            filter: None,
            snaplen: DEFAULT_SNAPLEN,
            promisc: true,
            buffer_size: DEFAULT_BUFFER_SIZE,
            read_pause: DEFAULT_READ_PAUSE,
            duration: None,
            count: None,
            user: None,
        }
    }
}

/// The `retention:` section: after each window is written, the oldest
/// complete windows beyond these limits are removed. Default: keep all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a mapping of retention settings"
)]
pub struct RetentionConfig {
    /// Keep at most this many windows (at least 1).
    #[serde(deserialize_with = "optional_window_count")]
    pub max_windows: Option<usize>,
    /// Remove windows whose end is older than this, e.g. "7d".
    #[serde(deserialize_with = "optional_duration")]
    pub max_age: Option<Duration>,
}

/// One entry of `writers:`, a sink every window is stored in:
/// `{type: files, root: PATH}`,
/// `{type: clickhouse, url, database, username, password, probe}` or
/// `{type: parquet, root: PATH, compression, probe}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawWriter")]
pub enum WriterConfig {
    /// Window directories under `root`; `--output` replaces it. Default
    /// root: `aggregator.storage_root_path`.
    Files { root: Option<PathBuf> },
    /// Rows in a ClickHouse server (see docs/clickhouse.md).
    ClickHouse(ClickHouseConfig),
    /// Parquet files in a hive-style tree (see docs/parquet.md).
    Parquet(ParquetConfig),
}

/// A `type: parquet` writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetConfig {
    /// Directory of the tree; created if absent. Required.
    pub root: PathBuf,
    /// Column compression. Default: zstd.
    pub compression: ParquetCompression,
    /// Name of this capture point, stored in every row. Default: the host name.
    pub probe: Option<String>,
}

/// How a Parquet writer compresses its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParquetCompression {
    /// zstd, level 1: small files, fast to write.
    #[default]
    Zstd,
    /// Snappy: what older readers always support.
    Snappy,
    /// None.
    None,
}

/// A `type: clickhouse` writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// The server's HTTP interface, `http://HOST:PORT`, plain HTTP, without
    /// credentials or query. Required.
    pub url: String,
    /// Database holding the tables; it must exist. Default: `default`.
    pub database: String,
    /// Default: `default`.
    pub username: String,
    /// Default: empty. Never logged or printed.
    pub password: Secret,
    /// Name of this capture point, stored in every row, so several
    /// netspectra processes can share one server. Default: the host name.
    pub probe: Option<String>,
}

/// A value that must never reach a log line: `Debug` prints `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A `writers:` entry as written: every key of every type, checked
/// against its `type` afterwards (an internally tagged enum would lose the
/// line of its errors).
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a writer: a mapping with `type: files`, `type: clickhouse` or `type: parquet`"
)]
struct RawWriter {
    #[serde(rename = "type")]
    kind: WriterKind,
    #[serde(default, deserialize_with = "storage_root_path")]
    root: Option<PathBuf>,
    #[serde(default, deserialize_with = "clickhouse_url")]
    url: Option<String>,
    database: Option<String>,
    username: Option<String>,
    password: Option<String>,
    #[serde(default, deserialize_with = "probe_name")]
    probe: Option<String>,
    #[serde(default, deserialize_with = "parquet_compression")]
    compression: Option<ParquetCompression>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum WriterKind {
    Files,
    Clickhouse,
    Parquet,
}

impl WriterKind {
    fn name(self) -> &'static str {
        match self {
            WriterKind::Files => "files",
            WriterKind::Clickhouse => "clickhouse",
            WriterKind::Parquet => "parquet",
        }
    }
}

impl TryFrom<RawWriter> for WriterConfig {
    type Error = String;

    fn try_from(raw: RawWriter) -> Result<Self, String> {
        let set = [
            ("root", raw.root.is_some()),
            ("url", raw.url.is_some()),
            ("database", raw.database.is_some()),
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
            ("probe", raw.probe.is_some()),
            ("compression", raw.compression.is_some()),
        ];
        let allowed: &[&str] = match raw.kind {
            WriterKind::Files => &["root"],
            WriterKind::Clickhouse => &["url", "database", "username", "password", "probe"],
            WriterKind::Parquet => &["root", "compression", "probe"],
        };
        if let Some((key, _)) = set
            .iter()
            .find(|(key, is_set)| *is_set && !allowed.contains(key))
        {
            return Err(format!(
                "`{key}` is not a setting of a `type: {}` writer",
                raw.kind.name()
            ));
        }
        Ok(match raw.kind {
            WriterKind::Files => WriterConfig::Files { root: raw.root },
            WriterKind::Clickhouse => WriterConfig::ClickHouse(ClickHouseConfig {
                url: raw
                    .url
                    .ok_or("`url` is required for a `type: clickhouse` writer, e.g. url: \"http://127.0.0.1:8123\"")?,
                database: raw.database.unwrap_or_else(|| "default".to_string()),
                username: raw.username.unwrap_or_else(|| "default".to_string()),
                password: Secret(raw.password.unwrap_or_default()),
                probe: raw.probe,
            }),
            WriterKind::Parquet => WriterConfig::Parquet(ParquetConfig {
                root: raw
                    .root
                    .ok_or("`root` is required for a `type: parquet` writer, e.g. root: parquet")?,
                compression: raw.compression.unwrap_or_default(),
                probe: raw.probe,
            }),
        })
    }
}

/// The `aggregator:` section, with every default filled in, in either
/// layout: netspectra's own (`exact_tasks`, `sketch_tasks`) or
/// Go2NetSpectra's HEAD layout (`types`, `period`, `exact`, `sketch`; see
/// `head`), which also yields [`Config::writers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// Number of shard-aggregator actors, 1..=1024; they run on one thread
    /// each, up to the number of CPUs less one (the reader's, at least one
    /// thread), and share those threads beyond it.
    /// Default: the number of CPUs minus one (the reader has a thread of its
    /// own), at least 1.
    pub num_workers: usize,
    /// Capacity of each shard's inbound queue, in packets. Default: 32768.
    /// The reader sends batches; see [`AggregatorConfig::mailbox_batches`].
    pub size_of_packet_channel: usize,
    /// Packets per reader-to-shard message; 1..=65536. Default: 16384.
    pub batch_size: usize,
    /// Window length: one snapshot per interval; whole seconds, 1s to 24h
    /// (see [`parse_snapshot_interval`]). Default: 60s; in the HEAD layout
    /// the smallest `snapshot_interval` of the enabled writers, else `period`.
    pub snapshot_interval: Duration,
    /// Root directory of the output; a relative path is taken from the
    /// working directory; never empty. Default: `snapshots`.
    pub storage_root_path: PathBuf,
    /// The exact tasks, in file order. Default: the six tasks of
    /// `config/default.yaml`; in the HEAD layout, `aggregator.exact.tasks`
    /// when `exact` runs (possibly none). Exact and sketch tasks together
    /// are never empty, and their names are unique (ignoring ASCII case).
    pub exact_tasks: Vec<TaskConfig>,
    /// The sketch tasks, in file order: `aggregator.sketch_tasks`, or in
    /// the HEAD layout `aggregator.sketch.tasks` when `sketch` runs.
    /// Default: none.
    pub sketch_tasks: Vec<SketchTaskConfig>,
    /// Windows kept in memory and retried when writing them fails (a full
    /// disk); beyond this the oldest is given up and reported. 1..=1024.
    /// Default: 8.
    pub write_backlog: usize,
}

/// One exact-counting task: what to count by and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawTask")]
pub struct TaskConfig {
    /// Unique name, used as the task's output directory name and in logs;
    /// only `[A-Za-z0-9_.-]`, not starting with `.`.
    pub name: String,
    /// The key fields in file order; never empty, no field twice.
    pub key_fields: Vec<KeyField>,
    /// `key_fields` as a bit set with the prefixes of address fields
    /// (`SrcIP/24`); derived, for the hot path and file headers.
    pub schema: KeySchema,
    /// Whether A→B and B→A count in one record with each direction's
    /// packets and bytes (a conversation task). Needs fields that are the
    /// same for both ends: SrcIP with DstIP, SrcPort with DstPort, equal
    /// prefixes. Default: false.
    pub bidirectional: bool,
    /// Go2NetSpectra's shard count, accepted for compatibility and ignored:
    /// netspectra splits every task's keys across the `num_workers` workers.
    pub num_shards: Option<u32>,
    /// Distinct keys counted per window, 1..=100,000,000; the packets of
    /// further keys are counted in the task's overflow (`other`). Default:
    /// `None`, which `analyze` takes as no limit and `capture` as
    /// [`DEFAULT_CAPTURE_MAX_KEYS`].
    pub max_keys: Option<u64>,
}

/// Why a configuration was refused. Every message names the file (`origin`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: missing, unreadable, not a regular file
    /// (a FIFO, a device) or larger than [`MAX_CONFIG_BYTES`].
    #[error(transparent)]
    Read(#[from] SafeReadError),
    /// `message` names the key path and the line.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl Config {
    /// The bundled defaults: `config/default.yaml`, embedded at build time,
    /// so running without `--config` and running with that file agree. Its
    /// comments mention `${VAR}`; the environment is not consulted.
    pub fn bundled() -> Config {
        Config::from_yaml_with_env(DEFAULT_YAML, "config/default.yaml", &|_| None)
            .expect("the bundled config/default.yaml is valid (a unit test loads it)")
    }

    /// Reads and checks the config file at `path`: a regular file (a symlink
    /// to one is fine) of at most [`MAX_CONFIG_BYTES`], in UTF-8.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = read_regular_file(path, MAX_CONFIG_BYTES, true)?;
        let origin = path.display().to_string();
        let text = String::from_utf8(bytes).map_err(|err| ConfigError::Invalid {
            origin: origin.clone(),
            message: format!(
                "not UTF-8 text (byte offset {})",
                err.utf8_error().valid_up_to()
            ),
        })?;
        Config::from_yaml(&text, &origin)
    }

    /// Parses and checks config text; `origin` (usually the file name) starts
    /// every error message. `${VAR}` and `$VAR` are first replaced by the
    /// process's environment (`env`). Missing sections and keys take their
    /// defaults.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_with_env(text, origin, &|name| std::env::var(name).ok())
    }

    /// [`Config::from_yaml`] with variables looked up by `lookup` (`None`: unset).
    fn from_yaml_with_env(
        text: &str,
        origin: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let expanded = env::expand(text, lookup).map_err(invalid)?;
        let doc = Doc(&expanded);
        let raw: RawConfig =
            serde_yaml::from_str(&expanded.text).map_err(|err| invalid(doc.describe(&err)))?;
        raw.resolve(&doc)
            .map_err(|problems| invalid(problems.join("; ")))
    }
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            num_workers: default_workers(),
            size_of_packet_channel: DEFAULT_PACKET_CHANNEL,
            batch_size: DEFAULT_BATCH_SIZE,
            snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL,
            storage_root_path: PathBuf::from(DEFAULT_STORAGE_ROOT),
            exact_tasks: default_tasks(),
            sketch_tasks: Vec::new(),
            write_backlog: DEFAULT_WRITE_BACKLOG,
        }
    }
}

impl AggregatorConfig {
    /// The tasks as the pipeline runs them, exact tasks first, then sketch
    /// tasks; an exact task without its own `max_keys` gets
    /// `default_max_keys` (a sketch has fixed memory and no key limit).
    pub fn task_specs(&self, default_max_keys: Option<u64>) -> Vec<TaskSpec> {
        let exact = self.exact_tasks.iter().map(|task| TaskSpec {
            name: task.name.clone(),
            kind: task.kind(),
            schema: task.schema,
            max_keys: task.max_keys.or(default_max_keys),
        });
        let sketches = self.sketch_tasks.iter().map(|task| TaskSpec {
            name: task.name.clone(),
            kind: task.kind,
            schema: task.schema,
            max_keys: None,
        });
        exact.chain(sketches).collect()
    }

    /// Capacity of each shard's mailbox, in batches: the packet capacity
    /// divided by the batch size, at least 1.
    pub fn mailbox_batches(&self) -> usize {
        (self.size_of_packet_channel / self.batch_size).max(1)
    }
}

/// The file as written; each section type resolves its own defaults.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of sections, such as `aggregator:`"
)]
struct RawConfig {
    #[serde(default, deserialize_with = "section")]
    aggregator: RawAggregator,
    #[serde(default, deserialize_with = "section")]
    capture: CaptureConfig,
    #[serde(default, deserialize_with = "section")]
    retention: RetentionConfig,
    #[serde(default)]
    writers: Option<Vec<WriterConfig>>,
    #[serde(default, deserialize_with = "section")]
    api: ApiConfig,
    #[serde(default, deserialize_with = "section")]
    alerter: AlerterConfig,
    #[serde(default)]
    smtp: Option<SmtpSection>,
    // Go2NetSpectra HEAD sections netspectra does not implement: accepted
    // whatever they hold, and logged as ignored.
    #[serde(default)]
    probe: Option<serde_yaml::Value>,
    #[serde(default)]
    ai: Option<serde_yaml::Value>,
}

impl RawConfig {
    /// The resolved config, or every problem found, each naming its key
    /// path and line.
    fn resolve(self, doc: &Doc<'_>) -> Result<Config, Vec<String>> {
        self.log_ignored_sections();
        let conflicts = head::conflicts(&self, doc);
        if !conflicts.is_empty() {
            return Err(doc.render(conflicts));
        }
        let ResolvedAggregator {
            config: aggregator,
            places,
            writers: head_writers,
        } = self
            .aggregator
            .resolve(doc)
            .map_err(|problems| doc.render(problems))?;
        let duplicates = duplicate_task_names(&aggregator, &places, doc);
        if !duplicates.is_empty() {
            return Err(duplicates);
        }
        let tasks: Vec<(&str, TaskKind)> = (aggregator.exact_tasks.iter())
            .map(|task| (task.name.as_str(), task.kind()))
            .chain((aggregator.sketch_tasks.iter()).map(|task| (task.name.as_str(), task.kind)))
            .collect();
        let bad_rules = check_rules(&self.alerter, &tasks);
        if !bad_rules.is_empty() {
            return Err(bad_rules);
        }
        Ok(Config {
            aggregator,
            capture: self.capture,
            retention: self.retention,
            writers: self.writers.or(head_writers),
            api: self.api,
            alerter: self.alerter,
            smtp: self.smtp,
        })
    }

    fn log_ignored_sections(&self) {
        let sections = [("probe", self.probe.is_some()), ("ai", self.ai.is_some())];
        let ignored: Vec<&str> = sections
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect();
        if !ignored.is_empty() {
            log::info!(
                "ignoring the Go2NetSpectra section(s) {}: netspectra does not implement them",
                ignored.join(", ")
            );
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of aggregator settings")]
struct RawAggregator {
    #[serde(default, deserialize_with = "num_workers")]
    num_workers: Option<usize>,
    #[serde(default, deserialize_with = "packet_channel")]
    size_of_packet_channel: Option<usize>,
    #[serde(default, deserialize_with = "batch_size")]
    batch_size: Option<usize>,
    #[serde(default, deserialize_with = "snapshot_interval")]
    snapshot_interval: Option<Duration>,
    #[serde(default, deserialize_with = "storage_root_path")]
    storage_root_path: Option<PathBuf>,
    #[serde(default, deserialize_with = "task_list")]
    exact_tasks: Option<Vec<TaskConfig>>,
    #[serde(default)]
    sketch_tasks: Option<Vec<sketch::RawSketchTask>>,
    #[serde(default, deserialize_with = "write_backlog")]
    write_backlog: Option<usize>,
    #[serde(default)]
    types: Option<Vec<head::AggregatorType>>,
    #[serde(default, deserialize_with = "head::spelled_duration")]
    period: Option<head::Spelled>,
    #[serde(default)]
    exact: Option<head::RawSection<TaskConfig>>,
    #[serde(default)]
    sketch: Option<head::RawSection<sketch::RawSketchTask>>,
}

impl RawAggregator {
    /// The section with its defaults, where each task was written, and the
    /// writers of the HEAD layout (`None` in netspectra's own layout).
    fn resolve(self, doc: &Doc<'_>) -> Result<ResolvedAggregator, Vec<Problem>> {
        let defaults = AggregatorConfig::default();
        let head = head::HeadSections {
            types: self.types,
            period: self.period,
            exact: self.exact,
            sketch: self.sketch,
        };
        let (exact_tasks, sketch_tasks, places, writers, interval) = if head.used() {
            let head = head::resolve(head, self.snapshot_interval.is_some(), doc)?;
            (
                head.exact_tasks,
                head.sketch_tasks,
                head.places,
                head.writers,
                head.interval,
            )
        } else {
            let defaulted = self.exact_tasks.is_none();
            let exact_tasks = self.exact_tasks.unwrap_or(defaults.exact_tasks);
            let list = [Step::Key("aggregator"), Step::Key("sketch_tasks")];
            let sketch_tasks =
                sketch::resolve_all(self.sketch_tasks.unwrap_or_default(), &list, doc)?;
            let exact_places = (0..exact_tasks.len()).map(|index| TaskPlace {
                path: sketch::entry_path(
                    &[Step::Key("aggregator"), Step::Key("exact_tasks")],
                    index,
                ),
                defaulted,
            });
            let sketch_places = (0..sketch_tasks.len()).map(|index| TaskPlace {
                path: sketch::entry_path(&list, index),
                defaulted: false,
            });
            let places = exact_places.chain(sketch_places).collect();
            (exact_tasks, sketch_tasks, places, None, None)
        };
        let config = AggregatorConfig {
            num_workers: self.num_workers.unwrap_or(defaults.num_workers),
            size_of_packet_channel: self
                .size_of_packet_channel
                .unwrap_or(defaults.size_of_packet_channel),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            snapshot_interval: self
                .snapshot_interval
                .or(interval)
                .unwrap_or(defaults.snapshot_interval),
            storage_root_path: self.storage_root_path.unwrap_or(defaults.storage_root_path),
            exact_tasks,
            sketch_tasks,
            write_backlog: self.write_backlog.unwrap_or(defaults.write_backlog),
        };
        Ok(ResolvedAggregator {
            config,
            places,
            writers,
        })
    }
}

/// The `aggregator:` section resolved, with what the checks across the
/// whole file need.
struct ResolvedAggregator {
    config: AggregatorConfig,
    /// Where each task, exact then sketch, was written.
    places: Vec<TaskPlace>,
    /// The HEAD layout's writers (`None` in netspectra's own layout, or
    /// when its sections have no writer list).
    writers: Option<Vec<WriterConfig>>,
}

/// Where a task was written, for messages: its entry's key path, or for a
/// default task the path it would have.
struct TaskPlace {
    path: KeyPath,
    /// A default task: the file left `aggregator.exact_tasks` out.
    defaulted: bool,
}

/// A problem found after parsing: the key path it is about and what is
/// wrong. Its line is looked up only when it is reported.
struct Problem {
    at: KeyPath,
    message: String,
}

/// A key path, e.g. `aggregator.exact.writers[1].clickhouse.host`.
type KeyPath = Vec<Step<'static>>;

/// The text being checked (after expansion), for finding lines, and what
/// the environment put on each line.
struct Doc<'t>(&'t env::Expanded);

impl Doc<'_> {
    /// The line of the value at `path`; `None` when the file lacks it.
    fn line(&self, path: &[Step<'_>]) -> Option<usize> {
        line_of(&self.0.text, path)
    }

    /// The first of `paths` the file has, else `fallback`: a required value
    /// left empty is reported at its own key, whose line names the variable.
    fn first_present(&self, paths: Vec<KeyPath>, fallback: &[Step<'static>]) -> KeyPath {
        paths
            .into_iter()
            .find(|path| self.line(path).is_some())
            .unwrap_or_else(|| fallback.to_vec())
    }

    /// ` at line N` and what the environment put on that line; empty when
    /// the file lacks `path`.
    fn at_line(&self, path: &[Step<'_>]) -> String {
        self.line(path).map_or_else(String::new, |line| {
            format!(" at line {line}{}", self.0.note(line))
        })
    }

    /// A serde_yaml error as a message, with its line's environment note.
    /// serde_yaml leaves the position out of its message when the error
    /// sits at line 1 column 1; it is added, so every message names a line.
    fn describe(&self, err: &serde_yaml::Error) -> String {
        let message = err.to_string();
        match err.location() {
            Some(at) if at.line() == 1 && at.column() == 1 && !message.contains(" at line ") => {
                format!("{message} at line 1 column 1{}", self.0.note(1))
            }
            Some(at) => format!("{message}{}", self.0.note(at.line())),
            None => message,
        }
    }

    /// The messages of `problems`: the first [`MAX_REPORTED_DUPLICATES`]
    /// with their lines, then a count of the rest.
    fn render(&self, problems: Vec<Problem>) -> Vec<String> {
        let more = problems.len().saturating_sub(MAX_REPORTED_DUPLICATES);
        let mut messages: Vec<String> = problems
            .into_iter()
            .take(MAX_REPORTED_DUPLICATES)
            .map(|problem| {
                format!(
                    "{}: {}{}",
                    path_text(&problem.at),
                    problem.message,
                    self.at_line(&problem.at)
                )
            })
            .collect();
        if more > 0 {
            messages.push(format!("and {more} more problems"));
        }
        messages
    }
}

/// `path` as written in messages: `aggregator.exact_tasks[2].name`.
fn path_text(path: &[Step<'_>]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) if text.is_empty() => text.push_str(key),
            Step::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// One message per task whose name an earlier task (exact or sketch)
/// already uses, for the first [`MAX_REPORTED_DUPLICATES`], then a count
/// of the rest. Names compare ignoring ASCII case: they become directory
/// names, and some file systems ignore case.
fn duplicate_task_names(
    aggregator: &AggregatorConfig,
    places: &[TaskPlace],
    doc: &Doc<'_>,
) -> Vec<String> {
    let names = aggregator
        .exact_tasks
        .iter()
        .map(|task| &task.name)
        .chain(aggregator.sketch_tasks.iter().map(|task| &task.name));
    let mut first_use: HashMap<String, usize> = HashMap::new();
    let mut duplicates = Vec::new();
    for (index, name) in names.enumerate() {
        let first = *first_use.entry(name.to_ascii_lowercase()).or_insert(index);
        if first != index {
            duplicates.push((index, first, name));
        }
    }
    let name_line = |place: &TaskPlace| {
        let mut path = place.path.clone();
        path.push(Step::Key("name"));
        doc.at_line(&path)
    };
    let mut problems: Vec<String> = duplicates
        .iter()
        .take(MAX_REPORTED_DUPLICATES)
        .filter_map(|&(later, first, name)| {
            let (later, first) = (places.get(later)?, places.get(first)?);
            let default = if first.defaulted {
                " (a default task: the file leaves aggregator.exact_tasks out)"
            } else {
                ""
            };
            Some(format!(
                "{}.name: duplicate task name {name:?}{}, already used by {}{}{default}",
                path_text(&later.path),
                name_line(later),
                path_text(&first.path),
                name_line(first),
            ))
        })
        .collect();
    let more = duplicates.len().saturating_sub(MAX_REPORTED_DUPLICATES);
    if more > 0 {
        problems.push(format!("and {more} more duplicate task names"));
    }
    problems
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a task: a mapping with `name` and `key_fields`"
)]
struct RawTask {
    #[serde(deserialize_with = "task_name")]
    name: String,
    #[serde(deserialize_with = "key_fields")]
    key_fields: Vec<KeyTerm>,
    #[serde(default)]
    num_shards: Option<u32>,
    #[serde(default, deserialize_with = "max_keys")]
    max_keys: Option<u64>,
    #[serde(default)]
    bidirectional: bool,
}

impl TryFrom<RawTask> for TaskConfig {
    type Error = String;

    /// Refuses a `bidirectional` task whose two ends are keyed differently.
    fn try_from(raw: RawTask) -> Result<Self, String> {
        let key_fields: Vec<KeyField> = raw.key_fields.iter().map(|(field, _)| *field).collect();
        let schema = raw.key_fields.iter().fold(
            KeySchema::from_fields(&key_fields),
            |schema, &(field, prefix)| schema.with_prefix(field, prefix).unwrap_or(schema),
        );
        if raw.bidirectional && schema.mirrored() != schema {
            return Err(format!(
                "task {:?}: bidirectional needs key fields that are the same for both ends \
                 (SrcIP with DstIP, SrcPort with DstPort, equal prefixes); key_fields are {schema}",
                raw.name
            ));
        }
        Ok(TaskConfig {
            schema,
            name: raw.name,
            key_fields,
            num_shards: raw.num_shards,
            max_keys: raw.max_keys,
            bidirectional: raw.bidirectional,
        })
    }
}

impl TaskConfig {
    /// The task's kind: exact, or a conversation when `bidirectional`.
    pub fn kind(&self) -> TaskKind {
        if self.bidirectional {
            TaskKind::Conversation
        } else {
            TaskKind::Exact
        }
    }
}

/// One worker per CPU but the one the reader keeps busy: on 2 cores one
/// shard outran two by about 1.3x (each shard sees every batch, so a second
/// one adds hashing without adding a core).
fn default_workers() -> usize {
    crate::cpus_beside_reader().min(MAX_WORKERS as usize)
}

fn default_tasks() -> Vec<TaskConfig> {
    DEFAULT_TASKS
        .iter()
        .map(|(name, fields)| TaskConfig {
            name: (*name).to_string(),
            key_fields: fields.to_vec(),
            schema: KeySchema::from_fields(fields),
            num_shards: None,
            max_keys: None,
            bidirectional: false,
        })
        .collect()
}

/// A section written with no keys (`aggregator:` alone) is YAML null: defaults.
fn section<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// The field parsers below raise their errors inside the visitor, so that
// serde_yaml stamps them with the value's key path and line. An error
// returned after `deserialize` has finished would carry the enclosing
// section's position instead.

fn num_workers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    Ranged {
        min: 1,
        max: MAX_WORKERS,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn packet_channel<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    Ranged {
        min: 1,
        max: MAX_PACKET_CHANNEL,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn batch_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    Ranged {
        min: 1,
        max: MAX_BATCH_SIZE,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn max_keys<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ranged {
        min: 1,
        max: MAX_KEYS,
    }
    .deserialize(deserializer)
    .map(|keys| Some(keys as u64))
}

fn snapshot_interval<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    Parsed {
        expecting: "a duration such as \"30s\", \"1m\" or \"1h\"",
        parse: parse_snapshot_interval,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn storage_root_path<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    Parsed {
        expecting: "a directory path",
        parse: parse_storage_root,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn clickhouse_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Parsed {
        expecting: "a URL such as \"http://127.0.0.1:8123\"",
        parse: parse_clickhouse_url,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn probe_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Parsed {
        expecting: "a probe name",
        parse: parse_probe_name,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn parquet_compression<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ParquetCompression>, D::Error> {
    Parsed {
        expecting: "zstd, snappy or none",
        parse: parse_parquet_compression,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn task_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Parsed {
        expecting: "a task name",
        parse: parse_task_name,
    }
    .deserialize(deserializer)
}

fn key_fields<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<KeyTerm>, D::Error> {
    deserializer.deserialize_seq(KeyFieldList {
        key: "key_fields",
        parse: parse_key_term,
    })
}

fn task_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<TaskConfig>>, D::Error> {
    deserializer.deserialize_seq(TaskList).map(Some)
}

/// The one rule for `aggregator.snapshot_interval` and `--snapshot-interval`:
/// a duration such as `30s` or `5m` that is a whole number of seconds from
/// 1s to 24h. Window directories are named to the second, so a shorter or
/// fractional interval would let windows overwrite each other. The error
/// text is the same from the config and the flag.
pub fn parse_snapshot_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|err| {
        format!("invalid duration {text:?} ({err}); write e.g. \"30s\", \"1m\" or \"1h\"")
    })?;
    check_window_length(interval, text)
}

/// The window-length rule of [`parse_snapshot_interval`] for `interval`,
/// written as `text`.
fn check_window_length(interval: Duration, text: &str) -> Result<Duration, String> {
    let whole_seconds = interval.subsec_nanos() == 0;
    if whole_seconds && (Duration::from_secs(1)..=MAX_SNAPSHOT_INTERVAL).contains(&interval) {
        Ok(interval)
    } else {
        // The upper bound is MAX_SNAPSHOT_INTERVAL.
        Err(format!(
            "{text}: the snapshot interval must be a whole number of seconds, from 1s to 24h"
        ))
    }
}

fn write_backlog<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    Ranged {
        min: 1,
        max: MAX_WRITE_BACKLOG,
    }
    .deserialize(deserializer)
    .map(Some)
}

fn snaplen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    Ranged {
        min: MIN_SNAPLEN,
        max: u64::from(DEFAULT_SNAPLEN),
    }
    .deserialize(deserializer)
    .map(|value| u32::try_from(value).unwrap_or(DEFAULT_SNAPLEN))
}

fn buffer_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    Ranged {
        min: MIN_BUFFER_SIZE,
        max: u64::from(u32::MAX),
    }
    .deserialize(deserializer)
    .map(|value| u32::try_from(value).unwrap_or(u32::MAX))
}

fn read_pause<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Parsed {
        expecting: "a duration from \"0s\" to \"1s\", such as \"50ms\"",
        parse: parse_read_pause,
    }
    .deserialize(deserializer)
}

/// `capture.read_pause`: 0 to [`MAX_READ_PAUSE`].
fn parse_read_pause(text: &str) -> Result<Duration, String> {
    let pause = humantime::parse_duration(text).map_err(|err| {
        format!("invalid duration {text:?} ({err}); write e.g. \"50ms\" or \"0s\"")
    })?;
    if pause > MAX_READ_PAUSE {
        Err(format!(
            "pause {text:?} is longer than 1s; counts would reach the workers that late"
        ))
    } else {
        Ok(pause)
    }
}

fn optional_window_count<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    Ranged {
        min: 1,
        max: u64::from(u32::MAX),
    }
    .deserialize(deserializer)
    .map(Some)
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    Parsed {
        expecting: "a duration such as \"30s\", \"1h\" or \"7d\"",
        parse: parse_positive_duration,
    }
    .deserialize(deserializer)
    .map(Some)
}

/// A duration of any length above zero (run time, retention age).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| {
        format!("invalid duration {text:?} ({err}); write e.g. \"30s\", \"1h\" or \"7d\"")
    })?;
    if duration.is_zero() {
        Err(format!(
            "duration {text:?} is zero; it must be longer than 0"
        ))
    } else {
        Ok(duration)
    }
}

fn parse_storage_root(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        Err("path is empty; write \".\" for the working directory".to_string())
    } else {
        Ok(PathBuf::from(text))
    }
}

/// `http://HOST[:PORT][/]`: plain HTTP (this build has no TLS), and no
/// credentials or query in the URL, where they would reach log lines.
fn parse_clickhouse_url(text: &str) -> Result<String, String> {
    let Some(rest) = text.strip_prefix("http://") else {
        return Err(if text.starts_with("https://") {
            "https is not supported; give the server's plain HTTP port, e.g. http://127.0.0.1:8123"
                .to_string()
        } else {
            format!("{text:?} is not an http:// URL, e.g. http://127.0.0.1:8123")
        });
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{text:?}: want http://HOST:PORT only (no path, query or credentials; \
             put those in username and password)"
        ));
    }
    Ok(format!("http://{authority}"))
}

fn parse_parquet_compression(text: &str) -> Result<ParquetCompression, String> {
    match text {
        "zstd" => Ok(ParquetCompression::Zstd),
        "snappy" => Ok(ParquetCompression::Snappy),
        "none" => Ok(ParquetCompression::None),
        _ => Err(format!(
            "compression {text:?} unknown; write zstd, snappy or none"
        )),
    }
}

/// A probe name: what the rows of one capture point are told apart by.
fn parse_probe_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > MAX_TASK_NAME_LEN || text.chars().any(char::is_control) {
        Err(format!(
            "probe name {text:?} must be 1 to {MAX_TASK_NAME_LEN} bytes without control characters"
        ))
    } else {
        Ok(text.to_string())
    }
}

fn parse_task_name(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if text.is_empty() {
        Err("task name is empty".to_string())
    } else if text.len() > MAX_TASK_NAME_LEN {
        Err(format!(
            "task name {text:?} is longer than {MAX_TASK_NAME_LEN} characters"
        ))
    } else if text.starts_with('.') {
        Err(format!(
            "task name {text:?} starts with '.'; it becomes a directory name"
        ))
    } else if let Some(bad) = text.chars().find(|c| !allowed(*c)) {
        Err(format!(
            "task name {text:?} contains {bad:?}; it becomes a directory name, \
             so use only letters, digits, '_', '.' and '-'"
        ))
    } else {
        Ok(text.to_string())
    }
}

/// One entry of a key field list: the field and the prefix it keeps.
type KeyTerm = (KeyField, AddressPrefix);

/// An exact task's key field, with an optional prefix on an address:
/// `SrcIP/24`, `DstIP/64`, `SrcIP/24,48`.
fn parse_key_term(text: &str) -> Result<KeyTerm, String> {
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "unknown key field {text:?}; a prefix for both families inside [...] \
             needs quotes, as in [\"SrcIP/24,48\"]"
        ));
    }
    let Some((name, length)) = text.split_once('/') else {
        return Ok((parse_key_field(text)?, AddressPrefix::WHOLE));
    };
    let field = parse_key_field(name)?;
    if !matches!(field, KeyField::SrcIp | KeyField::DstIp) {
        return Err(format!(
            "key field {text:?}: only SrcIP and DstIP take a prefix"
        ));
    }
    let prefix =
        AddressPrefix::parse(length).map_err(|why| format!("key field {text:?}: {why}"))?;
    Ok((field, prefix))
}

/// A sketch task's key field: whole addresses only.
pub(crate) fn parse_whole_key_term(text: &str) -> Result<KeyTerm, String> {
    if text.contains('/') {
        return Err(format!(
            "key field {text:?}: prefixes are for exact tasks only (key_fields)"
        ));
    }
    Ok((parse_key_field(text)?, AddressPrefix::WHOLE))
}

fn parse_key_field(text: &str) -> Result<KeyField, String> {
    KeyField::from_config_name(text).ok_or_else(|| {
        let valid: Vec<&str> = KeyField::ALL
            .iter()
            .map(|field| field.config_name())
            .collect();
        format!("unknown key field {text:?}; valid: {}", valid.join(", "))
    })
}

/// An unsigned integer within `min..=max`.
struct Ranged {
    min: u64,
    max: u64,
}

impl<'de> DeserializeSeed<'de> for Ranged {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for Ranged {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer from {} to {}", self.min, self.max)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<usize, E> {
        if (self.min..=self.max).contains(&value) {
            usize::try_from(value).map_err(E::custom)
        } else {
            Err(E::custom(format!(
                "{value} is out of range; expected {} to {}",
                self.min, self.max
            )))
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<usize, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::custom(format!(
                "{value} is out of range; expected {} to {}",
                self.min, self.max
            ))),
        }
    }
}

/// An unsigned integer checked and converted by `check`, whose error text
/// becomes the message.
struct Checked<T> {
    expecting: &'static str,
    check: fn(u64) -> Result<T, String>,
}

impl<'de, T> DeserializeSeed<'de> for Checked<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<T> Visitor<'_> for Checked<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        (self.check)(value).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        match u64::try_from(value) {
            Ok(value) => self.visit_u64(value),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(value), &self)),
        }
    }
}

/// `seed`'s value, or `None` for a null value (a key written without a
/// value, or holding a `${VAR}` that was empty): Go2NetSpectra's zero value,
/// which means the default.
fn optional<'de, D, S>(deserializer: D, seed: S) -> Result<Option<S::Value>, D::Error>
where
    D: Deserializer<'de>,
    S: DeserializeSeed<'de>,
{
    deserializer.deserialize_option(Optional(seed))
}

struct Optional<S>(S);

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Optional<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or nothing")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// A string checked and converted by `parse`, whose error text becomes the message.
struct Parsed<T> {
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<'de, T> DeserializeSeed<'de> for Parsed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for Parsed<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(E::custom)
    }
}

/// `key_fields` (or a sketch task's `flow_fields`, `element_fields`,
/// named by `key`): a non-empty list of distinct field names, each read
/// by `parse`.
struct KeyFieldList {
    key: &'static str,
    parse: fn(&str) -> Result<KeyTerm, String>,
}

impl<'de> Visitor<'de> for KeyFieldList {
    type Value = Vec<KeyTerm>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of key fields, e.g. [SrcIP, DstPort]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<KeyTerm>, A::Error> {
        let element = || Parsed {
            expecting: "a key field name",
            parse: self.parse,
        };
        let mut fields: Vec<KeyTerm> = Vec::new();
        while let Some(term) = seq.next_element_seed(element())? {
            let field = term.0;
            if fields.iter().any(|(listed, _)| *listed == field) {
                return Err(de::Error::custom(format!(
                    "key field {} is listed twice",
                    field.config_name()
                )));
            }
            fields.push(term);
        }
        if fields.is_empty() {
            return Err(de::Error::custom(format!(
                "{} is empty; list at least one of SrcIP, DstIP, SrcPort, DstPort, Protocol",
                self.key
            )));
        }
        Ok(fields)
    }
}

/// `exact_tasks`: a non-empty list of tasks.
struct TaskList;

impl<'de> Visitor<'de> for TaskList {
    type Value = Vec<TaskConfig>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-empty list of tasks")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<TaskConfig>, A::Error> {
        let mut tasks = Vec::new();
        while let Some(task) = seq.next_element()? {
            tasks.push(task);
        }
        if tasks.is_empty() {
            return Err(de::Error::custom(
                "no tasks; list at least one, or leave exact_tasks out for the defaults",
            ));
        }
        Ok(tasks)
    }
}

/// One step of a key path: a mapping key or a list index.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The 1-based line of the value at `path`, found by deserializing `text`
/// again and failing on purpose at that value: serde_yaml marks the failure
/// with the value's position, which its public API offers no other way to get.
fn line_of(text: &str, path: &[Step<'_>]) -> Option<usize> {
    let deserializer = serde_yaml::Deserializer::from_str(text);
    match Locate(path).deserialize(deserializer) {
        Ok(()) => None,
        Err(err) => err.location().map(|at| at.line()),
    }
}

/// Walks `path`; every value on the way is consumed, the target is refused.
struct Locate<'p, 'a>(&'p [Step<'a>]);

impl<'de> DeserializeSeed<'de> for Locate<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_, '_> {
    type Value = ();

    // Scalars use the default `visit_*` methods, which refuse: the target,
    // or a scalar where the path continues (the path is then absent anyway).
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the located value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((step, rest)) = self.0.split_first() else {
            return Err(de::Error::custom("located"));
        };
        while let Some(key) = map.next_key::<String>()? {
            match step {
                Step::Key(want) if key == *want => map.next_value_seed(Locate(rest))?,
                _ => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((step, rest)) = self.0.split_first() else {
            return Err(de::Error::custom("located"));
        };
        let mut index = 0;
        loop {
            let found = match step {
                Step::Index(want) if index == *want => seq.next_element_seed(Locate(rest))?,
                _ => seq.next_element::<IgnoredAny>()?.map(drop),
            };
            if found.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO2NETSPECTRA: &str = r#"
aggregator:
  num_workers: 16
  size_of_packet_channel: 8096
  snapshot_interval: "30s"
  storage_root_path: "/tmp/gons_snapshots"
  exact_tasks:
    - name: "per_src_ip"
      key_fields: ["SrcIP"]
      num_shards: 1024
    - name: "per_five_tuple"
      key_fields: ["SrcIP", "DstIP", "SrcPort", "DstPort", "Protocol"]
      num_shards: 4096
"#;

    /// `yaml` loaded as `test.yaml` with only `vars` in the environment.
    pub(super) fn load(yaml: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_string())
        };
        Config::from_yaml_with_env(yaml, "test.yaml", &lookup).map_err(|err| err.to_string())
    }

    /// The error text for `yaml`, which must be refused.
    #[track_caller]
    pub(super) fn refusal(yaml: &str) -> String {
        match load(yaml, &[]) {
            Ok(config) => panic!("accepted {config:?}"),
            Err(message) => message,
        }
    }

    /// Asserts the refusal of `yaml` names the file, `key_path`, `line` and says `what`.
    #[track_caller]
    pub(super) fn check_refused(yaml: &str, key_path: &str, line: usize, what: &str) {
        let message = refusal(yaml);
        assert!(message.starts_with("test.yaml: "), "{message}");
        assert!(
            message.contains(key_path),
            "want {key_path:?} in: {message}"
        );
        assert!(
            message.contains(&format!("line {line}")),
            "want line {line} in: {message}"
        );
        assert!(message.contains(what), "want {what:?} in: {message}");
    }

    /// `yaml` with one task per entry of `tasks`, each an inline mapping.
    fn with_tasks(tasks: &[&str]) -> String {
        let mut yaml = String::from("aggregator:\n  exact_tasks:\n");
        for task in tasks {
            yaml.push_str(&format!("    - {task}\n"));
        }
        yaml
    }

    #[test]
    fn thousands_of_duplicate_task_names_are_refused_quickly_naming_the_first_five() {
        let yaml = with_tasks(&["{name: a, key_fields: [SrcIP]}"; 3000]);
        let message = Config::from_yaml(&yaml, "t.yaml")
            .expect_err("duplicate names are refused")
            .to_string();
        assert!(
            message.starts_with(
                "t.yaml: aggregator.exact_tasks[1].name: duplicate task name \"a\" at line 4, \
                 already used by aggregator.exact_tasks[0] at line 3; "
            ),
            "{message}"
        );
        assert!(
            message.contains("aggregator.exact_tasks[5].name"),
            "{message}"
        );
        assert!(
            !message.contains("aggregator.exact_tasks[6].name"),
            "{message}"
        );
        assert!(
            message.ends_with("; and 2994 more duplicate task names"),
            "{message}"
        );
    }

    #[test]
    fn alert_metrics_must_belong_to_the_rule_task_kind() {
        let yaml = |task: &str, metric: &str| {
            format!(
                "aggregator:\n  sketch_tasks:\n    - {{name: hh, skt_type: 0, flow_fields: [SrcIP], width: 64, depth: 2}}\n\
                 alerter:\n  enabled: true\n  rules:\n    - {{name: r, task_name: {task}, metric: {metric}, operator: \">\", threshold: 1}}\n"
            )
        };
        assert!(Config::from_yaml(&yaml("hh", "heavy_hitter_count"), "a.yaml").is_ok());
        assert!(Config::from_yaml(&yaml("per_src_ip", "total_bytes"), "a.yaml").is_ok());
        for (task, metric) in [
            ("hh", "super_spreader_spread"),
            ("per_src_ip", "heavy_hitter_size"),
        ] {
            let error = Config::from_yaml(&yaml(task, metric), "a.yaml")
                .expect_err("a metric the task's kind lacks")
                .to_string();
            assert!(
                error.contains("alerter.rules[0].metric") && error.contains(metric),
                "{error}"
            );
        }
    }

    #[test]
    fn go2netspectra_api_alerter_and_smtp_sections_load() {
        let yaml = "api:\n  http_listen_addr: \":8080\"\n  grpc_listen_addr: \":50051\"\n\
                    alerter:\n  enabled: true\n  check_interval: 30s\n  rules:\n\
                    \x20   - {name: busy, task_name: per_protocol, metric: total_bytes, operator: \">=\", threshold: 1e6}\n\
                    smtp:\n  host: mail.example\n  port: 25\n";
        let config = Config::from_yaml(yaml, "g.yaml").expect("Go2NetSpectra sections load");
        assert_eq!(config.api.http_listen_addr.as_deref(), Some(":8080"));
        assert_eq!(config.alerter.check_interval, Duration::from_secs(30));
        assert_eq!(config.alerter.rules[0].threshold, 1e6);
        assert!(config.smtp.is_some());
        let error = Config::from_yaml("alerter:\n  check_interval: soon\n", "g.yaml")
            .expect_err("not a duration")
            .to_string();
        assert!(
            error.starts_with("g.yaml: alerter.check_interval: \"soon\" is not a duration"),
            "{error}"
        );
    }

    #[test]
    fn default_yaml_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.yaml");
        let config = Config::load(&path).expect("config/default.yaml is valid");
        assert_eq!(config, Config::bundled());
    }

    #[test]
    fn bundled_config_equals_the_built_in_defaults() {
        let empty = Config::from_yaml("", "empty.yaml").expect("an empty file is valid");
        assert_eq!(Config::bundled(), empty);
        let aggregator = &empty.aggregator;
        assert_eq!(aggregator.num_workers, default_workers());
        assert_eq!(aggregator.size_of_packet_channel, 32_768);
        assert_eq!(aggregator.batch_size, 16_384);
        assert_eq!(aggregator.snapshot_interval, Duration::from_secs(60));
        assert_eq!(aggregator.storage_root_path, PathBuf::from("snapshots"));
        let tasks: Vec<String> = aggregator
            .exact_tasks
            .iter()
            .map(|task| format!("{} {}", task.name, task.schema))
            .collect();
        assert_eq!(
            tasks,
            [
                "per_src_ip [SrcIP]",
                "per_dst_ip [DstIP]",
                "per_src_port [SrcPort]",
                "per_dst_port [DstPort]",
                "per_protocol [Protocol]",
                "per_five_tuple [SrcIP, DstIP, SrcPort, DstPort, Protocol]",
            ]
        );
    }

    #[test]
    fn capture_and_retention_sections_load_with_their_defaults_filled_in() {
        let config = Config::from_yaml(
            "capture:\n  interface: lo\n  filter: udp port 53\n  duration: 90s\nretention:\n  max_windows: 24\n",
            "live.yaml",
        )
        .expect("valid config");
        assert_eq!(config.capture.interface.as_deref(), Some("lo"));
        assert_eq!(config.capture.filter.as_deref(), Some("udp port 53"));
        assert_eq!(config.capture.duration, Some(Duration::from_secs(90)));
        assert_eq!(config.capture.snaplen, DEFAULT_SNAPLEN);
        assert!(config.capture.promisc);
        assert_eq!(config.capture.read_pause, Duration::from_millis(50));
        assert_eq!(config.retention.max_windows, Some(24));
        assert_eq!(config.retention.max_age, None);
    }

    #[test]
    fn bad_capture_and_retention_values_are_refused_with_their_key() {
        let message = refusal("capture:\n  snaplen: 10\n");
        assert!(
            message.contains("capture.snaplen") && message.contains("line 2"),
            "{message}"
        );
        let message = refusal("retention:\n  max_age: soon\n");
        assert!(
            message.contains("retention.max_age") && message.contains("line 2"),
            "{message}"
        );
        let message = refusal("capture:\n  interfase: eth0\n");
        assert!(
            message.contains("interfase") && message.contains("line 2"),
            "{message}"
        );
    }

    #[test]
    fn read_pause_takes_zero_to_one_second_and_names_its_key_otherwise() {
        for (text, pause) in [
            ("0s", Duration::ZERO),
            ("250ms", Duration::from_millis(250)),
        ] {
            let yaml = format!("capture:\n  read_pause: \"{text}\"\n");
            let config = Config::from_yaml(&yaml, "live.yaml").expect("valid pause");
            assert_eq!(config.capture.read_pause, pause, "{text}");
        }
        for (text, problem) in [("2s", "longer than 1s"), ("soon", "invalid duration")] {
            let message = refusal(&format!("capture:\n  read_pause: \"{text}\"\n"));
            assert!(
                message.contains("capture.read_pause")
                    && message.contains("line 2")
                    && message.contains(problem),
                "{message}"
            );
        }
    }

    #[test]
    fn go2netspectra_phase1_config_loads_unchanged() {
        let config = Config::from_yaml(GO2NETSPECTRA, "gons.yaml").expect("valid");
        let aggregator = &config.aggregator;
        assert_eq!(aggregator.num_workers, 16);
        assert_eq!(aggregator.size_of_packet_channel, 8096);
        // Not in the Go file: netspectra's default.
        assert_eq!(aggregator.batch_size, 16_384);
        assert_eq!(aggregator.snapshot_interval, Duration::from_secs(30));
        assert_eq!(
            aggregator.storage_root_path,
            PathBuf::from("/tmp/gons_snapshots")
        );
        assert_eq!(aggregator.exact_tasks.len(), 2);
        let five_tuple = &aggregator.exact_tasks[1];
        assert_eq!(five_tuple.name, "per_five_tuple");
        assert_eq!(five_tuple.key_fields, KeyField::ALL);
        assert_eq!(five_tuple.schema, KeySchema::FIVE_TUPLE);
        assert_eq!(five_tuple.num_shards, Some(4096));
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gons.yaml");
        std::fs::write(&path, GO2NETSPECTRA).expect("write");
        assert_eq!(
            Config::load(&path).expect("valid").aggregator.num_workers,
            16
        );

        std::fs::write(&path, "aggregator:\n  num_workers: 0\n").expect("write");
        let message = Config::load(&path).expect_err("refused").to_string();
        assert!(
            message.starts_with(&format!("{}: ", path.display())),
            "{message}"
        );
    }

    #[test]
    fn missing_file_is_a_read_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("absent.yaml");
        let err = Config::load(&path).expect_err("no such file");
        assert!(matches!(err, ConfigError::Read(_)));
        assert_eq!(err.to_string(), format!("{}: cannot open", path.display()));
    }

    #[test]
    fn a_config_too_large_or_not_utf8_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("huge.yaml");
        let comment = format!("#{}\n", "x".repeat(MAX_CONFIG_BYTES as usize));
        std::fs::write(&path, comment).expect("write");
        assert_eq!(
            Config::load(&path).expect_err("too large").to_string(),
            format!(
                "{}: is larger than the limit of 1048576 bytes",
                path.display()
            )
        );
        std::fs::write(&path, b"aggregator:\n  \xff\n").expect("write");
        assert_eq!(
            Config::load(&path).expect_err("not UTF-8").to_string(),
            format!("{}: not UTF-8 text (byte offset 14)", path.display())
        );
    }

    #[test]
    fn missing_keys_take_their_defaults() {
        let config = Config::from_yaml("aggregator:\n  batch_size: 64\n", "t.yaml").expect("ok");
        assert_eq!(config.aggregator.batch_size, 64);
        assert_eq!(config.aggregator.size_of_packet_channel, 32_768);
        assert_eq!(config.aggregator.exact_tasks, default_tasks());
        let empty_section = Config::from_yaml("aggregator:\n", "t.yaml").expect("ok");
        assert_eq!(empty_section.aggregator, AggregatorConfig::default());
    }

    #[test]
    fn key_fields_and_num_shards_are_lenient_like_go2netspectra() {
        let config = Config::from_yaml(
            &with_tasks(&["{name: by_port, key_fields: [dstport, PROTOCOL]}"]),
            "t.yaml",
        )
        .expect("ok");
        let task = &config.aggregator.exact_tasks[0];
        assert_eq!(task.key_fields, [KeyField::DstPort, KeyField::Protocol]);
        assert_eq!(task.num_shards, None);
    }

    #[test]
    fn mailbox_holds_the_packet_capacity_in_batches_and_at_least_one() {
        let mut aggregator = AggregatorConfig::default();
        assert_eq!(aggregator.mailbox_batches(), 2);
        aggregator.batch_size = 65_536;
        assert_eq!(aggregator.mailbox_batches(), 1);
    }

    #[test]
    fn misspelt_key_is_refused_with_its_path_and_line() {
        let yaml = "aggregator:\n  num_worker: 4\n";
        assert_eq!(
            refusal(yaml),
            "test.yaml: aggregator: unknown field `num_worker`, expected one of `num_workers`, \
             `size_of_packet_channel`, `batch_size`, `snapshot_interval`, \
             `storage_root_path`, `exact_tasks`, `sketch_tasks`, `write_backlog`, `types`, \
             `period`, `exact`, `sketch` at line 2 column 3"
        );
        check_refused(
            &with_tasks(&["{name: a, key_fields: [SrcIP], shards: 4}"]),
            "aggregator.exact_tasks[0]",
            3,
            "unknown field `shards`",
        );
    }

    #[test]
    fn misspelt_top_level_section_names_line_one() {
        assert_eq!(
            refusal("aggregatr:\n  num_workers: 4\n"),
            "test.yaml: unknown field `aggregatr`, expected one of `aggregator`, `capture`, \
             `retention`, `writers`, `api`, `alerter`, `smtp`, `probe`, `ai` at line 1 column 1"
        );
    }

    #[test]
    fn unknown_key_field_is_refused_listing_the_valid_ones() {
        let yaml = with_tasks(&[
            "{name: a, key_fields: [SrcIP]}",
            "{name: b, key_fields: [SrcMac]}",
        ]);
        assert_eq!(
            refusal(&yaml),
            "test.yaml: aggregator.exact_tasks[1].key_fields[0]: unknown key field \"SrcMac\"; \
             valid: SrcIP, DstIP, SrcPort, DstPort, Protocol at line 4 column 30"
        );
    }

    #[test]
    fn empty_or_repeated_key_fields_are_refused() {
        check_refused(
            &with_tasks(&["{name: a, key_fields: []}"]),
            "aggregator.exact_tasks[0].key_fields",
            3,
            "key_fields is empty",
        );
        check_refused(
            &with_tasks(&["{name: a, key_fields: [SrcIP, srcip]}"]),
            "aggregator.exact_tasks[0].key_fields",
            3,
            "key field SrcIP is listed twice",
        );
    }

    #[test]
    fn duplicate_task_name_names_both_lines() {
        let yaml = with_tasks(&[
            "{name: per_src_ip, key_fields: [SrcIP]}",
            "{name: other, key_fields: [DstIP]}",
            "{name: Per_Src_IP, key_fields: [DstIP]}",
        ]);
        assert_eq!(
            refusal(&yaml),
            "test.yaml: aggregator.exact_tasks[2].name: duplicate task name \"Per_Src_IP\" \
             at line 5, already used by aggregator.exact_tasks[0] at line 3"
        );
    }

    #[test]
    fn task_names_must_be_safe_directory_names() {
        let cases = [
            ("\"\"", "task name is empty"),
            ("\".hidden\"", "starts with '.'"),
            ("\"../up\"", "starts with '.'"),
            ("\"a/b\"", "contains '/'"),
            ("\"a b\"", "contains ' '"),
        ];
        for (name, what) in cases {
            let yaml = with_tasks(&[&format!("{{name: {name}, key_fields: [SrcIP]}}")]);
            check_refused(&yaml, "aggregator.exact_tasks[0].name", 3, what);
        }
        check_refused(
            &with_tasks(&["{key_fields: [SrcIP]}"]),
            "aggregator.exact_tasks[0]",
            3,
            "missing field `name`",
        );
    }

    #[test]
    fn bad_durations_are_refused() {
        let rule = "the snapshot interval must be a whole number of seconds, from 1s to 24h";
        let mut cases = vec![
            (
                "\"30 parsecs\"",
                "invalid duration \"30 parsecs\"".to_string(),
            ),
            ("30", "time unit needed".to_string()),
        ];
        for value in ["0s", "25h", "100y", "500ms", "1ns", "1500ms"] {
            cases.push((value, format!("{value}: {rule}")));
        }
        for (value, what) in cases {
            let yaml = format!("aggregator:\n  batch_size: 8\n  snapshot_interval: {value}\n");
            check_refused(&yaml, "aggregator.snapshot_interval", 3, &what);
        }
        let day = Config::from_yaml("aggregator:\n  snapshot_interval: 24h\n", "t.yaml");
        assert_eq!(
            day.expect("24h is allowed").aggregator.snapshot_interval,
            MAX_SNAPSHOT_INTERVAL
        );
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let cases = [
            (
                "num_workers: 0",
                "aggregator.num_workers",
                "0 is out of range; expected 1 to 1024",
            ),
            (
                "num_workers: 1025",
                "aggregator.num_workers",
                "expected 1 to 1024",
            ),
            (
                "num_workers: -3",
                "aggregator.num_workers",
                "-3 is out of range",
            ),
            (
                "num_workers: many",
                "aggregator.num_workers",
                "expected an integer from 1 to 1024",
            ),
            (
                "batch_size: 0",
                "aggregator.batch_size",
                "expected 1 to 65536",
            ),
            (
                "batch_size: 65537",
                "aggregator.batch_size",
                "expected 1 to 65536",
            ),
            (
                "size_of_packet_channel: 0",
                "aggregator.size_of_packet_channel",
                "out of range",
            ),
        ];
        for (setting, key_path, what) in cases {
            check_refused(&format!("aggregator:\n  {setting}\n"), key_path, 2, what);
        }
    }

    #[test]
    fn max_keys_is_optional_per_task_and_range_checked() {
        let yaml = with_tasks(&[
            "{name: a, key_fields: [SrcIP], max_keys: 10000}",
            "{name: b, key_fields: [Protocol]}",
        ]);
        let config = Config::from_yaml(&yaml, "t.yaml").expect("max_keys is valid");
        let limits: Vec<Option<u64>> = config
            .aggregator
            .exact_tasks
            .iter()
            .map(|task| task.max_keys)
            .collect();
        assert_eq!(limits, [Some(10_000), None]);
        assert!(
            Config::bundled()
                .aggregator
                .exact_tasks
                .iter()
                .all(|task| task.max_keys.is_none())
        );
        for (value, what) in [
            ("0", "0 is out of range; expected 1 to 100000000"),
            ("100000001", "expected 1 to 100000000"),
            ("lots", "expected an integer from 1 to 100000000"),
        ] {
            let yaml = with_tasks(&[&format!(
                "{{name: a, key_fields: [SrcIP], max_keys: {value}}}"
            )]);
            check_refused(&yaml, "aggregator.exact_tasks[0].max_keys", 3, what);
        }
    }

    #[test]
    fn an_empty_storage_root_path_is_refused() {
        check_refused(
            "aggregator:\n  storage_root_path: \"\"\n",
            "aggregator.storage_root_path",
            2,
            "path is empty",
        );
    }

    #[test]
    fn a_section_of_the_wrong_type_is_described_in_user_terms() {
        assert_eq!(
            refusal("aggregator: 5\n"),
            "test.yaml: aggregator: invalid type: integer `5`, \
             expected a mapping of aggregator settings at line 1 column 13"
        );
    }

    #[test]
    fn an_empty_task_list_is_refused() {
        check_refused(
            "aggregator:\n  exact_tasks: []\n",
            "aggregator.exact_tasks",
            2,
            "no tasks",
        );
    }

    #[test]
    fn a_writers_list_loads_with_clickhouse_defaults_and_a_hidden_password() {
        let yaml = "writers:\n  - {type: files, root: out}\n  - type: clickhouse\n    url: \"http://ch:8123/\"\n    password: hunter2\n";
        let config = Config::from_yaml(yaml, "test.yaml").expect("valid writers");
        let writers = config.writers.expect("writers given");
        assert_eq!(
            writers[0],
            WriterConfig::Files {
                root: Some(PathBuf::from("out"))
            }
        );
        let WriterConfig::ClickHouse(clickhouse) = &writers[1] else {
            panic!("want a clickhouse writer: {writers:?}");
        };
        assert_eq!(clickhouse.url, "http://ch:8123");
        assert_eq!(
            (clickhouse.database.as_str(), clickhouse.username.as_str()),
            ("default", "default")
        );
        assert_eq!(clickhouse.password.expose(), "hunter2");
        assert_eq!(clickhouse.probe, None);
        assert!(!format!("{writers:?}").contains("hunter2"));
        assert_eq!(Config::bundled().writers, None);
    }

    #[test]
    fn bad_writers_are_refused_with_their_key_path_and_line() {
        let writer = |entry: &str| format!("writers:\n  - {entry}\n");
        check_refused(
            &writer("{type: clickhouse, url: \"http://h:1\", passwd: x}"),
            "writers[0]",
            2,
            "unknown field `passwd`",
        );
        // Checks across an entry's keys name the list and the entry's line.
        check_refused(
            &writer("{type: clickhouse}"),
            "writers:",
            2,
            "`url` is required",
        );
        check_refused(
            &writer("{type: clickhouse, url: \"https://h:8443\"}"),
            "writers[0].url",
            2,
            "https is not supported",
        );
        check_refused(
            &writer("{type: clickhouse, url: \"http://u:p@h:1\"}"),
            "writers[0].url",
            2,
            "no path, query or credentials",
        );
        check_refused(
            &writer("{type: files, url: \"http://h:1\"}"),
            "writers",
            2,
            "`url` is not a setting of a `type: files` writer",
        );
        check_refused(
            &writer("{type: kafka}"),
            "writers[0].type",
            2,
            "unknown variant `kafka`",
        );
    }

    #[test]
    fn a_parquet_writer_loads_with_zstd_by_default_and_any_named_compression() {
        let yaml = "writers:\n  - {type: parquet, root: pq}\n  - {type: parquet, root: pq2, compression: snappy, probe: edge-1}\n  - {type: parquet, root: pq3, compression: none}\n";
        let writers = Config::from_yaml(yaml, "test.yaml")
            .expect("valid writers")
            .writers
            .expect("writers given");
        let want = [
            ("pq", ParquetCompression::Zstd, None),
            ("pq2", ParquetCompression::Snappy, Some("edge-1")),
            ("pq3", ParquetCompression::None, None),
        ];
        for (writer, (root, compression, probe)) in writers.iter().zip(want) {
            assert_eq!(
                writer,
                &WriterConfig::Parquet(ParquetConfig {
                    root: PathBuf::from(root),
                    compression,
                    probe: probe.map(str::to_string),
                })
            );
        }
    }

    #[test]
    fn bad_parquet_writers_are_refused_naming_the_key() {
        let writer = |entry: &str| format!("writers:\n  - {entry}\n");
        check_refused(
            &writer("{type: parquet, root: pq, compression: lz4}"),
            "writers[0].compression",
            2,
            "compression \"lz4\" unknown; write zstd, snappy or none",
        );
        check_refused(
            &writer("{type: parquet}"),
            "writers:",
            2,
            "`root` is required for a `type: parquet` writer",
        );
        check_refused(
            &writer("{type: parquet, root: pq, url: \"http://h:1\"}"),
            "writers",
            2,
            "`url` is not a setting of a `type: parquet` writer",
        );
        check_refused(
            &writer("{type: files, compression: zstd}"),
            "writers",
            2,
            "`compression` is not a setting of a `type: files` writer",
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_the_line() {
        let message = refusal("aggregator:\n  num_workers: 4\n batch_size: 8\n");
        assert!(message.starts_with("test.yaml: "), "{message}");
        assert!(message.contains("line 3"), "{message}");
    }
}
