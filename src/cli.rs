//! The command line: clap definitions and one function per subcommand.
//!
//! This is the binary's edge: errors become `anyhow` chains with context,
//! and `exit_code` maps them to the documented statuses (2 for usage and
//! config errors, 1 for the rest). Only this module and `output/` print.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::actors::messages::TaskTotals;
use crate::actors::reader::ReaderSettings;
use crate::actors::scheduler::TaskInfo;
use crate::actors::supervisor::{self, PipelineSettings, RunOutcome};
use crate::capture;
use crate::config::{Config, ConfigError};
use crate::output::inspect::{self, Format, InspectOptions, SortBy};

/// Exact per-key packet and byte counts from capture files, cut into time windows.
#[derive(Debug, Parser)]
#[command(name = "netspectra", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count packets and bytes per key in capture files and write windowed snapshots.
    ///
    /// Files (pcap or pcapng, any mix of supported link types) are read in the
    /// order given, as one stream. Every task of the config counts every IP
    /// packet by its key; counts are cut into tumbling windows of the snapshot
    /// interval, following the packets' own timestamps, and each window is
    /// written under the output directory as <window start>/<task>/.
    ///
    /// Example: netspectra analyze -o out --snapshot-interval 5m day1.pcap day2.pcapng
    Analyze(AnalyzeArgs),
    /// Print the flows of written snapshots as a table, JSON lines or CSV.
    ///
    /// PATH is an output root (every window in it) or one window directory.
    ///
    /// Example: netspectra inspect out --task per_src_ip --top 10 --sort bytes
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng), read in this order as one stream.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// YAML config (Go2NetSpectra phase-1 format). Default: the bundled config/default.yaml.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output root for snapshots. Overrides aggregator.storage_root_path.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Number of shard actors (threads). Overrides aggregator.num_workers.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Window length, e.g. 30s, 5m, 1h. Overrides aggregator.snapshot_interval.
    #[arg(short = 'i', long, value_name = "DURATION", value_parser = parse_interval)]
    pub snapshot_interval: Option<Duration>,
    /// Print the run summary as one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An output root or one window directory inside it.
    #[arg(value_name = "ROOT_OR_WINDOW_DIR")]
    pub path: PathBuf,
    /// Only this task.
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// Only the N largest flows of each table.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Counter to sort by, largest first.
    #[arg(long, value_enum, default_value_t = SortArg::Packets)]
    pub sort: SortArg,
    /// Output format: aligned table, JSON lines, or CSV with a header.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Sum all windows of the root into one table per task.
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    Packets,
    Bytes,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Csv,
}

/// A command-line mistake found after clap's own checks; exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|error| format!("{error}"))?;
    if interval.is_zero() {
        return Err("must be longer than zero".to_string());
    }
    Ok(interval)
}

/// Runs one subcommand; the returned status is for runs that completed but lost something.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Inspect(args) => {
            inspect_snapshots(args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// 2 for usage and config errors, 1 for everything else.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    let usage = error.chain().any(|cause| {
        cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<UsageError>().is_some()
    });
    ExitCode::from(if usage { 2 } else { 1 })
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::bundled(),
    };
    let aggregator = &config.aggregator;
    let workers = args.workers.map_or(aggregator.num_workers, usize::from);
    let interval = args
        .snapshot_interval
        .unwrap_or(aggregator.snapshot_interval);
    let output_root = args
        .output
        .clone()
        .unwrap_or_else(|| aggregator.storage_root_path.clone());
    for file in &args.files {
        capture::check_link_types(file)?;
    }
    prepare_output_root(&output_root)?;

    let interval_ns = u64::try_from(interval.as_nanos())
        .map_err(|_| UsageError(format!("snapshot interval {interval:?} is too long")))?;
    let batch_size = aggregator.batch_size;
    let settings = PipelineSettings {
        files: args.files.clone(),
        tasks: config
            .aggregator
            .exact_tasks
            .iter()
            .map(|task| TaskInfo {
                name: task.name.clone(),
                schema: task.schema,
            })
            .collect(),
        workers,
        reader: ReaderSettings {
            batch_size,
            max_in_flight: (aggregator.size_of_packet_channel / batch_size).max(1),
            interval_ns,
        },
        output_root: output_root.clone(),
        progress: progress_bar(&args.files),
    };
    let task_names: Vec<String> = settings
        .tasks
        .iter()
        .map(|task| task.name.clone())
        .collect();
    log::info!(
        "analyzing {} file(s) with {} task(s), {workers} worker(s), {} windows, into {}",
        args.files.len(),
        task_names.len(),
        humantime::format_duration(interval),
        output_root.display()
    );
    let started = Instant::now();
    let outcome = supervisor::run(settings).context("running the pipeline")?;
    let elapsed = started.elapsed();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        print_summary_json(&mut stdout, &outcome, &task_names, elapsed)?;
    } else {
        print_summary_table(&mut stdout, &outcome, &task_names, elapsed)?;
    }
    report_failures(&outcome)
}

/// Creates the output root and proves it writable before any packet is read.
fn prepare_output_root(root: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(root)
        .with_context(|| format!("cannot create output directory {}", root.display()))?;
    let probe = root.join(format!(".netspectra-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("output directory {} is not writable", root.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("cannot clean up {}", probe.display()))?;
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
    let mut problems: Vec<String> = outcome
        .read
        .files
        .iter()
        .filter_map(|file| file.error.clone())
        .collect();
    problems.extend(outcome.written.failures.iter().cloned());
    problems.extend(outcome.read.pipeline_failure.iter().cloned());
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    bail!(
        "the run completed with errors:\n  {}",
        problems.join("\n  ")
    )
}

fn print_summary_table(
    out: &mut impl Write,
    outcome: &RunOutcome,
    task_names: &[String],
    elapsed: Duration,
) -> std::io::Result<()> {
    let read = &outcome.read;
    let rate = packets_per_second(read.packets_read, elapsed);
    let status = if read.interrupted {
        " (interrupted: input not read to the end)"
    } else {
        ""
    };
    writeln!(out, "netspectra analyze{status}")?;
    for file in &read.files {
        let result = file.error.as_deref().unwrap_or("ok");
        writeln!(
            out,
            "  file  {}: {} packets, {result}",
            file.path.display(),
            file.packets
        )?;
    }
    for (label, value) in [
        ("packets read", read.packets_read),
        ("counted", read.packets_counted),
        ("non_ip", read.non_ip),
        ("malformed", read.malformed),
        ("out_of_order", read.out_of_order),
        ("windows written", outcome.written.windows_written),
    ] {
        writeln!(out, "  {label:<16} {value:>14}")?;
    }
    writeln!(out, "  {:<16} {:>14.3} s", "elapsed", elapsed.as_secs_f64())?;
    writeln!(out, "  {:<16} {:>14.0}", "packets/s", rate)?;
    let width = task_names.iter().map(String::len).max().unwrap_or(4).max(4);
    writeln!(
        out,
        "  {:<width$} {:>12} {:>14} {:>16}",
        "task", "flows", "packets", "bytes"
    )?;
    for (name, totals) in task_names.iter().zip(&outcome.written.task_totals) {
        writeln!(
            out,
            "  {name:<width$} {:>12} {:>14} {:>16}",
            totals.flows, totals.packets, totals.bytes
        )?;
    }
    Ok(())
}

fn print_summary_json(
    out: &mut impl Write,
    outcome: &RunOutcome,
    task_names: &[String],
    elapsed: Duration,
) -> anyhow::Result<()> {
    let read = &outcome.read;
    let files: Vec<serde_json::Value> = read
        .files
        .iter()
        .map(|file| {
            serde_json::json!({
                "path": file.path.display().to_string(),
                "packets": file.packets,
                "error": file.error,
            })
        })
        .collect();
    let tasks: serde_json::Map<String, serde_json::Value> = task_names
        .iter()
        .zip(&outcome.written.task_totals)
        .map(|(name, totals): (&String, &TaskTotals)| {
            let value = serde_json::json!({
                "flows": totals.flows, "packets": totals.packets, "bytes": totals.bytes,
            });
            (name.clone(), value)
        })
        .collect();
    let summary = serde_json::json!({
        "files": files,
        "packets_read": read.packets_read,
        "packets_counted": read.packets_counted,
        "non_ip": read.non_ip,
        "malformed": read.malformed,
        "out_of_order": read.out_of_order,
        "windows": outcome.written.windows_written,
        "tasks": tasks,
        "elapsed_s": elapsed.as_secs_f64(),
        "packets_per_s": packets_per_second(read.packets_read, elapsed),
        "interrupted": read.interrupted,
        "errors": outcome.written.failures,
    });
    serde_json::to_writer(&mut *out, &summary)?;
    writeln!(out)?;
    Ok(())
}

fn packets_per_second(packets: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        packets as f64 / seconds
    } else {
        0.0
    }
}

fn inspect_snapshots(args: InspectArgs) -> anyhow::Result<()> {
    let options = InspectOptions {
        path: args.path,
        task: args.task,
        top: args.top,
        sort: match args.sort {
            SortArg::Packets => SortBy::Packets,
            SortArg::Bytes => SortBy::Bytes,
        },
        format: match args.format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        },
        merge: args.merge,
    };
    let mut stdout = std::io::stdout().lock();
    inspect::inspect(&options, &mut stdout)?;
    Ok(())
}
