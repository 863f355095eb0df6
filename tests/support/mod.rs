//! Shared helpers of the integration tests: running the binary, writing captures.

pub mod capture_writer;
pub mod cli;
pub mod disk;
pub mod http;
pub mod logs;
pub mod measure;
pub mod parquet_files;
pub mod skip;
pub mod store;
pub mod traffic;
