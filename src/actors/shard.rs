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

use crate::flow::{FlowMap, KeySchema, hash_key};

use super::messages::{CloseWindow, PacketBatch, ShardWindow};
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
            for packet in batch.packets.iter() {
                let key = schema.project(&packet.key);
                let hash = hash_key(&key);
                if shard_for(hash, self.shard_count) == self.index {
                    map.add(hash, key, packet.timestamp_ns, packet.wire_len);
                }
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
