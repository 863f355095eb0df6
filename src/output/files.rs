//! The file store as a [`Writer`]: each window gets this run's part, a
//! directory of `.dat` files and `summary.json`s, under an output root (see
//! `window`), after which the root's retention limits are applied, sparing
//! every window this run wrote.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::retention::Retention;
use super::window::write_window;
use super::writer::{ClosedWindow, WriteError, Writer};

/// Writes windows under `root`, which must exist and be writable.
pub struct FilesWriter {
    root: PathBuf,
    retention: Retention,
    /// Starts of the windows this run wrote: retention never removes them.
    written: BTreeSet<u64>,
}

impl FilesWriter {
    pub fn new(root: PathBuf, retention: Retention) -> FilesWriter {
        FilesWriter {
            root,
            retention,
            written: BTreeSet::new(),
        }
    }
}

impl Writer for FilesWriter {
    fn describe(&self) -> String {
        format!("files under {}", self.root.display())
    }

    fn write(&mut self, window: &ClosedWindow) -> Result<(), WriteError> {
        write_window(&self.root, window).map_err(|error| WriteError {
            retryable: error.is_retryable(),
            message: crate::with_causes(&error),
        })?;
        self.written.insert(window.bounds.start_ns);
        self.retention.apply(&self.root, &self.written);
        Ok(())
    }
}
