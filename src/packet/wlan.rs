//! IEEE 802.11 data frames, bare or behind a radiotap header.
//!
//! Owns the 802.11 MAC header layout (frame control, the optional fourth
//! address, QoS and HT control fields, A-MSDU subframes) and the part of
//! radiotap that moves the payload (its length and the data-padding flag).
//! Only unprotected data frames carrying LLC/SNAP reach IP: management,
//! control, null-data and protected (encrypted) frames are not IP, since
//! nothing here can decrypt them. Never allocates.

use super::SkipReason;
use super::link::{IpStart, after_ether_type, llc_snap};

/// Frame control, duration, three addresses and sequence control.
const MAC_HEADER_LEN: usize = 24;
const ADDRESS_LEN: usize = 6;
const QOS_CONTROL_LEN: usize = 2;
const HT_CONTROL_LEN: usize = 4;
/// A-MSDU subframe header: destination, source, length.
const AMSDU_SUBFRAME_HEADER_LEN: usize = 14;

/// Frame control, first byte: type in bits 2-3, subtype in bits 4-7.
const TYPE_DATA: u8 = 2;
/// Data subtypes with this bit carry no frame body (Null, QoS Null, CF-Ack...).
const SUBTYPE_NO_DATA: u8 = 0x04;
const SUBTYPE_QOS: u8 = 0x08;
/// Frame control, second byte.
const FLAG_TO_DS: u8 = 0x01;
const FLAG_FROM_DS: u8 = 0x02;
const FLAG_PROTECTED: u8 = 0x40;
/// In a QoS data frame, an HT/VHT/HE control field follows the QoS control.
const FLAG_ORDER: u8 = 0x80;
/// QoS control, first byte.
const QOS_AMSDU_PRESENT: u8 = 0x80;

/// Radiotap version, pad, length (little-endian), first presence word.
const RADIOTAP_MIN_LEN: usize = 8;
const RADIOTAP_PRESENT_TSFT: u32 = 1 << 0;
const RADIOTAP_PRESENT_FLAGS: u32 = 1 << 1;
const RADIOTAP_PRESENT_EXTENDED: u32 = 1 << 31;
const RADIOTAP_TSFT_LEN: usize = 8;
/// Radiotap flags: padding between the 802.11 header and the body, to 32 bits.
const RADIOTAP_FLAG_DATA_PAD: u8 = 0x20;

/// LINKTYPE_IEEE802_11 (105): an 802.11 frame without any radio header.
pub(super) fn ieee80211(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    data_frame(frame, false)
}

/// LINKTYPE_IEEE802_11_RADIOTAP (127): a radiotap header, then an 802.11
/// frame (radiotap.org "Radiotap header").
pub(super) fn radiotap(frame: &[u8]) -> Result<IpStart<'_>, SkipReason> {
    let Some(&[version, _, len_low, len_high, p0, p1, p2, p3]) = frame.first_chunk() else {
        return Err(SkipReason::TruncatedLinkHeader);
    };
    let header_len = usize::from(u16::from_le_bytes([len_low, len_high]));
    if version != 0 || header_len < RADIOTAP_MIN_LEN {
        return Err(SkipReason::TruncatedLinkHeader);
    }
    let header = frame
        .get(..header_len)
        .ok_or(SkipReason::TruncatedLinkHeader)?;
    let present = u32::from_le_bytes([p0, p1, p2, p3]);
    let flags = radiotap_flags(header, present)?;
    let wlan = frame.get(header_len..).unwrap_or_default();
    data_frame(wlan, flags & RADIOTAP_FLAG_DATA_PAD != 0)
}

/// The radiotap Flags field (0 when absent). Fields start after the last
/// presence word; TSFT, the only field before Flags, is 8-byte aligned from
/// the start of the header.
fn radiotap_flags(header: &[u8], present: u32) -> Result<u8, SkipReason> {
    if present & RADIOTAP_PRESENT_FLAGS == 0 {
        return Ok(0);
    }
    let mut offset = RADIOTAP_MIN_LEN;
    let mut word = present;
    while word & RADIOTAP_PRESENT_EXTENDED != 0 {
        let Some(&[a, b, c, d]) = header.get(offset..offset + 4) else {
            return Err(SkipReason::TruncatedLinkHeader);
        };
        word = u32::from_le_bytes([a, b, c, d]);
        offset += 4;
    }
    if present & RADIOTAP_PRESENT_TSFT != 0 {
        offset = offset.next_multiple_of(RADIOTAP_TSFT_LEN) + RADIOTAP_TSFT_LEN;
    }
    header
        .get(offset)
        .copied()
        .ok_or(SkipReason::TruncatedLinkHeader)
}

/// An 802.11 frame from its frame control field; `data_pad` from radiotap.
fn data_frame(frame: &[u8], data_pad: bool) -> Result<IpStart<'_>, SkipReason> {
    let &[control, flags, ..] = frame else {
        return Err(SkipReason::TruncatedLinkHeader);
    };
    let version = control & 0x03;
    let kind = (control >> 2) & 0x03;
    let subtype = control >> 4;
    if version != 0
        || kind != TYPE_DATA
        || subtype & SUBTYPE_NO_DATA != 0
        || flags & FLAG_PROTECTED != 0
    {
        return Err(SkipReason::NotIp);
    }
    let mut header_len = MAC_HEADER_LEN;
    if flags & (FLAG_TO_DS | FLAG_FROM_DS) == FLAG_TO_DS | FLAG_FROM_DS {
        header_len += ADDRESS_LEN;
    }
    let mut amsdu = false;
    if subtype & SUBTYPE_QOS != 0 {
        let qos = *frame
            .get(header_len)
            .ok_or(SkipReason::TruncatedLinkHeader)?;
        amsdu = qos & QOS_AMSDU_PRESENT != 0;
        header_len += QOS_CONTROL_LEN;
        if flags & FLAG_ORDER != 0 {
            header_len += HT_CONTROL_LEN;
        }
    }
    if data_pad {
        header_len = header_len.next_multiple_of(4);
    }
    if frame.len() < header_len {
        return Err(SkipReason::TruncatedLinkHeader);
    }
    // The first A-MSDU subframe holds the outermost IP header.
    let body = if amsdu {
        header_len + AMSDU_SUBFRAME_HEADER_LEN
    } else {
        header_len
    };
    let (ether_type, payload) = llc_snap(frame, body)?;
    after_ether_type(ether_type, frame, payload)
}
