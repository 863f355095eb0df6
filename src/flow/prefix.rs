//! Address prefixes of key fields: `SrcIP/24` counts addresses by their
//! first 24 bits, as nfdump's `-A srcip4/24` does.
//!
//! An [`AddressPrefix`] holds one length per family. A single length in a
//! config names the family it fits: up to 32 it is an IPv4 prefix (IPv6
//! addresses are kept whole), 33 to 128 an IPv6 prefix (IPv4 addresses are
//! kept whole); `/24,48` gives both. Masking keeps the top bits of the
//! address as it is stored in a key (IPv4 in the first four bytes).

use std::fmt;

use super::AddressFamily;

/// How many leading bits of an address a key field keeps, per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressPrefix {
    /// 0..=32; 32 keeps IPv4 addresses whole.
    pub v4: u8,
    /// 0..=128; 128 keeps IPv6 addresses whole.
    pub v6: u8,
}

impl AddressPrefix {
    /// Whole addresses in both families: no masking.
    pub const WHOLE: AddressPrefix = AddressPrefix { v4: 32, v6: 128 };

    /// A prefix of `v4` and `v6` bits; `None` when a length exceeds its
    /// family's address (32, 128).
    pub fn new(v4: u8, v6: u8) -> Option<AddressPrefix> {
        (v4 <= 32 && v6 <= 128).then_some(AddressPrefix { v4, v6 })
    }

    /// Parses what follows the `/` of a key field: `24` (IPv4), `64`
    /// (IPv6, since it exceeds 32) or `24,48` (IPv4, IPv6). The error says
    /// what is wrong with `text`.
    pub fn parse(text: &str) -> Result<AddressPrefix, String> {
        let length = |part: &str, family: &str, max: u8| -> Result<u8, String> {
            part.trim()
                .parse::<u8>()
                .ok()
                .filter(|&length| length <= max)
                .ok_or_else(|| {
                    format!("{family} prefix length {part:?} is not a number from 0 to {max}")
                })
        };
        match text.split_once(',') {
            Some((v4, v6)) => Ok(AddressPrefix {
                v4: length(v4, "IPv4", 32)?,
                v6: length(v6, "IPv6", 128)?,
            }),
            None => {
                let single = length(text, "prefix", 128)?;
                Ok(if single <= 32 {
                    AddressPrefix {
                        v4: single,
                        v6: 128,
                    }
                } else {
                    AddressPrefix { v4: 32, v6: single }
                })
            }
        }
    }

    /// Whether addresses of both families are kept whole.
    pub fn is_whole(self) -> bool {
        self == AddressPrefix::WHOLE
    }

    /// The length applied to an address of `family`, when it masks any bit.
    pub fn masking(self, family: AddressFamily) -> Option<u8> {
        match family {
            AddressFamily::Ipv4 if self.v4 < 32 => Some(self.v4),
            AddressFamily::Ipv6 if self.v6 < 128 => Some(self.v6),
            _ => None,
        }
    }

    /// `address` (as a key stores it) with every bit past the family's
    /// prefix cleared.
    #[inline]
    pub fn mask(self, family: AddressFamily, address: [u8; 16]) -> [u8; 16] {
        let length = match family {
            AddressFamily::None => return address,
            AddressFamily::Ipv4 => self.v4,
            AddressFamily::Ipv6 => self.v6,
        };
        let keep = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
        (u128::from_be_bytes(address) & keep).to_be_bytes()
    }
}

/// The config spelling after the field name: empty when whole, else `/24`,
/// `/64` or `/24,48`; it parses back to the same prefix.
impl fmt::Display for AddressPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v4 < 32, self.v6 < 128) {
            (false, false) => Ok(()),
            (true, false) => write!(f, "/{}", self.v4),
            (false, true) if self.v6 > 32 => write!(f, "/{}", self.v6),
            _ => write!(f, "/{},{}", self.v4, self.v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_parse(text: &str, v4: u8, v6: u8, spelled: &str) {
        let prefix = AddressPrefix::parse(text).expect("a valid prefix");
        assert_eq!((prefix.v4, prefix.v6), (v4, v6), "{text}");
        assert_eq!(prefix.to_string(), spelled, "{text}");
        if !spelled.is_empty() {
            assert_eq!(AddressPrefix::parse(&spelled[1..]), Ok(prefix));
        }
    }

    #[test]
    fn a_single_length_names_the_family_it_fits() {
        check_parse("24", 24, 128, "/24");
        check_parse("0", 0, 128, "/0");
        check_parse("64", 32, 64, "/64");
        check_parse("33", 32, 33, "/33");
        check_parse("32", 32, 128, "");
        check_parse("128", 32, 128, "");
        check_parse("24,48", 24, 48, "/24,48");
        check_parse("32,16", 32, 16, "/32,16");
    }

    #[test]
    fn lengths_beyond_the_address_are_refused_with_the_family() {
        assert_eq!(
            AddressPrefix::parse("33,64"),
            Err("IPv4 prefix length \"33\" is not a number from 0 to 32".to_string())
        );
        assert_eq!(
            AddressPrefix::parse("24,129"),
            Err("IPv6 prefix length \"129\" is not a number from 0 to 128".to_string())
        );
        assert!(AddressPrefix::parse("x").is_err());
        assert!(AddressPrefix::parse("").is_err());
    }

    #[test]
    fn masking_clears_the_bits_past_the_prefix() {
        let prefix = AddressPrefix::parse("20,36").unwrap();
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[10, 1, 255, 7]);
        assert_eq!(prefix.mask(AddressFamily::Ipv4, v4)[..4], [10, 1, 240, 0]);
        let v6: std::net::Ipv6Addr = "2001:db8:abcd:1234::1".parse().unwrap();
        let masked = prefix.mask(AddressFamily::Ipv6, v6.octets());
        assert_eq!(
            std::net::Ipv6Addr::from(masked),
            "2001:db8:a000::".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(
            AddressPrefix::parse("0")
                .unwrap()
                .mask(AddressFamily::Ipv4, v4),
            [0; 16]
        );
        assert_eq!(
            AddressPrefix::WHOLE.mask(AddressFamily::Ipv6, v6.octets()),
            v6.octets()
        );
    }
}
