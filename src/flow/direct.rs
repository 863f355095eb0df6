//! The exact task kind over one small key field (the protocol, or one
//! port): counters in an array indexed by the field's value, so a packet
//! costs one load and one store, with no hashing and no probing.
//!
//! [`build_aggregator`](super::build_aggregator) picks it for an exact task
//! keyed by `Protocol`, `SrcPort` or `DstPort` alone when the task is not
//! split among shards (splitting routes keys by hash). Its parts are
//! [`ExactPart`]s with the records in the order their keys were first
//! seen, as [`FlowMap`](super::FlowMap) keeps them, so what is stored and
//! merged is the same as the hash table's.

use super::aggregator::{Aggregator, OpenCounts, Part, PartTotals, Share, TaskKind, TaskSpec};
use super::exact::ExactPart;
use super::map::prefetch;
use super::{
    FlowKey, FlowMap, FlowRecord, FlowStats, KeyField, KeySchema, OverflowCounter, hash_key,
};

/// How many packets ahead of the one being counted a slot is prefetched.
const PREFETCH_DISTANCE: usize = 32;

/// One value's packets, bytes, first and last seen (indexed by the
/// constants below): plain integers, so the table can be allocated zeroed.
type Slot = [u64; 4];
const PACKETS: usize = 0;
const BYTES: usize = 1;
const FIRST_SEEN: usize = 2;
const LAST_SEEN: usize = 3;

/// The one field a direct-indexed task counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SmallField {
    Protocol,
    SrcPort,
    DstPort,
}

impl SmallField {
    /// The field of a task keyed by it alone.
    pub(super) fn of(schema: KeySchema) -> Option<SmallField> {
        let mut fields = schema.fields();
        let field = match (fields.next(), fields.next()) {
            (Some(KeyField::Protocol), None) => SmallField::Protocol,
            (Some(KeyField::SrcPort), None) => SmallField::SrcPort,
            (Some(KeyField::DstPort), None) => SmallField::DstPort,
            _ => return None,
        };
        Some(field)
    }

    /// How many values the field takes.
    pub(super) fn values(self) -> usize {
        match self {
            SmallField::Protocol => 1 << 8,
            SmallField::SrcPort | SmallField::DstPort => 1 << 16,
        }
    }

    /// The field's value in `key`.
    #[inline(always)]
    pub(super) fn value_of(self, key: &FlowKey) -> usize {
        match self {
            SmallField::Protocol => usize::from(key.protocol),
            SmallField::SrcPort => usize::from(key.src_port),
            SmallField::DstPort => usize::from(key.dst_port),
        }
    }

    /// The key of value `value`: what `KeySchema::project` gives for it.
    pub(super) fn key(self, value: usize) -> FlowKey {
        let mut key = FlowKey::default();
        match self {
            // `value` < `values()`, so the narrowing keeps every bit.
            SmallField::Protocol => key.protocol = value as u8,
            SmallField::SrcPort => key.src_port = value as u16,
            SmallField::DstPort => key.dst_port = value as u16,
        }
        key
    }
}

/// Counts a whole exact task keyed by one small field.
pub struct DirectAggregator {
    field: SmallField,
    /// Keys the task may hold per window (`usize::MAX`: no limit).
    key_limit: usize,
    /// Per field value; zero packets marks a value not seen this window.
    slots: Box<[Slot]>,
    /// The values seen this window, in the order first seen.
    seen: Vec<u32>,
    overflow: OverflowCounter,
    totals: PartTotals,
}

impl DirectAggregator {
    /// The aggregator for `spec`, when its key is one small field and its
    /// keys are not split among shards; `None` otherwise.
    pub fn for_task(spec: &TaskSpec, share: Share) -> Option<DirectAggregator> {
        if !matches!(spec.kind, TaskKind::Exact) || share.count != 1 {
            return None;
        }
        let field = SmallField::of(spec.schema)?;
        Some(DirectAggregator {
            field,
            key_limit: share.key_limit.map_or(usize::MAX, |limit| {
                usize::try_from(limit).unwrap_or(usize::MAX)
            }),
            // Zeroed by the allocator: pages of values never seen stay unmapped.
            slots: vec![[0; 4]; field.values()].into_boxed_slice(),
            seen: Vec::new(),
            overflow: OverflowCounter::default(),
            totals: PartTotals::default(),
        })
    }

    #[inline(always)]
    fn count_one(&mut self, value: usize, timestamp: u64, wire_len: u32) {
        self.totals.packets += 1;
        self.totals.bytes += u64::from(wire_len);
        let slot = &mut self.slots[value];
        if slot[PACKETS] != 0 {
            slot[PACKETS] += 1;
            slot[BYTES] += u64::from(wire_len);
            slot[FIRST_SEEN] = slot[FIRST_SEEN].min(timestamp);
            slot[LAST_SEEN] = slot[LAST_SEEN].max(timestamp);
        } else if self.seen.len() < self.key_limit {
            *slot = [1, u64::from(wire_len), timestamp, timestamp];
            // `value` < 2^16, so it fits.
            self.seen.push(value as u32);
        } else {
            let key = self.field.key(value);
            self.overflow.add(hash_key(&key), timestamp, wire_len);
        }
    }

    /// Counts `batch` by `value_of` each key; `PREFETCH`: whether to
    /// prefetch slots ahead.
    #[inline(always)]
    fn count_values<const PREFETCH: bool>(
        &mut self,
        batch: &[super::PacketRecord],
        value_of: impl Fn(&FlowKey) -> usize,
    ) {
        if PREFETCH {
            for packet in batch.iter().take(PREFETCH_DISTANCE) {
                prefetch(&self.slots[value_of(&packet.key)]);
            }
        }
        for (at, packet) in batch.iter().enumerate() {
            if PREFETCH && let Some(ahead) = batch.get(at + PREFETCH_DISTANCE) {
                prefetch(&self.slots[value_of(&ahead.key)]);
            }
            self.count_one(value_of(&packet.key), packet.timestamp_ns, packet.wire_len);
        }
    }

    /// The open window as a part, its records in first-seen order.
    fn part(&self, overflow: super::Overflow) -> ExactPart {
        let mut map = FlowMap::new();
        for &value in &self.seen {
            let [packets, bytes, first_seen, last_seen] = self.slots[value as usize];
            let record = FlowRecord {
                key: self.field.key(value as usize),
                stats: FlowStats {
                    packets,
                    bytes,
                    first_seen,
                    last_seen,
                },
            };
            // Each value once: no counter is summed, none can overflow.
            let _ = map.merge_record(&record);
        }
        let totals = PartTotals {
            records: map.len() as u64,
            ..self.totals
        };
        ExactPart::new(map, overflow, totals)
    }
}

impl Aggregator for DirectAggregator {
    /// A port table (2 MiB) is larger than a core's cache: each packet's
    /// slot is prefetched `PREFETCH_DISTANCE` packets before it is counted,
    /// so the waits overlap. The protocol's table (8 KiB) stays in the
    /// cache and is counted without. The field is matched once per batch.
    fn count(&mut self, batch: &[super::PacketRecord]) {
        match self.field {
            SmallField::Protocol => {
                self.count_values::<false>(batch, |key| SmallField::Protocol.value_of(key))
            }
            SmallField::SrcPort => {
                self.count_values::<true>(batch, |key| SmallField::SrcPort.value_of(key))
            }
            SmallField::DstPort => {
                self.count_values::<true>(batch, |key| SmallField::DstPort.value_of(key))
            }
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        let overflow = self.overflow.take();
        let part = self.part(overflow);
        for &value in &self.seen {
            self.slots[value as usize] = [0; 4];
        }
        self.seen.clear();
        self.totals = PartTotals::default();
        Box::new(part)
    }

    fn peek_part(&self) -> Option<Box<dyn Part>> {
        Some(Box::new(self.part(self.overflow.peek())))
    }

    fn open_counts(&self) -> OpenCounts {
        OpenCounts {
            packets: self.totals.packets,
            bytes: self.totals.bytes,
            keys: self.seen.len() as u64,
            overflow_packets: self.overflow.packets(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{ExactAggregator, PacketRecord};

    /// Packets over few and many values of every field, some repeated.
    fn packets(count: u64) -> Vec<PacketRecord> {
        (0..count)
            .map(|n| {
                let mix = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                let key = FlowKey::ipv4(
                    [10, 0, 0, (n % 7) as u8].into(),
                    [10, 0, 1, (n % 5) as u8].into(),
                    (mix % 3000) as u16,
                    if n % 4 == 0 {
                        443
                    } else {
                        (mix % 70_000 % 65_536) as u16
                    },
                    [6, 17, 1, 58][(n % 4) as usize],
                );
                PacketRecord {
                    key,
                    timestamp_ns: 1_000 + (n * 7919) % 5_000,
                    wire_len: 60 + (n % 1400) as u32,
                }
            })
            .collect()
    }

    fn records(part: &dyn Part) -> Vec<FlowRecord> {
        part.records().copied().collect()
    }

    fn spec(field: KeyField, max_keys: Option<u64>) -> TaskSpec {
        exact(&[field], max_keys)
    }

    fn exact(fields: &[KeyField], max_keys: Option<u64>) -> TaskSpec {
        TaskSpec {
            name: "t".to_string(),
            kind: TaskKind::Exact,
            schema: KeySchema::from_fields(fields),
            max_keys,
        }
    }

    #[test]
    fn parts_equal_the_hash_tables_record_for_record_with_and_without_a_key_limit() {
        let batch = packets(20_000);
        for field in [KeyField::Protocol, KeyField::SrcPort, KeyField::DstPort] {
            for max_keys in [None, Some(100)] {
                let spec = spec(field, max_keys);
                let share = Share::whole(&spec);
                let mut direct = DirectAggregator::for_task(&spec, share).expect("one small field");
                let mut table = ExactAggregator::new(&spec, share);
                for window in batch.chunks(7_000) {
                    direct.count(window);
                    table.count(window);
                    assert_eq!(direct.open_counts(), table.open_counts(), "{field:?}");
                    let peeked = direct.peek_part().expect("a copy");
                    let (ours, theirs) = (direct.take_part(), table.take_part());
                    assert_eq!(
                        records(ours.as_ref()),
                        records(theirs.as_ref()),
                        "{field:?}"
                    );
                    assert_eq!(records(peeked.as_ref()), records(theirs.as_ref()));
                    assert_eq!(ours.totals(), theirs.totals(), "{field:?} {max_keys:?}");
                    assert_eq!(ours.overflow(), theirs.overflow(), "{field:?} {max_keys:?}");
                }
            }
        }
    }

    #[test]
    fn only_unsplit_tasks_of_one_small_field_are_direct() {
        let by_port = spec(KeyField::DstPort, None);
        assert!(DirectAggregator::for_task(&by_port, Share::whole(&by_port)).is_some());
        let split = Share {
            count: 2,
            ..Share::whole(&by_port)
        };
        assert!(DirectAggregator::for_task(&by_port, split).is_none());
        let pair = exact(&[KeyField::DstPort, KeyField::Protocol], None);
        assert!(DirectAggregator::for_task(&pair, Share::whole(&pair)).is_none());
        let by_address = spec(KeyField::SrcIp, None);
        assert!(DirectAggregator::for_task(&by_address, Share::whole(&by_address)).is_none());
    }
}
