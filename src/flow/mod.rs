//! The aggregation data model: fixed-size flow keys, per-key counters and
//! the hash table that holds them.
//!
//! Nothing here does I/O or knows about actors; the shard actor drives a
//! [`FlowMap`] and the output layer serialises its records. A map may be
//! bounded: the packets of refused keys go to an [`OverflowCounter`].

mod key;
mod map;

pub use key::{AddressFamily, FlowKey, KeyField, KeySchema};
pub use map::{
    CHUNK_LEN, FlowMap, FlowRecord, FlowStats, Overflow, OverflowCounter, Records, hash_key,
};
