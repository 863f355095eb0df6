//! The sketch task kinds: heavy hitters (Count-Min) and super-spreaders
//! (buckets of HyperLogLog registers), each in fixed memory, seeded so the
//! same input gives the same state, and mergeable across shards, windows,
//! runs and probes.

mod params;

pub use params::*;
