//! netspectra: exact per-key packet and byte counts from capture files and
//! live interfaces, cut into time windows by an actor pipeline.

pub mod flow;
