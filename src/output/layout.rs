//! Names on disk: window directory names and RFC 3339 timestamps, all UTC.
//!
//! Owns the calendar arithmetic (days since the epoch to a civil date and
//! back, after Howard Hinnant's `civil_from_days`), so the crate needs no
//! date library. Pure functions only: no I/O, no clock.

const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// Shard file name of shard `index` inside a task directory.
pub fn shard_file_name(index: usize) -> String {
    format!("shard_{index}.dat")
}

/// State file name of a sketch task's part `index` inside a task directory.
pub fn sketch_file_name(index: usize) -> String {
    format!("sketch_{index}.bin")
}

/// Name of a task directory's summary file.
pub const SUMMARY_FILE: &str = "summary.json";

/// Directory name of the window starting at `window_start_ns` (nanoseconds
/// since the Unix epoch), e.g. `2025-09-09T10-00-00Z`.
///
/// Colons are replaced by dashes so the name is valid on every file system.
/// Sub-second parts are dropped: windows start on whole seconds.
pub fn window_dir_name(window_start_ns: u64) -> String {
    let t = Civil::from_nanos(window_start_ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// Parses a name made by [`window_dir_name`] back to nanoseconds since the
/// epoch; `None` for anything else (`.tmp-*` leftovers, impossible dates
/// such as February 30, dates before 1970).
pub fn parse_window_dir_name(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b'-'),
        (16, b'-'),
        (19, b'Z'),
    ];
    if bytes.len() != 20 || separators.iter().any(|&(at, want)| bytes[at] != want) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = &name[range];
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let days = days_from_civil(number(0..4)?, number(5..7)?, number(8..10)?);
    let secs = days * SECS_PER_DAY as i64
        + number(11..13)? * 3600
        + number(14..16)? * 60
        + number(17..19)?;
    let nanos = u64::try_from(secs).ok()?.checked_mul(NANOS_PER_SEC)?;
    // Formatting back rejects out-of-range fields (month 13, 25:00, Feb 30).
    (window_dir_name(nanos) == name).then_some(nanos)
}

/// The UTC day of `ns` (nanoseconds since the epoch), e.g. `2025-09-09`.
pub fn utc_date(ns: u64) -> String {
    let t = Civil::from_nanos(ns);
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

/// The UTC day of `ns` as the number `YYYYMMDD`, as ClickHouse's
/// `toYYYYMMDD` names a day partition.
pub fn yyyymmdd(ns: u64) -> u32 {
    let t = Civil::from_nanos(ns);
    // Years of u64 nanoseconds stay below 2600: the number fits.
    (t.year * 10_000 + t.month * 100 + t.day) as u32
}

/// The start of the UTC day `YYYYMMDD` in seconds since the epoch; `None`
/// for a number that names no day since 1970.
pub fn yyyymmdd_start_secs(day: u32) -> Option<u64> {
    let (year, month, day_of_month) = (day / 10_000, day / 100 % 100, day % 100);
    let days = days_from_civil(year.into(), month.into(), day_of_month.into());
    let secs = u64::try_from(days).ok()? * SECS_PER_DAY;
    // Formatting back rejects month 13 or February 30.
    (yyyymmdd(secs.checked_mul(NANOS_PER_SEC)?) == day).then_some(secs)
}

/// RFC 3339 UTC with nine fractional digits, e.g. `2025-09-09T10:00:00.123456789Z`.
pub fn rfc3339_nanos(ns: u64) -> String {
    let t = Civil::from_nanos(ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.nanos
    )
}

/// A UTC instant broken into calendar fields.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u64,
}

impl Civil {
    fn from_nanos(ns: u64) -> Civil {
        let secs = ns / NANOS_PER_SEC;
        let of_day = secs % SECS_PER_DAY;
        // u64::MAX ns is about 213 503 days: far inside i64.
        let (year, month, day) = civil_from_days((secs / SECS_PER_DAY) as i64);
        Civil {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
            nanos: ns % NANOS_PER_SEC,
        }
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Inverse of [`civil_from_days`]; does not validate its input.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = NANOS_PER_SEC;

    #[track_caller]
    fn check(ns: u64, dir: &str, rfc3339: &str) {
        assert_eq!(window_dir_name(ns), dir);
        assert_eq!(rfc3339_nanos(ns), rfc3339);
        assert_eq!(utc_date(ns), rfc3339[..10]);
        assert_eq!(parse_window_dir_name(dir), Some(ns - ns % SEC));
    }

    #[test]
    fn the_epoch_is_1970_01_01_midnight() {
        check(0, "1970-01-01T00-00-00Z", "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn a_known_2025_instant_formats_with_nine_fraction_digits() {
        let ns = 1_757_412_000 * SEC;
        check(ns, "2025-09-09T10-00-00Z", "2025-09-09T10:00:00.000000000Z");
        check(
            ns + 123_456_789,
            "2025-09-09T10-00-00Z",
            "2025-09-09T10:00:00.123456789Z",
        );
    }

    #[test]
    fn day_numbers_name_utc_days_and_nonsense_is_refused() {
        let start = yyyymmdd_start_secs(20250909).expect("a day");
        assert_eq!(start, 1_757_376_000);
        assert_eq!(yyyymmdd(start * NANOS_PER_SEC), 20250909);
        assert_eq!(yyyymmdd((start - 1) * NANOS_PER_SEC), 20250908);
        for nonsense in [20251301, 20250230, 19691231, 0] {
            assert_eq!(yyyymmdd_start_secs(nonsense), None, "{nonsense}");
        }
    }

    #[test]
    fn leap_days_exist_in_2024_and_2000() {
        check(
            1_709_251_199 * SEC + 1,
            "2024-02-29T23-59-59Z",
            "2024-02-29T23:59:59.000000001Z",
        );
        check(
            1_709_251_200 * SEC,
            "2024-03-01T00-00-00Z",
            "2024-03-01T00:00:00.000000000Z",
        );
        check(
            951_782_400 * SEC,
            "2000-02-29T00-00-00Z",
            "2000-02-29T00:00:00.000000000Z",
        );
        check(
            1_735_689_599 * SEC,
            "2024-12-31T23-59-59Z",
            "2024-12-31T23:59:59.000000000Z",
        );
    }

    #[test]
    fn the_largest_timestamp_still_formats() {
        assert_eq!(rfc3339_nanos(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }

    #[test]
    fn names_that_are_not_windows_do_not_parse() {
        for name in [
            ".tmp-2025-09-09T10-00-00Z-42",
            "2025-02-30T00-00-00Z",
            "2025-13-01T00-00-00Z",
            "2025-09-09T24-00-00Z",
            "2025-09-09T10:00:00Z",
            "1969-12-31T23-59-59Z",
            "2025-09-09T10-00-0+Z",
            "by_src",
        ] {
            assert_eq!(parse_window_dir_name(name), None, "{name}");
        }
    }
}
