//! Shard aggregator: sole owner of the aggregators of the task shares
//! placed on it.
//!
//! Accepts: `Feed` (Reader, one ordered channel of batches and cuts),
//! `CopyOpenWindow` (HTTP API: a copy of a task's open window).
//! Sends: `ShardParts` (to the scheduler) when a window closes.
//!
//! Each shard holds the aggregators of the shares the placement plan gave
//! it (whole tasks when there are at least as many tasks as shards), and
//! every batch goes to each of them with one call. No other actor touches
//! an aggregator, so the hot path takes no lock. A cut takes every
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

pub struct ShardActor {
    /// This shard's number, reported with its parts.
    index: usize,
    /// One per share placed here: task index, share index, and the
    /// aggregator counting that share.
    aggregators: Vec<(usize, usize, Box<dyn Aggregator>)>,
    /// Where closed windows' parts go (the scheduler).
    parts_to: Recipient<ShardParts>,
    /// Live counters this shard publishes to.
    metrics: Arc<Metrics>,
    /// Per aggregator: what its closed windows counted (packets, bytes,
    /// overflow packets), the base its open window's counts add to.
    closed: Vec<OpenCounts>,
    /// End of the newest window closed here; `None` before the first cut.
    closed_until_ns: Option<u64>,
}

impl ShardActor {
    /// A shard counting with `aggregators`, each tagged with its task and share index.
    pub fn new(
        index: usize,
        aggregators: Vec<(usize, usize, Box<dyn Aggregator>)>,
        parts_to: Recipient<ShardParts>,
        metrics: Arc<Metrics>,
    ) -> ShardActor {
        ShardActor {
            closed: vec![OpenCounts::default(); aggregators.len()],
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
                for (_, _, aggregator) in &mut self.aggregators {
                    aggregator.count(&packets);
                }
                self.publish();
            }
            Feed::CloseWindow(window) => {
                self.closed_until_ns = Some(window.end_ns);
                let parts = self
                    .aggregators
                    .iter_mut()
                    .zip(&mut self.closed)
                    .map(|((task, share, aggregator), closed)| {
                        let part = aggregator.take_part();
                        let totals = part.totals();
                        closed.packets = closed.packets.saturating_add(totals.packets);
                        closed.bytes = closed.bytes.saturating_add(totals.bytes);
                        closed.overflow_packets = closed
                            .overflow_packets
                            .saturating_add(part.overflow().stats.packets);
                        PlacedPart {
                            task: *task,
                            share: *share,
                            part,
                        }
                    })
                    .collect();
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
            .filter(|(task, _, _)| *task == request.task)
            .map(|(_, _, aggregator)| aggregator.peek_part())
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
        for ((task, share, aggregator), closed) in self.aggregators.iter().zip(&self.closed) {
            let Some(slot) = self.metrics.share(*task, *share) else {
                continue;
            };
            let open = aggregator.open_counts();
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
