//! The aggregation data model and the Aggregator seam: fixed-size flow
//! keys, per-key counters and the tables that hold them, task kinds, the
//! plan of which shard counts which share of a task, and tumbling windows.
//!
//! Nothing here does I/O or knows about actors; the shard actor drives
//! [`Aggregator`]s and the output layer stores their [`Part`]s.

mod aggregator;
mod conversation;
mod direct;
mod exact;
mod index;
mod key;
mod map;
mod placement;
mod prefix;
mod rollup;
pub mod sketch;
mod windowing;

pub use aggregator::{
    Aggregator, CONVERSATION_KIND, EXACT_KIND, Estimated, HEAVY_HITTERS_KIND, MergeError,
    OpenCounts, PacketRecord, Part, PartTotals, SUPER_SPREAD_KIND, Share, TaskKind, TaskSpec,
    share_of_key,
};
pub use conversation::{ConversationAggregator, ConversationPart, Directed};
pub use direct::DirectAggregator;
pub use exact::{ExactAggregator, ExactPart};
pub use key::{AddressFamily, FlowKey, KeyField, KeySchema};
pub use map::{
    CHUNK_LEN, FlowMap, FlowRecord, FlowStats, Overflow, OverflowCounter, Records, hash_key,
};
pub use placement::{Placement, never_derived, place_tasks};
pub use prefix::AddressPrefix;
pub use rollup::{RollupAggregator, derivable, plan_rollups};
use sketch::{HeavyHitterAggregator, SuperSpreadAggregator};
pub use windowing::{Placed, WindowBounds, Windowing};

/// The registry of task kinds: builds the aggregator of `spec`'s kind for
/// one share of its keys. A new kind adds one arm here. An exact task of
/// one small field (protocol, one port) counts in an array instead of a
/// hash table when it is not split.
pub fn build_aggregator(spec: &TaskSpec, share: Share) -> Box<dyn Aggregator> {
    match spec.kind {
        TaskKind::Exact => match DirectAggregator::for_task(spec, share) {
            Some(direct) => Box::new(direct),
            None => Box::new(ExactAggregator::new(spec, share)),
        },
        TaskKind::Conversation => Box::new(ConversationAggregator::new(spec, share)),
        TaskKind::HeavyHitters(params) => Box::new(HeavyHitterAggregator::new(spec, params)),
        TaskKind::SuperSpread(params) => Box::new(SuperSpreadAggregator::new(spec, params)),
    }
}

/// Builds the aggregator of a whole exact task `base` that also counts
/// `derived`, each [`derivable`] from it, by rolling up its records.
pub fn build_rollup(base: &TaskSpec, derived: &[TaskSpec]) -> Box<dyn Aggregator> {
    Box::new(RollupAggregator::new(base, derived))
}

/// Builds the aggregator of one placement of `tasks`: `build` (the
/// registry, [`build_aggregator`] or a test's) for its share, or a roll-up
/// when tasks are derived from it.
pub fn build_placed(
    tasks: &[TaskSpec],
    placed: &Placement,
    build: fn(&TaskSpec, Share) -> Box<dyn Aggregator>,
) -> Box<dyn Aggregator> {
    let spec = &tasks[placed.task];
    if placed.derived.is_empty() {
        return build(spec, placed.share);
    }
    let derived: Vec<TaskSpec> = placed
        .derived
        .iter()
        .map(|&task| tasks[task].clone())
        .collect();
    build_rollup(spec, &derived)
}
