//! The file store as a [`Writer`]: each window becomes a directory of
//! `.dat` files and `summary.json`s under an output root (see `window`),
//! after which the root's retention limits are applied.

use std::path::PathBuf;

use super::retention::Retention;
use super::window::write_window;
use super::writer::{ClosedWindow, WriteError, Writer};

/// Writes windows under `root`, which must exist and be writable.
pub struct FilesWriter {
    root: PathBuf,
    retention: Retention,
}

impl FilesWriter {
    pub fn new(root: PathBuf, retention: Retention) -> FilesWriter {
        FilesWriter { root, retention }
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
        self.retention.apply(&self.root);
        Ok(())
    }
}
