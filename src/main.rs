//! The `netspectra` binary: logging set-up, the command line, exit statuses.

use std::process::ExitCode;

use clap::Parser;
use env_logger::Env;
use netspectra::cli::{self, Cli};

fn main() -> ExitCode {
    env_logger::Builder::from_env(Env::default().default_filter_or("info")).init();
    match cli::run(Cli::parse()) {
        Ok(status) => status,
        Err(error) => {
            eprintln!("netspectra: {error:#}");
            cli::exit_code(&error)
        }
    }
}
