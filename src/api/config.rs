//! The config's `api:` section, in Go2NetSpectra's form: where the HTTP
//! server listens and the token it asks for. Owns parsing and checking
//! these values; the flags `--listen` and `--api-token` override them.

use std::net::{SocketAddr, ToSocketAddrs};

use serde::Deserialize;

/// The `api:` section. Every key is optional; without `http_listen_addr`
/// (or `--listen`) no server starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a mapping of API settings")]
pub struct ApiConfig {
    /// Address of the HTTP server, `HOST:PORT`, `:PORT` or `PORT` (host
    /// 127.0.0.1). Default: none, no server.
    pub http_listen_addr: Option<String>,
    /// Go2NetSpectra's gRPC address: accepted, not served (logged once).
    pub grpc_listen_addr: Option<String>,
    /// Bearer token every endpoint but `/healthz` then requires. Default: none.
    pub token: Option<String>,
}

/// Resolves a listen address: `HOST:PORT`, `[V6]:PORT`, `:PORT` or a bare
/// `PORT`; a missing host is 127.0.0.1. The message names what is wrong.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    let with_host = if let Some(port) = text.strip_prefix(':') {
        format!("127.0.0.1:{port}")
    } else if text.bytes().all(|byte| byte.is_ascii_digit()) && !text.is_empty() {
        format!("127.0.0.1:{text}")
    } else {
        text.to_string()
    };
    let mut found = with_host.to_socket_addrs().map_err(|error| {
        format!("{text:?} is not an address to listen on ({error}); want HOST:PORT, :PORT or PORT")
    })?;
    found
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_host_listens_on_loopback() {
        for text in ["9464", ":9464", "127.0.0.1:9464"] {
            assert_eq!(
                parse_listen_addr(text),
                Ok("127.0.0.1:9464".parse().expect("an address")),
                "{text}"
            );
        }
        assert_eq!(
            parse_listen_addr("[::1]:80"),
            Ok("[::1]:80".parse().expect("an address"))
        );
    }

    #[test]
    fn a_bad_address_is_named() {
        let error = parse_listen_addr("nine").expect_err("no port");
        assert!(error.starts_with("\"nine\" is not an address"), "{error}");
        assert!(parse_listen_addr("127.0.0.1:99999").is_err());
    }
}
