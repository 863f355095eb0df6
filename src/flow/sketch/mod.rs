//! The sketch task kinds: heavy hitters (Count-Min, `heavy`) and
//! super-spreaders (buckets of HyperLogLog registers, `spread`), each in
//! fixed memory, hashed with fixed seeds (`hash`) so the same input gives
//! the same state, and mergeable across shards, windows, runs and probes
//! through their stored state (`state`, docs/sketch-format.md).

mod count_min;
mod hash;
mod heavy;
mod params;
mod spread;
mod state;

pub use heavy::{HeavyHitterAggregator, HeavyHitterPart, MAX_CANDIDATES};
pub use params::*;
pub use spread::{SpreadSketch, SuperSpreadAggregator, SuperSpreadPart};
pub use state::{Decoded, StateError, decode};
