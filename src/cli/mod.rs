//! The command line: clap definitions and one function per subcommand.
//!
//! This is the binary's edge: errors become `anyhow` chains with context,
//! and `exit_code` maps them to the documented statuses (2 for usage and
//! config errors, 1 for the rest). Only this module and `output/` print.

mod pipeline;
mod privileges;
mod report;
mod serve;
mod summary;
mod top;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use indicatif::MultiProgress;

use crate::capture::live;
use crate::config::ConfigError;
use crate::output::OutputError;
use crate::output::filter::Filter;
use crate::output::group::GroupBy;
use crate::output::inspect::{Format, InspectOptions, SortBy};
use crate::output::query::Query;
use crate::output::time_bound::TimeBound;

pub use usage::UsageError;

/// Exact per-key packet and byte counts from capture files and live
/// interfaces, cut into time windows.
#[derive(Debug, Parser)]
#[command(name = "netspectra", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log warnings and errors only. RUST_LOG, when set, wins.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log debug lines too (-vv: trace). RUST_LOG, when set, wins.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

impl Cli {
    /// env_logger's default filter for the flags given (`info` without any).
    pub fn log_filter(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "warn",
            (false, 0) => "info",
            (false, 1) => "debug",
            (false, _) => "trace",
        }
    }
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
    /// Capture live from an interface until SIGINT/SIGTERM, --duration or --count.
    ///
    /// Counts like `analyze`, with windows that also close on the wall clock:
    /// an idle interface still writes a (zero) summary every window. Each
    /// window's summary.json carries libpcap's received and dropped counters.
    /// Needs root, or CAP_NET_RAW and CAP_NET_ADMIN.
    ///
    /// Example: netspectra capture -i eth0 --filter 'tcp or udp' -o /var/lib/netspectra
    Capture(CaptureArgs),
    /// List the interfaces libpcap can capture on, with their addresses.
    Interfaces,
    /// Serve the query API and /metrics over a stored root, read-only,
    /// until SIGINT or SIGTERM.
    ///
    /// Example: netspectra serve /var/lib/netspectra --listen 127.0.0.1:9464
    Serve(ServeArgs),
    /// Print the flows of written snapshots as a table, JSON lines or CSV.
    ///
    /// PATH is an output root (every window in it) or one window directory.
    /// Select windows by time (--from/--to), rows by an expression (--where,
    /// applied to the stored rows), regroup them by fewer fields or address
    /// prefixes (--group-by), then sort and cut (--sort, --top).
    ///
    /// Examples:
    ///   netspectra inspect out --task per_src_ip --top 10 --sort bytes
    ///   netspectra inspect out --from -1h --task per_five_tuple \
    ///       --where 'dst_port == https and src_ip in 10.0.0.0/8'
    ///   netspectra inspect out --merge --task per_src_ip --group-by src_ip/24/64
    #[command(verbatim_doc_comment)]
    Inspect(InspectArgs),
    /// Print a shell completion script on stdout.
    ///
    /// Example: netspectra completions bash > /etc/bash_completion.d/netspectra
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout.
    ///
    /// Example: netspectra man | man -l -
    Man,
}

/// Options shared by every command that runs the pipeline.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// YAML config (Go2NetSpectra phase-1 format). Default: the bundled config/default.yaml.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output root for snapshots. Overrides aggregator.storage_root_path.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Also store every window as Parquet files under DIR
    /// (task=<name>/date=<day>/...; zstd; see docs/parquet.md).
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,
    /// Also store every window in ClickHouse:
    /// http://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?probe=NAME]
    /// (port 8123, database and user `default`, probe the host name unless
    /// given; see docs/clickhouse.md). The password is never logged.
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<crate::config::ClickHouseUrl>,
    /// Number of shard actors, on a thread each up to the number of CPUs
    /// less one (the reader's).
    /// Overrides aggregator.num_workers.
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Window length in whole seconds, 1s to 24h, e.g. 30s, 5m, 1h.
    /// Overrides aggregator.snapshot_interval.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_snapshot_interval)]
    pub snapshot_interval: Option<Duration>,
    /// Print the run summary as one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The HTTP server's flags.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Serve /metrics, /healthz and the query API on this address while
    /// running: HOST:PORT, :PORT or PORT (host 127.0.0.1). Overrides
    /// api.http_listen_addr.
    #[arg(long, value_name = "ADDR", value_parser = crate::api::parse_listen_addr)]
    pub listen: Option<std::net::SocketAddr>,
    /// Require `Authorization: Bearer TOKEN` on every endpoint but /healthz.
    /// Overrides api.token.
    #[arg(long, value_name = "TOKEN")]
    pub api_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The output root to answer from.
    #[arg(value_name = "ROOT")]
    pub root: PathBuf,
    /// YAML config, for its `api:` section.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, plain, gzip or zstd), read in this
    /// order as one stream; `-` is standard input, and FIFOs or `<(...)` are
    /// read as streams.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Count only the packets this tcpdump filter expression matches, as
    /// `tcpdump -r FILE EXPR` reads them; the rest are counted as `filtered`.
    #[arg(short, long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// After the run, print each task's N keys with the most packets over
    /// the whole run (in the --json summary: `top`).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Write no store: count and print the summary (and --top) only.
    #[arg(long)]
    pub no_store: bool,
    /// Stop at the first damaged or unreadable file (by default the others
    /// are still counted; either way the exit status is 1).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to capture on (see `netspectra interfaces`). Overrides capture.interface.
    #[arg(short, long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// BPF filter expression, as for tcpdump. Overrides capture.filter.
    #[arg(short, long, value_name = "EXPRESSION")]
    pub filter: Option<String>,
    /// Bytes kept of each packet (64 to 262144; byte counts always use the wire length).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(64..=262_144))]
    pub snaplen: Option<u32>,
    /// Put the interface in promiscuous mode (the default).
    #[arg(long, overrides_with = "no_promisc")]
    pub promisc: bool,
    /// Do not put the interface in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer in bytes (default 32 MiB); raise it when pcap_dropped is not zero.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1_048_576..))]
    pub buffer_size: Option<u32>,
    /// Stop by itself after this long, e.g. 10m.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub duration: Option<Duration>,
    /// Stop by itself after this many packets.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Drop root to this user once the interface is open (like tcpdump -Z);
    /// the output directory must be writable by it. Overrides capture.user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An output root or one window directory inside it.
    #[arg(value_name = "ROOT_OR_WINDOW_DIR")]
    pub path: PathBuf,
    /// Only this task.
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// Only the N first rows of each table after sorting (the row of keys
    /// refused by max_keys, `other`, is always shown).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// What to sort by: largest first, first_seen earliest first. flows:
    /// stored records summed into a row (with --merge, windows it was seen
    /// in); duration: last_seen - first_seen; rate: bits per second over
    /// the duration (0 for a zero duration).
    #[arg(long, value_enum, default_value_t = SortArg::Packets)]
    pub sort: SortArg,
    /// Output format: aligned table, JSON lines, or CSV with a header.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Sum all windows selected into one table per task.
    #[arg(long)]
    pub merge: bool,
    /// Only windows ending after TIME: RFC 3339 (2025-09-09T10:00:00Z,
    /// +02:00 offsets allowed), Unix seconds, or a span back from the end of
    /// the newest window (-1h, -30m, -2d, -90s).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, value_parser = parse_time_bound)]
    pub from: Option<TimeBound>,
    /// Only windows starting before TIME (same forms as --from).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, value_parser = parse_time_bound)]
    pub to: Option<TimeBound>,
    /// Only the stored rows matching EXPR, before --group-by. Fields:
    /// src_ip, dst_ip, src_port, dst_port, protocol, packets, bytes, flows,
    /// duration (seconds), rate (bits/s), first_seen, last_seen. Operators:
    /// == != < <= > >=, `in CIDR` for addresses, and/or/not, parentheses.
    /// Numbers take 1e6 and k/M/G suffixes; protocols and ports take names
    /// (tcp, https). Without --task, tasks lacking a field are left out.
    /// Example: 'dst_port == 443 and src_ip in 10.0.0.0/8 and bytes > 1M'
    #[arg(long = "where", value_name = "EXPR", value_parser = parse_filter)]
    pub filter: Option<Filter>,
    /// Regroup an exact task's rows by these key fields, comma-separated;
    /// an address may be cut to a prefix: src_ip/24 (IPv4 /24, IPv6 whole),
    /// src_ip/24/64 (and IPv6 /64), src_ip//48 (IPv6 only). Groups sum
    /// packets, bytes and flows. Example: --group-by src_ip/24,dst_port
    #[arg(long, value_name = "FIELDS", value_parser = parse_group_by)]
    pub group_by: Option<GroupBy>,
    /// Show protocols and ports as numbers in tables, not names (as tcpdump -n).
    #[arg(short = 'n', long)]
    pub numeric: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    Packets,
    Bytes,
    Flows,
    Duration,
    #[value(name = "first_seen")]
    FirstSeen,
    Rate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Table,
    Json,
    Csv,
}

fn parse_time_bound(text: &str) -> Result<TimeBound, String> {
    text.parse()
}

/// A `--where` expression; a mistake is shown with a caret under its column.
fn parse_filter(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|error| format!("{error}\n{}", error.pointing_into(text)))
}

fn parse_group_by(text: &str) -> Result<GroupBy, String> {
    text.parse()
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    crate::config::parse_positive_duration(text)
}

/// Runs one subcommand; the returned status is for runs that completed but
/// lost something. Progress bars are added to `bars`, which the logger
/// also writes through.
pub fn run(cli: Cli, bars: &MultiProgress) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => pipeline::analyze(args, bars),
        Command::Capture(args) => pipeline::capture(args),
        Command::Interfaces => {
            list_interfaces()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve::serve(args),
        Command::Inspect(args) => {
            inspect_snapshots(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "netspectra",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout().lock())
                .context("writing the manual page")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// 2 for usage and config errors (an unknown `inspect --task` or a query
/// that cannot apply included), 1 for everything else.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    let usage = error.chain().any(|cause| {
        cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<UsageError>().is_some()
            || cause.downcast_ref::<live::LiveError>().is_some()
            || matches!(
                cause.downcast_ref::<OutputError>(),
                Some(OutputError::UnknownTask { .. } | OutputError::Query { .. })
            )
    });
    ExitCode::from(if usage { 2 } else { 1 })
}

fn list_interfaces() -> anyhow::Result<()> {
    let interfaces = live::list_interfaces()?;
    let width = interfaces
        .iter()
        .map(|info| info.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for info in interfaces {
        let addresses: Vec<String> = info.addresses.iter().map(ToString::to_string).collect();
        let state = if info.up { "up" } else { "down" };
        let description = info
            .description
            .map(|text| format!("  ({text})"))
            .unwrap_or_default();
        println!(
            "{:<width$}  {state:<4}  {}{description}",
            info.name,
            addresses.join(", ")
        );
    }
    Ok(())
}

fn inspect_snapshots(args: InspectArgs) -> anyhow::Result<()> {
    let options = InspectOptions {
        path: args.path,
        task: args.task,
        top: args.top,
        sort: match args.sort {
            SortArg::Packets => SortBy::Packets,
            SortArg::Bytes => SortBy::Bytes,
            SortArg::Flows => SortBy::Flows,
            SortArg::Duration => SortBy::Duration,
            SortArg::FirstSeen => SortBy::FirstSeen,
            SortArg::Rate => SortBy::Rate,
        },
        format: match args.format {
            FormatArg::Table => Format::Table,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
        },
        merge: args.merge,
        numeric: args.numeric,
        query: Query {
            from: args.from,
            to: args.to,
            filter: args.filter,
            group_by: args.group_by,
        },
    };
    let mut stdout = std::io::stdout().lock();
    report::inspect(&options, &mut stdout)?;
    Ok(())
}
