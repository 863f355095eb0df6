//! Snapshot writer: puts complete windows on disk, on its own thread.
//!
//! Accepts: `WriteWindow` (Scheduler); replies `WindowWritten` or the
//! `OutputError`. Runs in a one-thread `SyncArbiter`, so disk latency never
//! reaches the packet path, and windows are written in the order sent. The
//! output layer writes each window under a temporary name and renames it
//! into place, so no reader sees a half-written window.

use std::path::PathBuf;

use actix::prelude::*;

use crate::output::{self, OutputError};

use super::messages::{TaskTotals, WindowWritten, WriteWindow};

pub struct WriterActor {
    root: PathBuf,
}

impl WriterActor {
    /// A writer putting windows under `root` (which must exist and be writable).
    pub fn new(root: PathBuf) -> WriterActor {
        WriterActor { root }
    }
}

impl Actor for WriterActor {
    type Context = SyncContext<Self>;
}

impl Handler<WriteWindow> for WriterActor {
    type Result = Result<WindowWritten, OutputError>;

    fn handle(&mut self, message: WriteWindow, _: &mut SyncContext<Self>) -> Self::Result {
        let WriteWindow { window, tasks } = message;
        let task_totals: Vec<TaskTotals> = tasks
            .iter()
            .map(|task| {
                task.shards.iter().fold(TaskTotals::default(), |sum, map| {
                    let (packets, bytes) = map.totals();
                    TaskTotals {
                        flows: sum.flows + map.len() as u64,
                        packets: sum.packets + packets,
                        bytes: sum.bytes + bytes,
                    }
                })
            })
            .collect();
        output::write_window(&self.root, window.start_ns, window.end_ns, &tasks)?;
        Ok(WindowWritten {
            window,
            task_totals,
        })
    }
}
