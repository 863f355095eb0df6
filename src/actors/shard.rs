//! Shard aggregator: sole owner of the aggregators of the task shares
//! placed on it.
//!
//! Accepts: `Feed` (Reader, one ordered channel of batches and cuts),
//! `CopyOpenWindow` (HTTP API: a copy of a task's open window).
//! Sends: `ShardParts` (to the scheduler) when a window closes.
//!
//! Each shard holds the aggregators of the shares the placement plan gave
//! it (whole tasks when there are at least as many tasks as shards), and
//! every batch goes to each of them with one call. A roll-up aggregator
//! also hands over the parts of the tasks it derives from its own. No
//! other actor touches an aggregator, so the hot path takes no lock. A cut takes every
//! aggregator's part by value and the aggregators start empty: a packet
//! lands in exactly one window's part.
//!
//! After each batch the shard publishes every share's counts so far to the
//! live metrics (one relaxed store per counter and share, never per packet).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::prelude::*;

use crate::flow::{Aggregator, OpenCounts};
use crate::metrics::Metrics;

use super::messages::{CopyOpenWindow, Feed, OpenWindowParts, PlacedPart, ShardParts};

/// One aggregator on a shard and the tasks it counts.
pub struct PlacedAggregator {
    /// The task (config order) whose share it counts.
    pub task: usize,
    pub share: usize,
    /// The tasks it derives from its own, in the order it was given them
    /// (whole tasks: their one share is 0).
    pub derived: Vec<usize>,
    pub aggregator: Box<dyn Aggregator>,
}

impl PlacedAggregator {
    /// Every (task, share) it counts, its own first, then the derived ones.
    fn members(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        std::iter::once((self.task, self.share)).chain(self.derived.iter().map(|&task| (task, 0)))
    }

    /// The open counts of member `member` (0: its own task).
    fn open_counts(&self, member: usize) -> OpenCounts {
        match member {
            0 => self.aggregator.open_counts(),
            derived => self.aggregator.derived_open_counts(derived - 1),
        }
    }
}

pub struct ShardActor {
    /// This shard's number, reported with its parts.
    index: usize,
    /// The aggregators of the shares placed here.
    aggregators: Vec<PlacedAggregator>,
    /// Where closed windows' parts go (the scheduler).
    parts_to: Recipient<ShardParts>,
    /// Live counters this shard publishes to.
    metrics: Arc<Metrics>,
    /// Per aggregator and member: what its closed windows counted
    /// (packets, bytes, overflow packets), the base its open window's
    /// counts add to.
    closed: Vec<Vec<OpenCounts>>,
    /// End of the newest window closed here; `None` before the first cut.
    closed_until_ns: Option<u64>,
}

impl ShardActor {
    /// A shard counting with `aggregators`.
    pub fn new(
        index: usize,
        aggregators: Vec<PlacedAggregator>,
        parts_to: Recipient<ShardParts>,
        metrics: Arc<Metrics>,
    ) -> ShardActor {
        ShardActor {
            closed: aggregators
                .iter()
                .map(|placed| vec![OpenCounts::default(); 1 + placed.derived.len()])
                .collect(),
            closed_until_ns: None,
            index,
            aggregators,
            parts_to,
            metrics,
        }
    }
}

impl Actor for ShardActor {
    type Context = Context<Self>;
}

impl Handler<Feed> for ShardActor {
    type Result = ();

    fn handle(&mut self, feed: Feed, _: &mut Context<Self>) {
        match feed {
            Feed::Packets(packets) => {
                log::debug!("shard {}: batch of {} packets", self.index, packets.len());
                for placed in &mut self.aggregators {
                    placed.aggregator.count(&packets);
                }
                self.publish();
            }
            Feed::CloseWindow(window) => {
                self.closed_until_ns = Some(window.end_ns);
                let mut parts = Vec::new();
                for (placed, closed) in self.aggregators.iter_mut().zip(&mut self.closed) {
                    let own = placed.aggregator.take_part();
                    let derived = placed.aggregator.take_derived_parts();
                    let taken = std::iter::once(own).chain(derived);
                    for (((task, share), part), closed) in
                        placed.members().zip(taken).zip(closed.iter_mut())
                    {
                        let totals = part.totals();
                        closed.packets = closed.packets.saturating_add(totals.packets);
                        closed.bytes = closed.bytes.saturating_add(totals.bytes);
                        closed.overflow_packets = closed
                            .overflow_packets
                            .saturating_add(part.overflow().stats.packets);
                        parts.push(PlacedPart { task, share, part });
                    }
                }
                self.parts_to.do_send(ShardParts {
                    window,
                    shard: self.index,
                    parts,
                });
                self.publish();
            }
        }
        if let Some(queue) = self.metrics.shards.get(self.index) {
            queue.handled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Handler<CopyOpenWindow> for ShardActor {
    type Result = OpenWindowParts;

    fn handle(&mut self, request: CopyOpenWindow, _: &mut Context<Self>) -> OpenWindowParts {
        let parts = self
            .aggregators
            .iter()
            .flat_map(|placed| {
                placed
                    .members()
                    .enumerate()
                    .filter(|(_, (task, _))| *task == request.task)
                    .map(move |(member, _)| match member {
                        0 => placed.aggregator.peek_part(),
                        derived => placed.aggregator.peek_derived_part(derived - 1),
                    })
            })
            .collect();
        OpenWindowParts {
            closed_until_ns: self.closed_until_ns,
            parts,
        }
    }
}

impl ShardActor {
    /// Publishes every share's counts since start (closed windows plus the
    /// open one) and the open window's keys.
    fn publish(&self) {
        for (placed, closed) in self.aggregators.iter().zip(&self.closed) {
            for (member, ((task, share), closed)) in placed.members().zip(closed).enumerate() {
                let Some(slot) = self.metrics.share(task, share) else {
                    continue;
                };
                let open = placed.open_counts(member);
                let store = |counter: &std::sync::atomic::AtomicU64, value: u64| {
                    counter.store(value, Ordering::Relaxed);
                };
                store(&slot.packets, closed.packets.saturating_add(open.packets));
                store(&slot.bytes, closed.bytes.saturating_add(open.bytes));
                store(&slot.keys, open.keys);
                store(
                    &slot.overflow_packets,
                    closed
                        .overflow_packets
                        .saturating_add(open.overflow_packets),
                );
            }
        }
    }
}
