//! Exact decimal numbers for `inspect`'s query flags: `1500`, `1.5e3`,
//! `1.5k`, `2M`, converted to a whole number of a base unit (seconds to
//! nanoseconds, for instance) without going through floating point, so a
//! nanosecond timestamp compares exactly.

/// SI multipliers accepted after a number, as powers of ten.
const SUFFIXES: &[(char, i32)] = &[('k', 3), ('K', 3), ('M', 6), ('G', 9), ('T', 12)];

/// `text` (digits, an optional fraction, an optional exponent `e3`/`E-2`,
/// an optional SI suffix k, M, G or T) times 10^`scale`, as a whole number.
/// Fails, saying why, on anything else, on a value that is not whole after
/// scaling, or on one beyond `u64`.
pub fn parse_scaled(text: &str, scale: i32) -> Result<u64, String> {
    let (number, suffix_exponent) = match text.char_indices().last() {
        Some((at, last)) => match SUFFIXES.iter().find(|(suffix, _)| *suffix == last) {
            Some(&(_, exponent)) => (&text[..at], exponent),
            None => (text, 0),
        },
        None => return Err("empty number".to_string()),
    };
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(at) => {
            let exponent: i32 = number[at + 1..]
                .parse()
                .map_err(|_| format!("{text:?} is not a number"))?;
            (&number[..at], exponent)
        }
        None => (number, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if whole.is_empty() || digits.len() > 38 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a number"));
    }
    let value: u128 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    let fraction_digits = i32::try_from(fraction.len()).unwrap_or(i32::MAX);
    let power = exponent
        .saturating_add(suffix_exponent)
        .saturating_add(scale)
        .saturating_sub(fraction_digits);
    let too_large = || format!("{text:?} is too large");
    let scaled = if power >= 0 {
        10u128
            .checked_pow(power.unsigned_abs())
            .and_then(|factor| value.checked_mul(factor))
            .ok_or_else(too_large)?
    } else {
        match 10u128.checked_pow(power.unsigned_abs()) {
            Some(divisor) if value.is_multiple_of(divisor) => value / divisor,
            None if value == 0 => 0,
            _ => return Err(format!("{text:?} is finer than the unit counted")),
        }
    };
    u64::try_from(scaled).map_err(|_| too_large())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_fractions_exponents_and_si_suffixes_exactly() {
        assert_eq!(parse_scaled("1500", 0), Ok(1500));
        assert_eq!(parse_scaled("1e6", 0), Ok(1_000_000));
        assert_eq!(parse_scaled("1.5k", 0), Ok(1500));
        assert_eq!(parse_scaled("2M", 0), Ok(2_000_000));
        assert_eq!(parse_scaled("1G", 0), Ok(1_000_000_000));
        assert_eq!(parse_scaled("2.5E-1", 2), Ok(25));
        assert_eq!(
            parse_scaled("1757412000.000000001", 9),
            Ok(1_757_412_000_000_000_001)
        );
        assert_eq!(
            parse_scaled("0.5", 0),
            Err("\"0.5\" is finer than the unit counted".into())
        );
        assert_eq!(parse_scaled("1e30", 0), Err("\"1e30\" is too large".into()));
        for bad in ["", "k", "x1", "1.2.3", "-1", "1e", ".5", "1 k"] {
            assert!(parse_scaled(bad, 0).is_err(), "{bad}");
        }
    }
}
