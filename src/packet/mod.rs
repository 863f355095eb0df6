//! Pure packet parsing: from a captured frame and its link type to the
//! 5-tuple [`FlowKey`] of the outermost IP header.
//!
//! This is the per-packet hot path. It never allocates, never panics on any
//! input and does no I/O; it knows nothing about actors or capture files.
//! The rules match the tshark oracle of the conformance corpus (see
//! `crosscheck.py` there): only the outermost IP header is keyed, tunnels
//! (GRE, IP-in-IP, VXLAN) are never looked into, and a frame that cannot be
//! keyed comes back as a [`SkipReason`] for the run statistics.
//!
//! `link.rs` finds where the IP header starts; `ip.rs` decodes it.

mod ip;
mod link;

#[cfg(test)]
mod tests;

use crate::flow::FlowKey;

/// Link-layer types netspectra understands (pcap LINKTYPE_ codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback (0): 4-byte address family in the capturing host's byte order.
    Null,
    /// Ethernet II (1), with any number of VLAN tags and MPLS label stacks.
    Ethernet,
    /// Raw IP (12, 14, 101): the version comes from the first nibble.
    Raw,
    /// OpenBSD loopback (108): 4-byte address family in network byte order.
    Loop,
    /// Linux cooked capture v1 (113): 16-byte header, ethertype at offset 14.
    LinuxSll,
    /// Linux cooked capture v2 (276): 20-byte header, ethertype at offset 0.
    LinuxSll2,
    /// Raw IPv4 only (228).
    Ipv4,
    /// Raw IPv6 only (229).
    Ipv6,
}

impl LinkType {
    /// Maps a pcap/pcapng LINKTYPE_ code; `None` for anything unsupported.
    pub fn from_code(code: u32) -> Option<LinkType> {
        match code {
            0 => Some(LinkType::Null),
            1 => Some(LinkType::Ethernet),
            12 | 14 | 101 => Some(LinkType::Raw),
            108 => Some(LinkType::Loop),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            228 => Some(LinkType::Ipv4),
            229 => Some(LinkType::Ipv6),
            _ => None,
        }
    }

    /// Human-readable name for log lines and error messages.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Null => "BSD loopback (NULL)",
            LinkType::Ethernet => "Ethernet",
            LinkType::Raw => "raw IP",
            LinkType::Loop => "OpenBSD loopback (LOOP)",
            LinkType::LinuxSll => "Linux SLL",
            LinkType::LinuxSll2 => "Linux SLL2",
            LinkType::Ipv4 => "raw IPv4",
            LinkType::Ipv6 => "raw IPv6",
        }
    }
}

/// Why a frame was not put in any task (counted in run statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The frame carries no IP: ARP, 802.3/LLC, another ethertype or address family.
    NotIp,
    /// The frame ends inside its link-layer header, a VLAN tag or an MPLS label.
    TruncatedLinkHeader,
    /// The IP header is cut short or invalid (wrong version, IHL < 5, bad total length).
    MalformedIp,
}

impl SkipReason {
    /// true for TruncatedLinkHeader and MalformedIp (reported as `malformed`); false for NotIp (`non_ip`)
    pub fn is_malformed(self) -> bool {
        match self {
            SkipReason::NotIp => false,
            SkipReason::TruncatedLinkHeader | SkipReason::MalformedIp => true,
        }
    }

    /// A short phrase for the run summary and the first-occurrence warning.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::NotIp => "not IP (ARP, LLC, other ethertype or address family)",
            SkipReason::TruncatedLinkHeader => "link-layer header cut short",
            SkipReason::MalformedIp => "IP header invalid or cut short",
        }
    }
}

/// Extracts the full 5-tuple of the OUTERMOST IP header. Never panics on any input.
///
/// `frame` is the captured bytes (caplen, not the original length). Ports are
/// 0 unless the protocol is TCP, UDP or SCTP, the packet is not a non-first
/// fragment and the 4 port bytes were captured.
#[inline]
pub fn parse(link: LinkType, frame: &[u8]) -> Result<FlowKey, SkipReason> {
    match link::locate_ip(link, frame)? {
        link::IpStart::V4(header) => ip::ipv4(header),
        link::IpStart::V6(header) => ip::ipv6(header),
    }
}
