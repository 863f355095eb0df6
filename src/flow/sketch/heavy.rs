//! The heavy-hitter task kind (`skt_type: 0`): Count-Min sketches of
//! packets and bytes per key, and the candidate keys whose estimate reached
//! a threshold.
//!
//! Every key whose true packets (or bytes) reach the threshold has an
//! estimate at least that large when its last packet is counted, so it is a
//! candidate: recall is 1 within a window. The candidate list is bounded
//! by [`MAX_CANDIDATES`]; keys refused beyond it are counted, never silent.
//! The report re-reads every candidate's estimates from the final sketch.

use std::any::Any;
use std::collections::BTreeSet;

use ahash::AHashSet;

use super::count_min::CountMin;
use super::hash::key_hash;
use super::{HeavyHitterParams, MAX_DEPTH};
use crate::flow::aggregator::{
    Aggregator, Estimated, HEAVY_HITTERS_KIND, MergeError, Part, PartTotals, TaskSpec, same_kind,
};
use crate::flow::{FlowKey, FlowRecord, KeySchema, Overflow, PacketRecord};

/// Packets hashed and located before the first of them is counted.
const GROUP: usize = 16;

/// Slots of the direct-mapped memo of keys already admitted.
const ADMITTED_MEMO: usize = 4096;

/// Candidate keys kept per window: about 3 MiB at most. With the default
/// thresholds a window would need over 33 million packets to have this many
/// true heavy hitters.
pub const MAX_CANDIDATES: usize = 1 << 16;

/// Counts a heavy-hitter task.
pub struct HeavyHitterAggregator {
    schema: KeySchema,
    params: HeavyHitterParams,
    part: HeavyHitterPart,
}

impl HeavyHitterAggregator {
    pub fn new(spec: &TaskSpec, params: HeavyHitterParams) -> HeavyHitterAggregator {
        HeavyHitterAggregator {
            schema: spec.schema,
            params,
            part: HeavyHitterPart::empty(spec.schema, params),
        }
    }
}

impl Aggregator for HeavyHitterAggregator {
    /// Each group of packets is hashed and its cells requested from memory
    /// first, then counted, so the cache misses of a group overlap.
    fn count(&mut self, batch: &[PacketRecord]) {
        let part = &mut self.part;
        for group in batch.chunks(GROUP) {
            let mut located = [(FlowKey::default(), 0u64, [0u32; MAX_DEPTH as usize]); GROUP];
            for (packet, entry) in group.iter().zip(&mut located) {
                let key = self.schema.project(&packet.key);
                let hash = key_hash(&key, self.params.seed);
                *entry = (key, hash, part.sketch.locate(hash));
            }
            for (packet, (key, hash, slots)) in group.iter().zip(&located) {
                let estimate = part.sketch.add_at(slots, packet.wire_len);
                part.totals.packets += 1;
                part.totals.bytes += u64::from(packet.wire_len);
                if estimate.packets >= self.params.packet_threshold
                    || estimate.bytes >= self.params.byte_threshold
                {
                    part.admit_hashed(*key, *hash);
                }
            }
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        let mut part = std::mem::replace(
            &mut self.part,
            HeavyHitterPart::empty(self.schema, self.params),
        );
        part.totals.records = part.estimates().len() as u64;
        Box::new(part)
    }

    fn peek_part(&self) -> Option<Box<dyn Part>> {
        let mut part = self.part.clone();
        part.totals.records = part.estimates().len() as u64;
        Some(Box::new(part))
    }
}

/// One window's heavy-hitter state: the sketch, the candidates, the totals.
#[derive(Debug, Clone)]
pub struct HeavyHitterPart {
    /// The task's key fields, stored with the state.
    pub(super) schema: KeySchema,
    pub(super) params: HeavyHitterParams,
    pub(super) sketch: CountMin,
    pub(super) candidates: AHashSet<FlowKey>,
    /// Packets whose key reached a threshold while the candidate list was
    /// full and did not hold it.
    pub(super) candidates_refused: u64,
    /// `packets` and `bytes`: N, what the sketch counted; `records`: keys reported.
    pub(super) totals: PartTotals,
    /// Hashes of keys recently admitted, by `hash % ADMITTED_MEMO`: a heavy
    /// key's packets skip the candidate set after its first admission.
    admitted: Box<[u64]>,
}

impl HeavyHitterPart {
    fn empty(schema: KeySchema, params: HeavyHitterParams) -> HeavyHitterPart {
        let sketch = CountMin::new(params.width, params.depth);
        HeavyHitterPart::from_state(
            schema,
            params,
            sketch,
            AHashSet::new(),
            0,
            PartTotals::default(),
        )
    }

    /// A part holding stored state; `totals.records` is recomputed.
    pub(super) fn from_state(
        schema: KeySchema,
        params: HeavyHitterParams,
        sketch: CountMin,
        candidates: AHashSet<FlowKey>,
        candidates_refused: u64,
        totals: PartTotals,
    ) -> HeavyHitterPart {
        let mut part = HeavyHitterPart {
            schema,
            params,
            sketch,
            candidates,
            candidates_refused,
            totals,
            admitted: vec![0; ADMITTED_MEMO].into_boxed_slice(),
        };
        part.totals.records = part.estimates().len() as u64;
        part
    }

    /// [`HeavyHitterPart::admit`], skipped when the memo says the key
    /// hashing to `hash` is in already (a false skip needs two candidate
    /// keys with the same 64-bit hash).
    #[inline]
    fn admit_hashed(&mut self, key: FlowKey, hash: u64) {
        let memo = &self.admitted[hash as usize % ADMITTED_MEMO];
        if (*memo != hash || hash == 0) && self.admit(key) {
            self.admitted[hash as usize % ADMITTED_MEMO] = hash;
        }
    }

    /// Adds `key` to the candidates unless they are full; whether it is one.
    #[inline]
    fn admit(&mut self, key: FlowKey) -> bool {
        if self.candidates.len() < MAX_CANDIDATES {
            self.candidates.insert(key);
            true
        } else if self.candidates.contains(&key) {
            true
        } else {
            self.candidates_refused += 1;
            false
        }
    }
}

impl Part for HeavyHitterPart {
    fn kind(&self) -> &'static str {
        HEAVY_HITTERS_KIND
    }

    fn totals(&self) -> PartTotals {
        self.totals
    }

    fn records(&self) -> Box<dyn ExactSizeIterator<Item = &FlowRecord> + '_> {
        Box::new(std::iter::empty())
    }

    fn overflow(&self) -> Overflow {
        Overflow::default()
    }

    fn merge(&mut self, other: &dyn Part) -> Result<(), MergeError> {
        let other = same_kind::<HeavyHitterPart>(self, other)?;
        if other.params != self.params {
            return Err(MergeError::ParametersDiffer);
        }
        let totals = self
            .totals
            .checked_add(other.totals)
            .ok_or(MergeError::CountOverflow)?;
        self.sketch
            .merge(&other.sketch)
            .ok_or(MergeError::CountOverflow)?;
        // Sorted, so which keys a full list refuses does not depend on hashing order.
        let theirs: BTreeSet<&FlowKey> = other.candidates.iter().collect();
        for key in theirs {
            self.admit(*key);
        }
        self.candidates_refused = self
            .candidates_refused
            .saturating_add(other.candidates_refused);
        self.totals = totals;
        self.totals.records = self.estimates().len() as u64;
        Ok(())
    }

    fn estimates(&self) -> Vec<Estimated> {
        let mut rows: Vec<Estimated> = self
            .candidates
            .iter()
            .map(|key| {
                let estimate = self.sketch.estimate(key_hash(key, self.params.seed));
                Estimated {
                    key: *key,
                    packets: Some(estimate.packets),
                    bytes: Some(estimate.bytes),
                    spread: None,
                }
            })
            .filter(|row| {
                row.packets >= Some(self.params.packet_threshold)
                    || row.bytes >= Some(self.params.byte_threshold)
            })
            .collect();
        rows.sort_unstable_by_key(|row| row.key);
        rows
    }

    fn sketch_state(&self) -> Option<Vec<u8>> {
        Some(super::state::encode_heavy(self))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::sketch::hash::mix;
    use crate::flow::{KeyField, TaskKind};

    fn params(width: u32) -> HeavyHitterParams {
        HeavyHitterParams {
            width,
            depth: 3,
            packet_threshold: 500,
            byte_threshold: u64::MAX,
            seed: 1,
        }
    }

    fn spec(params: HeavyHitterParams) -> TaskSpec {
        TaskSpec {
            name: "hh".into(),
            kind: TaskKind::HeavyHitters(params),
            schema: KeySchema::from_fields(&[KeyField::SrcIp]),
            max_keys: None,
        }
    }

    /// A Zipf-like stream over 5,000 sources: source k sends a share of
    /// the packets about proportional to 1/(k+1).
    fn skewed(packets: u64) -> Vec<PacketRecord> {
        (0..packets)
            .map(|step| {
                let uniform = (mix(step) >> 11) as f64 / (1u64 << 53) as f64;
                let source = (5000f64.powf(uniform) as u32).saturating_sub(1);
                PacketRecord {
                    key: FlowKey::ipv4(
                        Ipv4Addr::from(0x0a00_0000 + source),
                        Ipv4Addr::new(192, 0, 2, 1),
                        1000,
                        80,
                        6,
                    ),
                    timestamp_ns: step,
                    wire_len: 60 + (step % 100) as u32,
                }
            })
            .collect()
    }

    fn truth(batch: &[PacketRecord]) -> HashMap<FlowKey, u64> {
        let schema = KeySchema::from_fields(&[KeyField::SrcIp]);
        let mut counts = HashMap::new();
        for packet in batch {
            *counts.entry(schema.project(&packet.key)).or_default() += 1;
        }
        counts
    }

    #[test]
    fn every_key_at_the_threshold_is_reported_within_the_error_bound() {
        let params = params(1024);
        let batch = skewed(200_000);
        let mut aggregator = HeavyHitterAggregator::new(&spec(params), params);
        aggregator.count(&batch);
        let part = aggregator.take_part();
        let reported: HashMap<FlowKey, u64> = part
            .estimates()
            .iter()
            .map(|row| (row.key, row.packets.unwrap()))
            .collect();
        let bound = params.epsilon() * batch.len() as f64;
        let truth = truth(&batch);
        let heavy = truth.values().filter(|&&count| count >= 500).count();
        assert!(heavy > 10, "the stream must have heavy keys ({heavy})");
        for (key, &count) in &truth {
            if count >= 500 {
                assert!(reported.contains_key(key), "{key} ({count} packets) missed");
            }
        }
        for (key, &estimate) in &reported {
            let count = truth[key];
            assert!(estimate >= count);
            assert!(
                (estimate - count) as f64 <= bound,
                "{key}: {estimate} vs {count}"
            );
        }
    }

    #[test]
    fn the_merge_of_two_windows_matches_one_window_over_both() {
        let params = params(4096);
        let batch = skewed(100_000);
        let (first, second) = batch.split_at(50_000);
        let mut aggregator = HeavyHitterAggregator::new(&spec(params), params);
        aggregator.count(first);
        let mut merged = aggregator.take_part();
        aggregator.count(second);
        merged.merge(aggregator.take_part().as_ref()).unwrap();
        aggregator.count(&batch);
        let whole = aggregator.take_part();
        assert_eq!(merged.totals().packets, whole.totals().packets);
        assert_eq!(merged.totals().bytes, whole.totals().bytes);
        let truth = truth(&batch);
        let reported = |part: &dyn Part| -> Vec<FlowKey> {
            part.estimates().iter().map(|row| row.key).collect()
        };
        let (merged_keys, whole_keys) = (reported(merged.as_ref()), reported(whole.as_ref()));
        // A key heavy within one half is a candidate of that half, so the
        // merge reports it; and it is heavy over both, so one sketch does.
        let halves = [self::truth(first), self::truth(second)];
        let heavy_in_a_half = |key: &FlowKey| halves.iter().any(|half| half.get(key) >= Some(&500));
        for key in truth.keys().filter(|key| heavy_in_a_half(key)) {
            assert!(
                merged_keys.contains(key) && whole_keys.contains(key),
                "{key}"
            );
        }
        let bound = params.epsilon() * batch.len() as f64;
        for row in merged.estimates() {
            let estimate = row.packets.unwrap();
            assert!(estimate >= truth[&row.key]);
            assert!((estimate - truth[&row.key]) as f64 <= bound);
        }
        let other = HeavyHitterParams { seed: 2, ..params };
        let mut different = HeavyHitterAggregator::new(&spec(other), other);
        different.count(first);
        assert_eq!(
            merged.merge(different.take_part().as_ref()),
            Err(MergeError::ParametersDiffer)
        );
    }
}
