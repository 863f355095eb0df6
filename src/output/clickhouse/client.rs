//! The ClickHouse HTTP interface as this writer uses it: one blocking
//! request per statement, SQL in the body (or, for an `INSERT`, in the
//! `query` parameter with the rows as the body), Basic authentication, and
//! every failure turned into a [`ClickHouseError`] naming the server and
//! carrying the server's own error text.
//!
//! The password is sent in the `Authorization` header only: it is never part
//! of a URL, a message or a `Debug` output.

use std::time::Duration;

use base64::Engine;

use crate::config::Secret;

/// What ClickHouse's native-protocol port answers an HTTP request with
/// (`Port 9000 is for clickhouse-client program. You must use port 8123 for
/// HTTP.`), from 18.16 to current releases.
const NATIVE_PORT_ANSWER: &str = "is for clickhouse-client program";
/// Longest a connection attempt may take: a server that is down is seen fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest one statement may take, sending included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// No answer: refused connection, unknown host, timeout, cut connection.
    #[error("ClickHouse at {url}: no answer")]
    Unreachable {
        url: String,
        #[source]
        source: ureq::Error,
    },
    /// The server answered with an error; `text` is its own message
    /// (`Code: 193, e.displayText() = DB::Exception: Wrong password ...`).
    #[error("ClickHouse at {url} refused `{statement}` (HTTP {status}): {text}")]
    Refused {
        url: String,
        statement: String,
        status: u16,
        text: String,
    },
    /// The answer was not what the statement returns.
    #[error("ClickHouse at {url}: unexpected answer to `{statement}`: {text:?}")]
    Answer {
        url: String,
        statement: String,
        text: String,
    },
    /// What answered is ClickHouse's native-protocol port (9000 by
    /// default), which tells an HTTP client so in a 400 answer.
    #[error(
        "ClickHouse at {url}: this is the server's native-protocol port, not its HTTP interface \
         (the server says: {text:?}); give the HTTP port (8123 by default): the port of `url`, \
         or `http_port` in a Go2NetSpectra clickhouse block, whose `port` is the native one"
    )]
    NativePort { url: String, text: String },
    #[error(
        "ClickHouse at {url}: database `{database}` does not exist (create it with CREATE DATABASE {database}, or set `database` of the writer)"
    )]
    NoDatabase { url: String, database: String },
    /// A delete of an earlier attempt's rows did not finish in time.
    #[error(
        "ClickHouse at {url}: the delete of an incomplete earlier attempt of this window has not finished after {waited:?} (pending in system.mutations; a merge that keeps failing in the server's log, such as a stale tmp_merge_* directory after a crash, holds it back)"
    )]
    MutationPending { url: String, waited: Duration },
    /// A value ClickHouse cannot hold; trying again gives the same.
    #[error("{what} {value} does not fit a ClickHouse {column_type}")]
    OutOfRange {
        what: &'static str,
        value: u64,
        column_type: &'static str,
    },
}

impl ClickHouseError {
    /// Every server fault can pass (a restart, a fixed password, a created
    /// database), so only a value that cannot be stored is final. A wrong
    /// answer then costs a bounded backlog, never a silently lost window.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ClickHouseError::OutOfRange { .. })
    }
}

/// A connection to one server as one user.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    authorization: String,
}

impl Client {
    /// A client for `url` (`http://HOST:PORT`, checked by the config);
    /// connects only when a statement is sent.
    pub fn new(url: &str, username: &str, password: &Secret) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        let credentials = format!("{username}:{}", password.expose());
        Client {
            agent,
            url: url.to_string(),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ),
        }
    }

    /// The server's URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one statement and returns the answer's text (trailing newline kept).
    pub fn query(&self, sql: &str) -> Result<String, ClickHouseError> {
        let request = self
            .agent
            .post(&self.url)
            .header("Authorization", &self.authorization);
        self.answer(sql, request.send(sql.as_bytes()))
    }

    /// Runs `insert` (`INSERT INTO ... FORMAT RowBinary`) with `rows` as its data.
    pub fn insert(&self, insert: &str, rows: &[u8]) -> Result<(), ClickHouseError> {
        let request = self
            .agent
            .post(&self.url)
            .query("query", insert)
            .header("Authorization", &self.authorization);
        self.answer(insert, request.send(rows)).map(drop)
    }

    fn answer(
        &self,
        sql: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, ClickHouseError> {
        let unreachable = |source| ClickHouseError::Unreachable {
            url: self.url.clone(),
            source,
        };
        let mut response = sent.map_err(unreachable)?;
        let status = response.status();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;
        if status.is_success() {
            Ok(text)
        } else if status.as_u16() == 400 && text.contains(NATIVE_PORT_ANSWER) {
            Err(ClickHouseError::NativePort {
                url: self.url.clone(),
                text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            })
        } else {
            Err(ClickHouseError::Refused {
                url: self.url.clone(),
                statement: abbreviate(sql),
                status: status.as_u16(),
                text: text.trim_end().to_string(),
            })
        }
    }
}

/// The statement's first line, cut to 100 characters: enough to say which
/// one failed without a page of SQL in the log.
fn abbreviate(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_string(),
    }
}

/// `text` as a ClickHouse string literal.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `name` as a ClickHouse identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_are_escaped() {
        assert_eq!(quote(r"it's a \ probe"), r"'it\'s a \\ probe'");
        assert_eq!(quote_identifier("my`db"), r"`my\`db`");
    }

    #[test]
    fn a_long_statement_is_named_by_its_first_hundred_characters() {
        let sql = format!("SELECT {}\nFROM x", "a".repeat(200));
        let short = abbreviate(&sql);
        assert_eq!(short.chars().count(), 103);
        assert!(short.ends_with("..."));
    }

    #[test]
    fn only_an_unstorable_value_is_a_final_failure() {
        let refused = ClickHouseError::Refused {
            url: "http://h:1".into(),
            statement: "SELECT 1".into(),
            status: 401,
            text: "Wrong password".into(),
        };
        assert!(refused.is_retryable());
        let range = ClickHouseError::OutOfRange {
            what: "window start",
            value: 1 << 40,
            column_type: "DateTime",
        };
        assert!(!range.is_retryable());
    }
}
