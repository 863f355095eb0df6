//! PPP and Cisco HDLC: the serial-line link types and PPP inside PPPoE.
//!
//! Owns the PPP protocol field (RFC 1661, with protocol-field compression),
//! the RFC 1662 address/control bytes and the Cisco HDLC header, and hands
//! IPv4, IPv6 and MPLS payloads on. LCP, IPCP, CHAP and every other PPP
//! protocol are not IP. Never allocates.

use super::SkipReason;
use super::link::{IpStart, after_ether_type, after_mpls, be16, rest};

/// RFC 1662 sec. 3.1: the all-stations address and the UI control byte.
const HDLC_ALL_STATIONS: u8 = 0xFF;
const HDLC_UNNUMBERED_INFORMATION: u8 = 0x03;
/// Cisco HDLC address bytes; LINKTYPE_PPP_HDLC may carry Cisco HDLC frames too.
const CISCO_HDLC_UNICAST: u8 = 0x0F;
const CISCO_HDLC_BROADCAST: u8 = 0x8F;
/// Address, control, then an ethertype.
const CISCO_HDLC_HEADER_LEN: usize = 4;

/// PPP protocol numbers (IANA "PPP DLL Protocol Numbers").
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_MPLS_UNICAST: u16 = 0x0281;
const PPP_MPLS_MULTICAST: u16 = 0x0283;

/// LINKTYPE_PPP (9) and LINKTYPE_PPP_HDLC (50): a PPP frame with or without
/// the RFC 1662 address and control bytes, or a Cisco HDLC frame, told apart
/// by the first byte.
pub(super) fn ppp(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    match frame.first() {
        None => Err(SkipReason::TruncatedLinkHeader),
        Some(&(CISCO_HDLC_UNICAST | CISCO_HDLC_BROADCAST)) => cisco_hdlc(frame),
        // Address and control are fixed, so receivers accept any control byte.
        Some(&HDLC_ALL_STATIONS) => after_ppp_protocol(frame, 2),
        // Address-and-control-field compression (RFC 1661 sec. 6.6).
        Some(_) => after_ppp_protocol(frame, 0),
    }
}

/// A Packet over SONET HDLC frame: Cisco HDLC or PPP with address and
/// control bytes. Anything else (Frame Relay, ...) is not IP.
pub(super) fn packet_over_sonet(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    match frame.first() {
        None => Err(SkipReason::TruncatedLinkHeader),
        Some(&(CISCO_HDLC_UNICAST | CISCO_HDLC_BROADCAST)) => cisco_hdlc(frame),
        Some(&HDLC_ALL_STATIONS) => after_ppp_protocol(frame, 2),
        Some(_) => Err(SkipReason::NotIp),
    }
}

/// LINKTYPE_PPP_PPPD (166): RFC 1662 framing whose address byte is replaced
/// by the direction (0 received, 1 sent); the control byte may be
/// compressed away like the address.
pub(super) fn ppp_pppd(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    match frame {
        [] => Err(SkipReason::TruncatedLinkHeader),
        [_, HDLC_UNNUMBERED_INFORMATION, ..] => after_ppp_protocol(frame, 2),
        [_, ..] => after_ppp_protocol(frame, 1),
    }
}

/// LINKTYPE_C_HDLC (104): address, control, then an ethertype.
pub(super) fn cisco_hdlc(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    let ether_type = be16(frame, 2).ok_or(SkipReason::TruncatedLinkHeader)?;
    after_ether_type(ether_type, frame, CISCO_HDLC_HEADER_LEN)
}

/// Reads the PPP protocol field at `offset` and follows it to IP. A first
/// byte with its low bit set is a compressed one-byte protocol (RFC 1661
/// sec. 6.5); otherwise the field is two bytes.
pub(super) fn after_ppp_protocol(frame: &[u8], offset: usize) -> Result<IpStart<'_>, SkipReason> {
    let first = *frame.get(offset).ok_or(SkipReason::TruncatedLinkHeader)?;
    let (protocol, payload) = if first & 0x01 != 0 {
        (u16::from(first), offset + 1)
    } else {
        let protocol = be16(frame, offset).ok_or(SkipReason::TruncatedLinkHeader)?;
        (protocol, offset + 2)
    };
    match protocol {
        PPP_IPV4 => Ok(IpStart::V4(rest(frame, payload))),
        PPP_IPV6 => Ok(IpStart::V6(rest(frame, payload))),
        PPP_MPLS_UNICAST | PPP_MPLS_MULTICAST => after_mpls(frame, payload),
        _ => Err(SkipReason::NotIp),
    }
}
