//! ClickHouse as a [`Writer`]: many probes, one queryable store.
//!
//! Owns the exactly-once protocol of a window in a server reached over its
//! HTTP interface (schema and row encoding in `schema`, requests in
//! `client`, the flow INSERTs of a window several at a time in
//! `parallel`). Never retries by itself: a failure is a [`WriteError`],
//! and the writer actor's shared backlog offers the window again.
//!
//! A window is stored as an *attempt*: its flow rows, in as many INSERTs as
//! its size needs, then one INSERT of its summary rows (one per task),
//! which is the commit marker. A block of one INSERT into one partition is
//! atomic, so the marker is there whole or not at all; the view
//! `committed_flows` shows only flow rows whose attempt has its marker.
//! Before each write the writer reads the window's markers
//! (probe, run, window start): the same totals mean an earlier attempt
//! landed though its answer was lost, and nothing is written again; other
//! markers (a rerun's different counts), or an attempt of this process cut
//! short, make the writer delete every row of that key first and wait
//! until the delete is done
//! (ClickHouse 18.16 has no `insert_deduplication_token`, and its
//! `ALTER ... DELETE` is asynchronous; data inserted after the delete was
//! issued is never touched by it). Flow rows of an attempt whose process
//! died before its marker stay in `flows`, outside `committed_flows`.
//!
//! With `retention.max_age`, whole day partitions past it are dropped after
//! each window (`retention`).
//!
//! The password goes to the server only: not in `describe`, logs or errors.

mod client;
mod parallel;
mod retention;
mod schema;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::config::Secret;

pub use client::ClickHouseError;
use client::Client;
use retention::DayRetention;
use schema::{Marker, Tables, WindowKey};

use super::layout;
use super::writer::{ClosedWindow, WriteError, Writer};

/// Longest wait for the delete of an earlier attempt before giving the
/// window back to the backlog.
const MUTATION_TIMEOUT: Duration = Duration::from_secs(60);
const MUTATION_POLL: Duration = Duration::from_millis(50);

/// Where and as whom windows are stored; resolved from a `writers:` entry.
#[derive(Debug, Clone)]
pub struct ClickHouseSettings {
    /// `http://HOST:PORT`.
    pub url: String,
    pub database: String,
    pub username: String,
    pub password: Secret,
    /// The name every row of this process carries.
    pub probe: String,
    /// `retention.max_age`: drop the days past it (see `retention`).
    pub max_age: Option<Duration>,
}

/// Stores windows in one server's `flows`, `spreads` and `windows` tables.
pub struct ClickHouseWriter {
    client: Client,
    tables: Tables,
    settings: ClickHouseSettings,
    /// The last attempt number used; attempts only grow.
    last_attempt: u64,
    /// Starts of windows this process began to write and has not yet
    /// stored: their flow rows may be partly there.
    unfinished: BTreeSet<u32>,
    retention: Option<DayRetention>,
}

impl ClickHouseWriter {
    /// Checks the server before the first packet: it answers, the
    /// credentials work, the database exists; then creates the tables and
    /// the view where absent. Any failure is worth telling the user at once.
    pub fn connect(settings: ClickHouseSettings) -> Result<ClickHouseWriter, ClickHouseError> {
        let client = Client::new(&settings.url, &settings.username, &settings.password);
        expect_answer(&client, "SELECT 1", "1")?;
        let exists = format!(
            "SELECT count() FROM system.databases WHERE name = {}",
            client::quote(&settings.database)
        );
        if count(&client, &exists)? == 0 {
            return Err(ClickHouseError::NoDatabase {
                url: settings.url.clone(),
                database: settings.database.clone(),
            });
        }
        let tables = Tables::new(&settings.database);
        for statement in tables.create_statements() {
            client.query(&statement)?;
        }
        log::info!(
            "ClickHouse at {}: database {} ready for probe {}",
            settings.url,
            settings.database,
            settings.probe
        );
        Ok(ClickHouseWriter {
            client,
            tables,
            retention: settings.max_age.map(DayRetention::new),
            settings,
            last_attempt: 0,
            unfinished: BTreeSet::new(),
        })
    }

    fn store(&mut self, window: &ClosedWindow) -> Result<(), ClickHouseError> {
        let key = WindowKey::of(window, &self.settings.probe)?;
        let expected = Marker::expected(window);
        let committed = self.committed(&key)?;
        if committed.len() == 1 && committed.values().next() == Some(&expected) {
            log::info!(
                "window {} already in {} (an earlier answer was lost); not written again",
                layout::window_dir_name(window.bounds.start_ns),
                self.describe()
            );
            return Ok(());
        }
        if !committed.is_empty() || self.unfinished.contains(&key.start) {
            self.discard(&key)?;
        }
        self.unfinished.insert(key.start);
        let attempt = self.next_attempt();
        parallel::insert_all(&self.client, &self.tables.insert_flows(), |send| {
            schema::encode_flows(window, &key, attempt, send)
        })?;
        let spreads = schema::encode_spreads(window, &key, attempt)?;
        if !spreads.is_empty() {
            self.client
                .insert(&self.tables.insert_spreads(), &spreads)?;
        }
        let written_at = schema::seconds("the clock", crate::wall_clock_ns())?;
        let markers = schema::encode_windows(window, &key, attempt, written_at)?;
        self.client
            .insert(&self.tables.insert_windows(), &markers)?;
        self.unfinished.remove(&key.start);
        Ok(())
    }

    /// Drops the days past `max_age`, keeping the one of `window`; a
    /// failure costs only a later drop, so it is logged, not returned.
    fn expire(&mut self, window: &ClosedWindow) {
        let Some(retention) = &mut self.retention else {
            return;
        };
        retention.stored(window.bounds.start_ns);
        if let Err(error) = retention.apply(&self.client, &self.tables) {
            log::warn!(
                "retention: cannot drop old days: {}",
                crate::with_causes(&error)
            );
        }
    }

    /// The window's summary rows by attempt, each attempt's sorted by task.
    fn committed(
        &self,
        key: &WindowKey,
    ) -> Result<std::collections::BTreeMap<u64, Vec<Marker>>, ClickHouseError> {
        let statement = self.tables.select_markers(key);
        let text = self.client.query(&statement)?;
        let mut attempts = std::collections::BTreeMap::<u64, Vec<Marker>>::new();
        for line in text.lines() {
            let (attempt, marker) = parse_marker(line).ok_or_else(|| ClickHouseError::Answer {
                url: self.client.url().to_string(),
                statement: statement.clone(),
                text: line.to_string(),
            })?;
            attempts.entry(attempt).or_default().push(marker);
        }
        for markers in attempts.values_mut() {
            markers.sort();
        }
        Ok(attempts)
    }

    /// Deletes every row of `key` and waits until the delete has been done.
    fn discard(&self, key: &WindowKey) -> Result<(), ClickHouseError> {
        log::warn!(
            "{}: removing an incomplete or different earlier attempt of window {} before writing it",
            self.describe(),
            key.start
        );
        for statement in self.tables.delete(key) {
            self.client.query(&statement)?;
        }
        let started = Instant::now();
        while count(&self.client, &self.tables.pending_mutations())? > 0 {
            if started.elapsed() > MUTATION_TIMEOUT {
                return Err(ClickHouseError::MutationPending {
                    url: self.client.url().to_string(),
                    waited: started.elapsed(),
                });
            }
            // The server offers no way to wait for a mutation on 18.16
            // (`mutations_sync` came later): poll.
            std::thread::sleep(MUTATION_POLL);
        }
        Ok(())
    }

    /// A number greater than every earlier attempt of this process; from
    /// the clock, so a rerun's attempts differ from the earlier run's.
    fn next_attempt(&mut self) -> u64 {
        self.last_attempt = crate::wall_clock_ns().max(self.last_attempt + 1);
        self.last_attempt
    }
}

impl Writer for ClickHouseWriter {
    fn describe(&self) -> String {
        format!(
            "ClickHouse at {} (database {}, probe {})",
            self.settings.url, self.settings.database, self.settings.probe
        )
    }

    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
        self.store(window).map_err(|error| WriteError {
            retryable: error.is_retryable(),
            message: crate::with_causes(&error),
        })?;
        self.expire(window);
        Ok(())
    }
}

/// `attempt\ttask\tflows\tpackets\tbytes`.
fn parse_marker(line: &str) -> Option<(u64, Marker)> {
    let mut fields = line.split('\t');
    let number = |fields: &mut std::str::Split<'_, char>| fields.next()?.parse::<u64>().ok();
    let attempt = number(&mut fields)?;
    let task = fields.next()?.to_string();
    let marker = Marker {
        task,
        flows: number(&mut fields)?,
        packets: number(&mut fields)?,
        bytes: number(&mut fields)?,
    };
    fields.next().is_none().then_some((attempt, marker))
}

/// Runs a `SELECT count()`-like statement and reads its one number.
fn count(client: &Client, statement: &str) -> Result<u64, ClickHouseError> {
    let text = client.query(statement)?;
    text.trim().parse().map_err(|_| ClickHouseError::Answer {
        url: client.url().to_string(),
        statement: statement.to_string(),
        text,
    })
}

fn expect_answer(client: &Client, statement: &str, want: &str) -> Result<(), ClickHouseError> {
    let text = client.query(statement)?;
    if text.trim() == want {
        Ok(())
    } else {
        Err(ClickHouseError::Answer {
            url: client.url().to_string(),
            statement: statement.to_string(),
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lines_parse_and_anything_else_is_refused() {
        let (attempt, marker) = parse_marker("7\tper_src_ip\t3\t10\t900").expect("a marker line");
        assert_eq!(attempt, 7);
        assert_eq!(
            marker,
            Marker {
                task: "per_src_ip".into(),
                flows: 3,
                packets: 10,
                bytes: 900
            }
        );
        for bad in ["", "7\tx\t3\t10", "7\tx\t3\t10\t900\t1", "a\tx\t1\t2\t3"] {
            assert_eq!(parse_marker(bad), None, "{bad:?}");
        }
    }
}
