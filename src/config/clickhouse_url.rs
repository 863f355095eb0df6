//! `--clickhouse URL`: a whole ClickHouse writer in one URL,
//! `http://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?probe=NAME]`, so a run
//! can add one without editing its config.
//!
//! What the URL leaves out takes the defaults of a `type: clickhouse`
//! entry; the port defaults to 8123, ClickHouse's HTTP port. User,
//! password, database and probe are percent-decoded (`%40` for `@`). The
//! URL holds a password, so it is kept as a [`Secret`], and no message
//! about it repeats the password.

use std::convert::Infallible;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

use super::{ClickHouseConfig, Secret, parse_clickhouse_url};

/// ClickHouse's HTTP port, taken when the URL names none.
const DEFAULT_HTTP_PORT: u16 = 8123;

const SHAPE: &str = "want http://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?probe=NAME]";

/// The `--clickhouse` value as given; `Debug` prints `***`. Parsed by
/// [`ClickHouseUrl::writer`], never by clap, whose errors would echo it.
#[derive(Debug, Clone)]
pub struct ClickHouseUrl(Secret);

impl FromStr for ClickHouseUrl {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Infallible> {
        Ok(ClickHouseUrl(Secret(text.to_string())))
    }
}

impl ClickHouseUrl {
    /// The writer the URL describes; the error says what is wrong without
    /// the password.
    pub fn writer(&self) -> Result<ClickHouseConfig, String> {
        let text = self.0.expose();
        let Some(rest) = text.strip_prefix("http://") else {
            return Err(if text.starts_with("https://") {
                format!("https is not supported (this build speaks plain HTTP); {SHAPE}")
            } else {
                SHAPE.to_string()
            });
        };
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host) = match authority.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, authority),
        };
        let (username, password) = match credentials {
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                (Some(decode("user", user)?), decode("password", password)?)
            }
            None => (None, String::new()),
        };
        let database = path.trim_end_matches('/');
        if database.contains('/') {
            return Err(format!(
                "the path names a database: one segment only; {SHAPE}"
            ));
        }
        Ok(ClickHouseConfig {
            url: parse_clickhouse_url(&format!("http://{}", with_port(host)?))?,
            database: match database {
                "" => "default".to_string(),
                name => decode("database", name)?,
            },
            username: username.unwrap_or_else(|| "default".to_string()),
            password: Secret(password),
            probe: probe(query)?,
        })
    }
}

/// `host` with the default port added when it names none.
fn with_port(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err(format!("no host; {SHAPE}"));
    }
    let has_port = match host.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host.contains(':'),
    };
    Ok(if has_port {
        host.to_string()
    } else {
        format!("{host}:{DEFAULT_HTTP_PORT}")
    })
}

/// The `probe` of the query string; any other key is an error.
fn probe(query: &str) -> Result<Option<String>, String> {
    let mut probe = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "probe" {
            return Err(format!("unknown query key `{key}` (only probe=NAME)"));
        }
        if value.is_empty() {
            return Err("probe=NAME needs a name".to_string());
        }
        probe = Some(decode("probe", value)?);
    }
    Ok(probe)
}

/// `text` percent-decoded; the error names `what`, never the text.
fn decode(what: &str, text: &str) -> Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| format!("the {what} is not UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn writer(text: &str) -> ClickHouseConfig {
        let url: ClickHouseUrl = text.parse().expect("any text is taken");
        url.writer()
            .unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[track_caller]
    fn refused(text: &str) -> String {
        let url: ClickHouseUrl = text.parse().expect("any text is taken");
        url.writer().expect_err("a bad URL")
    }

    #[test]
    fn every_part_of_the_url_lands_in_its_setting() {
        let config = writer("http://probe:p%40ss:w0rd@ch.example:9123/flows_db?probe=edge%201");
        assert_eq!(config.url, "http://ch.example:9123");
        assert_eq!(config.username, "probe");
        assert_eq!(config.password.expose(), "p@ss:w0rd");
        assert_eq!(config.database, "flows_db");
        assert_eq!(config.probe.as_deref(), Some("edge 1"));
    }

    #[test]
    fn what_the_url_leaves_out_takes_the_writer_defaults_and_port_8123() {
        let config = writer("http://ch.example");
        assert_eq!(config.url, "http://ch.example:8123");
        assert_eq!(
            (config.username.as_str(), config.database.as_str()),
            ("default", "default")
        );
        assert_eq!(config.password.expose(), "");
        assert_eq!(config.probe, None);
        assert_eq!(writer("http://[::1]/").url, "http://[::1]:8123");
        assert_eq!(writer("http://[::1]:8124").url, "http://[::1]:8124");
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_the_password() {
        for (text, want) in [
            ("https://u:hunter2@h", "https is not supported"),
            ("ftp://u:hunter2@h", "want http://"),
            ("http://u:hunter2@/db", "no host"),
            ("http://u:hunter2@h/a/b", "one segment only"),
            ("http://u:hunter2@h?user=x", "unknown query key `user`"),
            ("http://u:hunter2@h?probe=", "probe=NAME needs a name"),
            ("http://u:hunter2%ff@h", "the password is not UTF-8"),
        ] {
            let error = refused(text);
            assert!(error.contains(want), "{text}: {error}");
            assert!(!error.contains("hunter2"), "{text}: {error}");
        }
        assert_eq!(
            format!("{:?}", "http://u:hunter2@h".parse::<ClickHouseUrl>()),
            "Ok(ClickHouseUrl(***))"
        );
    }
}
