//! Linux NFLOG (LINKTYPE_NFLOG, 239): the packet logged by netfilter, inside
//! a list of type-length-value attributes.
//!
//! Owns the NFLOG header (address family, version, resource id) and the TLV
//! walk to the payload attribute, which holds the packet from its IP header
//! on. TLV lengths and types are in the byte order of the host that wrote
//! the file, which the frame does not state: it is guessed once per frame
//! from the first attribute type, a small number either way. Never allocates.

use super::SkipReason;
use super::link::{IpStart, rest};

/// Family, version, resource id (big-endian).
const NFLOG_HEADER_LEN: usize = 4;
/// TLV length (including these 4 bytes) and type, then the value padded to 4.
const TLV_HEADER_LEN: usize = 4;
const TLV_ALIGN: usize = 4;
/// NFULA_PAYLOAD: the logged packet.
const TLV_TYPE_PAYLOAD: u16 = 9;
/// Netlink attribute flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER) in the type's top bits.
const TLV_TYPE_MASK: u16 = 0x3FFF;
/// Attribute types are small; a larger reading is the other byte order.
const TLV_TYPE_MAX: u16 = 0xFF;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Finds the payload attribute; the family in the header says its IP version.
/// A frame whose attributes end without a payload logged no packet: not IP.
pub(super) fn nflog(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    let Some(&[family, _, _, _]) = frame.first_chunk::<NFLOG_HEADER_LEN>() else {
        return Err(SkipReason::TruncatedLinkHeader);
    };
    let mut offset = NFLOG_HEADER_LEN;
    let mut order = None;
    loop {
        let Some(&tlv) = frame
            .get(offset..)
            .and_then(|tail| tail.first_chunk::<TLV_HEADER_LEN>())
        else {
            return Err(if offset >= frame.len() {
                SkipReason::NotIp
            } else {
                SkipReason::TruncatedLinkHeader
            });
        };
        let little_endian = *order.get_or_insert_with(|| is_little_endian(tlv));
        let (length, kind) = if little_endian {
            (
                u16::from_le_bytes([tlv[0], tlv[1]]),
                u16::from_le_bytes([tlv[2], tlv[3]]),
            )
        } else {
            (
                u16::from_be_bytes([tlv[0], tlv[1]]),
                u16::from_be_bytes([tlv[2], tlv[3]]),
            )
        };
        let length = usize::from(length);
        if length < TLV_HEADER_LEN {
            return Err(SkipReason::TruncatedLinkHeader);
        }
        if kind & TLV_TYPE_MASK == TLV_TYPE_PAYLOAD {
            let packet = rest(frame, offset + TLV_HEADER_LEN);
            return match family {
                AF_INET => Ok(IpStart::V4(packet)),
                AF_INET6 => Ok(IpStart::V6(packet)),
                _ => Err(SkipReason::NotIp),
            };
        }
        offset += length.next_multiple_of(TLV_ALIGN);
    }
}

/// Whether a TLV header reads as a small attribute type in little-endian.
fn is_little_endian(tlv: [u8; TLV_HEADER_LEN]) -> bool {
    u16::from_le_bytes([tlv[2], tlv[3]]) & TLV_TYPE_MASK <= TLV_TYPE_MAX
}
