//! Per-key counters and the table that holds them.
//!
//! [`FlowMap`] is a hashbrown `HashTable` whose entries store the key's hash,
//! so a key is hashed once per packet (the same hash picks the shard) and
//! never again when the table grows. A map belongs to exactly one owner at a
//! time; it has no interior mutability and no lock.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashTable;

use super::FlowKey;

/// Fixed seeds: the same key hashes the same in every run, so shard routing
/// (and therefore each shard file's content) is reproducible.
const SEEDS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
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

    /// Folds another set of counters for the same key into this one.
    pub fn merge(&mut self, other: &FlowStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// One key and its counters, as handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRecord {
    pub key: FlowKey,
    pub stats: FlowStats,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u64,
    record: FlowRecord,
}

/// Counters for every key seen by one task in one shard during one window.
#[derive(Debug, Default)]
pub struct FlowMap {
    table: HashTable<Entry>,
}

/// Hashes a key with the process-wide fixed seeds. The shard picks keys by
/// this value, and [`FlowMap::add`] takes it so the key is hashed only once.
#[inline]
pub fn hash_key(key: &FlowKey) -> u64 {
    let mut hasher =
        ahash::RandomState::with_seeds(SEEDS[0], SEEDS[1], SEEDS[2], SEEDS[3]).build_hasher();
    hasher.write_u128(u128::from_ne_bytes(key.src));
    hasher.write_u128(u128::from_ne_bytes(key.dst));
    hasher.write_u64(
        u64::from(key.src_port)
            | u64::from(key.dst_port) << 16
            | u64::from(key.protocol) << 32
            | u64::from(key.family as u8) << 40,
    );
    hasher.finish()
}

impl FlowMap {
    /// An empty map.
    pub fn new() -> FlowMap {
        FlowMap::default()
    }

    /// Counts one packet for `key`; `hash` must be `hash_key(&key)`.
    #[inline]
    pub fn add(&mut self, hash: u64, key: FlowKey, timestamp: u64, wire_len: u32) {
        match self
            .table
            .entry(hash, |entry| entry.record.key == key, |entry| entry.hash)
        {
            hashbrown::hash_table::Entry::Occupied(mut occupied) => {
                occupied.get_mut().record.stats.add(timestamp, wire_len);
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(Entry {
                    hash,
                    record: FlowRecord {
                        key,
                        stats: FlowStats::first(timestamp, wire_len),
                    },
                });
            }
        }
    }

    /// Folds a whole record in (used when merging shards or windows).
    pub fn merge_record(&mut self, record: &FlowRecord) {
        let hash = hash_key(&record.key);
        match self.table.entry(
            hash,
            |entry| entry.record.key == record.key,
            |entry| entry.hash,
        ) {
            hashbrown::hash_table::Entry::Occupied(mut occupied) => {
                occupied.get_mut().record.stats.merge(&record.stats);
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(Entry {
                    hash,
                    record: *record,
                });
            }
        }
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no packet was counted.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The records, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = &FlowRecord> {
        self.table.iter().map(|entry| &entry.record)
    }

    /// Sum of packets and bytes over all keys.
    pub fn totals(&self) -> (u64, u64) {
        self.records().fold((0, 0), |(packets, bytes), record| {
            (packets + record.stats.packets, bytes + record.stats.bytes)
        })
    }
}

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
        map.merge_record(&record);
        map.merge_record(&FlowRecord {
            key: key(1),
            stats: FlowStats::first(3, 7),
        });
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
}
