//! The `netspectra` binary: logging set-up, the command line, exit statuses.

use std::process::ExitCode;

use clap::Parser;
use env_logger::Env;
use indicatif::MultiProgress;
use indicatif_log_bridge::LogWrapper;
use netspectra::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logger =
        env_logger::Builder::from_env(Env::default().default_filter_or(cli.log_filter())).build();
    let level = logger.filter();
    // Log lines go through the progress bars' owner, so they never tear a bar.
    let bars = MultiProgress::new();
    if LogWrapper::new(bars.clone(), logger).try_init().is_ok() {
        log::set_max_level(level);
    }
    match cli::run(cli, &bars) {
        Ok(status) => status,
        Err(error) => {
            eprintln!("netspectra: {error:#}");
            cli::exit_code(&error)
        }
    }
}
