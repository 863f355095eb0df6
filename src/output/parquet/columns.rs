//! The Parquet tables' columns (documented in docs/parquet.md) and the
//! turning of a window's rows into Arrow record batches.
//!
//! Two tables: `flows`, one row per key (and one `other` row for the keys
//! refused by `max_keys`) per task and window; `windows`, one row per task
//! and window with its totals and, live, libpcap's counters. Owns no file:
//! it only builds batches. Times are nanoseconds since the epoch, UTC; a
//! time past 2262-04-11 (the last instant an `i64` of nanoseconds holds,
//! which Parquet's nanosecond timestamps are) is an error, never wrapped.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, StringBuilder, TimestampNanosecondBuilder, UInt8Builder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::{
    ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array, new_null_array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::capture::RunMode;
use crate::flow::{Estimated, FlowKey, FlowStats, KeyField, KeySchema};
use crate::output::writer::{ClosedWindow, TaskWindow};

/// The time zone of every timestamp column.
const UTC: &str = "UTC";

/// A timestamp column: nanoseconds, UTC.
fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into()))
}

/// The `flows` table: one row per key, or per task's refused keys.
pub fn flows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("window_start", timestamp(), false),
        Field::new("window_end", timestamp(), false),
        Field::new("probe", DataType::Utf8, false),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("dst_ip", DataType::Utf8, true),
        Field::new("src_port", DataType::UInt16, true),
        Field::new("dst_port", DataType::UInt16, true),
        Field::new("protocol", DataType::UInt8, true),
        Field::new("packets", DataType::UInt64, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("first_seen", timestamp(), true),
        Field::new("last_seen", timestamp(), true),
        Field::new("other", DataType::Boolean, false),
        Field::new("spread", DataType::UInt64, true),
        Field::new("estimated", DataType::Boolean, false),
    ]))
}

/// The `windows` table: one row per task and window.
pub fn windows_schema() -> SchemaRef {
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    let counter = |name: &str| Field::new(name, DataType::UInt64, true);
    Arc::new(Schema::new(vec![
        Field::new("window_start", timestamp(), false),
        Field::new("window_end", timestamp(), false),
        Field::new("probe", DataType::Utf8, false),
        Field::new("task", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        count("flows"),
        count("packets"),
        count("bytes"),
        count("other_packets"),
        count("other_bytes"),
        count("other_keys"),
        counter("pcap_received"),
        counter("pcap_dropped"),
        counter("pcap_if_dropped"),
    ]))
}

/// Why a batch could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(
        "{what} {ns} ns is past 2262-04-11, the last instant a Parquet nanosecond timestamp holds"
    )]
    Timestamp { what: &'static str, ns: u64 },
    #[error("cannot build an Arrow batch")]
    Arrow(#[from] ArrowError),
    #[error("cannot merge the task's sketch parts: {0}")]
    Merge(String),
}

/// `ns` as a timestamp value, or why not.
pub fn nanos(what: &'static str, ns: u64) -> Result<i64, BatchError> {
    i64::try_from(ns).map_err(|_| BatchError::Timestamp { what, ns })
}

/// One row of `flows`: a key and its counters, or (`key: None`) the
/// task's refused keys, with null key fields and `other = true`; or a
/// sketch's estimates for a key (`estimated = true`: estimated packets and
/// bytes of a heavy hitter, or a super-spreader's `spread`, the other
/// counters null).
#[derive(Debug, Clone, Copy)]
pub struct FlowRow {
    pub key: Option<FlowKey>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// First and last seen; exact rows only.
    pub seen: Option<(u64, u64)>,
    pub spread: Option<u64>,
    pub estimated: bool,
}

impl FlowRow {
    /// An exact row: `key`'s counters, or with `None` the refused keys'.
    pub fn exact(key: Option<FlowKey>, stats: FlowStats) -> FlowRow {
        FlowRow {
            key,
            packets: Some(stats.packets),
            bytes: Some(stats.bytes),
            seen: Some((stats.first_seen, stats.last_seen)),
            spread: None,
            estimated: false,
        }
    }

    /// A sketch's row.
    pub fn estimated(estimate: &Estimated) -> FlowRow {
        FlowRow {
            key: Some(estimate.key),
            packets: estimate.packets,
            bytes: estimate.bytes,
            seen: None,
            spread: estimate.spread,
            estimated: true,
        }
    }
}

/// What every row of one task's file shares.
pub struct FlowFile<'a> {
    /// [`flows_schema`], built once per writer.
    pub schema: SchemaRef,
    /// The fields the task keys on; the other key columns are null.
    pub key: KeySchema,
    /// Nanoseconds since the epoch.
    pub window_start: i64,
    pub window_end: i64,
    pub probe: &'a str,
}

impl FlowFile<'_> {
    /// One batch of `rows`, with null in every key field the task does not key on.
    pub fn batch(&self, rows: &[FlowRow]) -> Result<RecordBatch, BatchError> {
        let n = rows.len();
        let mut packets = UInt64Builder::with_capacity(n);
        let mut bytes = UInt64Builder::with_capacity(n);
        let mut first_seen = TimestampNanosecondBuilder::with_capacity(n).with_timezone(UTC);
        let mut last_seen = TimestampNanosecondBuilder::with_capacity(n).with_timezone(UTC);
        let mut other = BooleanBuilder::with_capacity(n);
        let mut spread = UInt64Builder::with_capacity(n);
        let mut estimated = BooleanBuilder::with_capacity(n);
        for row in rows {
            packets.append_option(row.packets);
            bytes.append_option(row.bytes);
            match row.seen {
                Some((first, last)) => {
                    first_seen.append_value(nanos("first_seen", first)?);
                    last_seen.append_value(nanos("last_seen", last)?);
                }
                None => {
                    first_seen.append_null();
                    last_seen.append_null();
                }
            }
            other.append_value(row.key.is_none());
            spread.append_option(row.spread);
            estimated.append_value(row.estimated);
        }
        let columns: Vec<ArrayRef> = vec![
            constant_time(self.window_start, n),
            constant_time(self.window_end, n),
            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                self.probe, n,
            ))),
            self.address(rows, KeyField::SrcIp, FlowKey::src_ip),
            self.address(rows, KeyField::DstIp, FlowKey::dst_ip),
            self.port(rows, KeyField::SrcPort, |key| key.src_port),
            self.port(rows, KeyField::DstPort, |key| key.dst_port),
            self.protocol(rows),
            Arc::new(packets.finish()),
            Arc::new(bytes.finish()),
            Arc::new(first_seen.finish()),
            Arc::new(last_seen.finish()),
            Arc::new(other.finish()),
            Arc::new(spread.finish()),
            Arc::new(estimated.finish()),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// An address column in canonical text form (`10.0.0.1`, `2001:db8::1`).
    fn address(
        &self,
        rows: &[FlowRow],
        field: KeyField,
        address: fn(&FlowKey) -> Option<std::net::IpAddr>,
    ) -> ArrayRef {
        if !self.key.contains(field) {
            return new_null_array(&DataType::Utf8, rows.len());
        }
        let mut column = StringBuilder::with_capacity(rows.len(), rows.len() * 12);
        for row in rows {
            match row.key.as_ref().and_then(address) {
                Some(ip) => {
                    // Formats straight into the column's buffer: no String per row.
                    write!(column, "{ip}").expect("a string builder takes any text");
                    column.append_value("");
                }
                None => column.append_null(),
            }
        }
        Arc::new(column.finish())
    }

    fn port(&self, rows: &[FlowRow], field: KeyField, port: fn(&FlowKey) -> u16) -> ArrayRef {
        if !self.key.contains(field) {
            return new_null_array(&DataType::UInt16, rows.len());
        }
        let mut column = UInt16Builder::with_capacity(rows.len());
        for row in rows {
            column.append_option(row.key.as_ref().map(port));
        }
        Arc::new(column.finish())
    }

    fn protocol(&self, rows: &[FlowRow]) -> ArrayRef {
        if !self.key.contains(KeyField::Protocol) {
            return new_null_array(&DataType::UInt8, rows.len());
        }
        let mut column = UInt8Builder::with_capacity(rows.len());
        for row in rows {
            column.append_option(row.key.as_ref().map(|key| key.protocol));
        }
        Arc::new(column.finish())
    }
}

/// `n` copies of one timestamp.
fn constant_time(ns: i64, n: usize) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from_value(ns, n).with_timezone(UTC))
}

/// The `windows` rows of `window`, one per task in config order. Offline
/// runs have no capture counters: those columns are null.
pub fn windows_batch(
    schema: SchemaRef,
    window: &ClosedWindow,
    probe: &str,
) -> Result<RecordBatch, BatchError> {
    let tasks = &window.tasks;
    let n = tasks.len();
    let live = window.mode == RunMode::Live;
    let mode = match window.mode {
        RunMode::Live => "live",
        RunMode::Offline => "offline",
    };
    let text = |values: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let count = |value: &dyn Fn(&TaskWindow) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(tasks.iter().map(value)))
    };
    let counter = |value: u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter(std::iter::repeat_n(
            live.then_some(value),
            n,
        )))
    };
    let columns: Vec<ArrayRef> = vec![
        constant_time(nanos("window start", window.bounds.start_ns)?, n),
        constant_time(nanos("window end", window.bounds.end_ns)?, n),
        text(vec![probe; n]),
        text(tasks.iter().map(|task| task.spec.name.as_str()).collect()),
        text(
            tasks
                .iter()
                .map(|task| {
                    task.parts
                        .first()
                        .map_or(task.spec.kind.name(), |part| part.kind())
                })
                .collect(),
        ),
        text(vec![mode; n]),
        count(&|task| task.totals().records),
        count(&|task| task.totals().packets),
        count(&|task| task.totals().bytes),
        count(&|task| task.overflow().stats.packets),
        count(&|task| task.overflow().stats.bytes),
        count(&|task| task.overflow().keys_refused),
        counter(window.capture.received),
        counter(window.capture.dropped),
        counter(window.capture.if_dropped),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
