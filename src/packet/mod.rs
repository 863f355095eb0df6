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
//! `link.rs` finds where the IP header starts, with the help of `ppp.rs`
//! (PPP, PPPoE, Cisco HDLC), `wlan.rs` (802.11, radiotap), `nflog.rs` and
//! `erf.rs` for the link types with headers of their own; `ip.rs` decodes
//! the IP header.

mod erf;
mod ip;
mod link;
mod nflog;
mod ppp;
mod wlan;

#[cfg(test)]
mod tests;

use crate::flow::FlowKey;

/// Link-layer types netspectra understands (pcap LINKTYPE_ codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback (0): 4-byte address family in the capturing host's byte order.
    Null,
    /// Ethernet II or 802.3 with LLC/SNAP (1), with any number of VLAN tags,
    /// MPLS label stacks, PPPoE sessions and Cisco FabricPath headers.
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
    /// PPP (9) and PPP in HDLC framing (50): RFC 1661 frames with or without
    /// the RFC 1662 address and control bytes, or Cisco HDLC frames.
    Ppp,
    /// PPP from pppd (166): HDLC framing with a direction byte for the address.
    PppPppd,
    /// Cisco HDLC (104): 4-byte header ending in an ethertype.
    CiscoHdlc,
    /// IEEE 802.11 (105): data frames with LLC/SNAP; encrypted frames are not IP.
    Ieee80211,
    /// IEEE 802.11 behind a radiotap header (127).
    Radiotap,
    /// Linux NFLOG (239): TLVs, one of which holds the IP packet.
    Nflog,
    /// Endace ERF records (197): Ethernet and raw IP record types.
    Erf,
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
            9 | 50 => Some(LinkType::Ppp),
            166 => Some(LinkType::PppPppd),
            104 => Some(LinkType::CiscoHdlc),
            105 => Some(LinkType::Ieee80211),
            127 => Some(LinkType::Radiotap),
            239 => Some(LinkType::Nflog),
            197 => Some(LinkType::Erf),
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
            LinkType::Ppp => "PPP",
            LinkType::PppPppd => "PPP (pppd)",
            LinkType::CiscoHdlc => "Cisco HDLC",
            LinkType::Ieee80211 => "IEEE 802.11",
            LinkType::Radiotap => "IEEE 802.11 radiotap",
            LinkType::Nflog => "Linux NFLOG",
            LinkType::Erf => "Endace ERF",
        }
    }
}

/// Why a frame was not put in any task (counted in run statistics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The frame carries no IP: ARP, LLC without SNAP, another ethertype,
    /// address family, PPP protocol or record type, 802.11 management,
    /// control or encrypted frames.
    NotIp,
    /// The frame ends inside its link-layer header, a VLAN tag, an MPLS
    /// label or another encapsulation header, or a link-layer length field
    /// is impossible (radiotap, NFLOG).
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
            SkipReason::TruncatedLinkHeader => "link-layer header cut short or invalid",
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
