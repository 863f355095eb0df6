//! One stored row as the user sees it: the key fields of its task (with
//! the protocol's name after its number) and its counters, in a fixed
//! column order, and whether it is the row of refused keys (`other`).
//! `inspect` renders these cells as text, CSV or JSON lines; the HTTP API
//! answers with the same JSON objects. Nothing here reads files or decides
//! what is shown.

use crate::flow::{AddressFamily, KeyField};

use super::inspect::{Counters, Row, Table};
use super::layout::rfc3339_nanos;
use super::names::protocol_name;

/// One value of a row.
pub enum Cell {
    Text(String),
    Number(u64),
    /// A span in nanoseconds, written in seconds (`1.5`).
    Seconds(u64),
    /// `estimated`: true on every row of a sketch task; `other`.
    Flag(bool),
    /// A key field of the row of refused keys: `other` in tables, null in
    /// JSON, empty in CSV.
    Other,
    /// No value: an unknown protocol's name, or an address field of a key
    /// without an address (should not occur in files we write).
    Missing,
}

/// The column after the `protocol` key field.
pub const PROTOCOL_NAME: &str = "protocol_name";

/// The last column of every row: whether it is the row of refused keys.
pub const OTHER: &str = "other";

/// The counter columns of a table, after its key fields.
pub fn counter_columns(counters: Counters) -> &'static [&'static str] {
    match counters {
        Counters::Exact => &[
            "packets",
            "bytes",
            "flows",
            "duration",
            "rate",
            "first_seen",
            "last_seen",
        ],
        Counters::Conversation => &[
            "packets",
            "bytes",
            "packets_ab",
            "bytes_ab",
            "packets_ba",
            "bytes_ba",
            "flows",
            "duration",
            "rate",
            "first_seen",
            "last_seen",
        ],
        Counters::HeavyHitters => &["packets", "bytes", "estimated"],
        Counters::SuperSpread => &["spread", "estimated"],
    }
}

/// The per-direction columns of a conversation table, in order.
pub const DIRECTION_COLUMNS: [&str; 4] = ["packets_ab", "bytes_ab", "packets_ba", "bytes_ba"];

/// The key fields of the table's schema (`protocol` followed by its name),
/// its counters, then `other`, as (column, value). An address cut to a
/// prefix reads as a network: `10.1.2.0/24`.
pub fn row(table: &Table, row: &Row) -> Vec<(&'static str, Cell)> {
    let schema = table.schema;
    let address = |field: KeyField, ip: Option<std::net::IpAddr>, family: AddressFamily| {
        ip.map_or(Cell::Missing, |ip| {
            Cell::Text(match schema.prefix(field).masking(family) {
                Some(length) => format!("{ip}/{length}"),
                None => ip.to_string(),
            })
        })
    };
    let mut cells: Vec<(&'static str, Cell)> = Vec::new();
    for field in schema.fields() {
        let Some(key) = &row.key else {
            cells.push((field.column_name(), Cell::Other));
            if field == KeyField::Protocol {
                cells.push((PROTOCOL_NAME, Cell::Missing));
            }
            continue;
        };
        let cell = match field {
            KeyField::SrcIp => address(field, key.src_ip(), key.family),
            KeyField::DstIp => address(field, key.dst_ip(), key.family),
            KeyField::SrcPort => Cell::Number(u64::from(key.src_port)),
            KeyField::DstPort => Cell::Number(u64::from(key.dst_port)),
            KeyField::Protocol => Cell::Number(u64::from(key.protocol)),
        };
        cells.push((field.column_name(), cell));
        if field == KeyField::Protocol {
            let name = protocol_name(key.protocol);
            cells.push((
                PROTOCOL_NAME,
                name.map_or(Cell::Missing, |name| Cell::Text(name.into())),
            ));
        }
    }
    let stats = &row.stats;
    let directed = row.directed.unwrap_or_default();
    cells.extend(counter_columns(table.counters).iter().map(|&column| {
        let cell = match column {
            "packets" => Cell::Number(stats.packets),
            "packets_ab" => Cell::Number(directed.packets_ab),
            "bytes_ab" => Cell::Number(directed.bytes_ab),
            "packets_ba" => Cell::Number(directed.packets_ba),
            "bytes_ba" => Cell::Number(directed.bytes_ba),
            "bytes" => Cell::Number(stats.bytes),
            "flows" => Cell::Number(row.flows),
            "duration" => Cell::Seconds(row.duration_ns()),
            "rate" => Cell::Number(row.rate_bps()),
            "first_seen" => Cell::Text(rfc3339_nanos(stats.first_seen)),
            "last_seen" => Cell::Text(rfc3339_nanos(stats.last_seen)),
            "spread" => Cell::Number(row.spread.unwrap_or(0)),
            _ => Cell::Flag(true),
        };
        (column, cell)
    }));
    cells.push((OTHER, Cell::Flag(row.key.is_none())));
    cells
}

/// One output row: the task, the window (unless merged), then `row`'s cells.
pub fn labelled_row(table: &Table, record: &Row, merge: bool) -> Vec<(&'static str, Cell)> {
    let mut cells = vec![("task", Cell::Text(table.task.clone()))];
    if !merge {
        cells.push((
            "window_start",
            Cell::Text(rfc3339_nanos(table.window_start_ns)),
        ));
    }
    cells.extend(row(table, record));
    cells
}

/// `ns` in seconds, as few digits as exact: `2`, `1.5`, `0.000000005`.
pub fn seconds_text(ns: u64) -> String {
    let (seconds, fraction) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if fraction == 0 {
        return seconds.to_string();
    }
    let digits = format!("{fraction:09}");
    format!("{seconds}.{}", digits.trim_end_matches('0'))
}

/// One row as a JSON object with its columns in order: `task`, the
/// window start (unless merged), the key fields, the counters, `other`.
pub fn json_object(table: &Table, record: &Row, merge: bool) -> String {
    let fields: Vec<String> = labelled_row(table, record, merge)
        .iter()
        .map(|(column, cell)| {
            let value = match cell {
                Cell::Text(text) => serde_json::Value::from(text.as_str()).to_string(),
                Cell::Number(number) => number.to_string(),
                // A JSON number literal, exact to the nanosecond.
                Cell::Seconds(ns) => seconds_text(*ns),
                Cell::Flag(flag) => flag.to_string(),
                Cell::Other | Cell::Missing => "null".to_string(),
            };
            format!("\"{column}\":{value}")
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_exactly_with_no_trailing_zeros() {
        assert_eq!(seconds_text(0), "0");
        assert_eq!(seconds_text(2_000_000_000), "2");
        assert_eq!(seconds_text(1_500_000_000), "1.5");
        assert_eq!(seconds_text(5), "0.000000005");
    }
}
