//! Retention in ClickHouse: dropping whole day partitions past `max_age`.
//!
//! ClickHouse 18.16 has no `TTL`, and both tables are partitioned by the
//! UTC day of `window_start`, a partition every probe of the database
//! shares. So age applies to whole days of the whole store: a day is
//! dropped, in both tables, once it ended more than `max_age` before the
//! newest window end in `windows` (event time, as in the files store), and
//! never while this process has stored a window of it. `max_windows` does
//! not apply here. `windows` loses the day first, so no commit marker
//! outlives its rows; a drop that fails is logged and tried again after the
//! next window.

use std::collections::BTreeSet;
use std::time::Duration;

use super::client::{ClickHouseError, Client, quote};
use super::schema::Tables;
use crate::output::layout::{yyyymmdd, yyyymmdd_start_secs};

const SECS_PER_DAY: u64 = 86_400;

/// Which days this writer may drop, and which it must keep.
pub struct DayRetention {
    max_age: Duration,
    /// `YYYYMMDD` of the windows this process stored.
    protected: BTreeSet<u32>,
}

impl DayRetention {
    pub fn new(max_age: Duration) -> DayRetention {
        DayRetention {
            max_age,
            protected: BTreeSet::new(),
        }
    }

    /// Records that this process stored a window starting at `start_ns`,
    /// so its day stays.
    pub fn stored(&mut self, start_ns: u64) {
        self.protected.insert(yyyymmdd(start_ns));
    }

    /// Drops the expired days from every table; returns them, oldest first.
    pub fn apply(&self, client: &Client, tables: &Tables) -> Result<Vec<u32>, ClickHouseError> {
        let newest_end = newest_window_end(client, tables)?;
        let days = expired(
            &partitions(client, tables)?,
            newest_end,
            self.max_age,
            &self.protected,
        );
        for &day in &days {
            let names = tables.of_rows();
            for table in &names {
                client.query(&format!("ALTER TABLE {table} DROP PARTITION {day}"))?;
            }
            log::info!(
                "retention: dropped day {day} of {} at ClickHouse {}",
                names.join(", "),
                client.url()
            );
        }
        Ok(days)
    }
}

/// The days among `partitions` that ended more than `max_age` before
/// `newest_end` (seconds), except the `protected` ones.
fn expired(
    partitions: &BTreeSet<u32>,
    newest_end: u64,
    max_age: Duration,
    protected: &BTreeSet<u32>,
) -> Vec<u32> {
    partitions
        .iter()
        .copied()
        .filter(|day| !protected.contains(day))
        .filter(|&day| {
            yyyymmdd_start_secs(day)
                .is_some_and(|start| start + SECS_PER_DAY + max_age.as_secs() < newest_end)
        })
        .collect()
}

/// The newest `window_end` in `windows`, in seconds; 0 when it is empty.
fn newest_window_end(client: &Client, tables: &Tables) -> Result<u64, ClickHouseError> {
    let statement = format!("SELECT toUInt32(max(window_end)) FROM {}", tables.windows());
    let text = client.query(&statement)?;
    text.trim().parse().map_err(|_| ClickHouseError::Answer {
        url: client.url().to_string(),
        statement,
        text,
    })
}

/// The day partitions (`YYYYMMDD`) holding data in either table.
fn partitions(client: &Client, tables: &Tables) -> Result<BTreeSet<u32>, ClickHouseError> {
    let statement = format!(
        "SELECT DISTINCT partition FROM system.parts WHERE database = {} \
         AND table IN ('flows', 'windows') AND active FORMAT TabSeparated",
        quote(tables.database())
    );
    let text = client.query(&statement)?;
    text.lines()
        .map(|line| {
            line.trim().parse().map_err(|_| ClickHouseError::Answer {
                url: client.url().to_string(),
                statement: statement.clone(),
                text: line.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600;

    #[test]
    fn a_day_goes_once_it_ended_more_than_max_age_before_the_newest_window() {
        let days: BTreeSet<u32> = [20250907, 20250908, 20250909].into();
        let ninth = yyyymmdd_start_secs(20250909).expect("a day");
        // The 8th ended at the 9th's start: 2 h before a window ending at 02:00.
        let newest_end = ninth + 2 * HOUR;
        let two_days = Duration::from_secs(2 * SECS_PER_DAY);
        let hour = Duration::from_secs(HOUR);
        let none = BTreeSet::new();
        assert_eq!(
            expired(&days, newest_end, hour, &none),
            [20250907, 20250908]
        );
        assert_eq!(
            expired(&days, newest_end, two_days, &none),
            Vec::<u32>::new()
        );
        let protected: BTreeSet<u32> = [20250907].into();
        assert_eq!(expired(&days, newest_end, hour, &protected), [20250908]);
    }

    #[test]
    fn a_partition_that_is_no_day_is_never_dropped() {
        let days: BTreeSet<u32> = [20251399, 1].into();
        assert!(expired(&days, u64::MAX / 2, Duration::ZERO, &BTreeSet::new()).is_empty());
    }
}
