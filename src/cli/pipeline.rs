//! `analyze` and `capture`: turn the config and flags into pipeline
//! settings, check everything that can be checked before the first packet,
//! run the pipeline, and print the summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::actors::messages::{FileOutcome, FlushReport, ReadReport, RunInfo};
use crate::actors::pipeline::{self, PipelineSettings};
use crate::actors::reader::{InputFile, PacketSource, ReaderSettings};
use crate::actors::signals;
use crate::actors::supervisor::RunOutcome;
use crate::alerts;
use crate::api::{ApiSpec, TaskInfo};
use crate::capture::live::{LiveCapture, LiveSettings};
use crate::capture::{self, CaptureError, PacketFilter, RunMode};
use crate::config::{
    ClickHouseConfig, Config, DEFAULT_CAPTURE_MAX_KEYS, ParquetCompression, WriterConfig,
};
use crate::flow::{PartTotals, TaskSpec, build_aggregator, derivable};
use crate::metrics::{Metrics, MetricsLayout};
use crate::output::manifest::{self, Admission, InputRecord, ManifestError, RunRecord};
use crate::output::retention::Retention;
use crate::output::run::{self, RunId};
use crate::output::{
    ClickHouseSettings, ParquetSettings, TopKeys, Writer, WriterSpec, build_writers, leftovers,
    parquet,
};
use crate::with_causes;

use super::privileges;
use super::serve::api_listener;
use super::summary::{self, SummaryContext};
use super::top;
use super::usage::UsageError;
use super::{AnalyzeArgs, CaptureArgs, PipelineArgs};

pub fn analyze(args: AnalyzeArgs, bars: &MultiProgress) -> anyhow::Result<ExitCode> {
    signals::install().context("installing signal handlers")?;
    let config = load_config(&args.pipeline)?;
    let mut plan = Plan::new(&config, &args.pipeline, RunMode::Offline)?;
    if args.no_store {
        plan.writers
            .retain(|spec| !matches!(spec, WriterSpec::Files { .. }));
    }
    if let Some(n) = args.top {
        let tables = TopKeys::default();
        plan.writers.push(WriterSpec::Top {
            tables: tables.clone(),
        });
        plan.top = Some((n, tables));
    }
    let filter = args
        .filter
        .as_deref()
        .map(PacketFilter::new)
        .transpose()
        .map_err(|error| UsageError(format!("-f/--filter: {error}")))?;
    let inputs = match check_inputs(&args.files) {
        Ok(inputs) => inputs,
        Err(error) => {
            if args.pipeline.json {
                let refused = FileOutcome {
                    path: error.path().to_path_buf(),
                    packets: 0,
                    error: Some(with_causes(&error)),
                };
                print_json_without_run(&config, refused)?;
            }
            return Err(error.into());
        }
    };
    let (run_id, record) = offline_identity(&plan, &inputs);
    let writers = connect_writers(&plan)?;
    for (root, cleanup) in plan.output_dirs() {
        prepare_output_root(root, cleanup)?;
    }
    admit(&plan, run_id, record)?;
    let progress = bars.add(progress_bar(&args.files));
    let source = PacketSource::Files {
        inputs,
        strict: args.strict,
        filter,
    };
    log::info!("analyzing {} file(s) as run {run_id}", args.files.len());
    let sinks = Sinks { writers, progress };
    run(&config, &args.pipeline, plan, run_id, source, sinks)
}

pub fn capture(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    signals::install().context("installing signal handlers")?;
    let mut config = load_config(&args.pipeline)?;
    let section = &config.capture;
    let interface = args.interface.clone().or_else(|| section.interface.clone()).ok_or_else(|| {
        UsageError("no interface: give -i IFACE or capture.interface in the config (see `netspectra interfaces`)".to_string())
    })?;
    let settings = LiveSettings {
        interface,
        filter: args.filter.clone().or_else(|| section.filter.clone()),
        snaplen: args.snaplen.unwrap_or(section.snaplen),
        promisc: if args.no_promisc {
            false
        } else {
            args.promisc || section.promisc
        },
        buffer_size: args.buffer_size.unwrap_or(section.buffer_size),
        read_pause: section.read_pause,
    };
    let count = args.count.or(section.count);
    let user = args.user.clone().or_else(|| section.user.clone());
    config.capture.duration = args.duration.or(section.duration);
    let plan = Plan::new(&config, &args.pipeline, RunMode::Live)?;
    let writers = connect_writers(&plan)?;
    let capture = match user {
        Some(user) => {
            let capture = LiveCapture::open(&settings)?;
            privileges::drop_to_user(&user)?;
            // Only now, as that user: a root it creates is its own, and one
            // it cannot reach or write is refused before anything is created.
            for (root, cleanup) in plan.output_dirs() {
                prepare_output_root(root, cleanup)?;
            }
            capture
        }
        None => {
            for (root, cleanup) in plan.output_dirs() {
                prepare_output_root(root, cleanup)?;
            }
            LiveCapture::open(&settings)?
        }
    };
    let run_id = RunId::live(&settings.interface, crate::wall_clock_ns());
    let record = RunRecord {
        mode: "live".to_string(),
        inputs: vec![InputRecord {
            path: settings.interface.clone(),
            fingerprint: String::new(),
        }],
    };
    admit(&plan, run_id, record)?;
    let source = PacketSource::Live {
        capture: Box::new(capture),
        count,
    };
    let sinks = Sinks {
        writers,
        progress: ProgressBar::hidden(),
    };
    run(&config, &args.pipeline, plan, run_id, source, sinks)
}

/// Checks every input before anything is counted. An unsupported link type
/// refuses the whole run; a file that is not a readable capture is marked
/// refused, and the reader skips it (or, with `--strict`, stops there after
/// counting and writing the files before it).
fn check_inputs(files: &[PathBuf]) -> Result<Vec<InputFile>, CaptureError> {
    files
        .iter()
        .map(|path| {
            let refused = match check_input(path) {
                Ok(()) => None,
                Err(error @ CaptureError::LinkType { .. }) => return Err(error),
                Err(error) => {
                    let message = with_causes(&error);
                    log::error!("{message}; skipping it");
                    Some(message)
                }
            };
            Ok(InputFile {
                path: path.clone(),
                refused,
            })
        })
        .collect()
}

/// A capture file must be a regular file whose link types are all
/// supported. A stream (`-`, a FIFO, `/dev/stdin`, `<(...)`) can be read
/// only once, so it is not checked here: the reader judges its link types
/// as it goes, and reports an unsupported one as that input's error.
fn check_input(path: &Path) -> Result<(), CaptureError> {
    if capture::is_stream(path) {
        return Ok(());
    }
    let kind = std::fs::metadata(path)
        .map_err(|source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        })?
        .file_type();
    if !kind.is_file() {
        return Err(CaptureError::Open {
            path: path.to_path_buf(),
            source: std::io::Error::other("a directory; give a pcap or pcapng file"),
        });
    }
    capture::check_link_types(path)
}

fn load_config(args: &PipelineArgs) -> anyhow::Result<Config> {
    Ok(match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::bundled(),
    })
}

/// The sinks of the config's `writers:` list (absent: one files writer at
/// `aggregator.storage_root_path`). `--output` replaces the root of the one
/// files writer, or adds a files writer when there is none.
fn writer_specs(
    config: &Config,
    args: &PipelineArgs,
    interval: Duration,
) -> Result<Vec<WriterSpec>, UsageError> {
    let storage_root = &config.aggregator.storage_root_path;
    let entries = config.writers.clone().unwrap_or_else(|| {
        vec![WriterConfig::Files {
            root: Some(storage_root.clone()),
        }]
    });
    let files = entries
        .iter()
        .filter(|entry| matches!(entry, WriterConfig::Files { .. }))
        .count();
    let retention = Retention {
        max_windows: config.retention.max_windows,
        max_age: config.retention.max_age,
        interval,
    };
    let max_age = config.retention.max_age;
    let files_spec = |root: PathBuf| WriterSpec::Files { root, retention };
    let mut specs = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        specs.push(match entry {
            WriterConfig::Files { root } => {
                if files > 1 && args.output.is_some() {
                    return Err(UsageError(format!(
                        "--output is ambiguous: the config has {files} files writers (`writers:` entries, or enabled gob and text writers with different root_path); set their roots in the config instead"
                    )));
                }
                files_spec(
                    args.output
                        .clone()
                        .or(root)
                        .unwrap_or_else(|| storage_root.clone()),
                )
            }
            WriterConfig::ClickHouse(clickhouse) => WriterSpec::ClickHouse(clickhouse_settings(
                clickhouse,
                &format!("writers[{index}].probe"),
                max_age,
            )?),
            WriterConfig::Parquet(config) => WriterSpec::Parquet(ParquetSettings {
                root: config.root,
                compression: config.compression,
                probe: probe_name(config.probe, &format!("writers[{index}].probe"))?,
                retention,
            }),
        });
    }
    if files == 0
        && let Some(root) = &args.output
    {
        specs.push(files_spec(root.clone()));
    }
    if let Some(url) = &args.clickhouse {
        let config = url
            .writer()
            .map_err(|error| UsageError(format!("--clickhouse: {error}")))?;
        specs.push(WriterSpec::ClickHouse(clickhouse_settings(
            config,
            "--clickhouse ...?probe=NAME",
            max_age,
        )?));
    }
    if let Some(root) = &args.parquet {
        specs.push(WriterSpec::Parquet(ParquetSettings {
            root: root.clone(),
            compression: ParquetCompression::default(),
            probe: probe_name(None, "--parquet")?,
            retention,
        }));
    }
    Ok(specs)
}

/// The probe name given, or else the host name; `key` names the setting
/// to fill in when neither is known.
fn probe_name(probe: Option<String>, key: &str) -> Result<String, UsageError> {
    match probe {
        Some(probe) => Ok(probe),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .ok()
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                UsageError(format!(
                    "{key}: no probe name set and the host name is unknown; name this probe"
                ))
            }),
    }
}

/// A ClickHouse writer with its probe name resolved (default: the host
/// name; `probe_key` is where to set one) and `retention.max_age`.
fn clickhouse_settings(
    config: ClickHouseConfig,
    probe_key: &str,
    max_age: Option<Duration>,
) -> Result<ClickHouseSettings, UsageError> {
    Ok(ClickHouseSettings {
        probe: probe_name(config.probe, probe_key)?,
        url: config.url,
        database: config.database,
        username: config.username,
        password: config.password,
        max_age,
    })
}

/// Builds every sink; one behind a network must answer before the first
/// packet (exit status 2 when it does not).
fn connect_writers(plan: &Plan) -> Result<Vec<Box<dyn Writer>>, UsageError> {
    build_writers(&plan.writers)
        .map_err(|error| UsageError(format!("cannot store windows: {}", with_causes(&error))))
}

/// What a run counts and where, resolved from the config and the flags
/// before anything is read.
struct Plan {
    mode: RunMode,
    tasks: Vec<TaskSpec>,
    interval: Duration,
    interval_ns: u64,
    workers: usize,
    /// The sinks, in config order (`analyze --top` adds one).
    writers: Vec<WriterSpec>,
    /// `analyze --top N`: N, and the tables its sink fills.
    top: Option<(usize, TopKeys)>,
}

impl Plan {
    fn new(config: &Config, args: &PipelineArgs, mode: RunMode) -> Result<Plan, UsageError> {
        let aggregator = &config.aggregator;
        let interval = args
            .snapshot_interval
            .unwrap_or(aggregator.snapshot_interval);
        let interval_ns = u64::try_from(interval.as_nanos())
            .map_err(|_| UsageError(format!("snapshot interval {interval:?} is too long")))?;
        Ok(Plan {
            mode,
            // Live traffic can be flooded with spoofed keys; a file is what it is.
            tasks: aggregator
                .task_specs((mode == RunMode::Live).then_some(DEFAULT_CAPTURE_MAX_KEYS)),
            interval,
            interval_ns,
            workers: args.workers.map_or(aggregator.num_workers, usize::from),
            writers: writer_specs(config, args, interval)?,
            top: None,
        })
    }

    /// The roots of the files writers.
    fn roots(&self) -> impl Iterator<Item = &Path> {
        self.writers.iter().filter_map(|spec| match spec {
            WriterSpec::Files { root, .. } => Some(root.as_path()),
            WriterSpec::ClickHouse(_) | WriterSpec::Top { .. } | WriterSpec::Parquet(_) => None,
        })
    }

    /// Every directory a sink writes under, with the clean-up of what an
    /// interrupted run of that sink leaves there.
    fn output_dirs(&self) -> impl Iterator<Item = (&Path, Cleanup)> {
        self.writers.iter().filter_map(|spec| match spec {
            WriterSpec::Files { root, .. } => {
                Some((root.as_path(), leftovers::clean_leftovers as Cleanup))
            }
            WriterSpec::Parquet(settings) => {
                Some((settings.root.as_path(), parquet::clean_leftovers as Cleanup))
            }
            WriterSpec::ClickHouse(_) | WriterSpec::Top { .. } => None,
        })
    }
}

/// Removes what an interrupted run left under a directory; one line per thing done.
type Cleanup = fn(&Path) -> Vec<String>;

/// What the windows and the progress go to.
struct Sinks {
    writers: Vec<Box<dyn Writer>>,
    progress: ProgressBar,
}

/// The identity of an offline run over the inputs that passed their check,
/// and the manifest's record of it.
fn offline_identity(plan: &Plan, inputs: &[InputFile]) -> (RunId, RunRecord) {
    let mut fingerprints = Vec::new();
    let mut records = Vec::new();
    for input in inputs.iter().filter(|input| input.refused.is_none()) {
        if capture::is_stream(&input.path) {
            // A stream cannot be read twice for its content: its run is
            // unique, so rerunning a stream adds a part to its windows
            // instead of replacing one. Its record has no fingerprint, so
            // the next stream under the same name is not taken for an edit.
            fingerprints.push(run::fingerprint_stream(crate::wall_clock_ns()));
            records.push(InputRecord {
                path: input.path.display().to_string(),
                fingerprint: String::new(),
            });
            continue;
        }
        // A file that cannot be read for its fingerprint fails again, with
        // its error reported, when the reader opens it.
        let Ok(fingerprint) = run::fingerprint_file(&input.path) else {
            continue;
        };
        fingerprints.push(fingerprint);
        let path = std::fs::canonicalize(&input.path).unwrap_or_else(|_| input.path.clone());
        records.push(InputRecord {
            path: path.display().to_string(),
            fingerprint: format!("{fingerprint:016x}"),
        });
    }
    let run_id = RunId::offline(plan.interval, &plan.tasks, &fingerprints);
    let record = RunRecord {
        mode: "offline".to_string(),
        inputs: records,
    };
    (run_id, record)
}

/// Records the run in each files root's manifest; a root that holds other
/// windows or other task definitions refuses it (exit status 2).
fn admit(plan: &Plan, run_id: RunId, record: RunRecord) -> anyhow::Result<()> {
    for root in plan.roots() {
        admit_in(plan, root, run_id, record.clone())?;
    }
    Ok(())
}

fn admit_in(plan: &Plan, root: &Path, run_id: RunId, record: RunRecord) -> anyhow::Result<()> {
    let admission = Admission {
        interval: plan.interval,
        tasks: &plan.tasks,
        run: run_id,
        record,
    };
    match manifest::admit(root, &admission) {
        Ok(warnings) => {
            for warning in warnings {
                log::warn!("{warning}");
            }
            Ok(())
        }
        Err(error @ (ManifestError::Interval { .. } | ManifestError::Task { .. })) => {
            Err(UsageError(error.to_string()).into())
        }
        Err(error) => Err(error.into()),
    }
}

/// Runs the pipeline on `source` and prints the summary; the exit status says
/// whether anything was lost.
fn run(
    config: &Config,
    args: &PipelineArgs,
    plan: Plan,
    run_id: RunId,
    source: PacketSource,
    sinks: Sinks,
) -> anyhow::Result<ExitCode> {
    let aggregator = &config.aggregator;
    let api = api_spec(config, args, &plan)?;
    let Plan {
        mode,
        tasks,
        interval,
        interval_ns,
        workers,
        writers: _,
        top,
    } = plan;
    let task_names: Vec<String> = tasks.iter().map(|task| task.name.clone()).collect();
    let rules = alert_rules(config);
    let mut outputs: Vec<String> = sinks.writers.iter().map(|sink| sink.describe()).collect();
    outputs.extend(rules.as_ref().map(|rules| alerts::sink_name(rules.len())));
    let shards = crate::flow::place_tasks(&tasks, workers, derivable).len();
    log::info!(
        "{} task(s), {workers} worker(s){}, {} windows, output to {}",
        tasks.len(),
        unused_workers(workers, shards),
        humantime::format_duration(interval),
        outputs.join(" and ")
    );
    let metrics = Arc::new(Metrics::new(&MetricsLayout {
        tasks: task_names.clone(),
        shards,
        sinks: outputs,
        rules: rules.unwrap_or_default(),
    }));
    let mut writers = sinks.writers;
    let alerter = if config.alerter.enabled {
        let (sink, alerter) = alerts::start(&config.alerter, Arc::clone(&metrics))
            .context("starting the alert webhook thread")?;
        writers.push(Box::new(sink));
        Some(alerter)
    } else {
        None
    };
    let api = api.map(|spec| ApiSpec {
        metrics: Some(Arc::clone(&metrics)),
        ..spec
    });
    let settings = PipelineSettings {
        source,
        run: RunInfo { mode, run: run_id },
        tasks,
        build_aggregator,
        derives: derivable,
        workers,
        reader: ReaderSettings {
            batch_size: aggregator.batch_size,
            max_in_flight: aggregator.mailbox_batches(),
            interval_ns,
        },
        writers,
        write_backlog: aggregator.write_backlog,
        stop_after: config.capture.duration,
        progress: sinks.progress,
        metrics,
        api,
    };
    privileges::set_output_mode_mask();
    let started = Instant::now();
    let outcome = pipeline::run(settings).context("running the pipeline")?;
    if let Some(alerter) = alerter {
        alerter.finish();
    }
    let tops = top
        .as_ref()
        .map(|(n, tables)| tables.top(*n))
        .unwrap_or_default();
    let context = SummaryContext {
        mode,
        task_names: &task_names,
        elapsed: started.elapsed(),
        top: top.map(|_| top::json(&tops)),
    };
    let mut stdout = std::io::stdout().lock();
    if args.json {
        summary::print_json(&mut stdout, &outcome, &context)?;
    } else {
        summary::print_table(&mut stdout, &outcome, &context)?;
        top::print_table(&mut stdout, &tops)?;
    }
    report_failures(&outcome)
}

/// For the start-up line: how many of the workers count, when fewer than
/// asked for (a sketch or a roll-up is never split, and derived tasks
/// count with their base); empty when all of them do.
fn unused_workers(workers: usize, shards: usize) -> String {
    if shards >= workers {
        return String::new();
    }
    format!(" ({shards} counting: sketches and roll-ups are not split)")
}

/// The names of the rules to evaluate (`None` when the alerter is off);
/// notes the sections accepted but not acted on.
fn alert_rules(config: &Config) -> Option<Vec<String>> {
    if config.smtp.is_some() {
        log::info!("smtp: accepted and not used; alerts go to the log and alerter.webhook_url");
    }
    let alerter = &config.alerter;
    if !alerter.enabled && !alerter.rules.is_empty() {
        log::info!(
            "alerter.enabled is false: {} rule(s) not evaluated",
            alerter.rules.len()
        );
    }
    alerter
        .enabled
        .then(|| alerter.rules.iter().map(|rule| rule.name.clone()).collect())
}

/// `--listen` (or `api.http_listen_addr`): the server over the run's tasks
/// and the first files writer's root (its metrics are added once built).
fn api_spec(
    config: &Config,
    args: &PipelineArgs,
    plan: &Plan,
) -> Result<Option<ApiSpec>, UsageError> {
    Ok(
        api_listener(&config.api, &args.api)?.map(|(listener, token)| ApiSpec {
            listener,
            token,
            metrics: None,
            store: plan.roots().next().map(Path::to_path_buf),
            tasks: Some(plan.tasks.iter().map(TaskInfo::from_spec).collect()),
            open_windows: None,
        }),
    )
}

/// `--json` promises one summary object on stdout even when `analyze` is
/// refused before the first packet (an unsupported link type): zero counts,
/// and the file that refused it in `files` and `errors`.
fn print_json_without_run(config: &Config, refused: FileOutcome) -> anyhow::Result<()> {
    let tasks = config.aggregator.task_specs(None);
    let task_names: Vec<String> = tasks.iter().map(|task| task.name.clone()).collect();
    let outcome = RunOutcome {
        read: ReadReport {
            files: vec![refused],
            ..ReadReport::default()
        },
        written: FlushReport {
            task_totals: vec![PartTotals::default(); tasks.len()],
            ..FlushReport::default()
        },
    };
    let context = SummaryContext {
        mode: RunMode::Offline,
        task_names: &task_names,
        elapsed: Duration::ZERO,
        top: None,
    };
    summary::print_json(&mut std::io::stdout().lock(), &outcome, &context)
}

/// Creates the output root, proves it writable and cleans up what an
/// interrupted earlier run left, before any packet is read; a failure is a
/// usage error (exit status 2).
fn prepare_output_root(root: &Path, cleanup: Cleanup) -> Result<(), UsageError> {
    let probe = root.join(format!(".netspectra-write-test-{}", std::process::id()));
    std::fs::create_dir_all(root)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|error| {
            UsageError(format!(
                "output directory {} is not writable: {error}",
                root.display()
            ))
        })?;
    for done in cleanup(root) {
        log::warn!("{done}");
    }
    Ok(())
}

/// A bar over the bytes of all inputs, on a terminal only.
fn progress_bar(files: &[PathBuf]) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total = files
        .iter()
        .filter_map(|file| std::fs::metadata(file).ok())
        .map(|meta| meta.len())
        .sum();
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Exit status of a run that completed: 1 if any input or window was lost.
fn report_failures(outcome: &RunOutcome) -> anyhow::Result<ExitCode> {
    let problems = summary::problems(outcome);
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    bail!(
        "the run completed with errors:\n  {}",
        problems.join("\n  ")
    )
}
