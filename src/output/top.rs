//! [`TopKeysWriter`]: a sink that keeps no file. It folds every task's
//! rows of every window into one in-memory table per task, so that after
//! the run `analyze --top N` can name each task's N largest keys over the
//! whole run, without the actors knowing about it. Sketch tasks have no
//! exact rows to add up; `inspect` reports them from their stored state.
//!
//! Memory grows with the distinct keys of the whole run (a key active in
//! many windows is held once). The table is shared with the caller through
//! a [`TopKeys`] handle, read once the pipeline has stopped.

use std::sync::{Arc, Mutex, PoisonError};

use super::writer::{ClosedWindow, WriteError, Writer};
use crate::flow::{FlowMap, FlowRecord, KeySchema};

/// The handle the caller keeps: the tables the writer fills.
#[derive(Debug, Clone, Default)]
pub struct TopKeys(Arc<Mutex<Vec<TaskTable>>>);

/// One task's keys over every window written so far.
#[derive(Debug)]
struct TaskTable {
    name: String,
    schema: KeySchema,
    keys: FlowMap,
}

/// One task's largest keys, largest first.
#[derive(Debug, Clone)]
pub struct TaskTop {
    pub task: String,
    /// The fields its keys hold (the others are zero).
    pub schema: KeySchema,
    pub rows: Vec<FlowRecord>,
}

impl TopKeys {
    /// Each task's `n` keys with the most packets (ties: more bytes, then
    /// the smaller key), in the order the tasks were first written.
    pub fn top(&self, n: usize) -> Vec<TaskTop> {
        let tables = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tables
            .iter()
            .map(|table| {
                let mut rows: Vec<FlowRecord> = table.keys.records().copied().collect();
                rows.sort_by(|a, b| {
                    (b.stats.packets, b.stats.bytes)
                        .cmp(&(a.stats.packets, a.stats.bytes))
                        .then_with(|| a.key.cmp(&b.key))
                });
                rows.truncate(n);
                TaskTop {
                    task: table.name.clone(),
                    schema: table.schema,
                    rows,
                }
            })
            .collect()
    }
}

/// Merges each closed window into the [`TopKeys`] it was built with.
pub struct TopKeysWriter {
    tables: TopKeys,
}

impl TopKeysWriter {
    pub fn new(tables: TopKeys) -> TopKeysWriter {
        TopKeysWriter { tables }
    }
}

impl Writer for TopKeysWriter {
    fn describe(&self) -> String {
        "the --top table in memory".to_string()
    }

    /// Never fails but for a count past 2^64, which no retry can help.
    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
        let mut tables = self.tables.0.lock().unwrap_or_else(PoisonError::into_inner);
        for task in window
            .tasks
            .iter()
            .filter(|task| task.spec.kind.stores_records())
        {
            let position = tables.iter().position(|table| table.name == task.spec.name);
            let table = match position {
                Some(index) => &mut tables[index],
                None => {
                    tables.push(TaskTable {
                        name: task.spec.name.clone(),
                        schema: task.spec.schema,
                        keys: FlowMap::new(),
                    });
                    let last = tables.len() - 1;
                    &mut tables[last]
                }
            };
            for part in &task.parts {
                for record in part.records() {
                    table.keys.merge_record(record).ok_or_else(|| WriteError {
                        retryable: false,
                        message: format!(
                            "--top: task {}: a count exceeds 2^64 - 1",
                            task.spec.name
                        ),
                    })?;
                }
            }
        }
        Ok(())
    }
}
