//! netspectra: exact per-key packet and byte counts from capture files and
//! live interfaces, cut into time windows by an actor pipeline.
//!
//! `packet` and `flow` are pure (no I/O, no actix); `capture` reads files;
//! `actors` is the pipeline; `output` writes and reads snapshots; `cli` is
//! the binary's edge; `safe_read` reads the files a user names (config,
//! stored windows) only when they are regular files of a sane size.

pub mod actors;
pub mod capture;
pub mod cli;
pub mod config;
pub mod flow;
pub mod output;
pub mod packet;
pub mod safe_read;
