//! Go2NetSpectra's HEAD config layout, loaded unchanged: `aggregator.types`,
//! `aggregator.period`, and the sections `aggregator.exact` and
//! `aggregator.sketch`, each `{writers: [...], tasks: [...]}`, resolved
//! onto netspectra's own settings: the tasks that run, the writers, and
//! the window length.
//!
//! Owns what each HEAD key means here and how the HEAD layout combines with
//! netspectra's own (`conflicts`). Never parses a task entry itself
//! (`TaskConfig`, `sketch`), never builds a writer. Single values are
//! checked while deserialized, so serde_yaml names their key and line;
//! checks across keys run in `resolve` and find their line through `Doc`.
//!
//! The mapping:
//! - `types` chooses which sections run; absent, every section given runs.
//!   A section not run (its tasks and writers) is logged as skipped.
//! - Writer entries of the sections that run are pooled: every task goes
//!   to every enabled writer (an entry given in both sections is one
//!   writer). `gob` and `text` become netspectra's files writer at their
//!   `root_path`; `clickhouse` becomes the ClickHouse writer on
//!   `http://host:http_port`. `enabled` absent means false, as in Go.
//! - The window length is `aggregator.snapshot_interval` when given, else
//!   the smallest `snapshot_interval` of the enabled writers, else `period`.
//!   netspectra's windows are tumbling, never cumulative over a period.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::Deserializer;

use super::sketch::{self, RawSketchTask, SketchTaskConfig};
use super::{
    ClickHouseConfig, Doc, KeyPath, Problem, Ranged, RawConfig, Secret, Step, TaskConfig,
    TaskPlace, WriterConfig, check_window_length, optional, parse_clickhouse_url,
};

/// The HTTP port of a `clickhouse` block without `http_port`: ClickHouse's default.
const DEFAULT_HTTP_PORT: u16 = 8123;

/// An entry of `aggregator.types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum AggregatorType {
    Exact,
    Sketch,
}

/// `aggregator.exact` or `aggregator.sketch`: writers and tasks. Either
/// key may be left out or empty.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "T: Deserialize<'de>"),
    expecting = "a mapping with `writers` and `tasks`"
)]
pub(super) struct RawSection<T> {
    #[serde(default)]
    writers: Option<Vec<RawWriterDef>>,
    #[serde(default)]
    tasks: Option<Vec<T>>,
}

/// A writer entry: `{type, enabled, snapshot_interval, <type>: {...}}`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a writer: a mapping with `type`, `enabled`, `snapshot_interval` and a block named after its type"
)]
struct RawWriterDef {
    #[serde(rename = "type")]
    kind: WriterType,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "spelled_duration")]
    snapshot_interval: Option<Spelled>,
    #[serde(default)]
    gob: Option<RawFileBlock>,
    #[serde(default)]
    text: Option<RawFileBlock>,
    #[serde(default)]
    clickhouse: Option<RawClickHouseBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WriterType {
    Gob,
    Text,
    Clickhouse,
}

impl WriterType {
    fn key(self) -> &'static str {
        match self {
            WriterType::Gob => "gob",
            WriterType::Text => "text",
            WriterType::Clickhouse => "clickhouse",
        }
    }
}

/// The `gob:` or `text:` block of a writer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with `root_path`")]
struct RawFileBlock {
    #[serde(default)]
    root_path: Option<String>,
}

/// The `clickhouse:` block of a writer: Go2NetSpectra's keys, plus
/// netspectra's `http_port` and `probe`.
#[derive(Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of ClickHouse settings (`host`, `port`, `database`, ...)"
)]
struct RawClickHouseBlock {
    #[serde(default)]
    host: Option<String>,
    #[serde(default, deserialize_with = "port")]
    port: Option<u16>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    cloud: Option<bool>,
    #[serde(default, deserialize_with = "port")]
    http_port: Option<u16>,
    #[serde(default, deserialize_with = "super::probe_name")]
    probe: Option<String>,
}

/// A duration with the text it was written as, for messages.
pub(super) type Spelled = (Duration, String);

/// The HEAD keys of `aggregator:`, moved out of the parsed section.
pub(super) struct HeadSections {
    pub types: Option<Vec<AggregatorType>>,
    pub period: Option<Spelled>,
    pub exact: Option<RawSection<TaskConfig>>,
    pub sketch: Option<RawSection<RawSketchTask>>,
}

/// What the HEAD layout resolves to.
pub(super) struct HeadResolved {
    pub exact_tasks: Vec<TaskConfig>,
    pub sketch_tasks: Vec<SketchTaskConfig>,
    /// Where each task, exact then sketch, was written.
    pub places: Vec<TaskPlace>,
    /// The enabled writers of the sections that run; `None` when those
    /// sections have no `writers` list (then the default files writer).
    pub writers: Option<Vec<WriterConfig>>,
    /// The window length the writers or `period` ask for.
    pub interval: Option<Duration>,
}

impl HeadSections {
    /// Whether the file uses the HEAD layout at all.
    pub fn used(&self) -> bool {
        self.types.is_some()
            || self.period.is_some()
            || self.exact.is_some()
            || self.sketch.is_some()
    }
}

/// Keys of netspectra's own layout that the HEAD layout replaces: both in
/// one file is refused, naming both keys.
const OWN_KEYS: [&str; 3] = ["exact_tasks", "sketch_tasks", "storage_root_path"];

/// Where the two layouts are mixed: netspectra's task lists or storage
/// root beside HEAD keys, or a top-level `writers:` beside a HEAD writer list.
pub(super) fn conflicts(raw: &RawConfig, doc: &Doc<'_>) -> Vec<Problem> {
    let aggregator = &raw.aggregator;
    let head_keys = [
        ("types", aggregator.types.is_some()),
        ("period", aggregator.period.is_some()),
        ("exact", aggregator.exact.is_some()),
        ("sketch", aggregator.sketch.is_some()),
    ];
    let Some(head_key) = head_keys.iter().find(|(_, set)| *set).map(|(key, _)| *key) else {
        return Vec::new();
    };
    let head_path = [Step::Key("aggregator"), Step::Key(head_key)];
    let own_set = [
        aggregator.exact_tasks.is_some(),
        aggregator.sketch_tasks.is_some(),
        aggregator.storage_root_path.is_some(),
    ];
    let mut problems: Vec<Problem> = OWN_KEYS
        .iter()
        .zip(own_set)
        .filter(|(_, set)| *set)
        .map(|(key, _)| Problem {
            at: vec![Step::Key("aggregator"), Step::Key(key)],
            message: format!(
                "netspectra's own layout, but this file uses Go2NetSpectra's HEAD layout \
                 (aggregator.{head_key}{}), whose tasks and writers go in aggregator.exact \
                 and aggregator.sketch; use one layout",
                doc.at_line(&head_path)
            ),
        })
        .collect();
    let head_writers = [
        (
            "exact",
            aggregator
                .exact
                .as_ref()
                .is_some_and(|s| s.writers.is_some()),
        ),
        (
            "sketch",
            aggregator
                .sketch
                .as_ref()
                .is_some_and(|s| s.writers.is_some()),
        ),
    ];
    if let Some((section, _)) = head_writers.iter().find(|(_, set)| *set)
        && raw.writers.is_some()
    {
        let path = [
            Step::Key("aggregator"),
            Step::Key(section),
            Step::Key("writers"),
        ];
        problems.push(Problem {
            at: vec![Step::Key("writers")],
            message: format!(
                "netspectra's writer list, but the file also has Go2NetSpectra's \
                 aggregator.{section}.writers{}; use one of them",
                doc.at_line(&path)
            ),
        });
    }
    problems
}

/// Resolves the HEAD keys; `interval_set` says whether
/// `aggregator.snapshot_interval` decides the window length instead.
pub(super) fn resolve(
    head: HeadSections,
    interval_set: bool,
    doc: &Doc<'_>,
) -> Result<HeadResolved, Vec<Problem>> {
    let runs = |kind: AggregatorType, present: bool| {
        head.types
            .as_ref()
            .map_or(present, |types| types.contains(&kind))
    };
    let run_exact = runs(AggregatorType::Exact, head.exact.is_some());
    let run_sketch = runs(AggregatorType::Sketch, head.sketch.is_some());
    let (exact_writers, exact_tasks) = section_parts(head.exact, "exact", run_exact);
    let (sketch_writers, sketch_entries) = section_parts(head.sketch, "sketch", run_sketch);
    let mut problems = Vec::new();
    let list = [
        Step::Key("aggregator"),
        Step::Key("sketch"),
        Step::Key("tasks"),
    ];
    let sketch_tasks = sketch::resolve_all(sketch_entries, &list, doc).unwrap_or_else(|found| {
        problems.extend(found);
        Vec::new()
    });
    if exact_tasks.is_empty() && sketch_tasks.is_empty() && problems.is_empty() {
        problems.push(no_task(head.types.is_some()));
    }
    let places = task_places(exact_tasks.len(), sketch_tasks.len());
    let writers = pool_writers([("exact", exact_writers), ("sketch", sketch_writers)], doc);
    // A writer in error says nothing of the window length: no second
    // message about a fallback the file did not ask for.
    let (writers, interval) = match writers {
        Ok(Pooled { writers, intervals }) => {
            match window_length(&intervals, head.period, interval_set) {
                Ok(interval) => (writers, interval),
                Err(problem) => {
                    problems.push(problem);
                    (None, None)
                }
            }
        }
        Err(found) => {
            problems.extend(found);
            (None, None)
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(HeadResolved {
        exact_tasks,
        sketch_tasks,
        places,
        writers,
        interval,
    })
}

/// The problem of a HEAD file that runs no task, placed at `types` when
/// the file has it.
fn no_task(types_given: bool) -> Problem {
    let mut at = vec![Step::Key("aggregator")];
    if types_given {
        at.push(Step::Key("types"));
    }
    Problem {
        at,
        message: "no task to run: list tasks in aggregator.exact.tasks or \
                  aggregator.sketch.tasks, and their section in aggregator.types"
            .to_string(),
    }
}

/// Where the `exact` exact tasks and `sketch` sketch tasks that run were written.
fn task_places(exact: usize, sketch: usize) -> Vec<TaskPlace> {
    let place = |list: &'static str, index: usize| TaskPlace {
        path: vec![
            Step::Key("aggregator"),
            Step::Key(list),
            Step::Key("tasks"),
            Step::Index(index),
        ],
        defaulted: false,
    };
    let exact = (0..exact).map(|index| place("exact", index));
    exact
        .chain((0..sketch).map(|index| place("sketch", index)))
        .collect()
}

/// A section's writers and tasks when it runs; logs what is skipped.
fn section_parts<T>(
    section: Option<RawSection<T>>,
    name: &str,
    runs: bool,
) -> (Option<Vec<RawWriterDef>>, Vec<T>) {
    let Some(section) = section else {
        if runs {
            log::warn!("aggregator.types lists `{name}` but there is no aggregator.{name} section");
        }
        return (None, Vec::new());
    };
    let tasks = section.tasks.unwrap_or_default();
    if !runs {
        log::info!(
            "aggregator.{name}: not run, aggregator.types does not list `{name}`; \
             its {} task(s) and its writers are skipped",
            tasks.len()
        );
        return (None, Vec::new());
    }
    if tasks.is_empty() {
        log::warn!("aggregator.{name} has no tasks");
    }
    (section.writers, tasks)
}

/// The enabled writers of the sections that run.
struct Pooled {
    /// Each writer once; `None` when no section has a `writers` list.
    writers: Option<Vec<WriterConfig>>,
    /// The snapshot intervals the enabled writers ask for, with their key paths.
    intervals: Vec<(Spelled, KeyPath)>,
}

/// The enabled writers of both sections, each once, and the snapshot
/// intervals they ask for.
fn pool_writers(
    sections: [(&'static str, Option<Vec<RawWriterDef>>); 2],
    doc: &Doc<'_>,
) -> Result<Pooled, Vec<Problem>> {
    let mut pooled: Option<Vec<WriterConfig>> = None;
    let mut intervals = Vec::new();
    let mut problems = Vec::new();
    for (section, defs) in sections {
        let Some(defs) = defs else { continue };
        let writers = pooled.get_or_insert_with(Vec::new);
        for (index, def) in defs.into_iter().enumerate() {
            let at = vec![
                Step::Key("aggregator"),
                Step::Key(section),
                Step::Key("writers"),
                Step::Index(index),
            ];
            let interval = def.snapshot_interval.clone();
            match def.resolve(&at, doc) {
                Ok(None) => {}
                Ok(Some(writer)) => {
                    if let Some(interval) = interval {
                        let mut path = at.clone();
                        path.push(Step::Key("snapshot_interval"));
                        intervals.push((interval, path));
                    }
                    if writers.contains(&writer) {
                        log::info!(
                            "{}: the same writer as an earlier entry; every task is stored there once",
                            super::path_text(&at)
                        );
                    } else {
                        writers.push(writer);
                    }
                }
                Err(found) => problems.extend(found),
            }
        }
    }
    if problems.is_empty() && pooled.as_ref().is_some_and(Vec::is_empty) {
        log::warn!(
            "no enabled writer in aggregator.exact.writers or aggregator.sketch.writers: \
             windows are not stored unless --output is given"
        );
    }
    if problems.is_empty() {
        Ok(Pooled {
            writers: pooled,
            intervals,
        })
    } else {
        Err(problems)
    }
}

/// The window length the HEAD keys ask for, if any.
fn window_length(
    intervals: &[(Spelled, KeyPath)],
    period: Option<Spelled>,
    interval_set: bool,
) -> Result<Option<Duration>, Problem> {
    let smallest = intervals.iter().min_by_key(|((duration, _), _)| *duration);
    if let Some((_, text)) = &period
        && (interval_set || smallest.is_some())
    {
        log::info!(
            "aggregator.period {text}: not used; netspectra's windows are tumbling, so \
             `inspect --merge` over a period's windows gives its cumulative counts"
        );
    }
    if interval_set {
        if !intervals.is_empty() {
            log::info!(
                "aggregator.snapshot_interval sets the window length; the writers' snapshot_interval is not used"
            );
        }
        return Ok(None);
    }
    if let Some(((duration, text), at)) = smallest {
        let mut spelled: Vec<&str> = intervals
            .iter()
            .map(|((_, text), _)| text.as_str())
            .collect();
        spelled.sort_unstable();
        spelled.dedup();
        if spelled.len() > 1 {
            log::info!(
                "the enabled writers ask for snapshot intervals {}; netspectra cuts one window \
                 for every writer, of the smallest: {text}",
                spelled.join(", ")
            );
        }
        return check_window_length(*duration, text)
            .map(Some)
            .map_err(|message| Problem {
                at: at.clone(),
                message,
            });
    }
    match period {
        Some((duration, text)) => check_window_length(duration, &text)
            .map(Some)
            .map_err(|message| Problem {
                at: vec![Step::Key("aggregator"), Step::Key("period")],
                message: format!(
                    "{message} (the period is the window length when no enabled writer sets snapshot_interval)"
                ),
            }),
        None => Ok(None),
    }
}

impl RawWriterDef {
    /// The writer this entry stands for; `None` when it is not enabled.
    fn resolve(
        self,
        at: &[Step<'static>],
        doc: &Doc<'_>,
    ) -> Result<Option<WriterConfig>, Vec<Problem>> {
        let kind = self.kind.key();
        if self.enabled != Some(true) {
            log::info!(
                "{}: {kind} writer not enabled (`enabled` is false or absent); skipped",
                super::path_text(at)
            );
            return Ok(None);
        }
        self.warn_foreign_blocks(at);
        let writer = match self.kind {
            WriterType::Gob => files_writer(self.gob, kind, at, doc)?,
            WriterType::Text => files_writer(self.text, kind, at, doc)?,
            WriterType::Clickhouse => WriterConfig::ClickHouse(
                self.clickhouse
                    .unwrap_or_default()
                    .resolve(&key(at, &["clickhouse"]), doc)?,
            ),
        };
        Ok(Some(writer))
    }

    /// Go2NetSpectra ignores the blocks named after other writer types; so
    /// does netspectra, saying so.
    fn warn_foreign_blocks(&self, at: &[Step<'static>]) {
        let kind = self.kind.key();
        let blocks = [
            ("gob", self.gob.is_some()),
            ("text", self.text.is_some()),
            ("clickhouse", self.clickhouse.is_some()),
        ];
        for (block, _) in blocks.iter().filter(|(block, set)| *set && *block != kind) {
            log::warn!(
                "{}.{block}: ignored; this is a `type: {kind}` writer",
                super::path_text(at)
            );
        }
    }
}

/// An enabled `gob` or `text` writer (`kind`) as netspectra's files writer.
fn files_writer(
    block: Option<RawFileBlock>,
    kind: &'static str,
    at: &[Step<'static>],
    doc: &Doc<'_>,
) -> Result<WriterConfig, Vec<Problem>> {
    let root = block.and_then(|block| block.root_path).unwrap_or_default();
    if root.is_empty() {
        return Err(vec![Problem {
            at: doc.first_present(vec![key(at, &[kind, "root_path"]), key(at, &[kind])], at),
            message: format!(
                "an enabled {kind} writer needs {kind}.root_path, the directory its windows go under"
            ),
        }]);
    }
    log::info!(
        "{}: Go2NetSpectra's `{kind}` writer is netspectra's files writer at {root} \
         (netspectra's own format; --output replaces root_path)",
        super::path_text(at)
    );
    Ok(WriterConfig::Files {
        root: Some(PathBuf::from(root)),
    })
}

/// The path of `keys` below `at`.
fn key(at: &[Step<'static>], keys: &[&'static str]) -> KeyPath {
    let mut path = at.to_vec();
    path.extend(keys.iter().map(|key| Step::Key(key)));
    path
}

impl RawClickHouseBlock {
    /// The ClickHouse writer's settings from the block at `at`.
    fn resolve(
        self,
        at: &[Step<'static>],
        doc: &Doc<'_>,
    ) -> Result<ClickHouseConfig, Vec<Problem>> {
        let key = |name: &'static str| key(at, &[name]);
        let mut problems = Vec::new();
        if self.cloud == Some(true) {
            problems.push(Problem {
                at: key("cloud"),
                message: "ClickHouse Cloud needs TLS, and netspectra speaks plain HTTP only; \
                          set cloud: false and give a server reachable over plain HTTP"
                    .to_string(),
            });
        }
        let http_port = self.http_port.unwrap_or(DEFAULT_HTTP_PORT);
        let host = self.host.unwrap_or_default();
        let url = if host.is_empty() {
            Err(
                "required for an enabled clickhouse writer: the server's host name or address"
                    .to_string(),
            )
        } else {
            http_url(&host, http_port)
        };
        match url {
            Ok(url) => {
                if let Some(port) = self.port.filter(|port| *port != 0 && *port != http_port) {
                    log::info!(
                        "{}.port: {port} is Go2NetSpectra's native-protocol port; netspectra speaks \
                         ClickHouse's HTTP interface, at {url} (http_port)",
                        super::path_text(at)
                    );
                }
                if problems.is_empty() {
                    let or_default = |value: Option<String>| {
                        value
                            .filter(|value| !value.is_empty())
                            .unwrap_or_else(|| "default".to_string())
                    };
                    return Ok(ClickHouseConfig {
                        url,
                        database: or_default(self.database),
                        username: or_default(self.username),
                        password: Secret(self.password.unwrap_or_default()),
                        probe: self.probe,
                    });
                }
            }
            Err(message) => problems.push(Problem {
                at: doc.first_present(
                    vec![key("host"), at.to_vec()],
                    at.split_last().map_or(at, |(_, writer)| writer),
                ),
                message,
            }),
        }
        Err(problems)
    }
}

/// `http://HOST:PORT`, an IPv6 address in brackets; a host that carries a
/// port or a path is refused.
fn http_url(host: &str, http_port: u16) -> Result<String, String> {
    let authority = if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else if host.contains(':') {
        return Err(format!(
            "host {host:?} has a port; give the host alone, and the HTTP port as http_port"
        ));
    } else {
        host.to_string()
    };
    parse_clickhouse_url(&format!("http://{authority}:{http_port}"))
        .map_err(|_| format!("host {host:?} is not a host name or address"))
}

fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    let port = optional(
        deserializer,
        Ranged {
            min: 0,
            max: u64::from(u16::MAX),
        },
    )?;
    Ok(port.and_then(|port| u16::try_from(port).ok()))
}

/// A duration above zero, kept with its text: a writer's
/// `snapshot_interval` and `aggregator.period`, which only the window
/// length must keep within 1s..=24h.
pub(super) fn spelled_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Spelled>, D::Error> {
    optional(
        deserializer,
        super::Parsed {
            expecting: "a duration such as \"30s\", \"1m\" or \"1h\"",
            parse: |text| {
                super::parse_positive_duration(text).map(|duration| (duration, text.to_string()))
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::tests::{check_refused, load, refusal};
    use crate::flow::KeyField;

    /// Every key of the HEAD layout, with values from the environment;
    /// the end-to-end test runs the same file.
    const HEAD: &str = include_str!("../../tests/data/go2netspectra-head.yaml");

    const VARS: [(&str, &str); 8] = [
        ("TYPES", "[exact, sketch]"),
        ("WORKERS", "3"),
        ("GOB_INTERVAL", "30s"),
        ("GONS_ROOT", "/var/lib/gons"),
        ("CLICKHOUSE_ENABLED", "true"),
        ("CLICKHOUSE_HOST", "ch.example"),
        ("CLICKHOUSE_PORT", "9000"),
        ("CLICKHOUSE_PASSWORD", "p4ss"),
    ];

    /// [`HEAD`] loaded with [`VARS`], `TYPES` replaced by `types`.
    fn head_with_types(types: &str) -> Result<Config, String> {
        let mut vars = VARS;
        vars[0].1 = types;
        load(HEAD, &vars)
    }

    #[track_caller]
    fn head(yaml: &str) -> Config {
        load(yaml, &VARS).unwrap_or_else(|message| panic!("refused: {message}"))
    }

    /// A HEAD file with `body` under `aggregator:` and one exact task.
    fn with_aggregator(body: &str) -> String {
        format!(
            "aggregator:\n  exact:\n    tasks:\n      - {{name: a, key_fields: [SrcIP]}}\n{body}"
        )
    }

    /// A HEAD file whose `aggregator.exact.writers` holds `writers`, one entry per line.
    fn with_writers(writers: &[&str]) -> String {
        let mut yaml = String::from(
            "aggregator:\n  exact:\n    tasks: [{name: a, key_fields: [SrcIP]}]\n    writers:\n",
        );
        for writer in writers {
            yaml.push_str(&format!("      - {writer}\n"));
        }
        yaml
    }

    #[test]
    fn a_head_config_with_every_key_loads_with_its_variables() {
        let config = head(HEAD);
        let aggregator = &config.aggregator;
        assert_eq!(aggregator.num_workers, 3);
        assert_eq!(aggregator.size_of_packet_channel, 10000);
        assert_eq!(aggregator.snapshot_interval, Duration::from_secs(30));
        let names: Vec<&str> = aggregator
            .task_specs(None)
            .iter()
            .map(|spec| spec.kind.name())
            .collect();
        assert_eq!(names, ["exact", "exact", "heavy_hitters", "super_spreader"]);
        assert_eq!(aggregator.exact_tasks[1].key_fields, KeyField::ALL);
        assert_eq!(aggregator.exact_tasks[1].num_shards, Some(128));
        let writers = config.writers.expect("the HEAD writers");
        assert_eq!(
            writers.len(),
            2,
            "the gob writer of both sections is one: {writers:?}"
        );
        assert_eq!(
            writers[0],
            WriterConfig::Files {
                root: Some(PathBuf::from("/var/lib/gons"))
            }
        );
        let WriterConfig::ClickHouse(clickhouse) = &writers[1] else {
            panic!("want the clickhouse writer: {writers:?}");
        };
        assert_eq!(clickhouse.url, "http://ch.example:8123");
        assert_eq!(clickhouse.database, "default");
        assert_eq!(clickhouse.username, "default");
        assert_eq!(clickhouse.password.expose(), "p4ss");
        assert_eq!(clickhouse.probe, None);
    }

    #[test]
    fn types_chooses_the_sections_that_run_and_absent_runs_every_section_given() {
        let config = head_with_types("[exact]").expect("valid");
        assert!(config.aggregator.sketch_tasks.is_empty());
        assert_eq!(config.aggregator.exact_tasks.len(), 2);
        let config = head_with_types("[\"sketch\"]").expect("valid");
        assert!(config.aggregator.exact_tasks.is_empty());
        assert_eq!(config.aggregator.sketch_tasks.len(), 2);
        assert_eq!(config.writers.map(|w| w.len()), Some(1));
        let untyped = head_with_types("").expect("valid");
        assert_eq!(untyped.aggregator.task_specs(None).len(), 4);
        let message = head_with_types("[exact, approx]").expect_err("unknown type");
        assert!(
            message.contains("aggregator.types[1]: unknown variant `approx`, expected `exact` or `sketch` at line 11")
                && message.ends_with("; the value on line 11 comes from ${TYPES}"),
            "{message}"
        );
        let message = head_with_types("[]").expect_err("nothing runs");
        assert!(
            message.starts_with("test.yaml: aggregator.types: no task to run")
                && message.contains("at line 11"),
            "{message}"
        );
    }

    #[test]
    fn disabled_writers_and_writers_without_enabled_are_skipped() {
        let config = head(&with_writers(&[
            "{type: gob, enabled: false, gob: {root_path: a}}",
            "{type: text, text: {root_path: b}}",
            "{type: clickhouse, enabled: false, clickhouse: {host: \"\", port: }}",
            "{type: text, enabled: true, snapshot_interval: 5m, text: {root_path: c}}",
        ]));
        assert_eq!(
            config.writers,
            Some(vec![WriterConfig::Files {
                root: Some(PathBuf::from("c"))
            }])
        );
        assert_eq!(
            config.aggregator.snapshot_interval,
            Duration::from_secs(300)
        );
        let none_enabled = head(&with_writers(&["{type: gob, gob: {root_path: a}}"]));
        assert_eq!(none_enabled.writers, Some(Vec::new()));
        let no_lists = head(&with_aggregator(""));
        assert_eq!(no_lists.writers, None);
        assert_eq!(
            no_lists.aggregator.snapshot_interval,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn the_window_is_the_smallest_enabled_interval_else_the_period_else_snapshot_interval_decides()
    {
        let writers = with_writers(&[
            "{type: gob, enabled: true, snapshot_interval: 2m, gob: {root_path: a}}",
            "{type: text, enabled: true, snapshot_interval: 45s, text: {root_path: b}}",
            "{type: text, enabled: false, snapshot_interval: 1s, text: {root_path: c}}",
        ]);
        assert_eq!(
            head(&writers).aggregator.snapshot_interval,
            Duration::from_secs(45)
        );
        let overridden =
            writers.replace("aggregator:\n", "aggregator:\n  snapshot_interval: 10s\n");
        assert_eq!(
            head(&overridden).aggregator.snapshot_interval,
            Duration::from_secs(10)
        );
        let period = with_aggregator("  period: 5m\n");
        assert_eq!(
            head(&period).aggregator.snapshot_interval,
            Duration::from_secs(300)
        );
        check_refused(
            &with_aggregator("  period: 720h\n"),
            "aggregator.period",
            5,
            "720h: the snapshot interval must be a whole number of seconds, from 1s to 24h \
             (the period is the window length when no enabled writer sets snapshot_interval)",
        );
        check_refused(
            &with_writers(&[
                "{type: gob, enabled: true, snapshot_interval: 500ms, gob: {root_path: a}}",
            ]),
            "aggregator.exact.writers[0].snapshot_interval",
            5,
            "500ms: the snapshot interval must be a whole number of seconds",
        );
        check_refused(
            &with_writers(&["{type: gob, snapshot_interval: soon}"]),
            "aggregator.exact.writers[0].snapshot_interval",
            5,
            "invalid duration \"soon\"",
        );
    }

    #[test]
    fn an_enabled_file_writer_needs_its_root_path() {
        check_refused(
            &with_writers(&["{type: gob, enabled: true}"]),
            "aggregator.exact.writers[0]",
            5,
            "an enabled gob writer needs gob.root_path",
        );
        let yaml = "aggregator:\n  exact:\n    tasks: [{name: a, key_fields: [SrcIP]}]\n    writers:\n      - type: text\n        enabled: true\n        text:\n          root_path: ${ROOT}\n";
        let message = load(yaml, &[("ROOT", "")]).expect_err("empty root refused");
        assert_eq!(
            message,
            "test.yaml: aggregator.exact.writers[0].text.root_path: an enabled text writer needs \
             text.root_path, the directory its windows go under at line 8; ${ROOT} on line 8 is unset or empty"
        );
        // The writer in error is the one message: no word of the period
        // that would have been the window length without it.
        let with_period = yaml.replace("aggregator:\n", "aggregator:\n  period: 720h\n");
        let message = load(&with_period, &[]).expect_err("empty root refused");
        assert!(
            message.contains("text.root_path") && !message.contains("period"),
            "{message}"
        );
    }

    #[test]
    fn a_clickhouse_block_maps_onto_the_clickhouse_writer_over_http() {
        let writer = |block: &str| {
            let config = head(&with_writers(&[&format!(
                "{{type: clickhouse, enabled: true, clickhouse: {block}}}"
            )]));
            match config.writers.as_deref() {
                Some([WriterConfig::ClickHouse(clickhouse)]) => clickhouse.clone(),
                other => panic!("want one clickhouse writer: {other:?}"),
            }
        };
        let plain = writer("{host: 10.0.0.5, port: 9000}");
        assert_eq!(plain.url, "http://10.0.0.5:8123");
        assert_eq!(
            (plain.database.as_str(), plain.username.as_str()),
            ("default", "default")
        );
        assert_eq!(plain.password.expose(), "");
        let full = writer(
            "{host: \"::1\", port: 9440, http_port: 18123, database: flows, username: probe, \
             password: 12345, cloud: false, probe: edge-1}",
        );
        assert_eq!(full.url, "http://[::1]:18123");
        assert_eq!(
            (full.database.as_str(), full.username.as_str()),
            ("flows", "probe")
        );
        assert_eq!(full.password.expose(), "12345");
        assert_eq!(full.probe.as_deref(), Some("edge-1"));
        assert!(!format!("{full:?}").contains("12345"));
    }

    #[test]
    fn bad_clickhouse_blocks_are_refused_naming_key_and_line() {
        let block = |block: &str| {
            with_writers(&[&format!(
                "{{type: clickhouse, enabled: true, clickhouse: {block}}}"
            )])
        };
        let at = "aggregator.exact.writers[0]";
        check_refused(
            &block("{host: h, cloud: true}"),
            &format!("{at}.clickhouse.cloud"),
            5,
            "needs TLS",
        );
        check_refused(
            &block("{host: \"h:9000\"}"),
            &format!("{at}.clickhouse.host"),
            5,
            "has a port",
        );
        check_refused(
            &block("{host: \"a/b\"}"),
            &format!("{at}.clickhouse.host"),
            5,
            "not a host name",
        );
        check_refused(
            &block("{port: 9000}"),
            &format!("{at}.clickhouse: required"),
            5,
            "host name or address",
        );
        check_refused(
            &block("{host: h, http_port: 70000}"),
            &format!("{at}.clickhouse.http_port"),
            5,
            "70000 is out of range",
        );
        check_refused(
            &block("{host: h, secure: true}"),
            &format!("{at}.clickhouse"),
            5,
            "unknown field `secure`",
        );
        check_refused(
            &with_writers(&["{type: clickhouse, enabled: true}"]),
            &format!("{at}: required"),
            5,
            "host name or address",
        );
        check_refused(
            &with_writers(&["{type: kafka}"]),
            &format!("{at}.type"),
            5,
            "unknown variant `kafka`",
        );
        check_refused(
            &with_writers(&["{type: gob, enable: true}"]),
            at,
            5,
            "unknown field `enable`",
        );
    }

    #[test]
    fn an_empty_variable_where_a_value_is_required_is_named_with_its_key() {
        let yaml = "aggregator:\n  exact:\n    tasks:\n      - name: \"${TASK}\"\n        key_fields: [SrcIP]\n    writers:\n      - type: clickhouse\n        enabled: true\n        clickhouse:\n          host: ${CLICKHOUSE_HOST}\n          port: ${CLICKHOUSE_PORT}\n";
        assert_eq!(
            load(yaml, &[("TASK", "t")]).expect_err("no host"),
            "test.yaml: aggregator.exact.writers[0].clickhouse.host: required for an enabled \
             clickhouse writer: the server's host name or address at line 10; \
             ${CLICKHOUSE_HOST} on line 10 is unset or empty"
        );
        let message = load(yaml, &[("CLICKHOUSE_HOST", "h")]).expect_err("no task name");
        assert!(
            message.contains("aggregator.exact.tasks[0].name: task name is empty at line 4")
                && message.ends_with("; ${TASK} on line 4 is unset or empty"),
            "{message}"
        );
        let config = load(
            yaml,
            &[
                ("TASK", "t"),
                ("CLICKHOUSE_HOST", "h"),
                ("CLICKHOUSE_PORT", "9000"),
            ],
        )
        .expect("every variable set");
        assert_eq!(config.aggregator.exact_tasks[0].name, "t");
    }

    #[test]
    fn an_unquoted_variable_can_be_a_number_and_a_double_dollar_a_dollar() {
        let yaml = "aggregator:\n  num_workers: ${WORKERS}\n  exact:\n    tasks: [{name: a, key_fields: [SrcIP]}]\n    writers:\n      - type: clickhouse\n        enabled: true\n        clickhouse: {host: h, http_port: $HTTP, password: \"pa$$$$word\"}\n";
        let config = load(yaml, &[("WORKERS", "5"), ("HTTP", "18123")]).expect("valid");
        assert_eq!(config.aggregator.num_workers, 5);
        let Some([WriterConfig::ClickHouse(clickhouse)]) = config.writers.as_deref() else {
            panic!("want one clickhouse writer");
        };
        assert_eq!(clickhouse.url, "http://h:18123");
        assert_eq!(clickhouse.password.expose(), "pa$$word");
        let message = load(yaml, &[("WORKERS", "five"), ("HTTP", "1")]).expect_err("not a number");
        assert!(
            message.contains("aggregator.num_workers")
                && message.ends_with("; the value on line 2 comes from ${WORKERS}"),
            "{message}"
        );
    }

    #[test]
    fn the_two_layouts_are_not_mixed() {
        check_refused(
            "aggregator:\n  exact_tasks:\n    - {name: a, key_fields: [SrcIP]}\n  exact:\n    tasks: []\n",
            "aggregator.exact_tasks: netspectra's own layout, but this file uses Go2NetSpectra's HEAD layout (aggregator.exact at line 5)",
            3,
            "use one layout",
        );
        check_refused(
            "aggregator:\n  storage_root_path: out\n  types: [exact]\n",
            "aggregator.storage_root_path",
            2,
            "(aggregator.types at line 3)",
        );
        check_refused(
            &format!(
                "{}writers:\n  - {{type: files, root: x}}\n",
                with_writers(&["{type: gob}"])
            ),
            "writers: netspectra's writer list, but the file also has Go2NetSpectra's aggregator.exact.writers at line 5",
            7,
            "use one of them",
        );
        let own_writers = format!(
            "{}writers:\n  - {{type: files, root: x}}\n",
            with_aggregator("")
        );
        assert_eq!(
            head(&own_writers).writers,
            Some(vec![WriterConfig::Files {
                root: Some(PathBuf::from("x"))
            }])
        );
    }

    #[test]
    fn task_names_are_unique_across_both_head_sections() {
        let yaml = "aggregator:\n  exact:\n    tasks:\n      - {name: top, key_fields: [SrcIP]}\n  sketch:\n    tasks:\n      - {name: TOP, flow_fields: [SrcIP]}\n";
        assert_eq!(
            refusal(yaml),
            "test.yaml: aggregator.sketch.tasks[0].name: duplicate task name \"TOP\" at line 7, \
             already used by aggregator.exact.tasks[0] at line 4"
        );
        check_refused(
            "aggregator:\n  sketch:\n    tasks:\n      - {name: s, skt_type: 1, flow_fields: [SrcIP]}\n",
            "aggregator.sketch.tasks[0]",
            4,
            "needs element_fields",
        );
    }

    #[test]
    fn unknown_keys_in_head_sections_are_still_refused() {
        check_refused(
            &with_aggregator("  exact_task: []\n"),
            "aggregator",
            5,
            "unknown field `exact_task`",
        );
        check_refused(
            "aggregator:\n  exact:\n    task: []\n",
            "aggregator.exact",
            3,
            "unknown field `task`, expected `writers` or `tasks`",
        );
        check_refused(
            &with_writers(&["{type: gob, enabled: true, gob: {root: a}}"]),
            "aggregator.exact.writers[0].gob",
            5,
            "unknown field `root`, expected `root_path`",
        );
        check_refused("alerts: {}\n", "unknown field `alerts`", 1, "`alerter`");
    }

    #[test]
    fn the_other_go2netspectra_sections_are_accepted_in_either_layout() {
        let config = load(
            "api: {http_listen_addr: \":8080\"}\nprobe: {nats_url: x}\nalerter: {enabled: true}\nsmtp: {port: 25}\nai: {model: m}\n",
            &[],
        )
        .expect("accepted");
        let bundled = Config::bundled();
        assert_eq!(config.aggregator, bundled.aggregator);
        assert_eq!(config.api.http_listen_addr.as_deref(), Some(":8080"));
        assert!(config.alerter.enabled && config.alerter.rules.is_empty());
        assert!(config.smtp.is_some());
    }
}
