//! IP layer: the 5-tuple of one IPv4 or IPv6 header and the ports right after it.
//!
//! Validates just enough for the header's addresses to be trusted (the tshark
//! oracle's notion of "an IP frame"), skips IPv6 extension headers, and
//! reads ports only where they were captured. Never looks inside tunnels or
//! ICMP errors, never reassembles fragments, never allocates.

use etherparse::IpNumber;

use super::SkipReason;
use crate::flow::{AddressFamily, FlowKey};

const IPV4_MIN_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

const TCP: u8 = IpNumber::TCP.0;
const UDP: u8 = IpNumber::UDP.0;
const SCTP: u8 = IpNumber::SCTP.0;
const HOP_BY_HOP: u8 = IpNumber::IPV6_HEADER_HOP_BY_HOP.0;
const ROUTING: u8 = IpNumber::IPV6_ROUTE_HEADER.0;
const FRAGMENT: u8 = IpNumber::IPV6_FRAGMENTATION_HEADER.0;
const DESTINATION_OPTIONS: u8 = IpNumber::IPV6_DESTINATION_OPTIONS.0;
const AUTHENTICATION: u8 = IpNumber::AUTHENTICATION_HEADER.0;

const IPV6_FRAGMENT_HEADER_LEN: usize = 8;

/// Keys an IPv4 header starting at `ip[0]`; `ip` runs to the end of the capture.
#[inline]
pub(super) fn ipv4(ip: &[u8]) -> Result<FlowKey, SkipReason> {
    let Some(header) = ip.first_chunk::<IPV4_MIN_HEADER_LEN>() else {
        return Err(SkipReason::MalformedIp);
    };
    let version_ihl = header[0];
    let protocol = header[9];
    let header_len = usize::from(version_ihl & 0x0F) * 4;
    let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    // Total length 0 is Linux BIG TCP / TSO: the real length is the capture's.
    if version_ihl >> 4 != 4
        || header_len < IPV4_MIN_HEADER_LEN
        || (total_len != 0 && total_len < header_len)
    {
        return Err(SkipReason::MalformedIp);
    }
    let end = if total_len == 0 {
        ip.len()
    } else {
        ip.len().min(total_len)
    };
    let fragment_offset = u16::from_be_bytes([header[6], header[7]]) & 0x1FFF;
    let (src_port, dst_port) = if fragment_offset == 0 {
        ports(protocol, ip.get(header_len..end).unwrap_or_default())
    } else {
        (0, 0)
    };
    Ok(FlowKey {
        src: ipv4_address([header[12], header[13], header[14], header[15]]),
        dst: ipv4_address([header[16], header[17], header[18], header[19]]),
        src_port,
        dst_port,
        protocol,
        family: AddressFamily::Ipv4,
    })
}

/// Keys an IPv6 header starting at `ip[0]`; `ip` runs to the end of the capture.
#[inline]
pub(super) fn ipv6(ip: &[u8]) -> Result<FlowKey, SkipReason> {
    let Some((fixed, addresses)) = ip.split_first_chunk::<8>() else {
        return Err(SkipReason::MalformedIp);
    };
    let Some((src, rest)) = addresses.split_first_chunk::<16>() else {
        return Err(SkipReason::MalformedIp);
    };
    let Some(dst) = rest.first_chunk::<16>() else {
        return Err(SkipReason::MalformedIp);
    };
    let &[first, _, _, _, plen_high, plen_low, next_header, _] = fixed;
    if first >> 4 != 6 {
        return Err(SkipReason::MalformedIp);
    }
    // Payload length 0 is a jumbogram (RFC 2675) or BIG TCP: use the capture.
    let payload_len = usize::from(u16::from_be_bytes([plen_high, plen_low]));
    let end = if payload_len == 0 {
        ip.len()
    } else {
        ip.len().min(IPV6_HEADER_LEN + payload_len)
    };
    let upper = skip_extension_headers(ip, next_header, end);
    let (src_port, dst_port) = ports(upper.protocol, upper.payload);
    Ok(FlowKey {
        src: *src,
        dst: *dst,
        src_port,
        dst_port,
        protocol: upper.protocol,
        family: AddressFamily::Ipv6,
    })
}

/// An IPv4 address in a key's 16-byte field: first 4 bytes, the rest zero.
#[inline]
fn ipv4_address([a, b, c, d]: [u8; 4]) -> [u8; 16] {
    [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}

/// Where an IPv6 extension-header chain ends.
struct UpperLayer<'a> {
    protocol: u8,
    /// The bytes that may hold ports; empty when they must not be read
    /// (non-first fragment, chain cut short).
    payload: &'a [u8],
}

impl UpperLayer<'_> {
    fn without_ports(protocol: u8) -> Self {
        UpperLayer {
            protocol,
            payload: &[],
        }
    }
}

/// Skips Hop-by-Hop, Routing, Fragment, Destination Options and AH headers
/// from offset 40 up to `end`. A header cut by the snap length stops the walk
/// the way tshark does: with its own number when even its first 2 bytes are
/// missing, with its next-header byte when only its body is.
fn skip_extension_headers(ip: &[u8], mut protocol: u8, end: usize) -> UpperLayer<'_> {
    let mut offset = IPV6_HEADER_LEN;
    let mut non_first_fragment = false;
    while let Some(header_len_of) = extension_header_len(protocol) {
        let region = ip.get(offset..end).unwrap_or_default();
        let &[next, len_field, ..] = region else {
            return UpperLayer::without_ports(protocol);
        };
        let header_len = header_len_of(len_field);
        if region.len() < header_len {
            return UpperLayer::without_ports(next);
        }
        if let (FRAGMENT, &[_, _, offset_high, offset_low, ..]) = (protocol, region) {
            // The low 3 bits are flags; the rest is the offset in 8-byte units.
            non_first_fragment |= u16::from_be_bytes([offset_high, offset_low]) >> 3 != 0;
        }
        protocol = next;
        offset += header_len;
    }
    if non_first_fragment {
        return UpperLayer::without_ports(protocol);
    }
    UpperLayer {
        protocol,
        payload: ip.get(offset..end).unwrap_or_default(),
    }
}

/// For an extension header the chain skips, how to get its length in bytes
/// from its second byte; `None` for anything that ends the chain.
#[inline]
fn extension_header_len(protocol: u8) -> Option<fn(u8) -> usize> {
    match protocol {
        // RFC 8200: length in 8-byte units, not counting the first 8.
        HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => Some(|len| (usize::from(len) + 1) * 8),
        // RFC 8200 sec. 4.5: fixed size; its second byte is reserved.
        FRAGMENT => Some(|_| IPV6_FRAGMENT_HEADER_LEN),
        // RFC 4302: length in 4-byte units, minus 2.
        AUTHENTICATION => Some(|len| (usize::from(len) + 2) * 4),
        _ => None,
    }
}

/// Source and destination port when `protocol` has them and their 4 bytes
/// were captured; the rest of the transport header may be missing.
#[inline]
fn ports(protocol: u8, transport: &[u8]) -> (u16, u16) {
    match (protocol, transport) {
        (TCP | UDP | SCTP, &[sh, sl, dh, dl, ..]) => {
            (u16::from_be_bytes([sh, sl]), u16::from_be_bytes([dh, dl]))
        }
        _ => (0, 0),
    }
}
