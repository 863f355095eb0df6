//! `analyze --top N`: each task's largest keys over the whole run, as an
//! aligned table after the summary, or as the `top` value of the `--json`
//! summary (`{task: [{key fields..., packets, bytes}]}`).

use std::io::Write;

use crate::flow::{FlowKey, FlowRecord, KeyField};
use crate::output::TaskTop;

/// One table per task: its key columns, then packets and bytes.
pub fn print_table(out: &mut impl Write, tops: &[TaskTop]) -> std::io::Result<()> {
    for top in tops {
        let fields: Vec<KeyField> = top.schema.fields().collect();
        let rows: Vec<Vec<String>> = top.rows.iter().map(|row| row_cells(&fields, row)).collect();
        let mut header: Vec<String> = fields
            .iter()
            .map(|field| field.column_name().to_string())
            .collect();
        header.extend(["packets".to_string(), "bytes".to_string()]);
        let widths: Vec<usize> = (0..header.len())
            .map(|column| {
                rows.iter()
                    .chain(std::iter::once(&header))
                    .map(|cells| cells[column].len())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let noun = if top.rows.len() == 1 { "key" } else { "keys" };
        writeln!(
            out,
            "top {} {noun} of {} (by packets)",
            top.rows.len(),
            top.task
        )?;
        for cells in std::iter::once(&header).chain(&rows) {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, width))| {
                    if column < fields.len() {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            writeln!(out, "  {}", line.join("  ").trim_end())?;
        }
    }
    Ok(())
}

/// `{task: [{field: value, ..., "packets": n, "bytes": n}]}`, rows largest first.
pub fn json(tops: &[TaskTop]) -> serde_json::Value {
    let tasks: serde_json::Map<String, serde_json::Value> = tops
        .iter()
        .map(|top| {
            let rows = top
                .rows
                .iter()
                .map(|row| {
                    let mut object = serde_json::Map::new();
                    for field in top.schema.fields() {
                        object.insert(field.column_name().to_string(), field_json(field, &row.key));
                    }
                    object.insert("packets".to_string(), row.stats.packets.into());
                    object.insert("bytes".to_string(), row.stats.bytes.into());
                    serde_json::Value::Object(object)
                })
                .collect();
            (top.task.clone(), serde_json::Value::Array(rows))
        })
        .collect();
    serde_json::Value::Object(tasks)
}

fn row_cells(fields: &[KeyField], row: &FlowRecord) -> Vec<String> {
    let mut cells: Vec<String> = fields
        .iter()
        .map(|field| match field_json(*field, &row.key) {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        })
        .collect();
    cells.push(row.stats.packets.to_string());
    cells.push(row.stats.bytes.to_string());
    cells
}

/// A key field's value: an address as text (null when the key has none),
/// a port or protocol as a number.
fn field_json(field: KeyField, key: &FlowKey) -> serde_json::Value {
    let address = |ip: Option<std::net::IpAddr>| {
        ip.map_or(serde_json::Value::Null, |ip| ip.to_string().into())
    };
    match field {
        KeyField::SrcIp => address(key.src_ip()),
        KeyField::DstIp => address(key.dst_ip()),
        KeyField::SrcPort => key.src_port.into(),
        KeyField::DstPort => key.dst_port.into(),
        KeyField::Protocol => key.protocol.into(),
    }
}
