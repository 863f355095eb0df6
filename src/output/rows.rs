//! One stored row as the user sees it: the key fields of its task (each
//! `other` for the row of refused keys) and its counters, in a fixed
//! column order. `inspect` renders these cells as text, CSV or JSON lines;
//! the HTTP API answers with the same JSON objects. Nothing here reads
//! files or decides what is shown.

use crate::flow::{AddressFamily, KeyField};

use super::inspect::{Counters, Row, Table};
use super::layout::rfc3339_nanos;

/// What the key columns of the overflow row read.
const OTHER: &str = "other";

/// One value of a row.
pub enum Cell {
    Text(String),
    Number(u64),
    /// `estimated`: true on every row of a sketch task.
    Flag(bool),
    /// An address field of a key without an address (should not occur in files we write).
    Missing,
}

/// The counter columns of a table, after its key fields.
pub fn counter_columns(counters: Counters) -> &'static [&'static str] {
    match counters {
        Counters::Exact => &["packets", "bytes", "first_seen", "last_seen"],
        Counters::Conversation => &[
            "packets",
            "bytes",
            "packets_ab",
            "bytes_ab",
            "packets_ba",
            "bytes_ba",
            "first_seen",
            "last_seen",
        ],
        Counters::HeavyHitters => &["packets", "bytes", "estimated"],
        Counters::SuperSpread => &["spread", "estimated"],
    }
}

/// The per-direction columns of a conversation table, in order.
pub const DIRECTION_COLUMNS: [&str; 4] = ["packets_ab", "bytes_ab", "packets_ba", "bytes_ba"];

/// The key fields of the table's schema (each `other` for the overflow
/// row) followed by its counters, as (column, value). An address cut to a
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
    let mut cells: Vec<(&'static str, Cell)> = schema
        .fields()
        .map(|field| {
            let Some(key) = &row.key else {
                return (field.column_name(), Cell::Text(OTHER.to_string()));
            };
            let cell = match field {
                KeyField::SrcIp => address(field, key.src_ip(), key.family),
                KeyField::DstIp => address(field, key.dst_ip(), key.family),
                KeyField::SrcPort => Cell::Number(u64::from(key.src_port)),
                KeyField::DstPort => Cell::Number(u64::from(key.dst_port)),
                KeyField::Protocol => Cell::Number(u64::from(key.protocol)),
            };
            (field.column_name(), cell)
        })
        .collect();
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
            "first_seen" => Cell::Text(rfc3339_nanos(stats.first_seen)),
            "last_seen" => Cell::Text(rfc3339_nanos(stats.last_seen)),
            "spread" => Cell::Number(row.spread.unwrap_or(0)),
            _ => Cell::Flag(true),
        };
        (column, cell)
    }));
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

/// One row as a JSON object with its columns in order: `task`, the
/// window start (unless merged), the key fields, then the counters.
pub fn json_object(table: &Table, record: &Row, merge: bool) -> String {
    let fields: Vec<String> = labelled_row(table, record, merge)
        .iter()
        .map(|(column, cell)| {
            let value = match cell {
                Cell::Text(text) => serde_json::Value::from(text.as_str()),
                Cell::Number(number) => serde_json::Value::from(*number),
                Cell::Flag(flag) => serde_json::Value::from(*flag),
                Cell::Missing => serde_json::Value::Null,
            };
            format!("\"{column}\":{value}")
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}
