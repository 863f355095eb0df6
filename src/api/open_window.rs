//! The open window, as the API shows it beside the stored ones: a source
//! the pipeline provides (every shard's copy of one task's open window)
//! and a cache in front of it.
//!
//! Copying an open window costs the shards a copy of their state, so the
//! cache asks the source at most once per task and [`COPY_MAX_AGE`], one
//! request at a time: a burst of queries costs the pipeline one copy, and
//! at most one copy request waits in a shard's mailbox.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;
use futures::lock::Mutex;

use crate::flow::{KeySchema, Part};
use crate::output::inspect::OpenWindow;
use crate::output::run::RunId;

/// How long one copy of an open window answers queries.
pub const COPY_MAX_AGE: Duration = Duration::from_secs(1);

/// One task's open window, copied from every shard that counts it.
#[derive(Debug)]
pub struct OpenWindowCopy {
    /// End of the newest window every shard had closed; `None` while some
    /// shard had closed none.
    pub closed_until_ns: Option<u64>,
    /// Every share's part, merged.
    pub part: Box<dyn Part>,
}

/// Where copies come from: the running pipeline's shards.
pub trait OpenWindowSource: Send + Sync {
    /// A copy of task `task`'s (config order) open window; `None` when the
    /// pipeline has stopped or the task's kind cannot copy its state.
    fn copy(&self, task: usize) -> LocalBoxFuture<'static, Option<OpenWindowCopy>>;
}

/// The running process's open windows, for `top` and `flow`.
pub struct OpenWindows {
    run: RunId,
    /// Task names and key fields, in config order.
    tasks: Vec<(String, KeySchema)>,
    source: Box<dyn OpenWindowSource>,
    cache: Mutex<HashMap<usize, (Instant, Arc<OpenWindowCopy>)>>,
}

/// A copy with what [`OpenWindow`] needs besides it, movable to the blocking pool.
#[derive(Clone)]
pub struct TaskOpenWindow {
    run: RunId,
    schema: KeySchema,
    copy: Arc<OpenWindowCopy>,
}

impl TaskOpenWindow {
    pub fn view(&self) -> OpenWindow<'_> {
        OpenWindow {
            run: self.run,
            closed_until_ns: self.copy.closed_until_ns,
            schema: self.schema,
            part: self.copy.part.as_ref(),
        }
    }
}

impl OpenWindows {
    /// Copies of the open windows of `run`'s `tasks` (name and key fields,
    /// in config order), taken from `source`.
    pub fn new(
        run: RunId,
        tasks: Vec<(String, KeySchema)>,
        source: Box<dyn OpenWindowSource>,
    ) -> OpenWindows {
        OpenWindows {
            run,
            tasks,
            source,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The named task's open window, from a copy at most [`COPY_MAX_AGE`] old.
    pub async fn of_task(&self, name: &str) -> Option<TaskOpenWindow> {
        let task = self.tasks.iter().position(|(task, _)| task == name)?;
        let mut cache = self.cache.lock().await;
        cache.retain(|_, (taken, _)| taken.elapsed() < COPY_MAX_AGE);
        let copy = match cache.get(&task) {
            Some((_, copy)) => Arc::clone(copy),
            None => {
                let copy = Arc::new(self.source.copy(task).await?);
                cache.insert(task, (Instant::now(), Arc::clone(&copy)));
                copy
            }
        };
        Some(TaskOpenWindow {
            run: self.run,
            schema: self.tasks[task].1,
            copy,
        })
    }
}
