//! Endace ERF records (LINKTYPE_ERF, 197): the 16-byte record header, its
//! extension headers and the per-type payload.
//!
//! Owns the record layout (type byte at offset 8, extension headers chained
//! by their top bit) and which record types carry a frame netspectra keys:
//! the Ethernet variants (after a 2-byte offset/pad field), the Packet over
//! SONET HDLC variants (PPP or Cisco HDLC, told apart by the first byte) and
//! the raw IPv4 and IPv6 types. Every other record type (ATM, multichannel,
//! InfiniBand, metadata...) is not IP. Never allocates.

use super::SkipReason;
use super::link::{IpStart, ethernet, rest};
use super::ppp;

/// Timestamp (8), type, flags, record length, loss counter, wire length.
const RECORD_HEADER_LEN: usize = 16;
const TYPE_OFFSET: usize = 8;
const EXTENSION_HEADER_LEN: usize = 8;
/// In the type byte and in each extension header's first byte: another
/// extension header follows.
const MORE_EXTENSIONS: u8 = 0x80;
/// Ethernet records start with a 2-byte offset/pad field.
const ETHERNET_PAD_LEN: usize = 2;

/// ERF record types (Endace "ERF types" reference).
const TYPE_HDLC_POS: u8 = 1;
const TYPE_ETH: u8 = 2;
const TYPE_COLOR_HDLC_POS: u8 = 10;
const TYPE_COLOR_ETH: u8 = 11;
const TYPE_DSM_COLOR_HDLC_POS: u8 = 15;
const TYPE_DSM_COLOR_ETH: u8 = 16;
const TYPE_COLOR_HASH_POS: u8 = 19;
const TYPE_COLOR_HASH_ETH: u8 = 20;
const TYPE_IPV4: u8 = 22;
const TYPE_IPV6: u8 = 23;

/// Skips the record header and its extension headers, then decodes the
/// payload by record type.
pub(super) fn erf(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    let Some(header) = frame.first_chunk::<RECORD_HEADER_LEN>() else {
        return Err(SkipReason::TruncatedLinkHeader);
    };
    let type_byte = header[TYPE_OFFSET];
    let mut offset = RECORD_HEADER_LEN;
    let mut more = type_byte & MORE_EXTENSIONS != 0;
    while more {
        let first = *frame.get(offset).ok_or(SkipReason::TruncatedLinkHeader)?;
        more = first & MORE_EXTENSIONS != 0;
        offset += EXTENSION_HEADER_LEN;
    }
    if frame.len() < offset {
        return Err(SkipReason::TruncatedLinkHeader);
    }
    match type_byte & !MORE_EXTENSIONS {
        TYPE_ETH | TYPE_COLOR_ETH | TYPE_DSM_COLOR_ETH | TYPE_COLOR_HASH_ETH => {
            ethernet(rest(frame, offset + ETHERNET_PAD_LEN))
        }
        TYPE_HDLC_POS | TYPE_COLOR_HDLC_POS | TYPE_DSM_COLOR_HDLC_POS | TYPE_COLOR_HASH_POS => {
            ppp::packet_over_sonet(rest(frame, offset))
        }
        TYPE_IPV4 => Ok(IpStart::V4(rest(frame, offset))),
        TYPE_IPV6 => Ok(IpStart::V6(rest(frame, offset))),
        _ => Err(SkipReason::NotIp),
    }
}
