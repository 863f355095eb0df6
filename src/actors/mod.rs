//! The actor pipeline: Reader -> ShardActor x N -> SchedulerActor -> WriterActor,
//! shut down in order by the SupervisorActor.
//!
//! The protocol is in `messages`; start-up in `pipeline`; the shutdown
//! sequence in `supervisor`. Counting is behind the `Aggregator` seam
//! (`flow`) and storing behind the `Writer` seam (`output`): no actor names
//! a task kind or a sink.

pub mod messages;
pub mod pipeline;
pub mod reader;
pub mod scheduler;
pub mod shard;
pub mod signals;
pub mod stop;
pub mod supervisor;
pub mod writer;
