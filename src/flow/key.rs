//! Flow keys: what a task counts by.
//!
//! A [`FlowKey`] is a plain fixed-size value (no heap), so building one per
//! packet costs nothing but a copy. The parser fills every field; a task's
//! [`KeySchema`] then zeroes the fields it does not count by and cuts
//! addresses to the prefixes it keeps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::AddressPrefix;

/// One field a task can key on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyField {
    SrcIp,
    DstIp,
    SrcPort,
    DstPort,
    Protocol,
}

impl KeyField {
    /// Every field, in the canonical order used for display and storage.
    pub const ALL: [KeyField; 5] = [
        KeyField::SrcIp,
        KeyField::DstIp,
        KeyField::SrcPort,
        KeyField::DstPort,
        KeyField::Protocol,
    ];

    /// The spelling used in config files (`SrcIP`, ...), as in Go2NetSpectra.
    pub fn config_name(self) -> &'static str {
        match self {
            KeyField::SrcIp => "SrcIP",
            KeyField::DstIp => "DstIP",
            KeyField::SrcPort => "SrcPort",
            KeyField::DstPort => "DstPort",
            KeyField::Protocol => "Protocol",
        }
    }

    /// The column name used by `inspect` output (`src_ip`, ...).
    pub fn column_name(self) -> &'static str {
        match self {
            KeyField::SrcIp => "src_ip",
            KeyField::DstIp => "dst_ip",
            KeyField::SrcPort => "src_port",
            KeyField::DstPort => "dst_port",
            KeyField::Protocol => "protocol",
        }
    }

    /// Parses a config spelling; matching ignores ASCII case (`srcip` works too).
    pub fn from_config_name(name: &str) -> Option<KeyField> {
        KeyField::ALL
            .into_iter()
            .find(|field| field.config_name().eq_ignore_ascii_case(name))
    }

    /// The field's bit in [`KeySchema::bits`].
    pub const fn bit(self) -> u8 {
        match self {
            KeyField::SrcIp => 1,
            KeyField::DstIp => 2,
            KeyField::SrcPort => 4,
            KeyField::DstPort => 8,
            KeyField::Protocol => 16,
        }
    }
}

/// The fields one task keys on, as a bit set (stored as is in `.dat`
/// headers), and the prefix each address field keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySchema {
    bits: u8,
    src_prefix: AddressPrefix,
    dst_prefix: AddressPrefix,
}

impl KeySchema {
    /// All five fields: the classic 5-tuple.
    pub const FIVE_TUPLE: KeySchema = KeySchema::whole(0b1_1111);

    /// The schema of whole addresses with the fields of `bits` (see [`KeySchema::bits`]).
    pub const fn whole(bits: u8) -> KeySchema {
        KeySchema {
            bits,
            src_prefix: AddressPrefix::WHOLE,
            dst_prefix: AddressPrefix::WHOLE,
        }
    }

    /// Builds a schema of whole addresses from a list of fields; duplicates are harmless.
    pub fn from_fields(fields: &[KeyField]) -> KeySchema {
        KeySchema::whole(fields.iter().fold(0, |bits, field| bits | field.bit()))
    }

    /// Rebuilds a schema from its stored bits; `None` when a bit is unknown or none is set.
    pub fn from_bits(bits: u8) -> Option<KeySchema> {
        (bits != 0 && bits & !Self::FIVE_TUPLE.bits == 0).then_some(KeySchema::whole(bits))
    }

    /// The bit set, for storage.
    pub const fn bits(self) -> u8 {
        self.bits
    }

    /// This schema with `field` (`SrcIp` or `DstIp`, in the schema) cut to
    /// `prefix`; `None` for another field or one the schema lacks.
    pub fn with_prefix(self, field: KeyField, prefix: AddressPrefix) -> Option<KeySchema> {
        if !self.contains(field) {
            return None;
        }
        match field {
            KeyField::SrcIp => Some(KeySchema {
                src_prefix: prefix,
                ..self
            }),
            KeyField::DstIp => Some(KeySchema {
                dst_prefix: prefix,
                ..self
            }),
            _ => None,
        }
    }

    /// The prefix `field` keeps: whole for a port, the protocol, or an address kept whole.
    pub fn prefix(self, field: KeyField) -> AddressPrefix {
        match field {
            KeyField::SrcIp => self.src_prefix,
            KeyField::DstIp => self.dst_prefix,
            _ => AddressPrefix::WHOLE,
        }
    }

    /// Whether an address field keeps only a prefix.
    pub fn has_prefix(self) -> bool {
        !(self.src_prefix.is_whole() && self.dst_prefix.is_whole())
    }

    /// Whether the schema includes `field`.
    #[inline]
    pub fn contains(self, field: KeyField) -> bool {
        self.bits & field.bit() != 0
    }

    /// The schema's fields in canonical order.
    pub fn fields(self) -> impl Iterator<Item = KeyField> {
        KeyField::ALL
            .into_iter()
            .filter(move |field| self.contains(*field))
    }

    /// A field as a config writes it, with its prefix: `SrcIP/24`, `DstPort`.
    pub fn spelling(self, field: KeyField) -> String {
        format!("{}{}", field.config_name(), self.prefix(field))
    }

    /// The schema seen from the other end: source and destination fields
    /// and prefixes exchanged. A conversation needs a schema equal to its mirror.
    pub fn mirrored(self) -> KeySchema {
        let swap = |bits: u8, a: KeyField, b: KeyField| {
            let cleared = bits & !(a.bit() | b.bit());
            let moved = if bits & a.bit() != 0 { b.bit() } else { 0 }
                | if bits & b.bit() != 0 { a.bit() } else { 0 };
            cleared | moved
        };
        let bits = swap(self.bits, KeyField::SrcIp, KeyField::DstIp);
        KeySchema {
            bits: swap(bits, KeyField::SrcPort, KeyField::DstPort),
            src_prefix: self.dst_prefix,
            dst_prefix: self.src_prefix,
        }
    }

    /// Keeps the fields of `full` that this schema counts by and zeroes the
    /// rest, then cuts addresses to their prefixes. The address family
    /// survives only when an address field does.
    #[inline]
    pub fn project(self, full: &FlowKey) -> FlowKey {
        let key = self.project_fields(full);
        if self.has_prefix() {
            self.mask(key)
        } else {
            key
        }
    }

    /// [`KeySchema::project`] without the prefixes: for a caller that has
    /// checked [`KeySchema::has_prefix`] once for many keys.
    #[inline]
    pub fn project_fields(self, full: &FlowKey) -> FlowKey {
        let keeps_address = self.contains(KeyField::SrcIp) || self.contains(KeyField::DstIp);
        FlowKey {
            src: if self.contains(KeyField::SrcIp) {
                full.src
            } else {
                [0; 16]
            },
            dst: if self.contains(KeyField::DstIp) {
                full.dst
            } else {
                [0; 16]
            },
            src_port: if self.contains(KeyField::SrcPort) {
                full.src_port
            } else {
                0
            },
            dst_port: if self.contains(KeyField::DstPort) {
                full.dst_port
            } else {
                0
            },
            protocol: if self.contains(KeyField::Protocol) {
                full.protocol
            } else {
                0
            },
            family: if keeps_address {
                full.family
            } else {
                AddressFamily::None
            },
        }
    }

    /// `key` with each address cut to its field's prefix.
    fn mask(self, key: FlowKey) -> FlowKey {
        FlowKey {
            src: self.src_prefix.mask(key.family, key.src),
            dst: self.dst_prefix.mask(key.family, key.dst),
            ..key
        }
    }
}

/// The fields as a config lists them, prefixes included: `[SrcIP/24, DstPort]`.
impl fmt::Display for KeySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.fields().map(|field| self.spelling(field)).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// Which IP version the addresses of a key belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum AddressFamily {
    /// The key holds no address (port- or protocol-only tasks).
    #[default]
    None = 0,
    Ipv4 = 4,
    Ipv6 = 6,
}

impl AddressFamily {
    /// Rebuilds a family from its stored byte.
    pub fn from_byte(byte: u8) -> Option<AddressFamily> {
        match byte {
            0 => Some(AddressFamily::None),
            4 => Some(AddressFamily::Ipv4),
            6 => Some(AddressFamily::Ipv6),
            _ => None,
        }
    }
}

/// A flow key: addresses (IPv4 in the first 4 bytes, the rest zero), ports, protocol.
///
/// Fields a task does not count by are zero. Ports are 0 when the packet has
/// none (ICMP, non-first fragments, ports not captured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub family: AddressFamily,
}

impl FlowKey {
    /// The source address, or `None` when the key holds no address.
    pub fn src_ip(&self) -> Option<IpAddr> {
        address(self.family, &self.src)
    }

    /// The destination address, or `None` when the key holds no address.
    pub fn dst_ip(&self) -> Option<IpAddr> {
        address(self.family, &self.dst)
    }

    /// A key for IPv4 addresses; ports and protocol as given.
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, src_port: u16, dst_port: u16, protocol: u8) -> Self {
        let mut key = FlowKey {
            src_port,
            dst_port,
            protocol,
            family: AddressFamily::Ipv4,
            ..FlowKey::default()
        };
        key.src[..4].copy_from_slice(&src.octets());
        key.dst[..4].copy_from_slice(&dst.octets());
        key
    }

    /// A key for IPv6 addresses; ports and protocol as given.
    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, src_port: u16, dst_port: u16, protocol: u8) -> Self {
        FlowKey {
            src: src.octets(),
            dst: dst.octets(),
            src_port,
            dst_port,
            protocol,
            family: AddressFamily::Ipv6,
        }
    }
}

fn address(family: AddressFamily, bytes: &[u8; 16]) -> Option<IpAddr> {
    match family {
        AddressFamily::None => None,
        AddressFamily::Ipv4 => Some(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        AddressFamily::Ipv6 => Some(IpAddr::V6(Ipv6Addr::from(*bytes))),
    }
}

/// `src:sport -> dst:dport proto`, with absent fields left out; for logs and tests.
impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}:{} -> {}:{} proto {}",
            match self.family {
                AddressFamily::None => "-",
                AddressFamily::Ipv4 => "v4",
                AddressFamily::Ipv6 => "v6",
            },
            self.src_ip()
                .map_or_else(|| "*".to_string(), |ip| ip.to_string()),
            self.src_port,
            self.dst_ip()
                .map_or_else(|| "*".to_string(), |ip| ip.to_string()),
            self.dst_port,
            self.protocol
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_zeroes_fields_outside_the_schema() {
        let full = FlowKey::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1234,
            80,
            6,
        );
        let by_dst_port = KeySchema::from_fields(&[KeyField::DstPort]).project(&full);
        assert_eq!(
            by_dst_port,
            FlowKey {
                dst_port: 80,
                ..FlowKey::default()
            }
        );
        let by_src = KeySchema::from_fields(&[KeyField::SrcIp]).project(&full);
        assert_eq!(by_src.src_ip(), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(by_src.dst_ip(), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(by_src.protocol, 0);
    }

    #[test]
    fn schema_bits_round_trip_and_reject_unknown_bits() {
        let schema = KeySchema::from_fields(&[KeyField::Protocol, KeyField::SrcIp]);
        assert_eq!(KeySchema::from_bits(schema.bits()), Some(schema));
        assert_eq!(KeySchema::from_bits(0), None);
        assert_eq!(KeySchema::from_bits(0x20), None);
        assert_eq!(schema.to_string(), "[SrcIP, Protocol]");
    }

    #[test]
    fn config_names_parse_case_insensitively() {
        assert_eq!(KeyField::from_config_name("srcip"), Some(KeyField::SrcIp));
        assert_eq!(
            KeyField::from_config_name("Protocol"),
            Some(KeyField::Protocol)
        );
        assert_eq!(KeyField::from_config_name("SrcMac"), None);
    }

    #[test]
    fn projection_cuts_each_address_to_its_family_prefix() {
        let schema = KeySchema::from_fields(&[KeyField::SrcIp, KeyField::DstIp])
            .with_prefix(KeyField::SrcIp, AddressPrefix::parse("24,48").unwrap())
            .unwrap();
        let v4 = FlowKey::ipv4(
            Ipv4Addr::new(10, 1, 2, 3),
            Ipv4Addr::new(10, 9, 9, 9),
            1234,
            80,
            6,
        );
        let projected = schema.project(&v4);
        assert_eq!(projected.src_ip(), Some("10.1.2.0".parse().unwrap()));
        assert_eq!(projected.dst_ip(), Some("10.9.9.9".parse().unwrap()));
        let v6 = FlowKey::ipv6(
            "2001:db8:1:2::5".parse().unwrap(),
            "2001:db8::9".parse().unwrap(),
            1,
            2,
            17,
        );
        assert_eq!(
            schema.project(&v6).src_ip(),
            Some("2001:db8:1::".parse().unwrap())
        );
        assert_eq!(schema.to_string(), "[SrcIP/24,48, DstIP]");
    }

    #[test]
    fn only_address_fields_of_the_schema_take_a_prefix() {
        let prefix = AddressPrefix::parse("16").unwrap();
        let by_src = KeySchema::from_fields(&[KeyField::SrcIp]);
        assert!(by_src.with_prefix(KeyField::DstIp, prefix).is_none());
        assert!(by_src.with_prefix(KeyField::SrcIp, prefix).is_some());
        let by_port = KeySchema::from_fields(&[KeyField::SrcPort]);
        assert!(by_port.with_prefix(KeyField::SrcPort, prefix).is_none());
    }

    #[test]
    fn a_mirrored_schema_swaps_the_ends() {
        let pair = KeySchema::from_fields(&[KeyField::SrcIp, KeyField::DstIp, KeyField::Protocol]);
        assert_eq!(pair.mirrored(), pair);
        let one_end = KeySchema::from_fields(&[KeyField::SrcIp, KeyField::DstPort]);
        assert_eq!(
            one_end.mirrored(),
            KeySchema::from_fields(&[KeyField::DstIp, KeyField::SrcPort])
        );
        let prefix = AddressPrefix::parse("24").unwrap();
        let cut_src = pair.with_prefix(KeyField::SrcIp, prefix).unwrap();
        assert_ne!(cut_src.mirrored(), cut_src);
        let cut_both = cut_src.with_prefix(KeyField::DstIp, prefix).unwrap();
        assert_eq!(cut_both.mirrored(), cut_both);
    }
}
