//! Rendering `inspect`'s tables: aligned text, JSON lines or CSV. The
//! tables come from `output::inspect`, which loads and merges them; this
//! module only turns them into text. Tables show protocols and well-known
//! ports by name (unless `--numeric`) and only the counter columns that say
//! something for the options given; JSON and CSV carry every column, with
//! numbers.

use std::io::Write;

use crate::flow::{KeyField, KeySchema};
use crate::output::OutputError;
use crate::output::inspect::{Counters, Format, InspectOptions, SortBy, Table, load_tables};
use crate::output::layout::rfc3339_nanos;
use crate::output::names::{port_name, protocol_name};
use crate::output::rows::{
    Cell, DIRECTION_COLUMNS, OTHER, PROTOCOL_NAME, counter_columns, json_object, labelled_row, row,
    seconds_text,
};

/// Loads what `options` selects and writes the report in its format to `out`.
pub fn inspect(options: &InspectOptions, out: &mut dyn Write) -> Result<(), OutputError> {
    let tables = load_tables(options)?;
    if tables.is_empty() {
        log::warn!(
            "{}: no window overlaps the time range given",
            options.path.display()
        );
    }
    let report = match options.format {
        Format::Table => render_table(&tables, options),
        Format::Json => render_json(&tables, options.merge),
        Format::Csv => render_csv(&tables, options.merge),
    };
    out.write_all(report.as_bytes())
        .map_err(|source| OutputError::Report { source })
}

fn render_json(tables: &[Table], merge: bool) -> String {
    let mut out = String::new();
    for table in tables {
        for record in &table.rows {
            out.push_str(&json_object(table, record, merge));
            out.push('\n');
        }
    }
    out
}

/// Tables of different schemas share one header: the union of their key
/// fields, with empty cells where a task has no such field.
fn render_csv(tables: &[Table], merge: bool) -> String {
    let union = KeySchema::from_fields(
        &tables
            .iter()
            .flat_map(|table| table.schema.fields())
            .collect::<Vec<_>>(),
    );
    let mut columns = vec!["task"];
    if !merge {
        columns.push("window_start");
    }
    for field in union.fields() {
        columns.push(field.column_name());
        if field == KeyField::Protocol {
            columns.push(PROTOCOL_NAME);
        }
    }
    columns.extend(counter_columns(Counters::Exact));
    let has = |counters: &[Counters]| {
        tables
            .iter()
            .any(|table| counters.contains(&table.counters))
    };
    if has(&[Counters::Conversation]) {
        columns.extend(DIRECTION_COLUMNS);
    }
    if has(&[Counters::HeavyHitters, Counters::SuperSpread]) {
        columns.extend(["spread", "estimated"]);
    }
    columns.push(OTHER);
    let mut out = columns.join(",") + "\n";
    for table in tables {
        for record in &table.rows {
            let cells = labelled_row(table, record, merge);
            let line: Vec<String> = columns
                .iter()
                .map(
                    |column| match cells.iter().find(|(name, _)| name == column) {
                        Some((_, Cell::Text(text))) => csv_quote(text),
                        Some((_, Cell::Number(number))) => number.to_string(),
                        Some((_, Cell::Seconds(ns))) => seconds_text(*ns),
                        Some((_, Cell::Flag(flag))) => flag.to_string(),
                        Some((_, Cell::Other | Cell::Missing)) | None => String::new(),
                    },
                )
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// RFC 4180 quoting, only when needed.
fn csv_quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn render_table(tables: &[Table], options: &InspectOptions) -> String {
    let mut out = String::new();
    for (index, table) in tables.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(&heading(table, options));
        out.push_str(&aligned(table, options));
    }
    out
}

fn heading(table: &Table, options: &InspectOptions) -> String {
    let span = format!(
        "{} .. {}",
        rfc3339_nanos(table.window_start_ns),
        rfc3339_nanos(table.window_end_ns)
    );
    let windows = if options.merge {
        format!(" ({} windows merged)", table.windows)
    } else {
        String::new()
    };
    let sort = match table.counters {
        Counters::SuperSpread => "spread",
        _ => options.sort.name(),
    };
    let selected = table.selected.map_or_else(String::new, |selected| {
        match (options.query.group_by.is_some(), selected) {
            (true, 1) => ", 1 group".to_string(),
            (true, _) => format!(", {selected} groups"),
            (false, _) => format!(", {selected} matching --where"),
        }
    });
    let shown = table
        .shown_top
        .map_or_else(String::new, |top| format!(", top {top} by {sort}"));
    // A table of quiet windows only has no key fields to name.
    let schema = if table.schema.fields().next().is_some() {
        format!(" {}", table.schema)
    } else {
        String::new()
    };
    let flows = match table.counters {
        Counters::Exact => format!("{} flows", table.flows),
        Counters::Conversation => format!("{} conversations", table.flows),
        Counters::HeavyHitters => format!("heavy hitters (estimates): {} keys", table.flows),
        Counters::SuperSpread => format!("super-spreaders (estimates): {} keys", table.flows),
    };
    format!(
        "{span}{windows}  task {}{schema}: {flows}, {} packets, {} bytes{selected}{shown}\n",
        table.task, table.packets, table.bytes
    )
}

/// The counter columns a table shows: `flows` only when windows are
/// merged, `duration` and `rate` only when sorted by one of them.
fn table_counter_columns(table: &Table, options: &InspectOptions) -> Vec<&'static str> {
    counter_columns(table.counters)
        .iter()
        .copied()
        .filter(|&column| match column {
            "flows" => options.merge,
            "duration" | "rate" => matches!(options.sort, SortBy::Duration | SortBy::Rate),
            _ => true,
        })
        .collect()
}

/// A cell as the table shows it: names for protocols and ports unless
/// `numeric`, `other` for a key field of the row of refused keys.
fn table_text(column: &str, cell: &Cell, numeric: bool) -> String {
    let name = match (column, cell) {
        (_, _) if numeric => None,
        ("protocol", Cell::Number(number)) => u8::try_from(*number).ok().and_then(protocol_name),
        ("src_port" | "dst_port", Cell::Number(number)) => {
            u16::try_from(*number).ok().and_then(port_name)
        }
        _ => None,
    };
    if let Some(name) = name {
        return name.to_string();
    }
    match cell {
        Cell::Text(text) => text.clone(),
        Cell::Number(number) => number.to_string(),
        Cell::Seconds(ns) => seconds_text(*ns),
        Cell::Flag(flag) => if *flag { "yes" } else { "no" }.to_string(),
        Cell::Other => "other".to_string(),
        Cell::Missing => "-".to_string(),
    }
}

/// A header and rows, numbers right-aligned, text left-aligned, two spaces apart.
fn aligned(table: &Table, options: &InspectOptions) -> String {
    let mut header: Vec<&str> = table.schema.fields().map(KeyField::column_name).collect();
    header.extend(table_counter_columns(table, options));
    let rows: Vec<Vec<String>> = table
        .rows
        .iter()
        .map(|record| {
            let cells = row(table, record);
            header
                .iter()
                .map(
                    |&column| match cells.iter().find(|(name, _)| *name == column) {
                        Some((_, cell)) => table_text(column, cell, options.numeric),
                        None => String::new(),
                    },
                )
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|name| name.len()).collect();
    for row in &rows {
        for (width, text) in widths.iter_mut().zip(row) {
            *width = (*width).max(text.chars().count());
        }
    }
    let numeric: Vec<bool> = header
        .iter()
        .map(|name| !matches!(*name, "src_ip" | "dst_ip" | "first_seen" | "last_seen"))
        .collect();
    let line = |values: &[String]| -> String {
        let padded: Vec<String> = values
            .iter()
            .zip(widths.iter().zip(&numeric))
            .map(|(value, (&width, &right))| {
                if right {
                    format!("{value:>width$}")
                } else {
                    format!("{value:<width$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(
        &header
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>(),
    );
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::net::Ipv6Addr;
    use std::path::Path;

    use super::*;
    use crate::flow::{FlowKey, FlowRecord, FlowStats, Overflow};
    use crate::output::layout::SUMMARY_FILE;
    use crate::output::query::Query;
    use crate::output::window::tests::{PART, SEC, T0, TestTask, by_src, map, write_test_window};

    /// Two windows: `by_src` in both, `five` (mixed IPv4/IPv6) and `ports` in the first only.
    fn written_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let five = KeySchema::FIVE_TUPLE;
        let mut five_map = map(five, &[(7, 443, 2, 120)], T0);
        let v6 = FlowKey::ipv6(
            "2001:db8::1".parse().unwrap(),
            Ipv6Addr::LOCALHOST,
            5353,
            53,
            17,
        );
        five_map
            .merge_record(&FlowRecord {
                key: v6,
                stats: FlowStats {
                    packets: 2,
                    bytes: 90,
                    first_seen: T0 + 5,
                    last_seen: T0 + 6,
                },
            })
            .unwrap();
        let ports = KeySchema::from_fields(&[KeyField::DstPort]);
        let first = [
            TestTask {
                task: "five".into(),
                schema: five,
                shards: vec![five_map],
                overflow: Overflow::default(),
            },
            TestTask {
                task: "ports".into(),
                schema: ports,
                shards: vec![map(ports, &[(1, 443, 4, 400), (2, 80, 1, 50)], T0)],
                overflow: Overflow::default(),
            },
            TestTask {
                task: "by_src".into(),
                schema: by_src(),
                shards: vec![
                    map(by_src(), &[(1, 80, 5, 500), (2, 80, 2, 2000)], T0),
                    map(by_src(), &[(3, 80, 5, 100)], T0),
                ],
                overflow: Overflow::default(),
            },
        ];
        write_test_window(root.path(), T0, T0 + 60 * SEC, &first).unwrap();
        let second = [TestTask {
            task: "by_src".into(),
            schema: by_src(),
            shards: vec![
                map(by_src(), &[(1, 80, 1, 10)], T0 + 60 * SEC),
                map(by_src(), &[(4, 80, 3, 30)], T0 + 70 * SEC),
            ],
            overflow: Overflow::default(),
        }];
        write_test_window(root.path(), T0 + 60 * SEC, T0 + 120 * SEC, &second).unwrap();
        fs::create_dir(root.path().join(".tmp-2025-09-09T10-02-00Z-99")).unwrap();
        root
    }

    fn options(path: &Path) -> InspectOptions {
        InspectOptions {
            path: path.to_path_buf(),
            task: None,
            top: None,
            sort: SortBy::Packets,
            format: Format::Table,
            merge: false,
            numeric: false,
            query: Query::default(),
        }
    }

    #[track_caller]
    fn run(options: &InspectOptions) -> String {
        let mut out = Vec::new();
        inspect(options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lists_every_window_and_task_in_order_with_ordered_keys() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Json,
            ..options(root.path())
        });
        let want = [
            r#"{"task":"by_src","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.1","packets":5,"bytes":500,"flows":1,"duration":1,"rate":4000,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z","other":false}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.3","packets":5,"bytes":100,"flows":1,"duration":1,"rate":800,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z","other":false}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.2","packets":2,"bytes":2000,"flows":1,"duration":1,"rate":16000,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z","other":false}"#,
            r#"{"task":"five","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"10.0.0.7","dst_ip":"10.9.9.9","src_port":40000,"dst_port":443,"protocol":6,"protocol_name":"tcp","packets":2,"bytes":120,"flows":1,"duration":1,"rate":960,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z","other":false}"#,
            r#"{"task":"five","window_start":"2025-09-09T10:00:00.000000000Z","src_ip":"2001:db8::1","dst_ip":"::1","src_port":5353,"dst_port":53,"protocol":17,"protocol_name":"udp","packets":2,"bytes":90,"flows":1,"duration":0.000000001,"rate":720000000000,"first_seen":"2025-09-09T10:00:00.000000005Z","last_seen":"2025-09-09T10:00:00.000000006Z","other":false}"#,
            r#"{"task":"ports","window_start":"2025-09-09T10:00:00.000000000Z","dst_port":443,"packets":4,"bytes":400,"flows":1,"duration":1,"rate":3200,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z","other":false}"#,
            r#"{"task":"ports","window_start":"2025-09-09T10:00:00.000000000Z","dst_port":80,"packets":1,"bytes":50,"flows":1,"duration":1,"rate":400,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:00:01.000000000Z","other":false}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:01:00.000000000Z","src_ip":"10.0.0.4","packets":3,"bytes":30,"flows":1,"duration":1,"rate":240,"first_seen":"2025-09-09T10:01:10.000000000Z","last_seen":"2025-09-09T10:01:11.000000000Z","other":false}"#,
            r#"{"task":"by_src","window_start":"2025-09-09T10:01:00.000000000Z","src_ip":"10.0.0.1","packets":1,"bytes":10,"flows":1,"duration":1,"rate":80,"first_seen":"2025-09-09T10:01:00.000000000Z","last_seen":"2025-09-09T10:01:01.000000000Z","other":false}"#,
        ];
        assert_eq!(got.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn csv_has_one_header_with_the_union_of_key_fields() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            top: Some(1),
            ..options(root.path())
        });
        let want = "\
task,window_start,src_ip,dst_ip,src_port,dst_port,protocol,protocol_name,packets,bytes,flows,duration,rate,first_seen,last_seen,other
by_src,2025-09-09T10:00:00.000000000Z,10.0.0.1,,,,,,5,500,1,1,4000,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
five,2025-09-09T10:00:00.000000000Z,10.0.0.7,10.9.9.9,40000,443,6,tcp,2,120,1,1,960,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
ports,2025-09-09T10:00:00.000000000Z,,,,443,,,4,400,1,1,3200,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
by_src,2025-09-09T10:01:00.000000000Z,10.0.0.4,,,,,,3,30,1,1,240,2025-09-09T10:01:10.000000000Z,2025-09-09T10:01:11.000000000Z,false
";
        assert_eq!(got, want);
    }

    #[test]
    fn csv_for_one_task_has_only_its_fields() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            task: Some("ports".into()),
            ..options(root.path())
        });
        assert_eq!(
            got.lines().next(),
            Some(
                "task,window_start,dst_port,packets,bytes,flows,duration,rate,first_seen,last_seen,other"
            )
        );
        assert_eq!(got.lines().count(), 3);
    }

    #[test]
    fn table_shows_a_heading_with_totals_and_aligned_columns() {
        let root = written_root();
        let got = run(&InspectOptions {
            task: Some("by_src".into()),
            top: Some(2),
            ..options(root.path())
        });
        let want = "\
2025-09-09T10:00:00.000000000Z .. 2025-09-09T10:01:00.000000000Z  task by_src [SrcIP]: 3 flows, 12 packets, 2600 bytes, top 2 by packets
src_ip    packets  bytes  first_seen                      last_seen
10.0.0.1        5    500  2025-09-09T10:00:00.000000000Z  2025-09-09T10:00:01.000000000Z
10.0.0.3        5    100  2025-09-09T10:00:00.000000000Z  2025-09-09T10:00:01.000000000Z

2025-09-09T10:01:00.000000000Z .. 2025-09-09T10:02:00.000000000Z  task by_src [SrcIP]: 2 flows, 4 packets, 40 bytes
src_ip    packets  bytes  first_seen                      last_seen
10.0.0.4        3     30  2025-09-09T10:01:10.000000000Z  2025-09-09T10:01:11.000000000Z
10.0.0.1        1     10  2025-09-09T10:01:00.000000000Z  2025-09-09T10:01:01.000000000Z
";
        assert_eq!(got, want);
    }

    #[test]
    fn merge_sums_two_windows_into_one_table_per_task() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            merge: true,
            task: Some("by_src".into()),
            ..options(root.path())
        });
        let want = "\
task,src_ip,packets,bytes,flows,duration,rate,first_seen,last_seen,other
by_src,10.0.0.1,6,510,2,61,66,2025-09-09T10:00:00.000000000Z,2025-09-09T10:01:01.000000000Z,false
by_src,10.0.0.3,5,100,1,1,800,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
by_src,10.0.0.4,3,30,1,1,240,2025-09-09T10:01:10.000000000Z,2025-09-09T10:01:11.000000000Z,false
by_src,10.0.0.2,2,2000,1,1,16000,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
";
        assert_eq!(got, want);
        let table = run(&InspectOptions {
            merge: true,
            task: Some("by_src".into()),
            ..options(root.path())
        });
        let heading = "2025-09-09T10:00:00.000000000Z .. 2025-09-09T10:02:00.000000000Z (2 windows merged)  task by_src [SrcIP]: 4 flows, 16 packets, 2640 bytes";
        assert_eq!(table.lines().next(), Some(heading));
    }

    #[test]
    fn merged_json_has_no_window_start() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Json,
            merge: true,
            top: Some(1),
            ..options(root.path())
        });
        let first = got.lines().next().unwrap();
        assert!(
            first.starts_with(r#"{"task":"by_src","src_ip":"10.0.0.1","packets":6,"#),
            "{first}"
        );
        assert_eq!(got.lines().count(), 3);
    }

    #[test]
    fn sort_by_bytes_and_top_keep_the_heaviest_rows() {
        let root = written_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            merge: true,
            sort: SortBy::Bytes,
            top: Some(2),
            task: Some("by_src".into()),
            ..options(root.path())
        });
        let sources: Vec<&str> = got
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(sources, ["10.0.0.2", "10.0.0.1"]);
    }

    #[test]
    fn a_single_window_directory_can_be_inspected() {
        let root = written_root();
        let window = root.path().join("2025-09-09T10-01-00Z");
        let got = run(&InspectOptions {
            format: Format::Csv,
            ..options(&window)
        });
        assert_eq!(got.lines().count(), 3);
        assert!(got.lines().all(|line| !line.contains("10:00:00")), "{got}");
    }

    #[test]
    fn an_unknown_task_is_an_error_listing_the_tasks_present() {
        let root = written_root();
        let mut out = Vec::new();
        let err = inspect(
            &InspectOptions {
                task: Some("by_dst".into()),
                ..options(root.path())
            },
            &mut out,
        )
        .unwrap_err();
        let want = format!(
            "{}: no task \"by_dst\"; tasks present: by_src, five, ports",
            root.path().display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn a_directory_without_snapshots_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join(".tmp-2025-09-09T10-00-00Z-7")).unwrap();
        fs::create_dir(root.path().join("2025-09-09T10-00-00Z")).unwrap();
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        let want = format!(
            "{}: no snapshots found (want a window directory like 2025-09-09T10-00-00Z, or a directory of them)",
            root.path().display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn a_missing_shard_file_is_an_error_naming_it() {
        let root = written_root();
        let shard = root
            .path()
            .join("2025-09-09T10-00-00Z")
            .join(PART)
            .join("by_src")
            .join("shard_1.dat");
        fs::remove_file(&shard).unwrap();
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: cannot open", shard.display()));
    }

    /// Replaces `from` by `to` in a task's summary.json, as a damaged file would.
    fn edit_summary(task_dir: &Path, from: &str, to: &str) {
        let path = task_dir.join(SUMMARY_FILE);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{text}");
        fs::write(&path, text.replace(from, to)).unwrap();
    }

    #[test]
    fn a_summary_that_disagrees_with_the_shards_is_an_error() {
        let root = written_root();
        let task_dir = root
            .path()
            .join("2025-09-09T10-00-00Z")
            .join(PART)
            .join("ports");
        edit_summary(&task_dir, "\"total_packets\": 5", "\"total_packets\": 6");
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        let want = format!(
            "{}: summary says 6 packets and 450 bytes, shard files and overflow hold 5 and 450",
            task_dir.display()
        );
        assert_eq!(err.to_string(), want);
    }

    /// Two windows of `by_src`, each with keys and an overflow of refused keys.
    fn flooded_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (minute, other_packets) in [(0, 4), (1, 1)] {
            let start = T0 + minute * 60 * SEC;
            let tasks = [TestTask {
                task: "by_src".into(),
                schema: by_src(),
                shards: vec![map(by_src(), &[(1, 80, 5, 500), (2, 80, 2, 20)], start)],
                overflow: Overflow {
                    stats: FlowStats {
                        packets: other_packets,
                        bytes: 1000,
                        first_seen: start + 3,
                        last_seen: start + 4,
                    },
                    keys_refused: other_packets,
                },
            }];
            write_test_window(root.path(), start, start + 60 * SEC, &tasks).unwrap();
        }
        root
    }

    #[test]
    fn refused_keys_show_as_one_other_row_sorted_like_any_row() {
        let root = flooded_root();
        let got = run(&InspectOptions {
            format: Format::Csv,
            ..options(root.path())
        });
        let want = "\
task,window_start,src_ip,packets,bytes,flows,duration,rate,first_seen,last_seen,other
by_src,2025-09-09T10:00:00.000000000Z,10.0.0.1,5,500,1,1,4000,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
by_src,2025-09-09T10:00:00.000000000Z,,4,1000,1,0.000000001,8000000000000,2025-09-09T10:00:00.000000003Z,2025-09-09T10:00:00.000000004Z,true
by_src,2025-09-09T10:00:00.000000000Z,10.0.0.2,2,20,1,1,160,2025-09-09T10:00:00.000000000Z,2025-09-09T10:00:01.000000000Z,false
by_src,2025-09-09T10:01:00.000000000Z,10.0.0.1,5,500,1,1,4000,2025-09-09T10:01:00.000000000Z,2025-09-09T10:01:01.000000000Z,false
by_src,2025-09-09T10:01:00.000000000Z,10.0.0.2,2,20,1,1,160,2025-09-09T10:01:00.000000000Z,2025-09-09T10:01:01.000000000Z,false
by_src,2025-09-09T10:01:00.000000000Z,,1,1000,1,0.000000001,8000000000000,2025-09-09T10:01:00.000000003Z,2025-09-09T10:01:00.000000004Z,true
";
        assert_eq!(got, want);
        let table = run(&options(&root.path().join("2025-09-09T10-00-00Z")));
        assert!(
            table.starts_with("2025-09-09T10:00:00.000000000Z .. 2025-09-09T10:01:00.000000000Z  task by_src [SrcIP]: 2 flows, 11 packets, 1520 bytes\n"),
            "{table}"
        );
        assert!(table.contains("\nother           4   1000  "), "{table}");
    }

    #[test]
    fn merge_sums_the_other_rows_and_top_never_hides_them() {
        let root = flooded_root();
        let got = run(&InspectOptions {
            format: Format::Json,
            merge: true,
            top: Some(1),
            ..options(root.path())
        });
        let want = [
            r#"{"task":"by_src","src_ip":"10.0.0.1","packets":10,"bytes":1000,"flows":2,"duration":61,"rate":131,"first_seen":"2025-09-09T10:00:00.000000000Z","last_seen":"2025-09-09T10:01:01.000000000Z","other":false}"#,
            r#"{"task":"by_src","src_ip":null,"packets":5,"bytes":2000,"flows":2,"duration":60.000000001,"rate":266,"first_seen":"2025-09-09T10:00:00.000000003Z","last_seen":"2025-09-09T10:01:00.000000004Z","other":true}"#,
        ];
        assert_eq!(got.lines().collect::<Vec<_>>(), want);
    }

    #[test]
    fn a_summary_whose_totals_leave_out_the_overflow_is_an_error() {
        let root = flooded_root();
        let task_dir = root
            .path()
            .join("2025-09-09T10-01-00Z")
            .join(PART)
            .join("by_src");
        edit_summary(&task_dir, "\"total_packets\": 8", "\"total_packets\": 7");
        let err = inspect(&options(root.path()), &mut Vec::new()).unwrap_err();
        let want = format!(
            "{}: summary says 7 packets and 1520 bytes, shard files and overflow hold 8 and 1520",
            task_dir.display()
        );
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn sort_and_format_names_parse_and_unknown_ones_are_explained() {
        assert_eq!("Bytes".parse(), Ok(SortBy::Bytes));
        assert_eq!("csv".parse(), Ok(Format::Csv));
        assert_eq!("first_SEEN".parse(), Ok(SortBy::FirstSeen));
        assert_eq!(
            "spread".parse::<SortBy>(),
            Err(
                "unknown sort \"spread\" (want packets, bytes, flows, duration, first_seen or rate)"
                    .to_string()
            )
        );
        assert_eq!(
            "xml".parse::<Format>(),
            Err("unknown format \"xml\" (want table, json or csv)".to_string())
        );
    }

    #[test]
    fn csv_quotes_values_with_commas_and_quotes() {
        assert_eq!(csv_quote("a,b"), "\"a,b\"");
        assert_eq!(csv_quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_quote("plain"), "plain");
    }
}
