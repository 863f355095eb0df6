//! The exact task kind: packets, bytes, first and last seen for every key.
//!
//! [`ExactAggregator`] owns one [`FlowMap`] per window for its share of a
//! task's keys and an [`OverflowCounter`] for keys refused by the share's
//! key limit; [`ExactPart`] is what it hands over on a cut. Totals are kept
//! as packets are counted, so a part never has to be rescanned to be summed.

use std::any::Any;

use super::aggregator::{
    Aggregator, MergeError, OpenCounts, PacketRecord, Part, PartTotals, Share, TaskKind, TaskSpec,
    same_kind, share_of_key,
};
use super::{
    FlowKey, FlowMap, FlowRecord, KeyField, KeySchema, Overflow, OverflowCounter, hash_key,
};

/// Owned packets keyed and hashed before the first of them is looked up:
/// enough to cover a memory access with the others' hashing and probing.
const PREFETCH_GROUP: usize = 32;

/// Schemas with counting code of their own, by their bits.
const SRC_IP: u8 = KeyField::SrcIp.bit();
const DST_IP: u8 = KeyField::DstIp.bit();
const FIVE_TUPLE: u8 = KeySchema::FIVE_TUPLE.bits();
/// No schema has no field: this marks the schema as known at run time only.
const RUNTIME_FIELDS: u8 = 0;

/// A packet of this share, keyed and hashed, waiting in a prefetch group.
#[derive(Clone, Copy, Default)]
struct Owned {
    hash: u64,
    key: FlowKey,
    timestamp: u64,
    wire_len: u32,
}

/// Counts one share of an exact task's keys.
pub struct ExactAggregator {
    schema: KeySchema,
    share: Share,
    /// Keys this share may hold per window (`usize::MAX`: no limit).
    key_limit: usize,
    map: FlowMap,
    overflow: OverflowCounter,
    totals: PartTotals,
    /// Packets the key limit refused since the last [`ExactAggregator::take_refused`],
    /// kept only for a roll-up (`None` otherwise).
    refused: Option<Vec<PacketRecord>>,
}

impl ExactAggregator {
    pub fn new(spec: &TaskSpec, share: Share) -> ExactAggregator {
        ExactAggregator {
            schema: spec.schema,
            share,
            key_limit: share.key_limit.map_or(usize::MAX, |limit| {
                usize::try_from(limit).unwrap_or(usize::MAX)
            }),
            map: FlowMap::new(),
            overflow: OverflowCounter::default(),
            totals: PartTotals::default(),
            refused: None,
        }
    }

    /// The same, keeping every packet the key limit refuses (keyed by this
    /// task's key) for [`ExactAggregator::take_refused`]: a roll-up counts
    /// them in the tasks it derives.
    pub(super) fn keeping_refused(spec: &TaskSpec, share: Share) -> ExactAggregator {
        ExactAggregator {
            refused: Some(Vec::new()),
            ..ExactAggregator::new(spec, share)
        }
    }

    /// The packets refused since the last call, in the order they came.
    pub(super) fn take_refused(&mut self) -> Vec<PacketRecord> {
        self.refused
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The open window's counts.
    pub(super) fn map(&self) -> &FlowMap {
        &self.map
    }

    /// Counts the packets of `batch` whose key falls in this share, in
    /// groups of `PREFETCH_GROUP` owned packets, each in three passes so
    /// that the group's memory waits overlap instead of queueing: every
    /// owned key's index slot is prefetched as it is found, then every
    /// key's record (found through its slot), then the records are updated.
    /// Groups are filled with owned packets only, so a share of a split
    /// task overlaps as many waits as a whole task.
    /// `MASKED`: whether the schema cuts addresses to prefixes. `FIELDS`:
    /// the schema's bits when they are known when compiling (then projecting
    /// and hashing skip the fields left out), or [`RUNTIME_FIELDS`].
    #[inline(always)]
    fn count_batch<const MASKED: bool, const FIELDS: u8>(&mut self, batch: &[PacketRecord]) {
        let mut owned = [Owned::default(); PREFETCH_GROUP];
        let mut count = 0;
        for packet in batch {
            let key = if MASKED {
                self.schema.project(&packet.key)
            } else if FIELDS == RUNTIME_FIELDS {
                self.schema.project_fields(&packet.key)
            } else {
                KeySchema::whole(FIELDS).project_fields(&packet.key)
            };
            if self.share.count > 1 && share_of_key(&key, self.share.count) != self.share.index {
                continue;
            }
            let hash = hash_key(&key);
            self.map.prefetch_slot(hash);
            owned[count] = Owned {
                hash,
                key,
                timestamp: packet.timestamp_ns,
                wire_len: packet.wire_len,
            };
            count += 1;
            if count == PREFETCH_GROUP {
                self.count_group(&owned);
                count = 0;
            }
        }
        self.count_group(&owned[..count]);
    }

    /// Prefetches the records of a group whose slots are on their way, then
    /// counts the group: a packet whose prefetched record is its key's is
    /// counted there without probing the index again.
    #[inline]
    fn count_group(&mut self, owned: &[Owned]) {
        let mut candidates = [None; PREFETCH_GROUP];
        for (packet, candidate) in owned.iter().zip(&mut candidates) {
            *candidate = self.map.prefetch_record(packet.hash);
        }
        for (packet, candidate) in owned.iter().zip(candidates) {
            self.totals.packets += 1;
            self.totals.bytes += u64::from(packet.wire_len);
            if self
                .map
                .add_at(candidate, &packet.key, packet.timestamp, packet.wire_len)
            {
                continue;
            }
            if !self.map.add_bounded(
                packet.hash,
                packet.key,
                packet.timestamp,
                packet.wire_len,
                self.key_limit,
            ) {
                self.refuse(packet);
            }
        }
    }
}

impl ExactAggregator {
    /// Counts a packet the key limit refused.
    #[cold]
    fn refuse(&mut self, packet: &Owned) {
        self.overflow
            .add(packet.hash, packet.timestamp, packet.wire_len);
        if let Some(refused) = &mut self.refused {
            refused.push(PacketRecord {
                key: packet.key,
                timestamp_ns: packet.timestamp,
                wire_len: packet.wire_len,
            });
        }
    }
}

impl Aggregator for ExactAggregator {
    /// Whether to mask addresses is decided once per batch, so a task
    /// without prefixes pays nothing for them per packet.
    /// The commonest schemas (one address, the 5-tuple) have counting code
    /// of their own.
    fn count(&mut self, batch: &[PacketRecord]) {
        if self.schema.has_prefix() {
            return self.count_batch::<true, RUNTIME_FIELDS>(batch);
        }
        match self.schema.bits() {
            SRC_IP => self.count_batch::<false, SRC_IP>(batch),
            DST_IP => self.count_batch::<false, DST_IP>(batch),
            FIVE_TUPLE => self.count_batch::<false, FIVE_TUPLE>(batch),
            _ => self.count_batch::<false, RUNTIME_FIELDS>(batch),
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        let map = std::mem::take(&mut self.map);
        let mut totals = std::mem::take(&mut self.totals);
        totals.records = map.len() as u64;
        Box::new(ExactPart {
            map,
            overflow: self.overflow.take(),
            totals,
        })
    }

    fn peek_part(&self) -> Option<Box<dyn Part>> {
        Some(Box::new(ExactPart {
            map: self.map.clone(),
            overflow: self.overflow.peek(),
            totals: PartTotals {
                records: self.map.len() as u64,
                ..self.totals
            },
        }))
    }

    fn open_counts(&self) -> OpenCounts {
        OpenCounts {
            packets: self.totals.packets,
            bytes: self.totals.bytes,
            keys: self.map.len() as u64,
            overflow_packets: self.overflow.packets(),
        }
    }
}

/// One window's exact counts for one share (or, merged, for several).
#[derive(Debug, Default)]
pub struct ExactPart {
    map: FlowMap,
    overflow: Overflow,
    totals: PartTotals,
}

impl ExactPart {
    /// A part of `map` and `overflow` whose sums are `totals`.
    pub(super) fn new(map: FlowMap, overflow: Overflow, totals: PartTotals) -> ExactPart {
        ExactPart {
            map,
            overflow,
            totals,
        }
    }

    /// A part holding `records` and `overflow`, as read back from a store.
    /// Returns `None` when the packets or bytes overflow `u64`.
    pub fn from_records(records: &[FlowRecord], overflow: Overflow) -> Option<ExactPart> {
        let mut part = ExactPart {
            overflow,
            totals: PartTotals {
                records: 0,
                packets: overflow.stats.packets,
                bytes: overflow.stats.bytes,
            },
            ..ExactPart::default()
        };
        for record in records {
            part.add_record(record)?;
        }
        Some(part)
    }

    /// Folds one record in; `None` when a total overflows `u64`.
    fn add_record(&mut self, record: &FlowRecord) -> Option<()> {
        self.totals.packets = self.totals.packets.checked_add(record.stats.packets)?;
        self.totals.bytes = self.totals.bytes.checked_add(record.stats.bytes)?;
        self.map.merge_record(record)?;
        self.totals.records = self.map.len() as u64;
        Some(())
    }
}

impl Part for ExactPart {
    fn kind(&self) -> &'static str {
        TaskKind::Exact.name()
    }

    fn totals(&self) -> PartTotals {
        self.totals
    }

    fn records(&self) -> Box<dyn ExactSizeIterator<Item = &FlowRecord> + '_> {
        Box::new(self.map.records())
    }

    fn overflow(&self) -> Overflow {
        self.overflow
    }

    fn merge(&mut self, other: &dyn Part) -> Result<(), MergeError> {
        let other = same_kind::<ExactPart>(self, other)?;
        let totals = self
            .totals
            .checked_add(other.totals)
            .ok_or(MergeError::CountOverflow)?;
        for record in other.map.records() {
            self.map
                .merge_record(record)
                .ok_or(MergeError::CountOverflow)?;
        }
        self.overflow
            .checked_merge(&other.overflow)
            .ok_or(MergeError::CountOverflow)?;
        self.totals = PartTotals {
            records: self.map.len() as u64,
            ..totals
        };
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::{KeyField, PacketRecord};

    fn packet(src: u8, port: u16, timestamp_ns: u64, wire_len: u32) -> PacketRecord {
        PacketRecord {
            key: FlowKey::ipv4(
                Ipv4Addr::new(10, 0, 0, src),
                Ipv4Addr::new(10, 9, 9, 9),
                40000,
                port,
                6,
            ),
            timestamp_ns,
            wire_len,
        }
    }

    fn spec(max_keys: Option<u64>) -> TaskSpec {
        TaskSpec {
            name: "per_src_ip".into(),
            kind: TaskKind::Exact,
            schema: KeySchema::from_fields(&[KeyField::SrcIp]),
            max_keys,
        }
    }

    fn batch(sources: u8) -> Vec<PacketRecord> {
        (0..sources)
            .flat_map(|src| (0..3).map(move |n| packet(src, 80 + n, u64::from(n), 100)))
            .collect()
    }

    #[test]
    fn a_part_knows_its_totals_without_a_rescan() {
        let mut aggregator = ExactAggregator::new(&spec(None), Share::whole(&spec(None)));
        aggregator.count(&batch(5));
        let part = aggregator.take_part();
        assert_eq!(
            part.totals(),
            PartTotals {
                records: 5,
                packets: 15,
                bytes: 1500
            }
        );
        let summed = part
            .records()
            .fold(0, |sum, record| sum + record.stats.packets);
        assert_eq!(summed, 15);
        assert_eq!(aggregator.take_part().totals(), PartTotals::default());
    }

    #[test]
    fn shares_of_a_task_split_its_keys_without_overlap_or_loss() {
        for count in [1, 2, 3, 7] {
            let mut seen = Vec::new();
            let mut packets = 0;
            for index in 0..count {
                let share = Share {
                    index,
                    count,
                    key_limit: None,
                };
                let mut aggregator = ExactAggregator::new(&spec(None), share);
                aggregator.count(&batch(200));
                let part = aggregator.take_part();
                packets += part.totals().packets;
                seen.extend(part.records().map(|record| record.key));
            }
            let distinct: std::collections::HashSet<_> = seen.iter().collect();
            assert_eq!(
                (seen.len(), distinct.len(), packets),
                (200, 200, 600),
                "{count} shares"
            );
        }
    }

    #[test]
    fn a_key_limit_sends_further_keys_to_the_overflow_and_keeps_the_totals() {
        let share = Share {
            index: 0,
            count: 1,
            key_limit: Some(2),
        };
        let mut aggregator = ExactAggregator::new(&spec(Some(2)), share);
        aggregator.count(&batch(5));
        let part = aggregator.take_part();
        assert_eq!(part.totals().records, 2);
        assert_eq!(part.totals().packets, 15);
        assert_eq!(part.overflow().stats.packets, 9);
        assert_eq!(part.overflow().keys_refused, 3);
    }

    #[test]
    fn merging_parts_combines_equal_keys_and_sums_totals() {
        let mut first = ExactAggregator::new(&spec(None), Share::whole(&spec(None)));
        first.count(&batch(3));
        let mut second = ExactAggregator::new(&spec(None), Share::whole(&spec(None)));
        second.count(&batch(4));
        let mut merged = first.take_part();
        merged.merge(second.take_part().as_ref()).unwrap();
        assert_eq!(
            merged.totals(),
            PartTotals {
                records: 4,
                packets: 21,
                bytes: 2100
            }
        );
    }
}
