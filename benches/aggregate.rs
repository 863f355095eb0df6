//! Aggregation throughput: counting a stream of packets into a fresh map,
//! reported as updates/s (criterion `Throughput::Elements`).
//!
//! Run: `cargo bench --bench aggregate`. Two streams, each with three maps
//! measured in the same run:
//!
//! * `skewed_50k`: 1,000,000 updates over about 50,000 5-tuples with a
//!   Zipf-like popularity (as in the e2e bench), 10% IPv6;
//! * `distinct_1m`: 1,000,000 distinct 5-tuples, each counted once.
//!
//! The baseline is std `HashMap<FlowKey, FlowStats>` with ahash; the
//! candidates are `FlowMap::add`, and `FlowMap::add` after prefetching a group
//! of 16 hashes, which is how the shard actor drives it. Keys and hashes are
//! built outside the timed loop; every iteration starts from an empty map.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use netspectra::flow::{FlowKey, FlowMap, FlowStats, hash_key};

const UPDATES: u64 = 1_000_000;
const SKEWED_KEYS: u64 = 50_000;
const GROUP: usize = 16;

/// One packet of a stream: its key, the key's hash, timestamp, wire length.
type Update = (FlowKey, u64, u64, u32);

/// Counts a whole stream into a fresh map and returns the number of keys.
type Counter = fn(&[Update]) -> usize;

fn key_of(flow: u64) -> FlowKey {
    let port = (1024 + flow % 50_000) as u16;
    let protocol = if flow.is_multiple_of(3) { 17 } else { 6 };
    let host = (flow / 4) as u32;
    if flow % 10 == 9 {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        src[12..].copy_from_slice(&host.to_be_bytes());
        FlowKey::ipv6(
            Ipv6Addr::from(src),
            Ipv6Addr::LOCALHOST,
            port,
            443,
            protocol,
        )
    } else {
        FlowKey::ipv4(
            Ipv4Addr::from(0x0a00_0000 | (host & 0x00ff_ffff)),
            Ipv4Addr::new(192, 168, 0, 1),
            port,
            [53, 80, 443, 8080][(flow % 4) as usize],
            protocol,
        )
    }
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn stream(flow_of: impl Fn(u64, &mut u64) -> u64) -> Vec<Update> {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    (0..UPDATES)
        .map(|n| {
            let key = key_of(flow_of(n, &mut rng));
            (key, hash_key(&key), n, 64 + (n % 1400) as u32)
        })
        .collect()
}

fn skewed(_: u64, rng: &mut u64) -> u64 {
    let uniform = (next(rng) >> 11) as f64 / (1u64 << 53) as f64;
    (SKEWED_KEYS as f64 * uniform.powi(3)) as u64
}

fn std_hashmap(updates: &[Update]) -> usize {
    let seeds = ahash::RandomState::with_seeds(1, 2, 3, 4);
    let mut map: HashMap<FlowKey, FlowStats, ahash::RandomState> = HashMap::with_hasher(seeds);
    for &(key, _, timestamp, wire_len) in updates {
        map.entry(key)
            .and_modify(|stats| stats.add(timestamp, wire_len))
            .or_insert_with(|| FlowStats::first(timestamp, wire_len));
    }
    map.len()
}

fn flow_map(updates: &[Update]) -> usize {
    let mut map = FlowMap::new();
    for &(key, hash, timestamp, wire_len) in updates {
        map.add(hash, key, timestamp, wire_len);
    }
    map.len()
}

fn flow_map_prefetched(updates: &[Update]) -> usize {
    let mut map = FlowMap::new();
    for group in updates.chunks(GROUP) {
        for &(_, hash, _, _) in group {
            map.prefetch_slot(hash);
        }
        for &(_, hash, _, _) in group {
            map.prefetch_record(hash);
        }
        for &(key, hash, timestamp, wire_len) in group {
            map.add(hash, key, timestamp, wire_len);
        }
    }
    map.len()
}

fn bench_aggregate(c: &mut Criterion) {
    let streams = [
        ("skewed_50k", stream(skewed)),
        ("distinct_1m", stream(|n, _| n)),
    ];
    let maps: [(&str, Counter); 3] = [
        ("std_hashmap_ahash", std_hashmap),
        ("flow_map", flow_map),
        ("flow_map_prefetch", flow_map_prefetched),
    ];
    for (name, updates) in &streams {
        let mut group = c.benchmark_group(*name);
        group.throughput(Throughput::Elements(UPDATES));
        group.sample_size(10);
        let keys = flow_map(updates);
        for (map_name, count) in maps {
            assert_eq!(count(updates), keys, "{map_name} counts every key once");
            group.bench_function(map_name, |b| b.iter(|| count(black_box(updates))));
        }
        group.finish();
    }
}

criterion_group!(benches, bench_aggregate);
criterion_main!(benches);
