//! Points in time as `inspect` takes them: RFC 3339 (`2025-09-09T10:00:00Z`,
//! fractions and `+02:00` offsets allowed), Unix seconds (`1757412000`,
//! `1757412000.5`), or, for `--from` and `--to`, a span back from the end
//! of the newest stored window (`-1h`, `-30m`, `-2d`, `-90s`). Only
//! parsing and arithmetic: nothing here reads the store.

use std::str::FromStr;
use std::time::UNIX_EPOCH;

use super::decimal::parse_scaled;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// One end of `--from`/`--to`, in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// An instant given outright.
    At(u64),
    /// This many nanoseconds before the end of the newest window in the root.
    BeforeNewestEnd(u64),
}

impl TimeBound {
    /// The instant, with relative bounds measured back from `newest_end_ns`
    /// (clamped at the epoch).
    pub fn resolve(self, newest_end_ns: u64) -> u64 {
        match self {
            TimeBound::At(ns) => ns,
            TimeBound::BeforeNewestEnd(span) => newest_end_ns.saturating_sub(span),
        }
    }
}

impl FromStr for TimeBound {
    type Err = String;

    /// An instant ([`parse_instant`]) or `-` and a duration (`-1h`, `-1h30m`).
    fn from_str(text: &str) -> Result<TimeBound, String> {
        if let Some(span) = text.strip_prefix('-') {
            let span = humantime::parse_duration(span).map_err(|error| {
                format!("{text:?} is not a span back from the newest window ({error}); write e.g. -1h, -30m, -2d or -90s")
            })?;
            let nanos = u64::try_from(span.as_nanos())
                .map_err(|_| format!("{text:?} reaches back past the Unix epoch"))?;
            return Ok(TimeBound::BeforeNewestEnd(nanos));
        }
        parse_instant(text).map(TimeBound::At).ok_or_else(|| {
            format!(
                "{text:?} is not a time (want RFC 3339 such as 2025-09-09T10:00:00Z, Unix seconds, or a span back such as -1h)"
            )
        })
    }
}

/// An RFC 3339 time or Unix seconds (fractions allowed), in nanoseconds
/// since the epoch; `None` for anything else or a time before 1970.
pub fn parse_instant(text: &str) -> Option<u64> {
    if text.starts_with(|c: char| c.is_ascii_digit()) && !text.contains(['-', ':']) {
        return parse_scaled(text, 9).ok();
    }
    let (utc, offset_secs) = split_offset(text)?;
    let time = humantime::parse_rfc3339(&utc).ok()?;
    let nanos = u64::try_from(time.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?;
    let offset = offset_secs.unsigned_abs().checked_mul(NANOS_PER_SEC)?;
    // Local time = UTC + offset, so UTC = local - offset.
    if offset_secs >= 0 {
        nanos.checked_sub(offset)
    } else {
        nanos.checked_add(offset)
    }
}

/// `text` with its zone written as `Z`, and the zone's offset in seconds
/// east of UTC. Accepts `Z`, `z`, `+HH:MM` and `-HH:MM`.
fn split_offset(text: &str) -> Option<(String, i64)> {
    if let Some(utc) = text.strip_suffix(['Z', 'z']) {
        return Some((format!("{utc}Z"), 0));
    }
    let (local, zone) = text.split_at(text.len().checked_sub(6)?);
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = zone.get(1..)?.split_once(':')?;
    let digits = |part: &str| {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i64>().ok())
            .flatten()
    };
    let (hours, minutes) = (digits(hours)?, digits(minutes)?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((format!("{local}Z"), sign * (hours * 3600 + minutes * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_757_412_000 * NANOS_PER_SEC;

    #[test]
    fn instants_parse_from_rfc3339_with_any_zone_and_from_unix_seconds() {
        assert_eq!(parse_instant("2025-09-09T10:00:00Z"), Some(T0));
        assert_eq!(parse_instant("2025-09-09T12:00:00+02:00"), Some(T0));
        assert_eq!(parse_instant("2025-09-09T09:30:00-00:30"), Some(T0));
        assert_eq!(
            parse_instant("2025-09-09T10:00:00.25Z"),
            Some(T0 + 250_000_000)
        );
        assert_eq!(parse_instant("1757412000"), Some(T0));
        assert_eq!(parse_instant("1757412000.000000001"), Some(T0 + 1));
        for bad in [
            "",
            "yesterday",
            "2025-09-09",
            "2025-09-09T10:00:00+2",
            "1e99",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds_are_instants_or_spans_back_from_the_newest_window() {
        assert_eq!("1757412000".parse(), Ok(TimeBound::At(T0)));
        let hour = 3600 * NANOS_PER_SEC;
        assert_eq!("-1h".parse(), Ok(TimeBound::BeforeNewestEnd(hour)));
        assert_eq!(
            "-90s".parse::<TimeBound>().map(|bound| bound.resolve(T0)),
            Ok(T0 - 90 * NANOS_PER_SEC)
        );
        assert_eq!(TimeBound::BeforeNewestEnd(hour).resolve(5), 0);
        let error = "-1x".parse::<TimeBound>().unwrap_err();
        assert!(error.starts_with("\"-1x\" is not a span back"), "{error}");
        let error = "noon".parse::<TimeBound>().unwrap_err();
        assert!(error.starts_with("\"noon\" is not a time"), "{error}");
    }
}
