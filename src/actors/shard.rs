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
//!
//! A task with `max_keys` lets each of the N shards hold `ceil(max_keys / N)`
//! keys per window; a packet of any further key is counted in the task's
//! overflow instead, so a key flood cannot grow memory without bound. Keys
//! already held always count exactly.

use actix::prelude::*;

use crate::flow::{FlowKey, FlowMap, KeySchema, OverflowCounter, hash_key};

use super::messages::{CloseWindow, PacketBatch, PacketRecord, ShardWindow};
use super::scheduler::{SchedulerActor, TaskInfo};

pub struct ShardActor {
    index: usize,
    shard_count: usize,
    schemas: Vec<KeySchema>,
    /// Per task: keys this shard may hold per window (`usize::MAX`: no limit).
    limits: Vec<usize>,
    maps: Vec<FlowMap>,
    overflows: Vec<OverflowCounter>,
    scheduler: Addr<SchedulerActor>,
}

impl ShardActor {
    /// A shard counting keys with `shard_for(hash, shard_count) == index` for
    /// each task, holding at most its share of each task's `max_keys`.
    pub fn new(
        index: usize,
        shard_count: usize,
        tasks: &[TaskInfo],
        scheduler: Addr<SchedulerActor>,
    ) -> ShardActor {
        ShardActor {
            index,
            shard_count,
            schemas: tasks.iter().map(|task| task.schema).collect(),
            limits: tasks
                .iter()
                .map(|task| shard_limit(task.max_keys, shard_count))
                .collect(),
            maps: tasks.iter().map(|_| FlowMap::new()).collect(),
            overflows: tasks.iter().map(|_| OverflowCounter::default()).collect(),
            scheduler,
        }
    }
}

/// One shard's share of a task's `max_keys`: `ceil(max_keys / shard_count)`.
/// Keys are routed by hash, so shards fill evenly in expectation and the
/// task's total differs from `max_keys` by at most the shards' imbalance.
fn shard_limit(max_keys: Option<u64>, shard_count: usize) -> usize {
    max_keys.map_or(usize::MAX, |max| {
        usize::try_from(max.div_ceil(shard_count.max(1) as u64)).unwrap_or(usize::MAX)
    })
}

/// One task's state in a shard, as `count_group` needs it.
struct TaskCounters<'a> {
    schema: KeySchema,
    limit: usize,
    map: &'a mut FlowMap,
    overflow: &'a mut OverflowCounter,
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

/// Counts the packets of `group` whose task key routes to shard `index`.
/// Each owned key's record is prefetched first and updated in a second pass,
/// so the cache misses of the group overlap instead of queueing. A packet
/// whose key the full map refuses goes to the task's overflow.
#[inline]
fn count_group(
    task: &mut TaskCounters<'_>,
    group: &[PacketRecord],
    index: usize,
    shard_count: usize,
) {
    let mut owned = [(0u64, FlowKey::default(), 0u64, 0u32); PREFETCH_GROUP];
    let mut count = 0;
    for packet in group {
        let key = task.schema.project(&packet.key);
        let hash = hash_key(&key);
        if shard_for(hash, shard_count) == index {
            task.map.prefetch(hash);
            owned[count] = (hash, key, packet.timestamp_ns, packet.wire_len);
            count += 1;
        }
    }
    for &(hash, key, timestamp, wire_len) in &owned[..count] {
        if !task
            .map
            .add_bounded(hash, key, timestamp, wire_len, task.limit)
        {
            task.overflow.add(hash, timestamp, wire_len);
        }
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
        let tasks = self
            .schemas
            .iter()
            .zip(&self.limits)
            .zip(self.maps.iter_mut().zip(self.overflows.iter_mut()));
        for ((&schema, &limit), (map, overflow)) in tasks {
            let mut task = TaskCounters {
                schema,
                limit,
                map,
                overflow,
            };
            for group in batch.packets.chunks(PREFETCH_GROUP) {
                count_group(&mut task, group, self.index, self.shard_count);
            }
        }
    }
}

impl Handler<CloseWindow> for ShardActor {
    type Result = ();

    fn handle(&mut self, close: CloseWindow, _: &mut Context<Self>) {
        let fresh = self.schemas.iter().map(|_| FlowMap::new()).collect();
        let maps = std::mem::replace(&mut self.maps, fresh);
        let overflows = self
            .overflows
            .iter_mut()
            .map(OverflowCounter::take)
            .collect();
        self.scheduler.do_send(ShardWindow {
            window: close.window,
            capture: close.capture,
            shard: self.index,
            maps,
            overflows,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shard_holds_its_rounded_up_share_of_max_keys() {
        assert_eq!(shard_limit(None, 4), usize::MAX);
        assert_eq!(shard_limit(Some(10_000), 4), 2_500);
        assert_eq!(shard_limit(Some(10_001), 4), 2_501);
        assert_eq!(shard_limit(Some(3), 8), 1);
        assert_eq!(shard_limit(Some(7), 1), 7);
    }

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
