//! The super-spreader task kind (`skt_type: 1`): how many distinct elements
//! (say destinations) each key (say source) was seen with, in fixed memory.
//!
//! The sketch is `depth` rows of `width` buckets. A bucket holds `m`
//! HyperLogLog registers, the candidate key it has seen with the highest
//! level, and that level. A packet's key picks one bucket per row; the
//! (key, element) pair's hash sets one register of each, and its level (a
//! second geometric draw from the same hash) may make the key the bucket's
//! candidate. A key's spread is the smallest estimate among its buckets: a
//! bucket shared with other keys only adds their elements, so the minimum
//! is the least disturbed, and for a key alone in one of its buckets the
//! relative standard error is that of HyperLogLog, about 1.04/√m.
//!
//! A key with many distinct elements draws many levels, so it wins its
//! buckets' candidacy with high probability. Ties between levels go to the
//! greater key hash, so the state depends only on the set of (key, element)
//! pairs seen: merging two sketches (registers take the maximum, each bucket
//! keeps the higher candidate) gives exactly the sketch of both streams.

use std::any::Any;
use std::collections::BTreeMap;

use super::hash::{key_hash, mix, pair_hash, row_index};
use super::{MAX_DEPTH, SpreadParams};
use crate::flow::aggregator::{
    Aggregator, Estimated, MergeError, Part, PartTotals, SUPER_SPREAD_KIND, TaskSpec, same_kind,
};
use crate::flow::map::prefetch;
use crate::flow::{FlowKey, FlowRecord, KeySchema, Overflow, PacketRecord};

/// Mixed into a pair's hash to draw its level independently of its register.
const LEVEL_SALT: u64 = 0x5bd1_e995_a5a5_a5a5;

/// Packets hashed and located before the first of them is counted.
const GROUP: usize = 16;

/// Where one (key, element) pair lands in a [`SpreadSketch`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Located {
    register: u32,
    rank: u8,
    level: u8,
    /// The key's bucket in each row: the first `depth` entries count.
    buckets: [u32; MAX_DEPTH as usize],
}

/// The buckets of one super-spreader sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadSketch {
    params: SpreadParams,
    /// `log2(m)`.
    index_bits: u32,
    /// `registers[bucket * m + register]`, bucket = `row * width + column`.
    registers: Vec<u8>,
    /// The candidate's level per bucket; 0: no candidate yet.
    levels: Vec<u8>,
    candidates: Vec<FlowKey>,
}

impl SpreadSketch {
    pub fn new(params: SpreadParams) -> SpreadSketch {
        let buckets = params.width as usize * params.depth as usize;
        SpreadSketch {
            params,
            index_bits: params.registers.trailing_zeros(),
            registers: vec![0; buckets * params.registers as usize],
            levels: vec![0; buckets],
            candidates: vec![FlowKey::default(); buckets],
        }
    }

    /// Rebuilds a sketch from stored parts; `None` when a length does not
    /// fit the parameters or a register or level is out of range.
    pub fn from_parts(
        params: SpreadParams,
        registers: Vec<u8>,
        levels: Vec<u8>,
        candidates: Vec<FlowKey>,
    ) -> Option<SpreadSketch> {
        let mut sketch = SpreadSketch::new(params);
        let max_rank = 65 - sketch.index_bits as u8;
        let fits = registers.len() == sketch.registers.len()
            && levels.len() == sketch.levels.len()
            && candidates.len() == sketch.candidates.len()
            && registers.iter().all(|&rank| rank <= max_rank)
            && levels.iter().all(|&level| level <= 65);
        fits.then(|| {
            sketch.registers = registers;
            sketch.levels = levels;
            sketch.candidates = candidates;
            sketch
        })
    }

    pub fn registers(&self) -> &[u8] {
        &self.registers
    }

    pub fn levels(&self) -> &[u8] {
        &self.levels
    }

    pub fn candidates(&self) -> &[FlowKey] {
        &self.candidates
    }

    /// Where the pair of `key` (hashing to `hash`) and `element` lands:
    /// its register, rank and level, and its key's bucket in each row, with
    /// the cache lines of those registers and levels requested.
    #[inline]
    pub fn locate(&self, hash: u64, element: &FlowKey) -> Located {
        let pair = pair_hash(hash, element);
        let m = self.params.registers as usize;
        let register = (pair & (m as u64 - 1)) as u32;
        // Rank: position of the first 1 in the bits above the index, from
        // the top; a word of zeros ranks one past its length.
        let rank = ((pair >> self.index_bits).leading_zeros() - self.index_bits + 1) as u8;
        let level = (mix(pair ^ LEVEL_SALT).leading_zeros() + 1) as u8;
        let mut buckets = [0u32; MAX_DEPTH as usize];
        for (row, bucket) in buckets
            .iter_mut()
            .take(self.params.depth as usize)
            .enumerate()
        {
            let at = self.bucket(hash, row as u32);
            prefetch(&self.registers[at * m + register as usize]);
            prefetch(&self.levels[at]);
            *bucket = at as u32;
        }
        Located {
            register,
            rank,
            level,
            buckets,
        }
    }

    /// Records that `key` (hashing to `hash`) was seen with an element
    /// that [`SpreadSketch::locate`] placed at `at`.
    #[inline]
    pub fn add_at(&mut self, key: &FlowKey, hash: u64, at: &Located) {
        let m = self.params.registers as usize;
        for &bucket in &at.buckets[..self.params.depth as usize] {
            let bucket = bucket as usize;
            let slot = &mut self.registers[bucket * m + at.register as usize];
            *slot = (*slot).max(at.rank);
            self.offer(bucket, at.level, key, hash);
        }
    }

    fn bucket(&self, hash: u64, row: u32) -> usize {
        row as usize * self.params.width as usize + row_index(hash, row, self.params.width)
    }

    /// Makes `key` the bucket's candidate if its `level` beats the
    /// candidate's, or equals it and `key` hashes higher.
    #[inline]
    fn offer(&mut self, bucket: usize, level: u8, key: &FlowKey, hash: u64) {
        let held = self.levels[bucket];
        if level < held || (level == held && self.candidates[bucket] == *key) {
            return;
        }
        if level == held && key_hash(&self.candidates[bucket], self.params.seed) > hash {
            return;
        }
        self.levels[bucket] = level;
        self.candidates[bucket] = *key;
    }

    /// Takes the register maximum and the better candidate of every bucket;
    /// `None` when the parameters differ.
    pub fn merge(&mut self, other: &SpreadSketch) -> Option<()> {
        if self.params != other.params {
            return None;
        }
        for (ours, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *ours = (*ours).max(*theirs);
        }
        for bucket in 0..self.levels.len() {
            if other.levels[bucket] > 0 {
                let key = other.candidates[bucket];
                self.offer(
                    bucket,
                    other.levels[bucket],
                    &key,
                    key_hash(&key, self.params.seed),
                );
            }
        }
        Some(())
    }

    /// The HyperLogLog estimate of one bucket's distinct pairs.
    fn bucket_estimate(&self, bucket: usize) -> f64 {
        let m = self.params.registers as usize;
        let registers = &self.registers[bucket * m..(bucket + 1) * m];
        let zeros = registers.iter().filter(|&&rank| rank == 0).count();
        let harmonic: f64 = registers
            .iter()
            .map(|&rank| (-f64::from(rank)).exp2())
            .sum();
        let m = m as f64;
        let alpha = match self.params.registers {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let raw = alpha * m * m / harmonic;
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }

    /// Every candidate key with its estimated spread, by key.
    pub fn spreads(&self) -> BTreeMap<FlowKey, u64> {
        let mut spreads = BTreeMap::new();
        for bucket in 0..self.levels.len() {
            if self.levels[bucket] == 0 {
                continue;
            }
            let key = self.candidates[bucket];
            if spreads.contains_key(&key) {
                continue;
            }
            let hash = key_hash(&key, self.params.seed);
            let least = (0..self.params.depth)
                .map(|row| self.bucket_estimate(self.bucket(hash, row)))
                .fold(f64::INFINITY, f64::min);
            spreads.insert(key, least.round() as u64);
        }
        spreads
    }
}

/// Counts a super-spreader task.
pub struct SuperSpreadAggregator {
    schema: KeySchema,
    params: SpreadParams,
    part: SuperSpreadPart,
}

impl SuperSpreadAggregator {
    pub fn new(spec: &TaskSpec, params: SpreadParams) -> SuperSpreadAggregator {
        SuperSpreadAggregator {
            schema: spec.schema,
            params,
            part: SuperSpreadPart::empty(spec.schema, params),
        }
    }
}

impl Aggregator for SuperSpreadAggregator {
    /// Each group of packets is hashed and its registers requested from
    /// memory first, then counted, so the cache misses of a group overlap.
    fn count(&mut self, batch: &[PacketRecord]) {
        let part = &mut self.part;
        for group in batch.chunks(GROUP) {
            let mut located = [(FlowKey::default(), 0u64, Located::default()); GROUP];
            for (packet, entry) in group.iter().zip(&mut located) {
                let key = self.schema.project(&packet.key);
                let hash = key_hash(&key, self.params.seed);
                let element = self.params.element.project(&packet.key);
                *entry = (key, hash, part.sketch.locate(hash, &element));
            }
            for (packet, (key, hash, at)) in group.iter().zip(&located) {
                part.sketch.add_at(key, *hash, at);
                part.totals.packets += 1;
                part.totals.bytes += u64::from(packet.wire_len);
            }
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        let mut part = std::mem::replace(
            &mut self.part,
            SuperSpreadPart::empty(self.schema, self.params),
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

/// One window's super-spreader state.
#[derive(Debug, Clone)]
pub struct SuperSpreadPart {
    /// The task's key fields, stored with the state.
    pub(super) schema: KeySchema,
    pub(super) sketch: SpreadSketch,
    /// `packets` and `bytes` counted; `records`: keys at the threshold.
    pub(super) totals: PartTotals,
}

impl SuperSpreadPart {
    fn empty(schema: KeySchema, params: SpreadParams) -> SuperSpreadPart {
        SuperSpreadPart {
            schema,
            sketch: SpreadSketch::new(params),
            totals: PartTotals::default(),
        }
    }

    pub fn params(&self) -> SpreadParams {
        self.sketch.params
    }
}

impl Part for SuperSpreadPart {
    fn kind(&self) -> &'static str {
        SUPER_SPREAD_KIND
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
        let other = same_kind::<SuperSpreadPart>(self, other)?;
        let totals = self
            .totals
            .checked_add(other.totals)
            .ok_or(MergeError::CountOverflow)?;
        self.sketch
            .merge(&other.sketch)
            .ok_or(MergeError::ParametersDiffer)?;
        self.totals = PartTotals {
            records: self.estimates().len() as u64,
            ..totals
        };
        Ok(())
    }

    fn estimates(&self) -> Vec<Estimated> {
        let threshold = self.sketch.params.threshold;
        self.sketch
            .spreads()
            .into_iter()
            .filter(|&(_, spread)| spread >= threshold)
            .map(|(key, spread)| Estimated {
                key,
                packets: None,
                bytes: None,
                spread: Some(spread),
            })
            .collect()
    }

    fn sketch_state(&self) -> Option<Vec<u8>> {
        Some(super::state::encode_spread(self))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::{KeyField, TaskKind};

    fn params(threshold: u64) -> SpreadParams {
        SpreadParams {
            element: KeySchema::from_fields(&[KeyField::DstIp]),
            width: 1024,
            depth: 2,
            registers: 128,
            threshold,
            seed: 3,
        }
    }

    fn spec(params: SpreadParams) -> TaskSpec {
        TaskSpec {
            name: "spread".into(),
            kind: TaskKind::SuperSpread(params),
            schema: KeySchema::from_fields(&[KeyField::SrcIp]),
            max_keys: None,
        }
    }

    fn packet(source: u32, destination: u32) -> PacketRecord {
        PacketRecord {
            key: FlowKey::ipv4(
                Ipv4Addr::from(source),
                Ipv4Addr::from(destination),
                1234,
                80,
                6,
            ),
            timestamp_ns: 0,
            wire_len: 60,
        }
    }

    /// One scanner reaching 20,000 hosts, five sources with 100..500
    /// destinations, and 3,000 sources with one destination each, each pair
    /// sent three times.
    fn traffic() -> Vec<PacketRecord> {
        let mut batch = Vec::new();
        for _ in 0..3 {
            batch.extend((0..20_000).map(|host| packet(0x0a00_0001, 0xc000_0000 + host)));
            for source in 1..=5u32 {
                batch.extend((0..source * 100).map(|host| packet(0x0b00_0000 + source, host)));
            }
            batch.extend((0..3000).map(|source| packet(0x0c00_0000 + source, 0x0808_0808)));
        }
        batch
    }

    fn spreads(part: &dyn Part) -> BTreeMap<FlowKey, u64> {
        part.estimates()
            .iter()
            .map(|row| (row.key, row.spread.unwrap()))
            .collect()
    }

    #[test]
    fn spreads_of_a_scanner_and_of_wide_sources_are_within_three_standard_errors() {
        let params = params(50);
        let mut aggregator = SuperSpreadAggregator::new(&spec(params), params);
        aggregator.count(&traffic());
        let spreads = spreads(aggregator.take_part().as_ref());
        let source = |address: u32| FlowKey {
            src: FlowKey::ipv4(Ipv4Addr::from(address), Ipv4Addr::UNSPECIFIED, 0, 0, 0).src,
            family: crate::flow::AddressFamily::Ipv4,
            ..FlowKey::default()
        };
        let tolerance = 3.0 * params.relative_error();
        let mut expected = vec![(source(0x0a00_0001), 20_000u64)];
        expected.extend((1..=5u32).map(|s| (source(0x0b00_0000 + s), u64::from(s) * 100)));
        for (key, truth) in expected {
            let estimate = spreads[&key];
            let error = (estimate as f64 - truth as f64).abs() / truth as f64;
            assert!(error <= tolerance, "{key}: {estimate} for {truth}");
        }
        // Sources with one destination stay far below the threshold.
        assert_eq!(spreads.len(), 6, "{spreads:?}");
    }

    #[test]
    fn merging_two_windows_gives_exactly_the_sketch_of_both() {
        let params = params(50);
        let batch = traffic();
        let (first, second) = batch.split_at(batch.len() / 3 + 7);
        let mut aggregator = SuperSpreadAggregator::new(&spec(params), params);
        aggregator.count(second);
        let mut merged = aggregator.take_part();
        aggregator.count(first);
        merged.merge(aggregator.take_part().as_ref()).unwrap();
        aggregator.count(&batch);
        let whole = aggregator.take_part();
        let sketch = |part: &dyn Part| {
            part.as_any()
                .downcast_ref::<SuperSpreadPart>()
                .unwrap()
                .sketch
                .clone()
        };
        assert_eq!(sketch(merged.as_ref()), sketch(whole.as_ref()));
        assert_eq!(merged.totals(), whole.totals());
        assert_eq!(spreads(merged.as_ref()), spreads(whole.as_ref()));
    }
}
