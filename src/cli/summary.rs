//! The run summary printed at the end of `analyze` and `capture`: an aligned
//! table, or one JSON object on stdout with `--json`.

use std::io::Write;
use std::time::Duration;

use crate::actors::supervisor::RunOutcome;
use crate::capture::RunMode;

/// What the summary needs besides the run's outcome.
pub struct SummaryContext<'a> {
    /// Offline for `analyze`, live for `capture`.
    pub mode: RunMode,
    pub task_names: &'a [String],
    pub elapsed: Duration,
    /// `analyze --top`: the `top` value of the JSON summary.
    pub top: Option<serde_json::Value>,
}

/// The aligned, human-readable summary.
pub fn print_table(
    out: &mut impl Write,
    outcome: &RunOutcome,
    context: &SummaryContext<'_>,
) -> std::io::Result<()> {
    let read = &outcome.read;
    let status = if read.interrupted {
        " (interrupted: stopped before the end of input)"
    } else {
        ""
    };
    writeln!(out, "netspectra {}{status}", command_name(context.mode))?;
    for file in &read.files {
        let result = file.error.as_deref().unwrap_or("ok");
        let noun = if file.packets == 1 {
            "packet"
        } else {
            "packets"
        };
        writeln!(
            out,
            "  file  {}: {} {noun}, {result}",
            file.path.display(),
            file.packets
        )?;
    }
    let mut counters = vec![
        ("packets read", read.packets_read),
        ("counted", read.packets_counted),
        ("non_ip", read.non_ip),
        ("malformed", read.malformed),
        ("filtered", read.filtered),
        ("bad_timestamp", read.bad_timestamp),
        ("out_of_order", read.out_of_order),
        ("windows written", outcome.written.windows_written),
    ];
    if let Some(stats) = read.capture_stats {
        counters.extend([
            ("pcap received", stats.received),
            ("pcap dropped", stats.dropped),
            ("pcap if_dropped", stats.if_dropped),
        ]);
    }
    for (label, value) in counters {
        writeln!(out, "  {label:<16} {value:>14}")?;
    }
    let rate = packets_per_second(read.packets_read, context.elapsed);
    writeln!(
        out,
        "  {:<16} {:>14.3} s",
        "elapsed",
        context.elapsed.as_secs_f64()
    )?;
    writeln!(out, "  {:<16} {:>14.0}", "packets/s", rate)?;
    let width = context
        .task_names
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "  {:<width$} {:>12} {:>14} {:>16}",
        "task", "flows", "packets", "bytes"
    )?;
    for (name, totals) in context.task_names.iter().zip(&outcome.written.task_totals) {
        writeln!(
            out,
            "  {name:<width$} {:>12} {:>14} {:>16}",
            totals.records, totals.packets, totals.bytes
        )?;
    }
    Ok(())
}

/// The same summary as one JSON object on one line.
pub fn print_json(
    out: &mut impl Write,
    outcome: &RunOutcome,
    context: &SummaryContext<'_>,
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
    let tasks: serde_json::Map<String, serde_json::Value> = context
        .task_names
        .iter()
        .zip(&outcome.written.task_totals)
        .map(|(name, totals)| {
            let value = serde_json::json!({
                "flows": totals.records, "packets": totals.packets, "bytes": totals.bytes,
            });
            (name.clone(), value)
        })
        .collect();
    let mut summary = serde_json::json!({
        "files": files,
        "packets_read": read.packets_read,
        "packets_counted": read.packets_counted,
        "non_ip": read.non_ip,
        "malformed": read.malformed,
        "filtered": read.filtered,
        "bad_timestamp": read.bad_timestamp,
        "out_of_order": read.out_of_order,
        "windows": outcome.written.windows_written,
        "tasks": tasks,
        "elapsed_s": context.elapsed.as_secs_f64(),
        "packets_per_s": packets_per_second(read.packets_read, context.elapsed),
        "interrupted": read.interrupted,
        "errors": problems(outcome),
    });
    if let Some(stats) = read.capture_stats {
        summary["pcap_received"] = stats.received.into();
        summary["pcap_dropped"] = stats.dropped.into();
        summary["pcap_if_dropped"] = stats.if_dropped.into();
    }
    if let Some(top) = &context.top {
        summary["top"] = top.clone();
    }
    serde_json::to_writer(&mut *out, &summary)?;
    writeln!(out)?;
    Ok(())
}

/// Every problem of the run, in this order: each file's error, a live read
/// error, each window that could not be written, a pipeline failure. Any
/// of them makes the exit status 1; `--json` lists them as `errors`.
pub fn problems(outcome: &RunOutcome) -> Vec<String> {
    let read = &outcome.read;
    let mut problems: Vec<String> = read
        .files
        .iter()
        .filter_map(|file| file.error.clone())
        .collect();
    problems.extend(read.capture_error.iter().cloned());
    problems.extend(outcome.written.failures.iter().cloned());
    problems.extend(read.pipeline_failure.iter().cloned());
    problems
}

fn packets_per_second(packets: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        packets as f64 / seconds
    } else {
        0.0
    }
}

/// The subcommand that runs in `mode`.
fn command_name(mode: RunMode) -> &'static str {
    match mode {
        RunMode::Offline => "analyze",
        RunMode::Live => "capture",
    }
}
