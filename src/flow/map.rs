//! Per-key counters and the table that holds them.
//!
//! [`FlowMap`] stores its records densely, in insertion order, in chunks of
//! [`CHUNK_LEN`] records that never move once allocated (growing never copies
//! them, and at most one chunk is partly empty), plus an index of record
//! numbers by key hash ([`KeyIndex`], 8 bytes per slot, at most three slots
//! in four used). The caller computes the key's hash once per packet and
//! task and passes it in (the same hash picks the key's share); before
//! counting a group of keys it can prefetch their index slots, then their
//! records, so the group's cache misses overlap.
//!
//! Iteration yields records in the order their keys were first seen, which
//! depends only on the input, so writing needs no sort. A map belongs to
//! exactly one owner at a time; it has no interior mutability and no lock.
//!
//! Key floods: [`FlowMap::add_bounded`] refuses new keys beyond a limit
//! without allocating; the caller counts the refused packets in an
//! [`OverflowCounter`], which also estimates how many distinct keys it
//! refused in a fixed 8 KiB sketch.

use super::FlowKey;
use super::index::KeyIndex;

/// Fixed seeds: the same key hashes the same in every run, so a map's
/// record order and every figure derived from hashes are reproducible.
const SEEDS: [u64; 7] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
    0x4528_21e6_38d0_1377,
    0xbe54_66cf_34e9_0c6c,
    0xc0ac_29b7_c97c_50dd,
];
/// Counters of one key within one window. Timestamps are nanoseconds since
/// the Unix epoch, taken from the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowStats {
    pub packets: u64,
    /// Sum of the frames' original (on-the-wire) lengths.
    pub bytes: u64,
    pub first_seen: u64,
    pub last_seen: u64,
}

impl FlowStats {
    /// Counters of a key not yet seen: merging anything into them gives
    /// that thing (the first seen is the latest time, the last the earliest).
    pub const NONE: FlowStats = FlowStats {
        packets: 0,
        bytes: 0,
        first_seen: u64::MAX,
        last_seen: 0,
    };

    /// Counters of a key seen once.
    pub fn first(timestamp: u64, wire_len: u32) -> FlowStats {
        FlowStats {
            packets: 1,
            bytes: u64::from(wire_len),
            first_seen: timestamp,
            last_seen: timestamp,
        }
    }

    /// Adds one more packet. Timestamps may go backwards in merged captures,
    /// so first and last are a min and a max, not the first and last call.
    #[inline]
    pub fn add(&mut self, timestamp: u64, wire_len: u32) {
        self.packets += 1;
        self.bytes += u64::from(wire_len);
        self.first_seen = self.first_seen.min(timestamp);
        self.last_seen = self.last_seen.max(timestamp);
    }

    /// Folds in the counters of more packets of the same key, as
    /// [`FlowStats::add`] does one packet.
    #[inline]
    pub fn absorb(&mut self, other: &FlowStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }

    /// Folds another set of counters for the same key into this one;
    /// `None`, with `self` unchanged, when a sum would exceed `u64`.
    pub fn checked_merge(&mut self, other: &FlowStats) -> Option<()> {
        let packets = self.packets.checked_add(other.packets)?;
        let bytes = self.bytes.checked_add(other.bytes)?;
        *self = FlowStats {
            packets,
            bytes,
            first_seen: self.first_seen.min(other.first_seen),
            last_seen: self.last_seen.max(other.last_seen),
        };
        Some(())
    }
}

/// One key and its counters, as handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub stats: FlowStats,
}

/// Records per chunk of a [`FlowMap`]: 16,384 records of 72 bytes, 1.1 MiB.
/// The first chunk grows like a `Vec` up to this size, so small maps stay small.
pub const CHUNK_LEN: usize = 1 << CHUNK_SHIFT;
const CHUNK_SHIFT: u32 = 14;

/// Counters for every key seen by one task in one shard during one window.
#[derive(Debug, Default, Clone)]
pub struct FlowMap {
    /// Record numbers (`chunk << CHUNK_SHIFT | slot`), found by key hash.
    index: KeyIndex,
    /// Every chunk but the last holds exactly `CHUNK_LEN` records.
    chunks: Vec<Vec<FlowRecord>>,
}

/// Hashes a key with the process-wide fixed seeds. A task's map takes the
/// value in [`FlowMap::add`], so each aggregator hashes a key once per packet.
///
/// Each field group (source address, destination address, the rest) is
/// mixed on its own by a 64x64-bit multiply folded to 64 bits, and the three
/// are combined by one more. A group that a task's schema always leaves zero
/// therefore costs nothing where the schema is known when compiling: its
/// term is a constant (see `ExactAggregator`'s specialised counting).
#[inline(always)]
pub fn hash_key(key: &FlowKey) -> u64 {
    let [src_low, src_high] = halves(key.src);
    let [dst_low, dst_high] = halves(key.dst);
    let rest = u64::from(key.src_port)
        | u64::from(key.dst_port) << 16
        | u64::from(key.protocol) << 32
        | u64::from(key.family as u8) << 40;
    let src = folded_multiply(src_low ^ SEEDS[0], src_high ^ SEEDS[1]);
    let dst = folded_multiply(dst_low ^ SEEDS[2], dst_high ^ SEEDS[3]);
    let rest = folded_multiply(rest ^ SEEDS[4], SEEDS[5]);
    folded_multiply(src ^ dst.rotate_left(21) ^ rest.rotate_left(42), SEEDS[6])
}

/// An address's bytes as two 64-bit words.
#[inline(always)]
fn halves(address: [u8; 16]) -> [u64; 2] {
    let word = u128::from_ne_bytes(address);
    [word as u64, (word >> 64) as u64]
}

/// The full 128-bit product of `a` and `b`, its halves xored: every bit of
/// either input reaches most bits of the result.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    product as u64 ^ (product >> 64) as u64
}

impl FlowMap {
    /// An empty map; it allocates on the first key.
    pub fn new() -> FlowMap {
        FlowMap::default()
    }

    /// Counts one packet for `key`; `hash` must be `hash_key(&key)`. A key
    /// already held (the common case) is counted inline; a new one goes
    /// through [`FlowMap::insert_new`], kept out of line.
    #[inline(always)]
    pub fn add(&mut self, hash: u64, key: FlowKey, timestamp: u64, wire_len: u32) {
        let chunks = &self.chunks;
        match self
            .index
            .find(hash, |number| record_at(chunks, number).key == key)
        {
            Some(number) => record_at_mut(&mut self.chunks, number)
                .stats
                .add(timestamp, wire_len),
            None => self.insert_new(hash, key, timestamp, wire_len),
        }
    }

    /// Appends the record of a key seen for the first time and indexes it.
    #[cold]
    #[inline(never)]
    fn insert_new(&mut self, hash: u64, key: FlowKey, timestamp: u64, wire_len: u32) {
        let number = push(
            &mut self.chunks,
            FlowRecord {
                key,
                stats: FlowStats::first(timestamp, wire_len),
            },
        );
        self.index.insert(hash, number);
    }

    /// Like [`FlowMap::add`], but a key not yet in the map is refused when
    /// the map already holds `limit` keys: returns false and changes
    /// nothing. A key already present is always counted. A refused key never
    /// allocates (the index is probed with `find`, which cannot grow it).
    #[inline]
    pub fn add_bounded(
        &mut self,
        hash: u64,
        key: FlowKey,
        timestamp: u64,
        wire_len: u32,
        limit: usize,
    ) -> bool {
        if self.len() < limit {
            self.add(hash, key, timestamp, wire_len);
            return true;
        }
        let chunks = &self.chunks;
        let Some(number) = self
            .index
            .find(hash, |number| record_at(chunks, number).key == key)
        else {
            return false;
        };
        record_at_mut(&mut self.chunks, number)
            .stats
            .add(timestamp, wire_len);
        true
    }

    /// Holds `key` from now on, with no packet counted yet
    /// ([`FlowStats::NONE`]), unless it is already held or the map holds
    /// `limit` keys; `hash` must be `hash_key(&key)`. Returns the key's
    /// record number, `None` when it was refused. Keys enter in the order
    /// of these calls, as with [`FlowMap::add_bounded`].
    pub fn hold_bounded(&mut self, hash: u64, key: FlowKey, limit: usize) -> Option<u32> {
        let chunks = &self.chunks;
        if let Some(number) = self
            .index
            .find(hash, |number| record_at(chunks, number).key == key)
        {
            return Some(number);
        }
        if self.len() >= limit {
            return None;
        }
        let number = push(
            &mut self.chunks,
            FlowRecord {
                key,
                stats: FlowStats::NONE,
            },
        );
        self.index.insert(hash, number);
        Some(number)
    }

    /// `number` (from [`FlowMap::prefetch_record`]) if it is `key`'s record.
    #[inline]
    pub fn number_at(&self, number: Option<u32>, key: &FlowKey) -> Option<u32> {
        let number = number?;
        let chunk = self.chunks.get((number >> CHUNK_SHIFT) as usize)?;
        let record = chunk.get(number as usize & (CHUNK_LEN - 1))?;
        (record.key == *key).then_some(number)
    }

    /// The counters in record `number`, to change; `None` if there is no such record.
    #[inline]
    pub fn stats_of(&mut self, number: u32) -> Option<&mut FlowStats> {
        record_at_mut_checked(&mut self.chunks, number).map(|record| &mut record.stats)
    }

    /// Starts loading record `number` into the cache; loads nothing itself.
    #[inline]
    pub fn prefetch_number(&self, number: u32) {
        if let Some(record) = self
            .chunks
            .get((number >> CHUNK_SHIFT) as usize)
            .and_then(|chunk| chunk.get(number as usize & (CHUNK_LEN - 1)))
        {
            prefetch(record);
        }
    }

    /// The records of the keys first counted after the first `skip`, in
    /// the order they were first counted.
    pub fn records_after(&self, skip: usize) -> impl Iterator<Item = &FlowRecord> {
        let first_chunk = skip >> CHUNK_SHIFT;
        let within = skip & (CHUNK_LEN - 1);
        self.chunks
            .iter()
            .skip(first_chunk)
            .enumerate()
            .flat_map(move |(offset, chunk)| {
                let start = if offset == 0 { within } else { 0 };
                chunk.get(start..).unwrap_or_default()
            })
    }

    /// Starts loading the index slot of `hash` into the cache; loads
    /// nothing itself. The first of two steps before [`FlowMap::add`] with
    /// the same hash, taken for a group of keys before the second.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        self.index.prefetch_slot(hash);
    }

    /// Starts loading the record that `hash` probably belongs to into the
    /// cache, reading its index slot (prefetched by
    /// [`FlowMap::prefetch_slot`]) to find it, and returns that record's
    /// number for [`FlowMap::add_at`]. Changes nothing; loads nothing where
    /// prefetching is unsupported.
    #[inline]
    pub fn prefetch_record(&self, hash: u64) -> Option<u32> {
        let number = self.index.candidate(hash)?;
        prefetch(record_at(&self.chunks, number));
        Some(number)
    }

    /// Counts one packet in record `number` (from [`FlowMap::prefetch_record`])
    /// if that record is `key`'s; false, changing nothing, if it is not.
    /// Records never move and keys are never removed, so a number found
    /// before other keys were added still names the same record.
    #[inline]
    pub fn add_at(
        &mut self,
        number: Option<u32>,
        key: &FlowKey,
        timestamp: u64,
        wire_len: u32,
    ) -> bool {
        let Some(record) =
            number.and_then(|number| record_at_mut_checked(&mut self.chunks, number))
        else {
            return false;
        };
        if record.key != *key {
            return false;
        }
        record.stats.add(timestamp, wire_len);
        true
    }

    /// Folds a whole record in (used when merging parts); `None`, with the
    /// key's counters unchanged, when a sum would exceed `u64`.
    pub fn merge_record(&mut self, record: &FlowRecord) -> Option<()> {
        let hash = hash_key(&record.key);
        let chunks = &self.chunks;
        match self
            .index
            .find(hash, |number| record_at(chunks, number).key == record.key)
        {
            Some(number) => record_at_mut(&mut self.chunks, number)
                .stats
                .checked_merge(&record.stats),
            None => {
                let number = push(&mut self.chunks, *record);
                self.index.insert(hash, number);
                Some(())
            }
        }
    }

    /// The counters of `key`, if the map holds it.
    pub fn get(&self, key: &FlowKey) -> Option<&FlowStats> {
        let chunks = &self.chunks;
        self.index
            .find(hash_key(key), |number| {
                record_at(chunks, number).key == *key
            })
            .map(|number| &record_at(chunks, number).stats)
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no packet was counted.
    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// The records, each key once, in the order the keys were first counted.
    pub fn records(&self) -> Records<'_> {
        Records {
            chunks: self.chunks.iter(),
            current: [].iter(),
            remaining: self.len(),
        }
    }

    /// Sum of packets and bytes over all keys, by a scan of every record.
    pub fn totals(&self) -> (u64, u64) {
        self.records().fold((0, 0), |(packets, bytes), record| {
            (packets + record.stats.packets, bytes + record.stats.bytes)
        })
    }
}

/// What one task counted beyond its key limit in one window: the refused
/// keys' packets as a single record (`other` in `inspect`), and an estimate
/// of how many distinct keys were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overflow {
    /// Packets, bytes and time range of every refused packet; all zero when
    /// nothing was refused.
    pub stats: FlowStats,
    /// Estimated distinct keys refused (HyperLogLog, standard error about
    /// 1.2% per shard; exact below a few hundred keys).
    pub keys_refused: u64,
}

impl Overflow {
    /// Whether no packet was refused.
    pub fn is_empty(&self) -> bool {
        self.stats.packets == 0
    }

    /// Adds another share's, window's or run's overflow; `None`, with
    /// `self` unchanged, when a sum would exceed `u64`. Shares refuse
    /// disjoint keys (a key lives in one share), so their estimates add up;
    /// across windows the sum counts a key once per window it was refused in.
    pub fn checked_merge(&mut self, other: &Overflow) -> Option<()> {
        if other.is_empty() {
            return Some(());
        }
        let keys_refused = self.keys_refused.checked_add(other.keys_refused)?;
        if self.is_empty() {
            self.stats = other.stats;
        } else {
            self.stats.checked_merge(&other.stats)?;
        }
        self.keys_refused = keys_refused;
        Some(())
    }
}

/// Registers of the refused-key sketch: 2^13 one-byte registers, 8 KiB.
const SKETCH_BITS: u32 = 13;
const SKETCH_LEN: usize = 1 << SKETCH_BITS;

/// Counts the packets a bounded map refused, and estimates the number of
/// distinct refused keys in constant memory. Counting them exactly would
/// take memory proportional to the flood, which is what the limit prevents.
///
/// The estimate is HyperLogLog over 8 KiB of registers, with linear
/// counting for small numbers; the registers are allocated on the first
/// refusal only, so a task that never overflows pays nothing.
#[derive(Debug, Default, Clone)]
pub struct OverflowCounter {
    stats: FlowStats,
    registers: Option<Box<[u8; SKETCH_LEN]>>,
}

impl OverflowCounter {
    /// Counts one refused packet; `hash` is the key's `hash_key`.
    #[inline]
    pub fn add(&mut self, hash: u64, timestamp: u64, wire_len: u32) {
        self.add_stats(hash, &FlowStats::first(timestamp, wire_len));
    }

    /// Counts the refused packets of one key at once, as if added one by one.
    pub fn add_stats(&mut self, hash: u64, stats: &FlowStats) {
        if self.stats.packets == 0 {
            self.stats = *stats;
        } else {
            self.stats.absorb(stats);
        }
        let registers = self
            .registers
            .get_or_insert_with(|| Box::new([0; SKETCH_LEN]));
        // Shard routing fixes some bits of `hash` within a shard: remix
        // before taking the register number and the rank.
        let mixed = mix(hash);
        let register = (mixed >> (64 - SKETCH_BITS)) as usize;
        let rank = ((mixed << SKETCH_BITS) | 1 << (SKETCH_BITS - 1)).leading_zeros() as u8 + 1;
        let slot = &mut registers[register];
        *slot = (*slot).max(rank);
    }

    /// Packets counted since the last `take`.
    pub fn packets(&self) -> u64 {
        self.stats.packets
    }

    /// Returns what was counted and starts over, freeing the sketch.
    pub fn take(&mut self) -> Overflow {
        let counted = self.peek();
        *self = OverflowCounter::default();
        counted
    }

    /// What was counted so far, counting on.
    pub fn peek(&self) -> Overflow {
        Overflow {
            stats: self.stats,
            keys_refused: self
                .registers
                .as_ref()
                .map_or(0, |registers| estimate(registers)),
        }
    }
}

/// The murmur3 64-bit finaliser: every output bit depends on every input bit.
#[inline]
fn mix(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ hash >> 33
}

/// HyperLogLog's estimate (Flajolet et al. 2007), with linear counting over
/// the empty registers below 2.5 times the register count. 64-bit hashes
/// need no large-range correction.
fn estimate(registers: &[u8; SKETCH_LEN]) -> u64 {
    let m = SKETCH_LEN as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = registers
        .iter()
        .map(|&rank| 2f64.powi(-i32::from(rank)))
        .sum();
    let raw = alpha * m * m / sum;
    let empty = registers.iter().filter(|&&rank| rank == 0).count();
    let estimate = if raw <= 2.5 * m && empty > 0 {
        m * (m / empty as f64).ln()
    } else {
        raw
    };
    estimate.round() as u64
}

/// The records of a [`FlowMap`] in insertion order; knows its exact length,
/// so a writer can put the count in a header before streaming the records.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    chunks: std::slice::Iter<'a, Vec<FlowRecord>>,
    current: std::slice::Iter<'a, FlowRecord>,
    remaining: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = &'a FlowRecord;

    #[inline]
    fn next(&mut self) -> Option<&'a FlowRecord> {
        loop {
            if let Some(record) = self.current.next() {
                self.remaining -= 1;
                return Some(record);
            }
            self.current = self.chunks.next()?.iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Records<'_> {}

#[inline]
fn record_at(chunks: &[Vec<FlowRecord>], number: u32) -> &FlowRecord {
    &chunks[(number >> CHUNK_SHIFT) as usize][number as usize & (CHUNK_LEN - 1)]
}

/// The record `number`, or `None` if the map holds no such record.
#[inline]
fn record_at_mut_checked(chunks: &mut [Vec<FlowRecord>], number: u32) -> Option<&mut FlowRecord> {
    chunks
        .get_mut((number >> CHUNK_SHIFT) as usize)?
        .get_mut(number as usize & (CHUNK_LEN - 1))
}

#[inline]
fn record_at_mut(chunks: &mut [Vec<FlowRecord>], number: u32) -> &mut FlowRecord {
    &mut chunks[(number >> CHUNK_SHIFT) as usize][number as usize & (CHUNK_LEN - 1)]
}

/// Appends a record and returns its number. A full chunk is never grown:
/// the next record starts a new one, so records never move.
fn push(chunks: &mut Vec<Vec<FlowRecord>>, record: FlowRecord) -> u32 {
    let full = chunks.last().is_none_or(|last| last.len() == CHUNK_LEN);
    if full {
        // The first chunk starts small and doubles; later ones start full size.
        let capacity = if chunks.is_empty() { 4 } else { CHUNK_LEN };
        chunks.push(Vec::with_capacity(capacity));
    }
    let chunk_number = chunks.len() - 1;
    let last = chunks.last_mut().expect("a chunk was just ensured");
    if last.len() == last.capacity() {
        last.reserve_exact((last.capacity() * 2).min(CHUNK_LEN) - last.len());
    }
    let number = (chunk_number << CHUNK_SHIFT) | last.len();
    last.push(record);
    u32::try_from(number).expect("a map holds fewer than 2^32 keys")
}

/// Asks the CPU to start loading the cache lines holding `value` (those of
/// its first and last byte), so that a later access does not wait for
/// memory. A hint with no effect on memory; nothing where unsupported.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn prefetch<T>(value: &T) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    let first = std::ptr::from_ref(value).cast::<i8>();
    let last = first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1));
    // SAFETY: prefetching is a hint with no memory effect; SSE is baseline on x86_64.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(first);
        _mm_prefetch::<_MM_HINT_T0>(last);
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn prefetch<T>(_: &T) {}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn key(last_octet: u8) -> FlowKey {
        FlowKey::ipv4(
            Ipv4Addr::new(10, 0, 0, last_octet),
            Ipv4Addr::new(10, 0, 0, 99),
            1,
            2,
            17,
        )
    }

    #[test]
    fn records_after_a_count_are_the_later_keys_in_order_across_chunks() {
        let mut map = FlowMap::new();
        let keys: Vec<FlowKey> = (0..CHUNK_LEN as u32 * 2 + 7)
            .map(|n| FlowKey::ipv4(Ipv4Addr::from(n), Ipv4Addr::new(10, 0, 0, 99), 1, 2, 17))
            .collect();
        for key in &keys {
            map.add(hash_key(key), *key, 1, 60);
        }
        for skip in [
            0,
            5,
            CHUNK_LEN - 1,
            CHUNK_LEN,
            CHUNK_LEN + 3,
            keys.len() - 1,
            keys.len(),
        ] {
            let after: Vec<FlowKey> = map.records_after(skip).map(|record| record.key).collect();
            assert_eq!(after, keys[skip..], "after {skip}");
        }
    }

    #[test]
    fn a_prefetched_record_counts_a_packet_only_when_it_is_the_packets_key() {
        let mut map = FlowMap::new();
        // Two keys given one hash: the prefetched candidate is the first's.
        let shared_hash = 42;
        map.add(shared_hash, key(1), 10, 100);
        let candidate = map.prefetch_record(shared_hash);
        assert_eq!(candidate, Some(0));
        assert!(!map.add_at(candidate, &key(2), 20, 50));
        assert!(map.add_at(candidate, &key(1), 30, 60));
        assert!(!map.add_at(None, &key(1), 40, 1));
        assert!(!map.add_at(Some(7), &key(1), 40, 1));
        assert_eq!(map.len(), 1);
        let stats = map.records().next().expect("key 1 counted").stats;
        assert_eq!(
            stats,
            FlowStats {
                packets: 2,
                bytes: 160,
                first_seen: 10,
                last_seen: 30
            }
        );
    }

    #[test]
    fn counts_packets_bytes_and_time_range_per_key() {
        let mut map = FlowMap::new();
        for (octet, ts, len) in [(1, 30, 100), (2, 10, 60), (1, 20, 40)] {
            let key = key(octet);
            map.add(hash_key(&key), key, ts, len);
        }
        assert_eq!(map.len(), 2);
        let first = map
            .records()
            .find(|r| r.key == key(1))
            .expect("key 1 counted");
        assert_eq!(
            first.stats,
            FlowStats {
                packets: 2,
                bytes: 140,
                first_seen: 20,
                last_seen: 30
            }
        );
        assert_eq!(map.totals(), (3, 200));
    }

    #[test]
    fn merging_records_sums_counters_of_equal_keys() {
        let mut map = FlowMap::new();
        let record = FlowRecord {
            key: key(1),
            stats: FlowStats::first(5, 10),
        };
        map.merge_record(&record).unwrap();
        map.merge_record(&FlowRecord {
            key: key(1),
            stats: FlowStats::first(3, 7),
        })
        .unwrap();
        let merged = map.records().next().expect("one record");
        assert_eq!(
            merged.stats,
            FlowStats {
                packets: 2,
                bytes: 17,
                first_seen: 3,
                last_seen: 5
            }
        );
    }

    #[test]
    fn equal_keys_hash_equal_and_different_keys_usually_differ() {
        assert_eq!(hash_key(&key(1)), hash_key(&key(1)));
        assert_ne!(hash_key(&key(1)), hash_key(&key(2)));
    }

    /// A distinct 5-tuple per `n`.
    fn numbered(n: u32) -> FlowKey {
        FlowKey::ipv4(
            Ipv4Addr::from(0x0a00_0000 | n),
            Ipv4Addr::new(192, 168, 0, 1),
            (n % 50_000) as u16,
            443,
            6,
        )
    }

    /// Counts `n + 1` packets of `n` bytes each for keys `0..keys`, in rounds,
    /// so keys are looked up again after the map has grown past chunk boundaries.
    fn map_of_rounds(keys: u32, rounds: u32) -> FlowMap {
        let mut map = FlowMap::new();
        for round in 0..rounds {
            for n in 0..keys {
                if round <= n % rounds {
                    let key = numbered(n);
                    let hash = hash_key(&key);
                    map.prefetch_slot(hash);
                    map.prefetch_record(hash);
                    map.add(hash, key, u64::from(round), n);
                }
            }
        }
        map
    }

    #[test]
    fn keys_across_chunk_boundaries_are_found_again_and_counted_once() {
        let keys = (2 * CHUNK_LEN + 5) as u32;
        let map = map_of_rounds(keys, 3);
        assert_eq!(map.len(), keys as usize);
        assert_eq!(map.records().len(), keys as usize);
        for (n, record) in (0..keys).zip(map.records()) {
            let rounds = u64::from(n % 3 + 1);
            assert_eq!(record.key, numbered(n), "insertion order");
            assert_eq!(
                record.stats,
                FlowStats {
                    packets: rounds,
                    bytes: rounds * u64::from(n),
                    first_seen: 0,
                    last_seen: rounds - 1
                },
                "key {n}"
            );
        }
    }

    #[test]
    fn iteration_yields_every_key_exactly_once_and_totals_match() {
        let keys = 300_000u32;
        let map = map_of_rounds(keys, 2);
        let mut seen = vec![false; keys as usize];
        for record in map.records() {
            let n =
                u32::from_be_bytes([0, record.key.src[1], record.key.src[2], record.key.src[3]]);
            assert!(!seen[n as usize], "key {n} yielded twice");
            seen[n as usize] = true;
        }
        assert!(seen.iter().all(|&yielded| yielded));
        let packets: u64 = (0..keys).map(|n| u64::from(n % 2 + 1)).sum();
        let bytes: u64 = (0..keys).map(|n| u64::from(n % 2 + 1) * u64::from(n)).sum();
        assert_eq!(map.totals(), (packets, bytes));
    }

    #[test]
    fn merging_records_across_chunks_matches_counting_them() {
        let counted = map_of_rounds((CHUNK_LEN + 100) as u32, 2);
        let mut merged = FlowMap::new();
        for record in counted.records().chain(counted.records()) {
            merged.merge_record(record).unwrap();
        }
        assert_eq!(merged.len(), counted.len());
        let (packets, bytes) = counted.totals();
        assert_eq!(merged.totals(), (2 * packets, 2 * bytes));
    }

    #[test]
    fn a_full_map_refuses_new_keys_but_keeps_counting_known_ones() {
        let mut map = FlowMap::new();
        for n in 0..3 {
            let key = numbered(n);
            let counted = map.add_bounded(hash_key(&key), key, 1, 10, 2);
            assert_eq!(counted, n < 2, "key {n}");
        }
        assert_eq!(map.len(), 2);
        let known = numbered(1);
        assert!(map.add_bounded(hash_key(&known), known, 5, 7, 2));
        let refused = numbered(9);
        assert!(!map.add_bounded(hash_key(&refused), refused, 5, 7, 2));
        assert_eq!(map.len(), 2);
        assert_eq!(map.totals(), (3, 27));
    }

    #[test]
    fn a_refused_key_never_grows_the_map() {
        let mut map = FlowMap::new();
        let limit = CHUNK_LEN;
        for n in 0..limit as u32 {
            let key = numbered(n);
            map.add_bounded(hash_key(&key), key, 0, 1, limit);
        }
        let (buckets, chunks) = (map.index.capacity(), map.chunks.len());
        for n in limit as u32..4 * limit as u32 {
            let key = numbered(n);
            assert!(!map.add_bounded(hash_key(&key), key, 0, 1, limit));
        }
        assert_eq!((map.index.capacity(), map.chunks.len()), (buckets, chunks));
    }

    #[track_caller]
    fn check_estimate(distinct: u32, repeats: u32, tolerance: f64) {
        let mut counter = OverflowCounter::default();
        for _ in 0..repeats {
            for n in 0..distinct {
                let key = numbered(n);
                counter.add(hash_key(&key), u64::from(n), 100);
            }
        }
        let overflow = counter.take();
        assert_eq!(overflow.stats.packets, u64::from(distinct * repeats));
        assert_eq!(overflow.stats.bytes, 100 * u64::from(distinct * repeats));
        assert_eq!(overflow.stats.last_seen, u64::from(distinct - 1));
        let error = (overflow.keys_refused as f64 / f64::from(distinct) - 1.0).abs();
        assert!(
            error <= tolerance,
            "{distinct} keys estimated as {}",
            overflow.keys_refused
        );
    }

    #[test]
    fn refused_keys_are_estimated_within_a_few_percent_at_any_size() {
        check_estimate(10, 3, 0.0);
        check_estimate(1_000, 2, 0.02);
        check_estimate(30_000, 1, 0.04);
        check_estimate(500_000, 1, 0.04);
    }

    #[test]
    fn taking_the_overflow_starts_over_and_an_untouched_counter_is_empty() {
        let mut counter = OverflowCounter::default();
        assert!(counter.take().is_empty());
        counter.add(1, 5, 10);
        assert_eq!(counter.take().keys_refused, 1);
        assert_eq!(counter.take(), Overflow::default());
    }

    #[test]
    fn merging_overflows_sums_counts_and_widens_the_time_range() {
        let mut total = Overflow::default();
        let part = |first_seen, last_seen| Overflow {
            stats: FlowStats {
                packets: 2,
                bytes: 20,
                first_seen,
                last_seen,
            },
            keys_refused: 2,
        };
        total.checked_merge(&part(10, 20)).unwrap();
        total.checked_merge(&Overflow::default()).unwrap();
        total.checked_merge(&part(5, 15)).unwrap();
        assert_eq!(
            total.stats,
            FlowStats {
                packets: 4,
                bytes: 40,
                first_seen: 5,
                last_seen: 20
            }
        );
        assert_eq!(total.keys_refused, 4);
    }

    #[test]
    fn an_empty_map_yields_nothing_and_prefetch_changes_nothing() {
        let map = FlowMap::new();
        map.prefetch_slot(hash_key(&key(1)));
        map.prefetch_record(hash_key(&key(1)));
        assert!(map.is_empty());
        assert_eq!(map.records().len(), 0);
        assert_eq!(map.records().next(), None);
        assert_eq!(map.totals(), (0, 0));
    }
}
