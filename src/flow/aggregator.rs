//! The Aggregator seam: what a task kind is to the rest of the program.
//!
//! A task kind implements [`Aggregator`]: built from its [`TaskSpec`] for
//! one [`Share`] of the task's keys, it counts batches of [`PacketRecord`]s
//! and, on a window cut, hands over what it counted as a [`Part`] by value.
//! A part knows its own totals (kept while counting, so nothing downstream
//! rescans it), yields its rows for writers, and merges with parts of the
//! same task from other shards, windows or runs. The pipeline, the writers
//! and `inspect` speak only of these traits; which kind is built for a task
//! is decided in one place, [`crate::flow::build_aggregator`].
//!
//! Nothing here does I/O or knows about actors.

use std::any::Any;
use std::fmt;

use super::sketch::{HeavyHitterParams, SpreadParams};
use super::{Directed, FlowKey, FlowRecord, KeySchema, Overflow};

/// One keyed packet: the parser's full 5-tuple, the capture timestamp and the wire length.
#[derive(Debug, Clone, Copy)]
pub struct PacketRecord {
    pub key: FlowKey,
    /// Nanoseconds since the Unix epoch, from the capture.
    pub timestamp_ns: u64,
    /// The frame's original length on the wire.
    pub wire_len: u32,
}

/// The kinds of task there are, with the parameters that make two tasks of
/// one kind comparable; the config's task entry chooses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// Exact packets, bytes, first and last seen per key.
    Exact,
    /// Exact counts per conversation (both directions in one key), with
    /// each direction's packets and bytes.
    Conversation,
    /// Estimated packets and bytes of the heaviest keys, in fixed memory.
    HeavyHitters(HeavyHitterParams),
    /// Estimated distinct elements per key, in fixed memory.
    SuperSpread(SpreadParams),
}

/// [`TaskKind::name`] of each kind, for parts and stored summaries.
pub const EXACT_KIND: &str = "exact";
pub const CONVERSATION_KIND: &str = "conversation";
pub const HEAVY_HITTERS_KIND: &str = "heavy_hitters";
pub const SUPER_SPREAD_KIND: &str = "super_spreader";

impl TaskKind {
    /// The name used in config files, summaries and the store's manifest.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Exact => EXACT_KIND,
            TaskKind::Conversation => CONVERSATION_KIND,
            TaskKind::HeavyHitters(_) => HEAVY_HITTERS_KIND,
            TaskKind::SuperSpread(_) => SUPER_SPREAD_KIND,
        }
    }

    /// Whether the task's keys may be split among several shards. A sketch
    /// has fixed memory per instance, so it is counted whole by one shard.
    pub fn splits(self) -> bool {
        matches!(self, TaskKind::Exact | TaskKind::Conversation)
    }

    /// Whether the kind's parts are stored as `.dat` records (exact counts)
    /// rather than as a sketch's state.
    pub fn stores_records(self) -> bool {
        matches!(self, TaskKind::Exact | TaskKind::Conversation)
    }
}

/// The name, and for a sketch its parameters in parentheses: the manifest
/// refuses a run whose definition of a stored task differs.
impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskKind::Exact => f.write_str(EXACT_KIND),
            TaskKind::Conversation => f.write_str(CONVERSATION_KIND),
            TaskKind::HeavyHitters(params) => write!(f, "{HEAVY_HITTERS_KIND}({params})"),
            TaskKind::SuperSpread(params) => write!(f, "{SUPER_SPREAD_KIND}({params})"),
        }
    }
}

/// One task as the pipeline runs it, resolved from its config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Unique name; a directory name in the store.
    pub name: String,
    pub kind: TaskKind,
    /// The key fields the task counts by.
    pub schema: KeySchema,
    /// Distinct keys counted per window before the packets of further keys
    /// go to the overflow; a hard cap summed over all shares. `None`: no limit.
    pub max_keys: Option<u64>,
}

/// Which portion of a task's keys one aggregator counts: the keys
/// [`share_of_key`] gives to `index` among `count`, holding at most
/// `key_limit` of them per window (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: usize,
    pub count: usize,
    pub key_limit: Option<u64>,
}

impl Share {
    /// The whole of a task: every key, up to the task's own `max_keys`.
    pub fn whole(spec: &TaskSpec) -> Share {
        Share {
            index: 0,
            count: 1,
            key_limit: spec.max_keys,
        }
    }
}

/// The share among `count` that a (projected) key belongs to.
///
/// Every share of a split task sees every packet and keeps those of its own
/// keys, so this runs once per packet in each share: a few instructions,
/// not the full key hash, which only the owning share then computes. The
/// key's words are folded with rotations and multiplied by 2^64 / φ; the
/// product's top bits, which every bit of the key reaches, pick the share.
#[inline]
pub fn share_of_key(key: &FlowKey, count: usize) -> usize {
    let halves = |address: &[u8; 16]| {
        let value = u128::from_le_bytes(*address);
        (value as u64, (value >> 64) as u64)
    };
    let (src_low, src_high) = halves(&key.src);
    let (dst_low, dst_high) = halves(&key.dst);
    let rest = u64::from(key.src_port)
        | u64::from(key.dst_port) << 16
        | u64::from(key.protocol) << 32
        | u64::from(key.family as u8) << 40;
    let folded = src_low
        ^ src_high.rotate_left(17)
        ^ dst_low.rotate_left(31)
        ^ dst_high.rotate_left(47)
        ^ rest.rotate_left(7);
    let mixed = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (((mixed >> 32) * count as u64) >> 32) as usize
}

/// Packets, bytes and records (distinct keys) of a part, or of several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartTotals {
    /// Rows the part holds (distinct keys for an exact task); overflow not included.
    pub records: u64,
    /// Every packet the part counted, overflow included.
    pub packets: u64,
    /// Wire bytes of those packets.
    pub bytes: u64,
}

impl PartTotals {
    /// Adds another part's totals; `None` when a sum overflows `u64`.
    pub fn checked_add(self, other: PartTotals) -> Option<PartTotals> {
        Some(PartTotals {
            records: self.records.checked_add(other.records)?,
            packets: self.packets.checked_add(other.packets)?,
            bytes: self.bytes.checked_add(other.bytes)?,
        })
    }
}

/// A task kind: counts the packets of its share for one window at a time.
pub trait Aggregator: Send {
    /// Counts the packets of `batch` that fall in this share. Called once
    /// per batch, never per packet, so the dispatch costs nothing per packet.
    fn count(&mut self, batch: &[PacketRecord]);

    /// Hands over everything counted since the last cut and starts empty:
    /// a packet is in exactly one part.
    fn take_part(&mut self) -> Box<dyn Part>;

    /// A copy of the open window so far, leaving it counting: what the
    /// HTTP API shows of the window not yet closed. O(state), asked at most
    /// about once a second. A kind that cannot copy its state keeps this
    /// default (`None`), and its open window is not shown.
    fn peek_part(&self) -> Option<Box<dyn Part>> {
        None
    }

    /// What the open window holds so far, for live metrics; O(1), asked
    /// once per batch. A kind that cannot tell cheaply keeps this default
    /// (nothing), and its counts show when the window closes.
    fn open_counts(&self) -> OpenCounts {
        OpenCounts::default()
    }

    /// For an aggregator that also counts tasks derived from its own (a
    /// roll-up, see [`crate::flow::RollupAggregator`]): the parts of the
    /// derived tasks, cut where the last
    /// [`take_part`](Aggregator::take_part) cut this aggregator's own, one
    /// per derived task in the order it was given them, taken once right
    /// after that call. Other kinds derive nothing.
    fn take_derived_parts(&mut self) -> Vec<Box<dyn Part>> {
        Vec::new()
    }

    /// [`peek_part`](Aggregator::peek_part) for derived task `index`.
    fn peek_derived_part(&self, _index: usize) -> Option<Box<dyn Part>> {
        None
    }

    /// [`open_counts`](Aggregator::open_counts) for derived task `index`.
    fn derived_open_counts(&self, _index: usize) -> OpenCounts {
        OpenCounts::default()
    }
}

/// An aggregator's open window so far (see [`Aggregator::open_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenCounts {
    /// Packets counted, overflow included.
    pub packets: u64,
    /// Wire bytes of those packets.
    pub bytes: u64,
    /// Distinct keys held.
    pub keys: u64,
    /// Packets of keys refused by the key limit.
    pub overflow_packets: u64,
}

/// What an aggregator counted in one window: owned, immutable once handed
/// over, mergeable with parts of the same task and kind.
pub trait Part: Send + Sync + fmt::Debug {
    /// The kind's name, as in [`TaskKind::name`] (a kind that lives only in
    /// tests has a name of its own).
    fn kind(&self) -> &'static str;

    /// Totals kept while counting; O(1).
    fn totals(&self) -> PartTotals;

    /// The rows a writer stores, each key once, in a deterministic order.
    fn records(&self) -> Box<dyn ExactSizeIterator<Item = &FlowRecord> + '_>;

    /// The packets counted without a row of their own (keys refused by
    /// `max_keys`); empty when there were none.
    fn overflow(&self) -> Overflow;

    /// Each record's packets and bytes per direction, in the order of
    /// [`Part::records`], for a conversation task; `None` for other kinds.
    fn directions(&self) -> Option<Box<dyn ExactSizeIterator<Item = Directed> + '_>> {
        None
    }

    /// The rows a sketch reports, estimated from its state, by key; empty
    /// for kinds whose rows are [`Part::records`].
    fn estimates(&self) -> Vec<Estimated> {
        Vec::new()
    }

    /// The state a store keeps so that parts can be merged later (see
    /// docs/sketch-format.md); `None` for kinds whose records are their state.
    fn sketch_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Folds `other` into this part. Keys present in both are combined. On
    /// error the part may hold some of `other`'s records: discard it.
    fn merge(&mut self, other: &dyn Part) -> Result<(), MergeError>;

    /// For a kind's own `merge` and for tests that look inside.
    fn as_any(&self) -> &dyn Any;
}

/// One row of a sketch's report: estimates, never exact counts. Heavy
/// hitters fill `packets` and `bytes`, super-spreaders `spread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimated {
    pub key: FlowKey,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Distinct elements seen with the key.
    pub spread: Option<u64>,
}

/// `other` as the concrete part type `P` of `ours`, for a kind's `merge`;
/// a part of another kind is a [`MergeError::KindMismatch`].
pub fn same_kind<'a, P: Part + 'static>(
    ours: &dyn Part,
    other: &'a dyn Part,
) -> Result<&'a P, MergeError> {
    other
        .as_any()
        .downcast_ref::<P>()
        .ok_or(MergeError::KindMismatch {
            ours: ours.kind(),
            theirs: other.kind(),
        })
}

/// Why two parts could not be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("cannot merge a {theirs} part into a {ours} part")]
    KindMismatch {
        ours: &'static str,
        theirs: &'static str,
    },
    #[error("the two sketches were built with different parameters")]
    ParametersDiffer,
    #[error("a packet or byte count exceeds 2^64 - 1")]
    CountOverflow,
}
