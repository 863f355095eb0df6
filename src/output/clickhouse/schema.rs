//! The ClickHouse schema (documented in docs/clickhouse.md) and the
//! encoding of a window into its rows, in RowBinary.
//!
//! SQL here runs on ClickHouse 18.16 and on current releases: no IPv6,
//! DateTime64, TTL or CODEC types; addresses are `FixedString(16)` with
//! IPv4 mapped (`::ffff:a.b.c.d`), times in windows are `DateTime('UTC')`
//! (windows are whole seconds), packet times are nanoseconds in `UInt64`.
//!
//! Owns no connection: it turns names and windows into statements and bytes.

use crate::capture::RunMode;
use crate::flow::{AddressFamily, FlowKey, FlowStats};
use crate::output::writer::{ClosedWindow, TaskWindow};

use super::client::{ClickHouseError, quote, quote_identifier};

/// Flow rows per INSERT: bounds the request size (about 110 bytes a row).
pub const ROWS_PER_INSERT: usize = 100_000;

/// The key shared by every row of one probe's run's window: what a retry
/// checks and, if need be, deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowKey {
    pub probe: String,
    /// [`crate::output::run::RunId`] in hex.
    pub run: String,
    /// Seconds since the Unix epoch.
    pub start: u32,
}

impl WindowKey {
    /// The key of `window` as stored by `probe`.
    pub fn of(window: &ClosedWindow, probe: &str) -> Result<WindowKey, ClickHouseError> {
        Ok(WindowKey {
            probe: probe.to_string(),
            run: window.run.to_string(),
            start: seconds("window start", window.bounds.start_ns)?,
        })
    }

    /// A `WHERE` condition selecting exactly this key's rows.
    pub fn condition(&self) -> String {
        format!(
            "probe = {} AND run = {} AND window_start = toDateTime({})",
            quote(&self.probe),
            quote(&self.run),
            self.start
        )
    }
}

/// What one window's summary row says about one task; the commit marker of
/// the window's flow rows, compared on a retry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Marker {
    pub task: String,
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl Marker {
    /// The markers `window` must leave, one per task, sorted by task.
    pub fn expected(window: &ClosedWindow) -> Vec<Marker> {
        let mut markers: Vec<Marker> = window
            .tasks
            .iter()
            .map(|task| {
                let totals = task.totals();
                Marker {
                    task: task.spec.name.clone(),
                    flows: totals.records,
                    packets: totals.packets,
                    bytes: totals.bytes,
                }
            })
            .collect();
        markers.sort();
        markers
    }
}

/// The tables and view of one database, as statements.
pub struct Tables {
    database: String,
}

const FLOW_COLUMNS: &str = "window_start, window_end, probe, run, attempt, task, family, \
    src_ip, dst_ip, src_port, dst_port, protocol, is_other, packets, bytes, \
    first_seen_ns, last_seen_ns";

const SPREAD_COLUMNS: &str = "window_start, window_end, probe, run, attempt, task, family, \
    src_ip, dst_ip, src_port, dst_port, protocol, spread";

const WINDOW_COLUMNS: &str = "window_start, window_end, probe, run, attempt, task, mode, \
    flows, packets, bytes, other_packets, other_bytes, other_keys, \
    pcap_received, pcap_dropped, pcap_if_dropped, written_at";

impl Tables {
    pub fn new(database: &str) -> Tables {
        Tables {
            database: database.to_string(),
        }
    }

    /// The database's name, unquoted.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// `db`.`flows`: one row per key per task, window, probe and attempt.
    pub fn flows(&self) -> String {
        format!("{}.`flows`", quote_identifier(&self.database))
    }

    /// `db`.`windows`: one summary row per task, window, probe and attempt.
    pub fn windows(&self) -> String {
        format!("{}.`windows`", quote_identifier(&self.database))
    }

    /// `db`.`spreads`: one row per key a super-spreader task reports, per
    /// window, probe and attempt.
    pub fn spreads(&self) -> String {
        format!("{}.`spreads`", quote_identifier(&self.database))
    }

    /// The statements creating whatever is absent, in order.
    pub fn create_statements(&self) -> Vec<String> {
        let (flows, windows, spreads) = (self.flows(), self.windows(), self.spreads());
        let database = quote_identifier(&self.database);
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {flows} (
    window_start DateTime('UTC'), window_end DateTime('UTC'),
    probe String, run String, attempt UInt64, task String,
    family UInt8, src_ip FixedString(16), dst_ip FixedString(16),
    src_port UInt16, dst_port UInt16, protocol UInt8, is_other UInt8,
    packets UInt64, bytes UInt64, first_seen_ns UInt64, last_seen_ns UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (task, window_start, src_ip, dst_ip, src_port, dst_port, protocol)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {windows} (
    window_start DateTime('UTC'), window_end DateTime('UTC'),
    probe String, run String, attempt UInt64, task String, mode String,
    flows UInt64, packets UInt64, bytes UInt64,
    other_packets UInt64, other_bytes UInt64, other_keys UInt64,
    pcap_received UInt64, pcap_dropped UInt64, pcap_if_dropped UInt64,
    written_at DateTime('UTC')
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (task, window_start, probe)"
            ),
            format!(
                "CREATE VIEW IF NOT EXISTS {database}.`committed_flows` AS
SELECT * FROM {flows}
WHERE (probe, run, window_start, task, attempt) IN
    (SELECT probe, run, window_start, task, attempt FROM {windows})"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {spreads} (
    window_start DateTime('UTC'), window_end DateTime('UTC'),
    probe String, run String, attempt UInt64, task String,
    family UInt8, src_ip FixedString(16), dst_ip FixedString(16),
    src_port UInt16, dst_port UInt16, protocol UInt8, spread UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(window_start)
ORDER BY (task, window_start, src_ip, dst_ip, src_port, dst_port, protocol)"
            ),
            format!(
                "CREATE VIEW IF NOT EXISTS {database}.`committed_spreads` AS
SELECT * FROM {spreads}
WHERE (probe, run, window_start, task, attempt) IN
    (SELECT probe, run, window_start, task, attempt FROM {windows})"
            ),
        ]
    }

    pub fn insert_flows(&self) -> String {
        format!(
            "INSERT INTO {} ({FLOW_COLUMNS}) FORMAT RowBinary",
            self.flows()
        )
    }

    pub fn insert_spreads(&self) -> String {
        format!(
            "INSERT INTO {} ({SPREAD_COLUMNS}) FORMAT RowBinary",
            self.spreads()
        )
    }

    pub fn insert_windows(&self) -> String {
        format!(
            "INSERT INTO {} ({WINDOW_COLUMNS}) FORMAT RowBinary",
            self.windows()
        )
    }

    /// The committed markers of `key`, as `attempt\ttask\tflows\tpackets\tbytes` lines.
    pub fn select_markers(&self, key: &WindowKey) -> String {
        format!(
            "SELECT attempt, task, flows, packets, bytes FROM {} WHERE {} FORMAT TabSeparated",
            self.windows(),
            key.condition()
        )
    }

    /// The tables a window's rows go to; `windows` holds its commit marker.
    pub fn of_rows(&self) -> [String; 3] {
        [self.windows(), self.flows(), self.spreads()]
    }

    /// Deletes every row of `key` from every table (an asynchronous mutation).
    pub fn delete(&self, key: &WindowKey) -> Vec<String> {
        self.of_rows()
            .into_iter()
            .map(|table| format!("ALTER TABLE {table} DELETE WHERE {}", key.condition()))
            .collect()
    }

    /// Counts the unfinished mutations of every table.
    pub fn pending_mutations(&self) -> String {
        format!(
            "SELECT count() FROM system.mutations WHERE database = {} \
             AND table IN ('flows', 'windows', 'spreads') AND is_done = 0",
            quote(&self.database)
        )
    }
}

/// Encodes `window`'s flow rows, [`ROWS_PER_INSERT`] at most per buffer,
/// handing each buffer to `send` when full. Rows go in the order of the
/// table's `ORDER BY` (task, then the key columns; `window_start` is one
/// value): the server sorts every inserted block, and for a block already
/// in order that costs it a quarter of the CPU time of a block of
/// first-seen keys (ClickHouse 18.16, 1,000,000 random 5-tuples).
pub fn encode_flows(
    window: &ClosedWindow,
    key: &WindowKey,
    attempt: u64,
    send: &mut dyn FnMut(Vec<u8>) -> Result<(), ClickHouseError>,
) -> Result<(), ClickHouseError> {
    let end = seconds("window end", window.bounds.end_ns)?;
    let mut buffer = Vec::new();
    let mut rows = 0;
    for task in tasks_by_name(window) {
        let prefix = RowPrefix {
            key,
            end,
            attempt,
            task: &task.spec.name,
        };
        let overflow = task.overflow();
        // The overflow row's key is all zeros: it sorts first.
        let other = (!overflow.is_empty()).then_some((StoredKey::default(), overflow.stats, true));
        let keys = sorted_keys(task)
            .into_iter()
            .map(|(key, stats)| (key, stats, false));
        for (stored, stats, is_other) in other.into_iter().chain(keys) {
            prefix.encode(&mut buffer);
            stored.encode(&mut buffer);
            buffer.push(u8::from(is_other));
            for value in [
                stats.packets,
                stats.bytes,
                stats.first_seen,
                stats.last_seen,
            ] {
                buffer.extend_from_slice(&value.to_le_bytes());
            }
            rows += 1;
            if rows == ROWS_PER_INSERT {
                let capacity = buffer.len();
                send(std::mem::replace(&mut buffer, Vec::with_capacity(capacity)))?;
                rows = 0;
            }
        }
    }
    if rows > 0 {
        send(buffer)?;
    }
    Ok(())
}

/// Encodes the rows of `window`'s super-spreader reports: each key with its
/// estimated spread, tasks by name, keys in the table's order. Empty when
/// the window has no super-spreader task.
pub fn encode_spreads(
    window: &ClosedWindow,
    key: &WindowKey,
    attempt: u64,
) -> Result<Vec<u8>, ClickHouseError> {
    let end = seconds("window end", window.bounds.end_ns)?;
    let mut buffer = Vec::new();
    for task in tasks_by_name(window) {
        let prefix = RowPrefix {
            key,
            end,
            attempt,
            task: &task.spec.name,
        };
        let mut spreads: Vec<(StoredKey, u64)> = task
            .parts
            .iter()
            .flat_map(|part| part.estimates())
            .filter_map(|estimate| Some((StoredKey::of(&estimate.key), estimate.spread?)))
            .collect();
        spreads.sort_unstable();
        for (stored, spread) in spreads {
            prefix.encode(&mut buffer);
            stored.encode(&mut buffer);
            buffer.extend_from_slice(&spread.to_le_bytes());
        }
    }
    Ok(buffer)
}

/// The window's tasks in name order: the order of the tables' `ORDER BY`.
fn tasks_by_name(window: &ClosedWindow) -> Vec<&TaskWindow> {
    let mut tasks: Vec<&TaskWindow> = window.tasks.iter().collect();
    tasks.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    tasks
}

/// Encodes `window`'s summary rows, one per task: the commit marker.
pub fn encode_windows(
    window: &ClosedWindow,
    key: &WindowKey,
    attempt: u64,
    written_at: u32,
) -> Result<Vec<u8>, ClickHouseError> {
    let end = seconds("window end", window.bounds.end_ns)?;
    let mode = match window.mode {
        RunMode::Offline => "offline",
        RunMode::Live => "live",
    };
    let mut buffer = Vec::new();
    for task in &window.tasks {
        RowPrefix {
            key,
            end,
            attempt,
            task: &task.spec.name,
        }
        .encode(&mut buffer);
        encode_string(&mut buffer, mode);
        let (totals, overflow) = (task.totals(), task.overflow());
        let capture = window.capture;
        for value in [
            totals.records,
            totals.packets,
            totals.bytes,
            overflow.stats.packets,
            overflow.stats.bytes,
            overflow.keys_refused,
            capture.received,
            capture.dropped,
            capture.if_dropped,
        ] {
            buffer.extend_from_slice(&value.to_le_bytes());
        }
        buffer.extend_from_slice(&written_at.to_le_bytes());
    }
    Ok(buffer)
}

/// The columns every row of a window starts with.
struct RowPrefix<'a> {
    key: &'a WindowKey,
    end: u32,
    attempt: u64,
    task: &'a str,
}

impl RowPrefix<'_> {
    fn encode(&self, buffer: &mut Vec<u8>) {
        buffer.extend_from_slice(&self.key.start.to_le_bytes());
        buffer.extend_from_slice(&self.end.to_le_bytes());
        encode_string(buffer, &self.key.probe);
        encode_string(buffer, &self.key.run);
        buffer.extend_from_slice(&self.attempt.to_le_bytes());
        encode_string(buffer, self.task);
    }
}

/// A row's key columns as stored. The derived order is the table's
/// `ORDER BY` after task and window start: addresses byte by byte (as
/// ClickHouse compares `FixedString`), then ports and protocol as numbers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct StoredKey {
    src: [u8; 16],
    dst: [u8; 16],
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    family: u8,
}

impl StoredKey {
    fn of(key: &FlowKey) -> StoredKey {
        StoredKey {
            src: stored_address(key.family, &key.src),
            dst: stored_address(key.family, &key.dst),
            src_port: key.src_port,
            dst_port: key.dst_port,
            protocol: key.protocol,
            family: key.family as u8,
        }
    }

    /// The columns from `family` to `protocol`, in table order.
    fn encode(&self, buffer: &mut Vec<u8>) {
        buffer.push(self.family);
        buffer.extend_from_slice(&self.src);
        buffer.extend_from_slice(&self.dst);
        buffer.extend_from_slice(&self.src_port.to_le_bytes());
        buffer.extend_from_slice(&self.dst_port.to_le_bytes());
        buffer.push(self.protocol);
    }
}

/// A task's keys, each with a copy of its counters, in [`StoredKey`]
/// order. (Sorted references to the counters would cost a cache miss per
/// row when encoding: the rows of a big window are far apart.) A heavy-hitter
/// task's keys are its report: estimated packets and bytes, with no first
/// or last seen (0); a super-spreader's spread has no column, so its keys
/// stay in its files only.
fn sorted_keys(task: &TaskWindow) -> Vec<(StoredKey, FlowStats)> {
    let mut keys: Vec<(StoredKey, FlowStats)> = task
        .parts
        .iter()
        .flat_map(|part| part.records())
        .map(|record| (StoredKey::of(&record.key), record.stats))
        .collect();
    let estimated = task.parts.iter().flat_map(|part| part.estimates());
    keys.extend(estimated.filter_map(|estimate| {
        let stats = FlowStats {
            packets: estimate.packets?,
            bytes: estimate.bytes?,
            first_seen: 0,
            last_seen: 0,
        };
        Some((StoredKey::of(&estimate.key), stats))
    }));
    keys.sort_unstable_by_key(|(key, _)| *key);
    keys
}

/// An address as 16 bytes: IPv6 as is, IPv4 mapped (`::ffff:a.b.c.d`), so
/// `IPv6NumToString` prints both; no address is all zeros.
fn stored_address(family: AddressFamily, bytes: &[u8; 16]) -> [u8; 16] {
    match family {
        AddressFamily::Ipv6 => *bytes,
        AddressFamily::Ipv4 => {
            let mut mapped = [0; 16];
            mapped[10] = 0xff;
            mapped[11] = 0xff;
            mapped[12..].copy_from_slice(&bytes[..4]);
            mapped
        }
        AddressFamily::None => [0; 16],
    }
}

/// RowBinary `String`: LEB128 length, then the bytes.
fn encode_string(buffer: &mut Vec<u8>, text: &str) {
    let mut length = text.len();
    loop {
        let byte = (length & 0x7f) as u8;
        length >>= 7;
        if length == 0 {
            buffer.push(byte);
            break;
        }
        buffer.push(byte | 0x80);
    }
    buffer.extend_from_slice(text.as_bytes());
}

/// Nanoseconds since the epoch as the whole seconds of a ClickHouse `DateTime`.
pub fn seconds(what: &'static str, ns: u64) -> Result<u32, ClickHouseError> {
    u32::try_from(ns / 1_000_000_000).map_err(|_| ClickHouseError::OutOfRange {
        what,
        value: ns,
        column_type: "DateTime (seconds up to 2106-02-07)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_addresses_are_stored_mapped_and_ipv6_as_is() {
        let key = FlowKey::ipv4([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1, 2, 6);
        let mapped = stored_address(key.family, &key.src);
        assert_eq!(
            std::net::Ipv6Addr::from(mapped).to_string(),
            "::ffff:10.0.0.1"
        );
        let v6: std::net::Ipv6Addr = "2001:db8::1".parse().expect("valid address");
        assert_eq!(
            stored_address(AddressFamily::Ipv6, &v6.octets()),
            v6.octets()
        );
        assert_eq!(stored_address(AddressFamily::None, &[7; 16]), [0; 16]);
    }

    #[test]
    fn keys_sort_as_the_table_orders_them_mapped_addresses_bytewise_then_ports() {
        let v4 = |last: u8, port: u16| {
            StoredKey::of(&FlowKey::ipv4(
                [10, 0, 0, last].into(),
                [10, 0, 0, 9].into(),
                port,
                80,
                6,
            ))
        };
        let v6: std::net::Ipv6Addr = "2001:db8::1".parse().expect("valid address");
        let mut v6_key = v4(0, 0);
        v6_key.src = v6.octets();
        let mut keys = vec![
            v6_key,
            v4(2, 1),
            v4(1, 65535),
            v4(1, 256),
            StoredKey::default(),
        ];
        keys.sort();
        // ::ffff:10.0.0.1 < ::ffff:10.0.0.2 < 2001:db8::1 byte by byte;
        // port 256 before 65535 as numbers, though its low byte is larger.
        assert_eq!(
            keys,
            [
                StoredKey::default(),
                v4(1, 256),
                v4(1, 65535),
                v4(2, 1),
                v6_key
            ]
        );
    }

    #[test]
    fn strings_carry_their_length_as_leb128() {
        let mut buffer = Vec::new();
        encode_string(&mut buffer, &"x".repeat(300));
        assert_eq!(&buffer[..2], &[0xac, 0x02]);
        assert_eq!(buffer.len(), 302);
    }

    #[test]
    fn a_window_past_2106_is_refused_naming_the_type() {
        let error = seconds("window start", u64::MAX).expect_err("too late for DateTime");
        assert!(error.to_string().contains("window start"), "{error}");
        assert!(error.to_string().contains("DateTime"), "{error}");
    }
}
