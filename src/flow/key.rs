//! Flow keys: what a task counts by.
//!
//! A [`FlowKey`] is a plain fixed-size value (no heap), so building one per
//! packet costs nothing but a copy. The parser fills every field; a task's
//! [`KeySchema`] then zeroes the fields it does not count by.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

    fn bit(self) -> u8 {
        match self {
            KeyField::SrcIp => 1,
            KeyField::DstIp => 2,
            KeyField::SrcPort => 4,
            KeyField::DstPort => 8,
            KeyField::Protocol => 16,
        }
    }
}

/// The set of fields one task keys on, as a bit set (stored as is in `.dat` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySchema(u8);

impl KeySchema {
    /// All five fields: the classic 5-tuple.
    pub const FIVE_TUPLE: KeySchema = KeySchema(0b1_1111);

    /// Builds a schema from a list of fields; duplicates are harmless.
    pub fn from_fields(fields: &[KeyField]) -> KeySchema {
        KeySchema(fields.iter().fold(0, |bits, field| bits | field.bit()))
    }

    /// Rebuilds a schema from its stored bits; `None` when a bit is unknown or none is set.
    pub fn from_bits(bits: u8) -> Option<KeySchema> {
        (bits != 0 && bits & !Self::FIVE_TUPLE.0 == 0).then_some(KeySchema(bits))
    }

    /// The bit set, for storage.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether the schema includes `field`.
    pub fn contains(self, field: KeyField) -> bool {
        self.0 & field.bit() != 0
    }

    /// The schema's fields in canonical order.
    pub fn fields(self) -> impl Iterator<Item = KeyField> {
        KeyField::ALL
            .into_iter()
            .filter(move |field| self.contains(*field))
    }

    /// Keeps the fields of `full` that this schema counts by and zeroes the rest.
    /// The address family survives only when an address field does.
    #[inline]
    pub fn project(self, full: &FlowKey) -> FlowKey {
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
}

impl fmt::Display for KeySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields().map(KeyField::config_name).collect();
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
}
