//! `serve`, and the HTTP flags every command shares: which address and
//! token the server gets (flags over the config's `api:` section), bound
//! before anything else starts so a busy port is a usage error.

use std::net::TcpListener;
use std::process::ExitCode;

use actix::prelude::*;
use anyhow::Context;

use crate::actors::signals;
use crate::api::{self, ApiConfig, ApiSpec, parse_listen_addr};
use crate::config::Config;

use super::usage::UsageError;
use super::{ApiArgs, ServeArgs};

/// Returns once a stop signal has arrived.
async fn first_signal() {
    let mut arrivals = signals::arrivals();
    while signals::received() == 0 && futures::StreamExt::next(&mut arrivals).await.is_some() {}
}

/// The bound listener and token the flags and config ask for; `None`
/// when neither `--listen` nor `api.http_listen_addr` is set.
pub(super) fn api_listener(
    config: &ApiConfig,
    args: &ApiArgs,
) -> Result<Option<(TcpListener, Option<String>)>, UsageError> {
    if config.grpc_listen_addr.is_some() {
        log::info!("api.grpc_listen_addr is accepted but not served: netspectra speaks HTTP only");
    }
    let addr = match (args.listen, &config.http_listen_addr) {
        (Some(addr), _) => addr,
        (None, Some(text)) => parse_listen_addr(text)
            .map_err(|error| UsageError(format!("api.http_listen_addr: {error}")))?,
        (None, None) => return Ok(None),
    };
    let token = args.api_token.clone().or_else(|| config.token.clone());
    let listener = api::bind(addr, token.as_deref())
        .map_err(|error| UsageError(format!("--listen {addr}: cannot listen: {error}")))?;
    Ok(Some((listener, token)))
}

/// Serves the query API over a stored root until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    signals::install().context("installing signal handlers")?;
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::bundled(),
    };
    if !args.root.is_dir() {
        return Err(UsageError(format!("{}: not a directory", args.root.display())).into());
    }
    let Some((listener, token)) = api_listener(&config.api, &args.api)? else {
        return Err(UsageError(
            "serve needs an address: give --listen ADDR or api.http_listen_addr".to_string(),
        )
        .into());
    };
    let spec = ApiSpec {
        listener,
        token,
        metrics: None,
        store: Some(args.root),
        tasks: None,
        open_windows: None,
    };
    System::new()
        .block_on(async move {
            let server = api::start(spec)?;
            let handle = server.handle();
            actix_rt::spawn(async move {
                first_signal().await;
                log::info!("signal received: stopping the HTTP server");
                handle.stop(true).await;
            });
            server.await
        })
        .context("serving HTTP")?;
    Ok(ExitCode::SUCCESS)
}
