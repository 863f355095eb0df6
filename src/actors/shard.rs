//! Shard aggregator: sole owner of the aggregators of the task shares
//! placed on it.
//!
//! Accepts: `Feed` (Reader, one ordered channel of batches and cuts).
//! Sends: `ShardParts` (to the scheduler) when a window closes.
//!
//! Each shard holds the aggregators of the shares the placement plan gave
//! it (whole tasks when there are at least as many tasks as shards), and
//! every batch goes to each of them with one call. No other actor touches
//! an aggregator, so the hot path takes no lock. A cut takes every
//! aggregator's part by value and the aggregators start empty: a packet
//! lands in exactly one window's part.

use actix::prelude::*;

use crate::flow::Aggregator;

use super::messages::{Feed, PlacedPart, ShardParts};

pub struct ShardActor {
    /// This shard's number, reported with its parts.
    index: usize,
    /// One per share placed here: task index, share index, and the
    /// aggregator counting that share.
    aggregators: Vec<(usize, usize, Box<dyn Aggregator>)>,
    /// Where closed windows' parts go (the scheduler).
    parts_to: Recipient<ShardParts>,
}

impl ShardActor {
    /// A shard counting with `aggregators`, each tagged with its task and share index.
    pub fn new(
        index: usize,
        aggregators: Vec<(usize, usize, Box<dyn Aggregator>)>,
        parts_to: Recipient<ShardParts>,
    ) -> ShardActor {
        ShardActor {
            index,
            aggregators,
            parts_to,
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
            }
            Feed::CloseWindow(window) => {
                let parts = self
                    .aggregators
                    .iter_mut()
                    .map(|(task, share, aggregator)| PlacedPart {
                        task: *task,
                        share: *share,
                        part: aggregator.take_part(),
                    })
                    .collect();
                self.parts_to.do_send(ShardParts {
                    window,
                    shard: self.index,
                    parts,
                });
            }
        }
    }
}
