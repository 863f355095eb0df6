//! Request parameters and error answers of the HTTP API.
//!
//! Owns turning query strings and JSON bodies into checked values (times,
//! limits, sort orders, key fields) and every error into a JSON
//! `{"error": "..."}` with its status. A malformed or unknown parameter is
//! a 400 naming it; nothing here reads the store.

use std::collections::HashMap;
use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::flow::{FlowKey, KeyField, KeySchema};
use crate::output::SortBy;

/// Most rows or windows one request may ask for.
pub const MAX_LIMIT: usize = 10_000;
/// Rows `top` returns without `limit`.
const DEFAULT_TOP: usize = 10;
/// The latest time a stored window can start: 2554, where u64 nanoseconds end.
const MAX_SECONDS: u64 = u64::MAX / 1_000_000_000;

/// Why a request failed; its text is the `error` of the answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a parameter or body is malformed; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such task, key or store.
    #[error("{0}")]
    NotFound(String),
    /// 401: the bearer token is missing or wrong.
    #[error("a valid `Authorization: Bearer <token>` header is required")]
    Unauthorized,
    /// 500: the store could not be read; the message names the file.
    #[error("{0}")]
    Internal(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .json(serde_json::json!({ "error": self.to_string() }))
    }
}

/// A query string's parameters, each taken at most once; whatever is left
/// untaken is an unknown parameter.
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `query` (already split by actix into pairs).
    pub fn new(pairs: HashMap<String, String>) -> Params {
        Params(pairs)
    }

    /// Takes `name` as text.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// Takes `name`, which must be present.
    pub fn required(&mut self, name: &str) -> Result<String, ApiError> {
        self.text(name)
            .ok_or_else(|| ApiError::BadRequest(format!("{name}: required")))
    }

    /// Takes `from` and `to` as a checked range of nanoseconds since the
    /// epoch; absent ends are open.
    pub fn range(&mut self) -> Result<(u64, u64), ApiError> {
        let from = self
            .text("from")
            .map(|t| parse_time("from", &t))
            .transpose()?;
        let to = self.text("to").map(|t| parse_time("to", &t)).transpose()?;
        checked_range(from, to)
    }

    /// Takes `limit`: 1 to [`MAX_LIMIT`], `default` when absent.
    pub fn limit(&mut self, default: usize) -> Result<usize, ApiError> {
        let Some(text) = self.text("limit") else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ApiError::BadRequest(format!(
                "limit: {text:?} is not a whole number from 1 to {MAX_LIMIT}"
            ))),
        }
    }

    /// Takes `limit` for `top`: 10 when absent.
    pub fn top_limit(&mut self) -> Result<usize, ApiError> {
        self.limit(DEFAULT_TOP)
    }

    /// Takes `sort`: `packets` (default), `bytes`, `flows`, `duration`,
    /// `first_seen` or `rate`, as `inspect --sort`.
    pub fn sort(&mut self) -> Result<SortBy, ApiError> {
        self.text("sort").map_or(Ok(SortBy::Packets), |text| {
            text.parse()
                .map_err(|error: String| ApiError::BadRequest(format!("sort: {error}")))
        })
    }

    /// Takes the key fields of `schema` (each required) and returns the
    /// key they make; a key field of another schema is refused by name.
    pub fn key(&mut self, task: &str, schema: KeySchema) -> Result<FlowKey, ApiError> {
        let mut values = KeyValues::default();
        for field in KeyField::ALL {
            let name = field.column_name();
            let Some(text) = self.text(name) else {
                if schema.contains(field) {
                    return Err(ApiError::BadRequest(format!(
                        "{name}: required, a key field of task {task}"
                    )));
                }
                continue;
            };
            if !schema.contains(field) {
                return Err(ApiError::BadRequest(format!(
                    "{name}: not a key field of task {task} (its fields: {})",
                    field_names(schema)
                )));
            }
            values.set(field, &text)?;
        }
        values.key(schema)
    }

    /// Fails on the first parameter nobody took.
    pub fn finish(self) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self.0.keys().collect();
        unknown.sort();
        match unknown.first() {
            Some(name) => Err(ApiError::BadRequest(format!("{name}: unknown parameter"))),
            None => Ok(()),
        }
    }
}

/// `a, b`: the API names of a schema's fields.
pub fn field_names(schema: KeySchema) -> String {
    schema
        .fields()
        .map(KeyField::column_name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values given for a key's fields.
#[derive(Default)]
struct KeyValues {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
}

impl KeyValues {
    fn set(&mut self, field: KeyField, text: &str) -> Result<(), ApiError> {
        let name = field.column_name();
        let bad = |want: &str| ApiError::BadRequest(format!("{name}: {text:?} is not {want}"));
        match field {
            KeyField::SrcIp => self.src = Some(text.parse().map_err(|_| bad("an IP address"))?),
            KeyField::DstIp => self.dst = Some(text.parse().map_err(|_| bad("an IP address"))?),
            KeyField::SrcPort => {
                self.src_port = text.parse().map_err(|_| bad("a port (0 to 65535)"))?
            }
            KeyField::DstPort => {
                self.dst_port = text.parse().map_err(|_| bad("a port (0 to 65535)"))?
            }
            KeyField::Protocol => {
                self.protocol = text
                    .parse()
                    .map_err(|_| bad("a protocol number (0 to 255)"))?;
            }
        }
        Ok(())
    }

    /// The key as the store holds it for `schema`.
    fn key(&self, schema: KeySchema) -> Result<FlowKey, ApiError> {
        let (ports, protocol) = ((self.src_port, self.dst_port), self.protocol);
        let full = match (self.src, self.dst) {
            (Some(IpAddr::V6(_)), Some(IpAddr::V4(_)))
            | (Some(IpAddr::V4(_)), Some(IpAddr::V6(_))) => {
                return Err(ApiError::BadRequest(
                    "src_ip, dst_ip: one is IPv4 and the other IPv6".to_string(),
                ));
            }
            (Some(IpAddr::V6(_)), _) | (_, Some(IpAddr::V6(_))) => {
                FlowKey::ipv6(v6(self.src), v6(self.dst), ports.0, ports.1, protocol)
            }
            _ => FlowKey::ipv4(v4(self.src), v4(self.dst), ports.0, ports.1, protocol),
        };
        Ok(schema.project(&full))
    }
}

fn v4(ip: Option<IpAddr>) -> std::net::Ipv4Addr {
    match ip {
        Some(IpAddr::V4(ip)) => ip,
        _ => std::net::Ipv4Addr::UNSPECIFIED,
    }
}

fn v6(ip: Option<IpAddr>) -> std::net::Ipv6Addr {
    match ip {
        Some(IpAddr::V6(ip)) => ip,
        _ => std::net::Ipv6Addr::UNSPECIFIED,
    }
}

/// A time as RFC 3339 in UTC (`2025-09-09T10:00:00Z`, fractions allowed)
/// or whole Unix seconds, in nanoseconds since the epoch.
pub fn parse_time(name: &str, text: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "{name}: {text:?} is not a time (want RFC 3339 in UTC, e.g. 2025-09-09T10:00:00Z, or Unix seconds)"
        ))
    };
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        let seconds: u64 = text.parse().map_err(|_| bad())?;
        if seconds > MAX_SECONDS {
            return Err(bad());
        }
        return Ok(seconds * 1_000_000_000);
    }
    let time = humantime::parse_rfc3339(text).map_err(|_| bad())?;
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad())?;
    u64::try_from(since.as_nanos()).map_err(|_| bad())
}

/// `from..to` with open ends filled in; `from` after `to` is refused.
pub fn checked_range(from: Option<u64>, to: Option<u64>) -> Result<(u64, u64), ApiError> {
    let (from, to) = (from.unwrap_or(0), to.unwrap_or(u64::MAX));
    if from > to {
        return Err(ApiError::BadRequest(
            "from: later than to; want from <= to".to_string(),
        ));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_unix_seconds() {
        let want = 1_757_412_000_000_000_000;
        assert_eq!(parse_time("from", "1757412000").ok(), Some(want));
        assert_eq!(parse_time("from", "2025-09-09T10:00:00Z").ok(), Some(want));
        assert_eq!(
            parse_time("from", "2025-09-09T10:00:00.5Z").ok(),
            Some(want + 500_000_000)
        );
        let error = parse_time("to", "yesterday").expect_err("not a time");
        assert!(
            error
                .to_string()
                .starts_with("to: \"yesterday\" is not a time"),
            "{error}"
        );
    }

    #[test]
    fn a_reversed_range_and_a_huge_limit_are_refused_by_name() {
        let error = checked_range(Some(2), Some(1)).expect_err("reversed");
        assert!(error.to_string().starts_with("from: "), "{error}");
        let mut params = Params::new(HashMap::from([("limit".to_string(), "10001".to_string())]));
        let error = params.top_limit().expect_err("too many");
        assert!(error.to_string().starts_with("limit: "), "{error}");
    }

    #[test]
    fn a_key_needs_exactly_its_tasks_fields() {
        let schema = KeySchema::from_fields(&[KeyField::SrcIp]);
        let pairs = |list: &[(&str, &str)]| {
            Params::new(
                list.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        };
        let key = pairs(&[("src_ip", "10.0.0.1")])
            .key("t", schema)
            .expect("a key");
        assert_eq!(key.src_ip(), Some("10.0.0.1".parse().expect("an address")));
        let error = pairs(&[("src_ip", "10.0.0.1"), ("dst_port", "53")])
            .key("t", schema)
            .expect_err("dst_port is not a field of t");
        assert_eq!(
            error.to_string(),
            "dst_port: not a key field of task t (its fields: src_ip)"
        );
        let error = pairs(&[]).key("t", schema).expect_err("src_ip missing");
        assert_eq!(error.to_string(), "src_ip: required, a key field of task t");
    }
}
