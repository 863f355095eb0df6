//! Link layers: where the outermost IP header of a frame starts.
//!
//! Dispatches on the link type and walks Ethernet, VLAN tags, MPLS labels,
//! PPPoE sessions, Cisco FabricPath, 802.2 LLC/SNAP, Linux SLL/SLL2, BSD
//! NULL/LOOP and raw IP down to the first IP header and says which version it
//! claims. Link types with headers of their own live beside it (`ppp.rs`,
//! `wlan.rs`, `nflog.rs`, `erf.rs`) and come back here through
//! [`after_ether_type`] or [`ethernet`]. It never decodes the IP header
//! itself (that is `ip.rs`) and never allocates.
//!
//! Every walk moves forward through the frame, so nested headers cost at
//! most one step per header and never recurse.

use etherparse::EtherType;

use super::{LinkType, SkipReason, erf, nflog, ppp, wlan};

const ETHERNET_HEADER_LEN: usize = 14;
const SLL_HEADER_LEN: usize = 16;
const SLL2_HEADER_LEN: usize = 20;
const LOOPBACK_HEADER_LEN: usize = 4;
const VLAN_TAG_LEN: usize = 4;
const MPLS_LABEL_LEN: usize = 4;
/// RFC 2516 sec. 4: version/type, code, session id, length.
const PPPOE_HEADER_LEN: usize = 6;
/// FabricPath FTag/TTL word after the outer ethertype, then the inner
/// destination and source MAC addresses: the inner ethertype follows.
const FABRICPATH_TO_INNER_ETHER_TYPE: usize = 2 + 12;
/// 802.2 LLC (DSAP, SSAP, control) with a SNAP header (OUI, ethertype).
const LLC_SNAP_LEN: usize = 8;
/// DSAP 0xAA, SSAP 0xAA, control UI, OUI 00-00-00 (RFC 1042): an ethertype follows.
const LLC_SNAP_RFC1042: [u8; 6] = [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00];

/// Largest 802.3 length field; larger values are ethertypes (IEEE 802.3 clause 3.2.6).
const MAX_8023_LENGTH: u16 = 1500;

const IPV4: u16 = EtherType::IPV4.0;
const IPV6: u16 = EtherType::IPV6.0;
const VLAN_8021Q: u16 = EtherType::VLAN_TAGGED_FRAME.0;
const VLAN_8021AD: u16 = EtherType::PROVIDER_BRIDGING.0;
const VLAN_QINQ_9100: u16 = EtherType::VLAN_DOUBLE_TAGGED_FRAME.0;
/// Pre-standard QinQ outer tag used by some switches.
const VLAN_QINQ_9200: u16 = 0x9200;
const MPLS_UNICAST: u16 = 0x8847;
const MPLS_MULTICAST: u16 = 0x8848;
const PPPOE_SESSION: u16 = 0x8864;
const CISCO_FABRICPATH: u16 = 0x8903;

/// BSD address families: AF_INET is 2 everywhere, AF_INET6 differs per OS.
const AF_INET: u32 = 2;
const AF_INET6_LINUX: u32 = 10;
const AF_INET6_NETBSD_OPENBSD: u32 = 24;
const AF_INET6_FREEBSD: u32 = 28;
const AF_INET6_DARWIN: u32 = 30;

/// The outermost IP header's claimed version and the bytes from its first byte on.
pub(super) enum IpStart<'a> {
    V4(&'a [u8]),
    V6(&'a [u8]),
}

/// Finds the outermost IP header of `frame` under `link`. Ethernet, by far
/// the most common link type, is tested first and walked inline; the other
/// link types are dispatched out of line, so their number costs an Ethernet
/// frame nothing.
#[inline]
pub(super) fn locate_ip(link: LinkType, frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    if link == LinkType::Ethernet {
        ethernet(frame)
    } else {
        other_link(link, frame)
    }
}

/// [`locate_ip`] for every link type but Ethernet.
#[inline(never)]
fn other_link(link: LinkType, frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    match link {
        LinkType::Ethernet => ethernet(frame),
        LinkType::LinuxSll => {
            let ether_type = be16(frame, 14).ok_or(SkipReason::TruncatedLinkHeader)?;
            after_ether_type(ether_type, frame, SLL_HEADER_LEN)
        }
        LinkType::LinuxSll2 => {
            if frame.len() < SLL2_HEADER_LEN {
                return Err(SkipReason::TruncatedLinkHeader);
            }
            let ether_type = be16(frame, 0).ok_or(SkipReason::TruncatedLinkHeader)?;
            after_ether_type(ether_type, frame, SLL2_HEADER_LEN)
        }
        LinkType::Null => loopback(frame, ByteOrder::Host),
        LinkType::Loop => loopback(frame, ByteOrder::Network),
        LinkType::Raw => match frame.first() {
            None => Err(SkipReason::TruncatedLinkHeader),
            Some(first) => by_version_nibble(*first, frame),
        },
        LinkType::Ipv4 => Ok(IpStart::V4(frame)),
        LinkType::Ipv6 => Ok(IpStart::V6(frame)),
        LinkType::Ppp => ppp::ppp(frame),
        LinkType::PppPppd => ppp::ppp_pppd(frame),
        LinkType::CiscoHdlc => ppp::cisco_hdlc(frame),
        LinkType::Ieee80211 => wlan::ieee80211(frame),
        LinkType::Radiotap => wlan::radiotap(frame),
        LinkType::Nflog => nflog::nflog(frame),
        LinkType::Erf => erf::erf(frame),
    }
}

/// An Ethernet II or 802.3 frame starting at its destination MAC address.
#[inline(always)]
pub(super) fn ethernet(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    let ether_type = be16(frame, 12).ok_or(SkipReason::TruncatedLinkHeader)?;
    after_ether_type(ether_type, frame, ETHERNET_HEADER_LEN)
}

/// Follows VLAN tags, MPLS labels and the rarer encapsulations of
/// [`uncommon_ether_type`] from `offset`, where the payload of `ether_type`
/// starts, to the IP header. A value up to 1500 is an 802.3 length, so
/// 802.2 LLC follows.
#[inline]
pub(super) fn after_ether_type(
    mut ether_type: u16,
    frame: &[u8],
    mut offset: usize,
) -> Result<IpStart<'_>, SkipReason> {
    loop {
        match ether_type {
            IPV4 => return Ok(IpStart::V4(rest(frame, offset))),
            IPV6 => return Ok(IpStart::V6(rest(frame, offset))),
            VLAN_8021Q | VLAN_8021AD | VLAN_QINQ_9100 | VLAN_QINQ_9200 => {
                // A tag is TCI (2 bytes) then the next ethertype.
                ether_type = be16(frame, offset + 2).ok_or(SkipReason::TruncatedLinkHeader)?;
                offset += VLAN_TAG_LEN;
            }
            MPLS_UNICAST | MPLS_MULTICAST => return after_mpls(frame, offset),
            _ => match uncommon_ether_type(ether_type, frame, offset)? {
                Step::Ip(start) => return Ok(start),
                Step::EtherType(next, next_offset) => {
                    ether_type = next;
                    offset = next_offset;
                }
            },
        }
    }
}

/// Where one header of [`uncommon_ether_type`] leads.
enum Step<'a> {
    /// The IP header is found.
    Ip(IpStart<'a>),
    /// Another ethertype, whose payload starts at the offset.
    EtherType(u16, usize),
}

/// PPPoE sessions, FabricPath and 802.2 LLC/SNAP: kept out of the loop of
/// [`after_ether_type`] so that plain IP, VLAN and MPLS frames pay nothing
/// for them.
#[inline(never)]
fn uncommon_ether_type(
    ether_type: u16,
    frame: &[u8],
    offset: usize,
) -> Result<Step<'_>, SkipReason> {
    match ether_type {
        PPPOE_SESSION => ppp::after_ppp_protocol(frame, offset + PPPOE_HEADER_LEN).map(Step::Ip),
        CISCO_FABRICPATH => {
            let inner = offset + FABRICPATH_TO_INNER_ETHER_TYPE;
            let inner_type = be16(frame, inner).ok_or(SkipReason::TruncatedLinkHeader)?;
            Ok(Step::EtherType(inner_type, inner + 2))
        }
        length if length <= MAX_8023_LENGTH => {
            let (snap_type, payload) = llc_snap(frame, offset)?;
            Ok(Step::EtherType(snap_type, payload))
        }
        _ => Err(SkipReason::NotIp),
    }
}

/// Reads an 802.2 LLC header with a SNAP header for OUI 00-00-00 at
/// `offset`: the ethertype it carries and where that payload starts. Any
/// other LLC (spanning tree, NetBIOS, Cisco OUIs) is not IP; a header that
/// matches as far as it was captured is cut short.
pub(super) fn llc_snap(frame: &[u8], offset: usize) -> Result<(u16, usize), SkipReason> {
    let captured = rest(frame, offset);
    let prefix_len = captured.len().min(LLC_SNAP_RFC1042.len());
    if captured.get(..prefix_len) != LLC_SNAP_RFC1042.get(..prefix_len) {
        return Err(SkipReason::NotIp);
    }
    let ether_type =
        be16(frame, offset + LLC_SNAP_RFC1042.len()).ok_or(SkipReason::TruncatedLinkHeader)?;
    Ok((ether_type, offset + LLC_SNAP_LEN))
}

/// Skips MPLS labels up to the bottom of the stack; MPLS carries no payload
/// type, so the IP version is guessed from the first nibble (RFC 4385 sec. 4).
pub(super) fn after_mpls(frame: &[u8], mut offset: usize) -> Result<IpStart<'_>, SkipReason> {
    loop {
        let Some(&[_, _, label_low, _]) = frame.get(offset..offset + MPLS_LABEL_LEN) else {
            return Err(SkipReason::TruncatedLinkHeader);
        };
        offset += MPLS_LABEL_LEN;
        if label_low & 0x01 != 0 {
            break;
        }
    }
    let payload = rest(frame, offset);
    match payload.first() {
        None => Err(SkipReason::TruncatedLinkHeader),
        Some(first) => by_version_nibble(*first, payload),
    }
}

#[derive(Clone, Copy)]
enum ByteOrder {
    /// The capturing host's order, unknown to the reader: guessed per frame.
    Host,
    Network,
}

fn loopback(frame: &[u8], order: ByteOrder) -> Result<IpStart<'_>, SkipReason> {
    let Some(&[a, b, c, d]) = frame.get(..LOOPBACK_HEADER_LEN) else {
        return Err(SkipReason::TruncatedLinkHeader);
    };
    let big_endian = u32::from_be_bytes([a, b, c, d]);
    let family = match order {
        ByteOrder::Network => big_endian,
        ByteOrder::Host => {
            // Address families are small numbers: if the little-endian
            // reading is huge, the capturing host was big-endian.
            let little_endian = u32::from_le_bytes([a, b, c, d]);
            if little_endian & 0xFFFF_0000 != 0 {
                big_endian
            } else {
                little_endian
            }
        }
    };
    let ip = rest(frame, LOOPBACK_HEADER_LEN);
    match family {
        AF_INET => Ok(IpStart::V4(ip)),
        AF_INET6_LINUX | AF_INET6_NETBSD_OPENBSD | AF_INET6_FREEBSD | AF_INET6_DARWIN => {
            Ok(IpStart::V6(ip))
        }
        _ => Err(SkipReason::NotIp),
    }
}

pub(super) fn by_version_nibble(first: u8, ip: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    match first >> 4 {
        4 => Ok(IpStart::V4(ip)),
        6 => Ok(IpStart::V6(ip)),
        _ => Err(SkipReason::NotIp),
    }
}

/// The bytes from `offset` on; empty when the frame ends before it.
#[inline]
pub(super) fn rest(frame: &[u8], offset: usize) -> &[u8] {
    frame.get(offset..).unwrap_or_default()
}

/// The big-endian u16 at `offset`, if both bytes were captured.
#[inline]
pub(super) fn be16(frame: &[u8], offset: usize) -> Option<u16> {
    match frame.get(offset..offset + 2)? {
        &[high, low] => Some(u16::from_be_bytes([high, low])),
        _ => None,
    }
}
