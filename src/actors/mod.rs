//! The actor pipeline: Reader -> ShardActor x N -> SchedulerActor -> WriterActor,
//! started and shut down in order by the SupervisorActor.
//!
//! The protocol is in `messages`; the shutdown sequence in `supervisor`.

pub mod messages;
pub mod reader;
pub mod scheduler;
pub mod shard;
pub mod supervisor;
pub mod writer;
