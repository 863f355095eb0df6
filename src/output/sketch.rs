//! What the file store keeps of a sketch task: the `sketch` section of
//! its `summary.json` (parameters, memory, N and the stated error bound)
//! and its state files, `sketch_<i>.bin` (docs/sketch-format.md), which
//! `inspect` reads back and merges across run parts and windows.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::layout::sketch_file_name;
use super::{OutputError, write_synced};
use crate::flow::{Part, PartTotals, TaskKind, sketch};
use crate::safe_read::read_regular_file;

/// Largest state file read: the state of the largest sketch the config
/// accepts, with room for its candidate keys.
const MAX_STATE_BYTES: u64 = 6 << 30;

/// The `sketch` section of a sketch task's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SketchSummary {
    pub width: u32,
    pub depth: u32,
    pub seed: u64,
    /// Super-spreaders: what is counted distinct per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element_fields: Option<Vec<String>>,
    /// Super-spreaders: HyperLogLog registers per bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<u32>,
    /// Packets (heavy hitters) or distinct elements (super-spreaders).
    pub count_threshold: u64,
    /// Heavy hitters: bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_threshold: Option<u64>,
    /// Fixed memory of the sketch tables, whatever the number of keys.
    pub memory_bytes: u64,
    /// Heavy hitters: ε·N for packets and bytes, rounded up: an estimate
    /// exceeds the truth by at most this with probability `1 - delta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet_error_bound: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_error_bound: Option<u64>,
    /// The guarantee in words, with ε and δ or the relative standard error.
    pub guarantee: String,
}

impl SketchSummary {
    /// The summary of a task of `kind` that counted `totals`; `None` for
    /// an exact task.
    pub fn new(kind: TaskKind, totals: PartTotals) -> Option<SketchSummary> {
        match kind {
            TaskKind::Exact | TaskKind::Conversation => None,
            TaskKind::HeavyHitters(params) => {
                let bound = |n: u64| (params.epsilon() * n as f64).ceil() as u64;
                Some(SketchSummary {
                    width: params.width,
                    depth: params.depth,
                    seed: params.seed,
                    element_fields: None,
                    m: None,
                    count_threshold: params.packet_threshold,
                    size_threshold: Some(params.byte_threshold),
                    memory_bytes: params.sketch_bytes(),
                    packet_error_bound: Some(bound(totals.packets)),
                    byte_error_bound: Some(bound(totals.bytes)),
                    guarantee: format!(
                        "estimates are never below the truth and exceed it by at most \
                         epsilon*N with probability at least 1-delta; epsilon = e/width = {:.3e}, \
                         delta = e^-depth = {:.3e}, N = {} packets / {} bytes; every key at a \
                         threshold within this window is reported",
                        params.epsilon(),
                        params.delta(),
                        totals.packets,
                        totals.bytes
                    ),
                })
            }
            TaskKind::SuperSpread(params) => Some(SketchSummary {
                width: params.width,
                depth: params.depth,
                seed: params.seed,
                element_fields: Some(
                    params
                        .element
                        .fields()
                        .map(|field| field.config_name().to_string())
                        .collect(),
                ),
                m: Some(params.registers),
                count_threshold: params.threshold,
                size_threshold: None,
                memory_bytes: params.sketch_bytes(),
                packet_error_bound: None,
                byte_error_bound: None,
                guarantee: format!(
                    "relative standard error about 1.04/sqrt(m) = {:.1}% for a key alone in one \
                     of its buckets; a shared bucket only adds other keys' elements",
                    100.0 * params.relative_error()
                ),
            }),
        }
    }
}

/// Writes each part's state as `sketch_<i>.bin` in the task directory.
pub fn write_states(dir: &Path, parts: &[Box<dyn Part>]) -> Result<(), OutputError> {
    for (index, part) in parts.iter().enumerate() {
        if let Some(state) = part.sketch_state() {
            write_synced(&dir.join(sketch_file_name(index)), &state)?;
        }
    }
    Ok(())
}

/// Reads and decodes `sketch_<index>.bin` of a task directory.
pub fn read_state(dir: &Path, index: usize) -> Result<sketch::Decoded, OutputError> {
    let path = dir.join(sketch_file_name(index));
    let bytes = read_regular_file(&path, MAX_STATE_BYTES, false)?;
    sketch::decode(&bytes).map_err(|error| OutputError::Inconsistent {
        path,
        what: format!("not a sketch state: {error}"),
    })
}
