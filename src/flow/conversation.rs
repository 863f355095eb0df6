//! The conversation task kind (`bidirectional: true`): A→B and B→A in one
//! record, with each direction's packets and bytes, as `tshark -z conv` shows.
//!
//! A packet's key is projected first, then put in canonical order: the end
//! (address, then port) that sorts lower is A, so both directions land on
//! the same key. [`ConversationAggregator`] keeps the totals per key in one
//! [`FlowMap`] and the A→B packets in a second one; B→A is the difference.
//! [`ConversationPart`] hands both over and merges per direction. The task's
//! schema must equal its mirror (checked by the config), or A and B would
//! not be the same kind of end.

use std::any::Any;

use super::aggregator::{
    Aggregator, MergeError, OpenCounts, Part, PartTotals, Share, TaskKind, TaskSpec, same_kind,
    share_of_key,
};
use super::{
    FlowKey, FlowMap, FlowRecord, FlowStats, KeySchema, Overflow, OverflowCounter, PacketRecord,
    hash_key,
};

/// Packets and bytes of one conversation in each direction; A is the end
/// that sorts lower (address, then port).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directed {
    pub packets_ab: u64,
    pub bytes_ab: u64,
    pub packets_ba: u64,
    pub bytes_ba: u64,
}

impl Directed {
    /// Splits a conversation's `total` given its A→B counters; `None`
    /// when A→B exceeds the total (a damaged store).
    pub fn split(total: &FlowStats, ab: Option<&FlowStats>) -> Option<Directed> {
        let (packets_ab, bytes_ab) = ab.map_or((0, 0), |ab| (ab.packets, ab.bytes));
        Some(Directed {
            packets_ab,
            bytes_ab,
            packets_ba: total.packets.checked_sub(packets_ab)?,
            bytes_ba: total.bytes.checked_sub(bytes_ab)?,
        })
    }

    /// Both conversations' counters summed, direction by direction; `None`
    /// when a sum exceeds `u64`.
    pub fn checked_add(self, other: Directed) -> Option<Directed> {
        Some(Directed {
            packets_ab: self.packets_ab.checked_add(other.packets_ab)?,
            bytes_ab: self.bytes_ab.checked_add(other.bytes_ab)?,
            packets_ba: self.packets_ba.checked_add(other.packets_ba)?,
            bytes_ba: self.bytes_ba.checked_add(other.bytes_ba)?,
        })
    }
}

/// `key` with its ends in canonical order, and whether it was A→B as given.
#[inline]
fn canonical(key: FlowKey) -> (FlowKey, bool) {
    if (key.src, key.src_port) <= (key.dst, key.dst_port) {
        (key, true)
    } else {
        let swapped = FlowKey {
            src: key.dst,
            dst: key.src,
            src_port: key.dst_port,
            dst_port: key.src_port,
            ..key
        };
        (swapped, false)
    }
}

/// Counts one share of a conversation task's keys.
pub struct ConversationAggregator {
    schema: KeySchema,
    share: Share,
    /// Keys this share may hold per window (`usize::MAX`: no limit).
    key_limit: usize,
    part: ConversationPart,
    overflow: OverflowCounter,
}

impl ConversationAggregator {
    pub fn new(spec: &TaskSpec, share: Share) -> ConversationAggregator {
        ConversationAggregator {
            schema: spec.schema,
            share,
            key_limit: share.key_limit.map_or(usize::MAX, |limit| {
                usize::try_from(limit).unwrap_or(usize::MAX)
            }),
            part: ConversationPart::default(),
            overflow: OverflowCounter::default(),
        }
    }
}

impl Aggregator for ConversationAggregator {
    fn count(&mut self, batch: &[PacketRecord]) {
        for packet in batch {
            let (key, forward) = canonical(self.schema.project(&packet.key));
            if self.share.count > 1 && share_of_key(&key, self.share.count) != self.share.index {
                continue;
            }
            let hash = hash_key(&key);
            let part = &mut self.part;
            part.totals.packets += 1;
            part.totals.bytes += u64::from(packet.wire_len);
            let (timestamp, wire_len) = (packet.timestamp_ns, packet.wire_len);
            if !part
                .map
                .add_bounded(hash, key, timestamp, wire_len, self.key_limit)
            {
                self.overflow.add(hash, timestamp, wire_len);
            } else if forward {
                part.forward.add(hash, key, timestamp, wire_len);
            }
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        let mut part = std::mem::take(&mut self.part);
        part.totals.records = part.map.len() as u64;
        part.overflow = self.overflow.take();
        Box::new(part)
    }

    fn open_counts(&self) -> OpenCounts {
        OpenCounts {
            packets: self.part.totals.packets,
            bytes: self.part.totals.bytes,
            keys: self.part.map.len() as u64,
            overflow_packets: self.overflow.packets(),
        }
    }
}

/// One window's conversations for one share (or, merged, for several).
#[derive(Debug, Default)]
pub struct ConversationPart {
    /// Both directions, per canonical key.
    map: FlowMap,
    /// A→B only; a key absent here had no A→B packet.
    forward: FlowMap,
    overflow: Overflow,
    totals: PartTotals,
}

impl ConversationPart {
    /// A part holding `records` with their directions (in the same order)
    /// and `overflow`, as read back from a store. `None` when a count
    /// overflows `u64`, a direction exceeds its total, or the lengths differ.
    pub fn from_records(
        records: &[FlowRecord],
        directed: &[Directed],
        overflow: Overflow,
    ) -> Option<ConversationPart> {
        if records.len() != directed.len() {
            return None;
        }
        let mut part = ConversationPart {
            overflow,
            totals: PartTotals {
                records: 0,
                packets: overflow.stats.packets,
                bytes: overflow.stats.bytes,
            },
            ..ConversationPart::default()
        };
        for (record, directed) in records.iter().zip(directed) {
            let packets = directed.packets_ab.checked_add(directed.packets_ba)?;
            let bytes = directed.bytes_ab.checked_add(directed.bytes_ba)?;
            if (packets, bytes) != (record.stats.packets, record.stats.bytes) {
                return None;
            }
            part.totals.packets = part.totals.packets.checked_add(packets)?;
            part.totals.bytes = part.totals.bytes.checked_add(bytes)?;
            part.map.merge_record(record)?;
            if directed.packets_ab > 0 {
                part.forward.merge_record(&FlowRecord {
                    key: record.key,
                    stats: FlowStats {
                        packets: directed.packets_ab,
                        bytes: directed.bytes_ab,
                        ..record.stats
                    },
                })?;
            }
        }
        part.totals.records = part.map.len() as u64;
        Some(part)
    }

    /// Each record's directions, in the order of [`Part::records`].
    pub fn directions(&self) -> impl ExactSizeIterator<Item = Directed> + '_ {
        self.map.records().map(|record| {
            Directed::split(&record.stats, self.forward.get(&record.key))
                .expect("A→B counts only packets also in the total")
        })
    }
}

impl Part for ConversationPart {
    fn kind(&self) -> &'static str {
        TaskKind::Conversation.name()
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

    fn directions(&self) -> Option<Box<dyn ExactSizeIterator<Item = Directed> + '_>> {
        Some(Box::new(ConversationPart::directions(self)))
    }

    fn merge(&mut self, other: &dyn Part) -> Result<(), MergeError> {
        let other = same_kind::<ConversationPart>(self, other)?;
        let totals = self
            .totals
            .checked_add(other.totals)
            .ok_or(MergeError::CountOverflow)?;
        for (map, theirs) in [
            (&mut self.map, &other.map),
            (&mut self.forward, &other.forward),
        ] {
            for record in theirs.records() {
                map.merge_record(record).ok_or(MergeError::CountOverflow)?;
            }
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
    use crate::flow::KeyField;

    fn packet(src: u8, sport: u16, dst: u8, dport: u16, wire_len: u32) -> PacketRecord {
        PacketRecord {
            key: FlowKey::ipv4(
                Ipv4Addr::new(10, 0, 0, src),
                Ipv4Addr::new(10, 0, 0, dst),
                sport,
                dport,
                6,
            ),
            timestamp_ns: u64::from(wire_len),
            wire_len,
        }
    }

    fn spec(fields: &[KeyField]) -> TaskSpec {
        TaskSpec {
            name: "conversations".into(),
            kind: TaskKind::Conversation,
            schema: KeySchema::from_fields(fields),
            max_keys: None,
        }
    }

    fn counted(fields: &[KeyField], batch: &[PacketRecord]) -> Box<dyn Part> {
        let spec = spec(fields);
        let mut aggregator = ConversationAggregator::new(&spec, Share::whole(&spec));
        aggregator.count(batch);
        aggregator.take_part()
    }

    fn rows(part: &dyn Part) -> Vec<(String, Directed)> {
        let directions = part
            .directions()
            .expect("a conversation part has directions");
        part.records()
            .zip(directions)
            .map(|(record, directed)| (record.key.to_string(), directed))
            .collect()
    }

    #[test]
    fn both_directions_count_in_one_record_with_the_lower_end_as_a() {
        let batch = [
            packet(2, 80, 1, 5000, 100),
            packet(1, 5000, 2, 80, 60),
            packet(1, 5000, 2, 80, 40),
        ];
        let part = counted(&KeyField::ALL, &batch);
        assert_eq!(
            rows(part.as_ref()),
            [(
                "v4 10.0.0.1:5000 -> 10.0.0.2:80 proto 6".to_string(),
                Directed {
                    packets_ab: 2,
                    bytes_ab: 100,
                    packets_ba: 1,
                    bytes_ba: 100
                }
            )]
        );
        assert_eq!(part.totals().packets, 3);
    }

    #[test]
    fn ends_compare_by_address_before_port() {
        let part = counted(
            &KeyField::ALL,
            &[packet(1, 9000, 2, 80, 10), packet(2, 80, 1, 9000, 20)],
        );
        let rows = rows(part.as_ref());
        assert_eq!(rows.len(), 1);
        assert!(rows[0].0.starts_with("v4 10.0.0.1:9000"), "{rows:?}");
        assert_eq!((rows[0].1.bytes_ab, rows[0].1.bytes_ba), (10, 20));
    }

    #[test]
    fn merging_adds_each_direction_and_a_store_round_trip_keeps_them() {
        let fields = [KeyField::SrcIp, KeyField::DstIp];
        let mut merged = counted(&fields, &[packet(1, 1, 2, 2, 10), packet(3, 1, 4, 2, 5)]);
        merged
            .merge(counted(&fields, &[packet(2, 2, 1, 1, 7)]).as_ref())
            .unwrap();
        let got = rows(merged.as_ref());
        assert_eq!(
            got[0].1,
            Directed {
                packets_ab: 1,
                bytes_ab: 10,
                packets_ba: 1,
                bytes_ba: 7
            }
        );
        let records: Vec<FlowRecord> = merged.records().copied().collect();
        let directed: Vec<Directed> = got.iter().map(|(_, directed)| *directed).collect();
        let stored =
            ConversationPart::from_records(&records, &directed, Overflow::default()).unwrap();
        assert_eq!(rows(&stored), got);
        assert_eq!(stored.totals(), merged.totals());
        let mut lying = directed.clone();
        lying[0].packets_ba += 1;
        assert!(ConversationPart::from_records(&records, &lying, Overflow::default()).is_none());
    }

    #[test]
    fn shares_split_conversations_without_splitting_their_directions() {
        let batch: Vec<PacketRecord> = (0..100u8)
            .flat_map(|n| [packet(n, 1, 200, 2, 10), packet(200, 2, n, 1, 20)])
            .collect();
        let spec = spec(&KeyField::ALL);
        let mut records = 0;
        for index in 0..3 {
            let share = Share {
                index,
                count: 3,
                key_limit: None,
            };
            let mut aggregator = ConversationAggregator::new(&spec, share);
            aggregator.count(&batch);
            let part = aggregator.take_part();
            records += part.totals().records;
            for (_, directed) in rows(part.as_ref()) {
                assert_eq!((directed.bytes_ab, directed.bytes_ba), (10, 20));
            }
        }
        assert_eq!(records, 100);
    }
}
