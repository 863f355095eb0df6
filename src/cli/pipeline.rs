//! `analyze` and `capture`: turn the config and flags into pipeline
//! settings, check everything that can be checked before the first packet,
//! run the pipeline, and print the summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::actors::messages::{FileOutcome, FlushReport, ReadReport, RunInfo};
use crate::actors::pipeline::{self, PipelineSettings};
use crate::actors::reader::{InputFile, PacketSource, ReaderSettings};
use crate::actors::signals;
use crate::actors::supervisor::RunOutcome;
use crate::capture::live::{LiveCapture, LiveSettings};
use crate::capture::{self, CaptureError, PacketFilter, RunMode};
use crate::config::{Config, DEFAULT_CAPTURE_MAX_KEYS};
use crate::flow::{PartTotals, TaskSpec, build_aggregator};
use crate::output::manifest::{self, Admission, InputRecord, ManifestError, RunRecord};
use crate::output::retention::Retention;
use crate::output::run::{self, RunId};
use crate::output::{TopKeys, WriterSpec, build_writers, leftovers};
use crate::with_causes;

use super::privileges;
use super::summary::{self, SummaryContext};
use super::top;
use super::usage::UsageError;
use super::{AnalyzeArgs, CaptureArgs, PipelineArgs};

pub fn analyze(args: AnalyzeArgs, bars: &MultiProgress) -> anyhow::Result<ExitCode> {
    signals::install().context("installing signal handlers")?;
    let config = load_config(&args.pipeline)?;
    let mut plan = Plan::new(&config, &args.pipeline, RunMode::Offline)?;
    plan.store = !args.no_store;
    plan.top = args.top;
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
    if plan.store {
        prepare_output_root(&plan.root)?;
        admit(&plan, run_id, record)?;
    }
    let progress = bars.add(progress_bar(&args.files));
    let source = PacketSource::Files {
        inputs,
        strict: args.strict,
        filter,
    };
    log::info!("analyzing {} file(s) as run {run_id}", args.files.len());
    run(&config, &args.pipeline, plan, run_id, source, progress)
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
    };
    let count = args.count.or(section.count);
    let user = args.user.clone().or_else(|| section.user.clone());
    config.capture.duration = args.duration.or(section.duration);
    let plan = Plan::new(&config, &args.pipeline, RunMode::Live)?;
    let capture = match user {
        Some(user) => {
            let capture = LiveCapture::open(&settings)?;
            privileges::drop_to_user(&user)?;
            // Only now, as that user: a root it creates is its own, and one
            // it cannot reach or write is refused before anything is created.
            prepare_output_root(&plan.root)?;
            capture
        }
        None => {
            prepare_output_root(&plan.root)?;
            LiveCapture::open(&settings)?
        }
    };
    let run_id = RunId::live(&settings.interface, wall_clock_ns());
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
    run(
        &config,
        &args.pipeline,
        plan,
        run_id,
        source,
        ProgressBar::hidden(),
    )
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

fn output_root(config: &Config, args: &PipelineArgs) -> PathBuf {
    args.output
        .clone()
        .unwrap_or_else(|| config.aggregator.storage_root_path.clone())
}

/// What a run counts and where, resolved from the config and the flags
/// before anything is read.
struct Plan {
    mode: RunMode,
    tasks: Vec<TaskSpec>,
    interval: Duration,
    interval_ns: u64,
    workers: usize,
    root: PathBuf,
    /// Whether windows are written under `root` (`analyze --no-store`: no).
    store: bool,
    /// `analyze --top N`: keep every task's keys over the run and print the N largest.
    top: Option<usize>,
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
            root: output_root(config, args),
            store: true,
            top: None,
        })
    }
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
            fingerprints.push(run::fingerprint_stream(wall_clock_ns()));
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

/// Records the run in the root's manifest; a root that holds other windows
/// or other task definitions refuses it (exit status 2).
fn admit(plan: &Plan, run_id: RunId, record: RunRecord) -> anyhow::Result<()> {
    let admission = Admission {
        interval: plan.interval,
        tasks: &plan.tasks,
        run: run_id,
        record,
    };
    match manifest::admit(&plan.root, &admission) {
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
    progress: ProgressBar,
) -> anyhow::Result<ExitCode> {
    let aggregator = &config.aggregator;
    let Plan {
        mode,
        tasks,
        interval,
        interval_ns,
        workers,
        root,
        store,
        top,
    } = plan;
    let task_names: Vec<String> = tasks.iter().map(|task| task.name.clone()).collect();
    log::info!(
        "{} task(s), {workers} worker(s), {} windows, output {}",
        tasks.len(),
        humantime::format_duration(interval),
        if store {
            root.display().to_string()
        } else {
            "none (--no-store)".to_string()
        }
    );
    let mut writer_specs = Vec::new();
    if store {
        writer_specs.push(WriterSpec::Files {
            root,
            retention: Retention {
                max_windows: config.retention.max_windows,
                max_age: config.retention.max_age,
                interval,
            },
        });
    }
    let top_keys = top.map(|_| TopKeys::default());
    if let Some(tables) = &top_keys {
        writer_specs.push(WriterSpec::Top {
            tables: tables.clone(),
        });
    }
    let settings = PipelineSettings {
        source,
        run: RunInfo { mode, run: run_id },
        tasks,
        build_aggregator,
        workers,
        reader: ReaderSettings {
            batch_size: aggregator.batch_size,
            max_in_flight: aggregator.mailbox_batches(),
            interval_ns,
        },
        writers: build_writers(&writer_specs),
        write_backlog: aggregator.write_backlog,
        stop_after: config.capture.duration,
        progress,
    };
    privileges::set_output_mode_mask();
    let started = Instant::now();
    let outcome = pipeline::run(settings).context("running the pipeline")?;
    let tops = top_keys
        .zip(top)
        .map(|(tables, n)| tables.top(n))
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

/// `--json` promises one summary object on stdout even when `analyze` is
/// refused before the first packet (an unsupported link type): zero counts,
/// and the file that refused it in `files` and `errors`.
fn print_json_without_run(config: &Config, refused: FileOutcome) -> anyhow::Result<()> {
    let tasks = &config.aggregator.exact_tasks;
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
fn prepare_output_root(root: &Path) -> Result<(), UsageError> {
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
    for done in leftovers::clean_leftovers(root) {
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

/// Now, in nanoseconds since the Unix epoch.
fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}
