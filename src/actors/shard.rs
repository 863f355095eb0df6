//! Shard aggregator: sole owner of one shard of every task's flow map.
//!
//! Accepts: `PacketBatch` and `CloseWindow` (Reader, on one ordered channel).
//! Sends: `ShardWindow` (to the scheduler) when a window closes.
//!
//! Every shard sees every batch and counts, for each task, the keys whose hash
//! routes to it, so each key of a task lives in exactly one shard. No other
//! actor touches these maps, so the hot path takes no lock. `CloseWindow`
//! moves the maps out by value and starts fresh ones: a packet lands in
//! exactly one window's map.

use actix::prelude::*;

use crate::flow::{FlowKey, FlowMap, KeySchema, hash_key};

use super::messages::{CloseWindow, PacketBatch, PacketRecord, ShardWindow};
use super::scheduler::SchedulerActor;

pub struct ShardActor {
    index: usize,
    shard_count: usize,
    schemas: Vec<KeySchema>,
    maps: Vec<FlowMap>,
    scheduler: Addr<SchedulerActor>,
}

impl ShardActor {
    /// A shard counting keys with `shard_for(hash, shard_count) == index` for each task schema.
    pub fn new(
        index: usize,
        shard_count: usize,
        schemas: Vec<KeySchema>,
        scheduler: Addr<SchedulerActor>,
    ) -> ShardActor {
        let maps = schemas.iter().map(|_| FlowMap::new()).collect();
        ShardActor {
            index,
            shard_count,
            schemas,
            maps,
            scheduler,
        }
    }
}

/// The shard a key hash belongs to among `shard_count`. Uses bits 24..56 of
/// the hash: hashbrown indexes buckets with the low bits and tags with the
/// top 7, so routing on either would leave each shard's table unevenly filled.
#[inline]
pub fn shard_for(hash: u64, shard_count: usize) -> usize {
    let middle = (hash >> 24) & 0xFFFF_FFFF;
    ((middle * shard_count as u64) >> 32) as usize
}

/// Packets keyed and hashed before the first of them is looked up: enough
/// to cover a memory access with the others' hashing and probing.
const PREFETCH_GROUP: usize = 16;

/// Counts the packets of `group` whose `schema` key routes to shard `index`.
/// Each owned key's record is prefetched first and updated in a second pass,
/// so the cache misses of the group overlap instead of queueing.
#[inline]
fn count_group(
    schema: KeySchema,
    map: &mut FlowMap,
    group: &[PacketRecord],
    index: usize,
    shard_count: usize,
) {
    let mut owned = [(0u64, FlowKey::default(), 0u64, 0u32); PREFETCH_GROUP];
    let mut count = 0;
    for packet in group {
        let key = schema.project(&packet.key);
        let hash = hash_key(&key);
        if shard_for(hash, shard_count) == index {
            map.prefetch(hash);
            owned[count] = (hash, key, packet.timestamp_ns, packet.wire_len);
            count += 1;
        }
    }
    for &(hash, key, timestamp, wire_len) in &owned[..count] {
        map.add(hash, key, timestamp, wire_len);
    }
}

impl Actor for ShardActor {
    type Context = Context<Self>;
}

impl Handler<PacketBatch> for ShardActor {
    type Result = ();

    fn handle(&mut self, batch: PacketBatch, _: &mut Context<Self>) {
        log::debug!(
            "shard {}: batch of {} packets",
            self.index,
            batch.packets.len()
        );
        for (schema, map) in self.schemas.iter().zip(self.maps.iter_mut()) {
            for group in batch.packets.chunks(PREFETCH_GROUP) {
                count_group(*schema, map, group, self.index, self.shard_count);
            }
        }
    }
}

impl Handler<CloseWindow> for ShardActor {
    type Result = ();

    fn handle(&mut self, close: CloseWindow, _: &mut Context<Self>) {
        let fresh = self.schemas.iter().map(|_| FlowMap::new()).collect();
        let maps = std::mem::replace(&mut self.maps, fresh);
        self.scheduler.do_send(ShardWindow {
            window: close.window,
            capture: close.capture,
            shard: self.index,
            maps,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_routing_covers_every_shard_and_stays_in_range() {
        for shard_count in [1, 2, 3, 4, 16] {
            let mut seen = vec![0u32; shard_count];
            for n in 0..10_000u64 {
                let hash = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                seen[shard_for(hash, shard_count)] += 1;
            }
            assert!(
                seen.iter().all(|&count| count > 0),
                "{shard_count} shards: {seen:?}"
            );
        }
    }
}
