//! Parser tests: every link type, encapsulation and IP corner case of the
//! corpus rules, each frame built in code by [`frames`].

use super::*;
use proptest::prelude::*;

/// Parses `frame` and compares the key's display form (or the skip reason) with `want`.
#[track_caller]
fn check(link: LinkType, frame: &[u8], want: Result<&str, SkipReason>) {
    let got = parse(link, frame).map(|key| key.to_string());
    assert_eq!(got, want.map(str::to_string), "frame {frame:02x?}");
}

const V4_UDP: &str = "v4 192.0.2.1:5353 -> 198.51.100.2:53 proto 17";
const V4_TCP: &str = "v4 192.0.2.1:40000 -> 198.51.100.2:443 proto 6";
const V6_UDP: &str = "v6 2001:db8::1:5353 -> 2001:db8::2:53 proto 17";
const V6_TCP: &str = "v6 2001:db8::1:40000 -> 2001:db8::2:443 proto 6";

/// Test frames: etherparse's `PacketBuilder` where it can, hand-written bytes elsewhere.
mod frames {
    use etherparse::{IpNumber, PacketBuilder};

    pub const SRC4: [u8; 4] = [192, 0, 2, 1];
    pub const DST4: [u8; 4] = [198, 51, 100, 2];
    pub const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    pub const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    pub const MAC_C: [u8; 6] = [2, 0, 0, 0, 0, 3];
    const PAYLOAD: &[u8] = b"netspectra";

    macro_rules! built {
        ($builder:expr) => {{
            let builder = $builder;
            let mut frame = Vec::with_capacity(builder.size(PAYLOAD.len()));
            builder
                .write(&mut frame, PAYLOAD)
                .expect("writing to a Vec cannot fail");
            frame
        }};
    }

    pub fn ipv4_udp() -> Vec<u8> {
        built!(PacketBuilder::ipv4(SRC4, DST4, 64).udp(5353, 53))
    }

    pub fn ipv4_tcp() -> Vec<u8> {
        built!(PacketBuilder::ipv4(SRC4, DST4, 64).tcp(40000, 443, 1, 1024))
    }

    pub fn ipv6_udp() -> Vec<u8> {
        built!(PacketBuilder::ipv6(SRC6, DST6, 64).udp(5353, 53))
    }

    pub fn ipv6_tcp() -> Vec<u8> {
        built!(PacketBuilder::ipv6(SRC6, DST6, 64).tcp(40000, 443, 1, 1024))
    }

    pub fn ipv4_icmp_echo() -> Vec<u8> {
        built!(PacketBuilder::ipv4(SRC4, DST4, 64).icmpv4_echo_request(7, 1))
    }

    /// IPv4 carrying `payload` as protocol `protocol` (tunnels, AH, ...).
    pub fn ipv4_carrying(protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ipv4(SRC4, DST4, 64)
            .write(&mut frame, protocol, payload)
            .expect("writing to a Vec cannot fail");
        frame
    }

    pub fn eth_ipv4_tcp() -> Vec<u8> {
        built!(
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4(SRC4, DST4, 64)
                .tcp(40000, 443, 1, 1024)
        )
    }

    pub fn eth_ipv6_udp() -> Vec<u8> {
        built!(
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv6(SRC6, DST6, 64)
                .udp(5353, 53)
        )
    }

    pub fn eth_vlan_ipv4_udp() -> Vec<u8> {
        built!(
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .single_vlan(100.try_into().expect("valid VLAN id"))
                .ipv4(SRC4, DST4, 64)
                .udp(5353, 53)
        )
    }

    /// 802.1ad outer tag (0x88A8), then 802.1Q (0x8100), then IPv6.
    pub fn eth_qinq_ipv6_tcp() -> Vec<u8> {
        built!(
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .double_vlan(
                    100.try_into().expect("valid VLAN id"),
                    200.try_into().expect("valid VLAN id")
                )
                .ipv6(SRC6, DST6, 64)
                .tcp(40000, 443, 1, 1024)
        )
    }

    /// An Ethernet II header with `ether_type` in front of `payload`.
    pub fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        [&MAC_B[..], &MAC_A, &ether_type.to_be_bytes(), payload].concat()
    }

    /// A VLAN tag (TCI for VLAN 42) announcing `next` as the following ethertype.
    pub fn vlan_tag(next: u16) -> [u8; 4] {
        let [high, low] = next.to_be_bytes();
        [0x00, 42, high, low]
    }

    /// An MPLS label stack entry: label 1000, TTL 64, bottom-of-stack bit as given.
    pub fn mpls_label(bottom: bool) -> [u8; 4] {
        let entry: u32 = (1000 << 12) | (u32::from(bottom) << 8) | 64;
        entry.to_be_bytes()
    }

    /// Linux cooked v1 header (16 bytes) for an incoming packet of `protocol`.
    pub fn sll(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let header = [
            &[0, 0][..], // packet type: to us
            &[0, 1],     // ARPHRD_ETHER
            &[0, 6],     // address length
            &MAC_A,      // address
            &[0, 0],     // address padding to 8 bytes
            &protocol.to_be_bytes(),
        ]
        .concat();
        [&header[..], payload].concat()
    }

    /// Linux cooked v2 header (20 bytes) for an incoming packet of `protocol`.
    pub fn sll2(protocol: u16, payload: &[u8]) -> Vec<u8> {
        let header = [
            &protocol.to_be_bytes()[..],
            &[0, 0],       // reserved
            &[0, 0, 0, 3], // interface index
            &[0, 1],       // ARPHRD_ETHER
            &[0],          // packet type
            &[6],          // address length
            &MAC_A,
            &[0, 0],
        ]
        .concat();
        [&header[..], payload].concat()
    }

    /// `packet` with its IPv4 total length field set to `total_len`.
    pub fn with_ipv4_total_len(mut packet: Vec<u8>, total_len: u16) -> Vec<u8> {
        packet[2..4].copy_from_slice(&total_len.to_be_bytes());
        packet
    }

    /// `packet` with the flags/fragment-offset word set: MF flag and an offset in 8-byte units.
    pub fn with_ipv4_fragment(mut packet: Vec<u8>, more_fragments: bool, offset: u16) -> Vec<u8> {
        let word = (u16::from(more_fragments) << 13) | offset;
        packet[6..8].copy_from_slice(&word.to_be_bytes());
        packet
    }

    /// `packet` with 4 bytes of IPv4 options (NOP, NOP, NOP, EOL) inserted: IHL 6.
    pub fn with_ipv4_options(packet: &[u8]) -> Vec<u8> {
        let (header, rest) = packet.split_at(20);
        let mut out = [header, &[1, 1, 1, 0], rest].concat();
        out[0] = 0x46;
        let total_len = u16::from_be_bytes([out[2], out[3]]) + 4;
        with_ipv4_total_len(out, total_len)
    }

    /// Extension headers with their next-header byte left 0: [`with_ipv6_extensions`] sets it.
    pub fn hop_by_hop() -> (u8, Vec<u8>) {
        (0, vec![0, 0, 1, 4, 0, 0, 0, 0]) // one PadN option
    }

    pub fn routing() -> (u8, Vec<u8>) {
        let mut header = vec![0, 2, 0, 0, 0, 0, 0, 0]; // 24 bytes, segments left 0
        header.extend([0; 16]);
        (43, header)
    }

    pub fn destination_options() -> (u8, Vec<u8>) {
        (60, vec![0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) // 16 bytes
    }

    /// Fragment header with `offset` in 8-byte units and the M flag set.
    pub fn fragment(offset: u16) -> (u8, Vec<u8>) {
        let [high, low] = ((offset << 3) | 1).to_be_bytes();
        (44, vec![0, 0, high, low, 0, 0, 0x12, 0x34])
    }

    /// AH with a 12-byte ICV: payload length field 4, (4 + 2) * 4 = 24 bytes.
    pub fn authentication() -> (u8, Vec<u8>) {
        let mut header = vec![0, 4, 0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1];
        header.extend([0xAA; 12]);
        (51, header)
    }

    /// `packet` (an IPv6 header and its payload) with `headers` chained in
    /// after the fixed header, next-header fields and payload length fixed up.
    pub fn with_ipv6_extensions(packet: &[u8], headers: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let (fixed, upper) = packet.split_at(40);
        let mut fixed = fixed.to_vec();
        let upper_protocol = fixed[6];
        let mut chain = Vec::new();
        for (index, (_, body)) in headers.iter().enumerate() {
            let next = headers
                .get(index + 1)
                .map_or(upper_protocol, |(kind, _)| *kind);
            chain.push(next);
            chain.extend(&body[1..]);
        }
        fixed[6] = headers.first().map_or(upper_protocol, |(kind, _)| *kind);
        let payload_len = u16::try_from(chain.len() + upper.len()).expect("small test frame");
        fixed[4..6].copy_from_slice(&payload_len.to_be_bytes());
        [&fixed[..], &chain, upper].concat()
    }
    /// A PPPoE session header (RFC 2516) followed by `ppp` (protocol field and payload).
    pub fn pppoe_session(ppp: &[u8]) -> Vec<u8> {
        let length = u16::try_from(ppp.len()).expect("small test frame");
        [&[0x11, 0x00, 0x12, 0x34][..], &length.to_be_bytes(), ppp].concat()
    }

    /// A PPP protocol field (2 bytes) then `payload`.
    pub fn ppp_protocol(protocol: u16, payload: &[u8]) -> Vec<u8> {
        [&protocol.to_be_bytes()[..], payload].concat()
    }

    /// The FabricPath FTag/TTL word and an inner Ethernet header announcing `ether_type`.
    pub fn fabricpath(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        [&[0x00, 0x3F][..], &ethernet(ether_type, payload)].concat()
    }

    /// 802.2 LLC with a SNAP header for OUI 00-00-00 announcing `ether_type`.
    pub fn llc_snap(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let [high, low] = ether_type.to_be_bytes();
        [&[0xAA, 0xAA, 0x03, 0, 0, 0, high, low][..], payload].concat()
    }

    /// An 802.3 frame: the length field, then `payload` (LLC and what follows).
    pub fn ieee8023(payload: &[u8]) -> Vec<u8> {
        ethernet(
            u16::try_from(payload.len()).expect("small test frame"),
            payload,
        )
    }

    /// An 802.11 MAC header: frame control bytes, duration, three addresses,
    /// sequence control, then `rest` (optional fields and body).
    pub fn wlan(control: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
        [
            &[control, flags, 0, 0][..],
            &MAC_B,
            &MAC_A,
            &MAC_B,
            &[0x10, 0],
            rest,
        ]
        .concat()
    }

    pub const WLAN_DATA: u8 = 0x08;
    pub const WLAN_QOS_DATA: u8 = 0x88;
    pub const WLAN_QOS_NULL: u8 = 0xC8;
    pub const WLAN_BEACON: u8 = 0x80;
    pub const WLAN_FROM_DS: u8 = 0x02;
    pub const WLAN_PROTECTED: u8 = 0x40;

    /// A radiotap header of `fields` after a first presence word `present`.
    pub fn radiotap(present: u32, fields: &[u8], wlan: &[u8]) -> Vec<u8> {
        let len = u16::try_from(8 + fields.len()).expect("small test header");
        [
            &[0, 0][..],
            &len.to_le_bytes(),
            &present.to_le_bytes(),
            fields,
            wlan,
        ]
        .concat()
    }

    /// An NFLOG TLV: length and type little-endian (or big-endian), value padded to 4.
    pub fn nflog_tlv(kind: u16, value: &[u8], little_endian: bool) -> Vec<u8> {
        let len = u16::try_from(4 + value.len()).expect("small test TLV");
        let header = if little_endian {
            [len.to_le_bytes(), kind.to_le_bytes()].concat()
        } else {
            [len.to_be_bytes(), kind.to_be_bytes()].concat()
        };
        let padding = vec![0; (4 - value.len() % 4) % 4];
        [&header[..], value, &padding].concat()
    }

    /// An NFLOG frame for address `family`: a hardware-protocol TLV, a prefix TLV, then `tlvs`.
    pub fn nflog(family: u8, tlvs: &[u8]) -> Vec<u8> {
        [
            &[family, 0, 0, 1][..],
            &nflog_tlv(1, &[0x08, 0x00, 3, 0], true),
            &nflog_tlv(10, b"drop\0", true),
            tlvs,
        ]
        .concat()
    }

    /// An ERF record of `type_byte` with `extensions` (8 bytes each) and `payload`.
    pub fn erf(type_byte: u8, extensions: &[u8], payload: &[u8]) -> Vec<u8> {
        let record_len = u16::try_from(16 + extensions.len() + payload.len()).expect("small");
        let wire_len = u16::try_from(payload.len()).expect("small");
        [
            &[0; 8][..],
            &[type_byte, 0x04],
            &record_len.to_be_bytes(),
            &[0, 0],
            &wire_len.to_be_bytes(),
            extensions,
            payload,
        ]
        .concat()
    }
}

use frames::*;

const ALL_LINKS: [LinkType; 15] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Ppp,
    LinkType::PppPppd,
    LinkType::CiscoHdlc,
    LinkType::Ieee80211,
    LinkType::Radiotap,
    LinkType::Nflog,
    LinkType::Erf,
];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_MPLS: u16 = 0x8847;

// ------------------------------------------------------------ link types

#[test]
fn link_type_codes_map_to_supported_link_types_only() {
    let table = [
        (0, Some(LinkType::Null)),
        (1, Some(LinkType::Ethernet)),
        (12, Some(LinkType::Raw)),
        (14, Some(LinkType::Raw)),
        (101, Some(LinkType::Raw)),
        (108, Some(LinkType::Loop)),
        (113, Some(LinkType::LinuxSll)),
        (276, Some(LinkType::LinuxSll2)),
        (228, Some(LinkType::Ipv4)),
        (229, Some(LinkType::Ipv6)),
        (9, Some(LinkType::Ppp)),
        (50, Some(LinkType::Ppp)),
        (166, Some(LinkType::PppPppd)),
        (104, Some(LinkType::CiscoHdlc)),
        (105, Some(LinkType::Ieee80211)),
        (127, Some(LinkType::Radiotap)),
        (239, Some(LinkType::Nflog)),
        (197, Some(LinkType::Erf)),
        (192, None), // PPI
        (2, None),
        (u32::MAX, None),
    ];
    for (code, want) in table {
        assert_eq!(LinkType::from_code(code), want, "code {code}");
    }
}

#[test]
fn link_type_names_are_human_readable() {
    assert_eq!(LinkType::Ethernet.name(), "Ethernet");
    assert_eq!(LinkType::LinuxSll.name(), "Linux SLL");
    assert_eq!(LinkType::LinuxSll2.name(), "Linux SLL2");
    assert_eq!(LinkType::Raw.name(), "raw IP");
    let mut names: Vec<&str> = ALL_LINKS.iter().map(|link| link.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ALL_LINKS.len(), "names must be distinct");
}

#[test]
fn skip_reasons_split_into_malformed_and_non_ip() {
    assert!(!SkipReason::NotIp.is_malformed());
    assert!(SkipReason::TruncatedLinkHeader.is_malformed());
    assert!(SkipReason::MalformedIp.is_malformed());
    assert_eq!(
        SkipReason::TruncatedLinkHeader.describe(),
        "link-layer header cut short or invalid"
    );
    assert_eq!(
        SkipReason::MalformedIp.describe(),
        "IP header invalid or cut short"
    );
    assert_eq!(
        SkipReason::NotIp.describe(),
        "not IP (ARP, LLC, other ethertype or address family)"
    );
}

#[test]
fn ethernet_ipv4_tcp_is_keyed_by_its_five_tuple() {
    check(LinkType::Ethernet, &eth_ipv4_tcp(), Ok(V4_TCP));
}

#[test]
fn ethernet_ipv6_udp_is_keyed_by_its_five_tuple() {
    check(LinkType::Ethernet, &eth_ipv6_udp(), Ok(V6_UDP));
}

#[test]
fn linux_sll_reads_the_ethertype_at_offset_14() {
    check(
        LinkType::LinuxSll,
        &sll(ETHERTYPE_IPV4, &ipv4_udp()),
        Ok(V4_UDP),
    );
    check(
        LinkType::LinuxSll,
        &sll(ETHERTYPE_IPV6, &ipv6_tcp()),
        Ok(V6_TCP),
    );
    check(
        LinkType::LinuxSll,
        &sll(0x0806, &[0; 28]),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn linux_sll_follows_vlan_tags_like_ethernet() {
    let payload = [&vlan_tag(ETHERTYPE_IPV4)[..], &ipv4_udp()].concat();
    check(LinkType::LinuxSll, &sll(0x8100, &payload), Ok(V4_UDP));
}

#[test]
fn linux_sll2_reads_the_ethertype_at_offset_0() {
    check(
        LinkType::LinuxSll2,
        &sll2(ETHERTYPE_IPV6, &ipv6_tcp()),
        Ok(V6_TCP),
    );
    check(
        LinkType::LinuxSll2,
        &sll2(ETHERTYPE_IPV4, &ipv4_udp()),
        Ok(V4_UDP),
    );
}

#[test]
fn cut_linux_cooked_headers_are_truncated_link_headers() {
    let v1 = sll(ETHERTYPE_IPV4, &[]);
    check(
        LinkType::LinuxSll,
        &v1[..15],
        Err(SkipReason::TruncatedLinkHeader),
    );
    let v2 = sll2(ETHERTYPE_IPV4, &[]);
    check(
        LinkType::LinuxSll2,
        &v2[..19],
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(LinkType::LinuxSll2, &v2, Err(SkipReason::MalformedIp));
}

#[test]
fn null_reads_the_address_family_in_either_byte_order() {
    let little_endian_v4 = [&[2, 0, 0, 0][..], &ipv4_udp()].concat();
    check(LinkType::Null, &little_endian_v4, Ok(V4_UDP));
    let big_endian_v4 = [&[0, 0, 0, 2][..], &ipv4_udp()].concat();
    check(LinkType::Null, &big_endian_v4, Ok(V4_UDP));
    for family in [10u8, 24, 28, 30] {
        let little_endian_v6 = [&[family, 0, 0, 0][..], &ipv6_tcp()].concat();
        check(LinkType::Null, &little_endian_v6, Ok(V6_TCP));
        let big_endian_v6 = [&[0, 0, 0, family][..], &ipv6_tcp()].concat();
        check(LinkType::Null, &big_endian_v6, Ok(V6_TCP));
    }
}

#[test]
fn null_with_another_address_family_is_not_ip() {
    let apple_talk = [&[16, 0, 0, 0][..], &ipv4_udp()].concat();
    check(LinkType::Null, &apple_talk, Err(SkipReason::NotIp));
    check(
        LinkType::Null,
        &[2, 0, 0],
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn loop_reads_the_address_family_big_endian_only() {
    let v4 = [&[0, 0, 0, 2][..], &ipv4_udp()].concat();
    check(LinkType::Loop, &v4, Ok(V4_UDP));
    let v6 = [&[0, 0, 0, 24][..], &ipv6_udp()].concat();
    check(LinkType::Loop, &v6, Ok(V6_UDP));
    let little_endian = [&[2, 0, 0, 0][..], &ipv4_udp()].concat();
    check(LinkType::Loop, &little_endian, Err(SkipReason::NotIp));
}

#[test]
fn raw_ip_takes_the_version_from_the_first_nibble() {
    for code in [12, 14, 101] {
        let link = LinkType::from_code(code).expect("raw IP code is supported");
        check(link, &ipv4_tcp(), Ok(V4_TCP));
        check(link, &ipv6_udp(), Ok(V6_UDP));
    }
    let mut version5 = ipv4_tcp();
    version5[0] = 0x55;
    check(LinkType::Raw, &version5, Err(SkipReason::NotIp));
    check(LinkType::Raw, &[], Err(SkipReason::TruncatedLinkHeader));
}

#[test]
fn ipv4_and_ipv6_link_types_fix_the_version() {
    check(LinkType::Ipv4, &ipv4_udp(), Ok(V4_UDP));
    check(LinkType::Ipv6, &ipv6_udp(), Ok(V6_UDP));
    check(
        LinkType::Ipv6,
        &ipv6_udp()[..39],
        Err(SkipReason::MalformedIp),
    );
    check(LinkType::Ipv4, &ipv6_udp(), Err(SkipReason::MalformedIp));
    check(LinkType::Ipv6, &ipv4_tcp(), Err(SkipReason::MalformedIp)); // 50 bytes, version 4
    check(LinkType::Ipv4, &[], Err(SkipReason::MalformedIp));
}

// ------------------------------------------------------------ Ethernet encapsulations

#[test]
fn vlan_tagged_udp_is_keyed_by_inner_ports() {
    check(LinkType::Ethernet, &eth_vlan_ipv4_udp(), Ok(V4_UDP));
}

#[test]
fn qinq_802_1ad_then_802_1q_reaches_ipv6() {
    let frame = eth_qinq_ipv6_tcp();
    assert_eq!(
        frame[12..14],
        [0x88, 0xA8],
        "builder writes an 802.1ad outer tag"
    );
    check(LinkType::Ethernet, &frame, Ok(V6_TCP));
}

#[test]
fn stacked_legacy_qinq_tags_are_all_skipped() {
    let payload = [
        &vlan_tag(0x9100)[..],
        &vlan_tag(0x9200),
        &vlan_tag(0x8100),
        &vlan_tag(ETHERTYPE_IPV4),
        &ipv4_udp(),
    ]
    .concat();
    check(LinkType::Ethernet, &ethernet(0x9100, &payload), Ok(V4_UDP));
}

#[test]
fn a_cut_vlan_tag_is_a_truncated_link_header() {
    let frame = ethernet(0x8100, &vlan_tag(ETHERTYPE_IPV4)[..3]);
    check(
        LinkType::Ethernet,
        &frame,
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn mpls_stack_of_two_labels_reaches_ipv4() {
    let payload = [&mpls_label(false)[..], &mpls_label(true), &ipv4_tcp()].concat();
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_MPLS, &payload),
        Ok(V4_TCP),
    );
}

#[test]
fn mpls_stack_of_two_labels_reaches_ipv6() {
    let payload = [&mpls_label(false)[..], &mpls_label(true), &ipv6_udp()].concat();
    check(LinkType::Ethernet, &ethernet(0x8848, &payload), Ok(V6_UDP));
}

#[test]
fn mpls_under_a_vlan_tag_is_followed() {
    let payload = [
        &vlan_tag(ETHERTYPE_MPLS)[..],
        &mpls_label(true),
        &ipv6_udp(),
    ]
    .concat();
    check(LinkType::Ethernet, &ethernet(0x8100, &payload), Ok(V6_UDP));
}

#[test]
fn mpls_payload_that_is_not_ip_by_its_first_nibble_is_not_ip() {
    // A pseudowire control word starts with nibble 0.
    let payload = [&mpls_label(true)[..], &[0, 0, 0, 0], &eth_ipv4_tcp()].concat();
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_MPLS, &payload),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn mpls_stack_without_bottom_or_payload_is_a_truncated_link_header() {
    let no_bottom = [&mpls_label(false)[..], &mpls_label(false)].concat();
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_MPLS, &no_bottom),
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_MPLS, &mpls_label(true)),
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn arp_is_not_ip() {
    check(
        LinkType::Ethernet,
        &ethernet(0x0806, &[0; 28]),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn an_802_3_length_frame_is_not_ip_even_when_it_looks_like_ip() {
    // Length 1500 is the largest 802.3 length; an IPv4 header after it must not be read.
    check(
        LinkType::Ethernet,
        &ethernet(1500, &ipv4_udp()),
        Err(SkipReason::NotIp),
    );
    check(
        LinkType::Ethernet,
        &ethernet(0x0026, &[0x42, 0x42, 0x03]),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn another_ethertype_is_not_ip() {
    check(
        LinkType::Ethernet,
        &ethernet(0x88CC, &ipv4_udp()),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn a_truncated_ethernet_header_is_a_truncated_link_header() {
    let frame = eth_ipv4_tcp();
    check(
        LinkType::Ethernet,
        &frame[..13],
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Ethernet,
        &[],
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Ethernet,
        &frame[..14],
        Err(SkipReason::MalformedIp),
    );
}

// ------------------------------------------------------------ IPv4

#[test]
fn ipv4_with_options_is_keyed_by_the_ports_after_the_options() {
    check(LinkType::Ipv4, &with_ipv4_options(&ipv4_tcp()), Ok(V4_TCP));
}

#[test]
fn ipv4_total_length_0_big_tcp_still_gets_ports() {
    check(
        LinkType::Ipv4,
        &with_ipv4_total_len(ipv4_tcp(), 0),
        Ok(V4_TCP),
    );
}

#[test]
fn ipv4_ihl_4_is_malformed() {
    let mut frame = ipv4_tcp();
    frame[0] = 0x44;
    check(LinkType::Ipv4, &frame, Err(SkipReason::MalformedIp));
}

#[test]
fn ipv4_total_length_below_the_header_length_is_malformed() {
    check(
        LinkType::Ipv4,
        &with_ipv4_total_len(ipv4_tcp(), 19),
        Err(SkipReason::MalformedIp),
    );
    let with_options = with_ipv4_options(&ipv4_tcp());
    check(
        LinkType::Ipv4,
        &with_ipv4_total_len(with_options, 20),
        Err(SkipReason::MalformedIp),
    );
}

#[test]
fn ipv4_ports_beyond_the_total_length_are_not_read() {
    // Ethernet padding after a short IP packet must not be taken for ports.
    let short = with_ipv4_total_len(ipv4_udp(), 23);
    check(
        LinkType::Ipv4,
        &short,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 17"),
    );
    check(
        LinkType::Ipv4,
        &with_ipv4_total_len(ipv4_udp(), 24),
        Ok(V4_UDP),
    );
}

#[test]
fn ipv4_cut_at_19_bytes_is_malformed() {
    check(
        LinkType::Ipv4,
        &ipv4_tcp()[..19],
        Err(SkipReason::MalformedIp),
    );
    check(
        LinkType::Ethernet,
        &eth_ipv4_tcp()[..14 + 19],
        Err(SkipReason::MalformedIp),
    );
}

#[test]
fn ipv4_first_fragment_keeps_its_ports() {
    check(
        LinkType::Ipv4,
        &with_ipv4_fragment(ipv4_udp(), true, 0),
        Ok(V4_UDP),
    );
}

#[test]
fn ipv4_non_first_fragment_has_ports_0_and_keeps_its_protocol() {
    let last = with_ipv4_fragment(ipv4_udp(), false, 185);
    check(
        LinkType::Ipv4,
        &last,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 17"),
    );
    let middle = with_ipv4_fragment(ipv4_tcp(), true, 1);
    check(
        LinkType::Ipv4,
        &middle,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 6"),
    );
}

#[test]
fn ah_in_ipv4_is_not_skipped() {
    let (_, ah) = authentication();
    let ah_then_tcp = [&ah[..], &ipv4_tcp()[20..]].concat();
    let frame = ipv4_carrying(etherparse::IpNumber::AUTHENTICATION_HEADER, &ah_then_tcp);
    check(
        LinkType::Ipv4,
        &frame,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 51"),
    );
}

#[test]
fn tcp_header_cut_after_4_bytes_still_gives_ports() {
    check(LinkType::Ipv4, &ipv4_tcp()[..24], Ok(V4_TCP));
    check(LinkType::Ipv6, &ipv6_udp()[..44], Ok(V6_UDP));
}

#[test]
fn tcp_header_cut_after_3_bytes_gives_ports_0() {
    check(
        LinkType::Ipv4,
        &ipv4_tcp()[..23],
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 6"),
    );
}

#[test]
fn icmp_has_ports_0() {
    check(
        LinkType::Ipv4,
        &ipv4_icmp_echo(),
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 1"),
    );
}

#[test]
fn sctp_ports_are_read_like_tcp_and_udp() {
    let sctp_common_header = [0x0B, 0x59, 0x0B, 0x5A, 0, 0, 0, 1, 0, 0, 0, 0];
    let frame = ipv4_carrying(etherparse::IpNumber::SCTP, &sctp_common_header);
    check(
        LinkType::Ipv4,
        &frame,
        Ok("v4 192.0.2.1:2905 -> 198.51.100.2:2906 proto 132"),
    );
}

#[test]
fn tunnels_are_keyed_by_the_outer_header_only() {
    use etherparse::IpNumber;
    let gre = [&[0x00, 0x00, 0x08, 0x00][..], &ipv4_udp()].concat();
    let gre_frame = ipv4_carrying(IpNumber::GRE, &gre);
    check(
        LinkType::Ipv4,
        &gre_frame,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 47"),
    );
    let ip_in_ip = ipv4_carrying(IpNumber::IPV4, &ipv4_udp());
    check(
        LinkType::Ipv4,
        &ip_in_ip,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 4"),
    );
    let six_in_four = ipv4_carrying(IpNumber::IPV6, &ipv6_tcp());
    check(
        LinkType::Ipv4,
        &six_in_four,
        Ok("v4 192.0.2.1:0 -> 198.51.100.2:0 proto 41"),
    );
}

#[test]
fn vxlan_is_keyed_by_the_outer_udp_ports() {
    let vxlan_header = [0x08, 0, 0, 0, 0, 0, 0x64, 0];
    let inner = [&vxlan_header[..], &eth_ipv4_tcp()].concat();
    let mut outer = Vec::new();
    etherparse::PacketBuilder::ipv4(SRC4, DST4, 64)
        .udp(49152, 4789)
        .write(&mut outer, &inner)
        .expect("writing to a Vec cannot fail");
    check(
        LinkType::Ipv4,
        &outer,
        Ok("v4 192.0.2.1:49152 -> 198.51.100.2:4789 proto 17"),
    );
}

// ------------------------------------------------------------ IPv6

#[test]
fn ipv6_hop_by_hop_routing_and_destination_options_chain_to_tcp() {
    let chain = [hop_by_hop(), routing(), destination_options()];
    check(
        LinkType::Ipv6,
        &with_ipv6_extensions(&ipv6_tcp(), &chain),
        Ok(V6_TCP),
    );
}

#[test]
fn ipv6_first_fragment_keeps_its_ports() {
    let frame = with_ipv6_extensions(&ipv6_udp(), &[fragment(0)]);
    check(LinkType::Ipv6, &frame, Ok(V6_UDP));
}

#[test]
fn ipv6_non_first_fragment_has_ports_0_and_keeps_its_protocol() {
    let frame = with_ipv6_extensions(&ipv6_udp(), &[hop_by_hop(), fragment(1)]);
    check(
        LinkType::Ipv6,
        &frame,
        Ok("v6 2001:db8::1:0 -> 2001:db8::2:0 proto 17"),
    );
}

#[test]
fn ah_in_ipv6_is_skipped() {
    let frame = with_ipv6_extensions(&ipv6_tcp(), &[authentication()]);
    check(LinkType::Ipv6, &frame, Ok(V6_TCP));
}

#[test]
fn ipv6_esp_ends_the_chain() {
    let esp = (50, vec![0, 0, 0x10, 0x01, 0, 0, 0, 1]);
    let frame = with_ipv6_extensions(&ipv6_udp(), &[hop_by_hop(), esp]);
    check(
        LinkType::Ipv6,
        &frame,
        Ok("v6 2001:db8::1:0 -> 2001:db8::2:0 proto 50"),
    );
}

#[test]
fn a_cut_extension_header_reports_its_next_header_without_ports() {
    // Destination options of 16 bytes, only 10 captured: tshark shows its next header.
    let frame = with_ipv6_extensions(&ipv6_tcp(), &[hop_by_hop(), destination_options()]);
    let cut = &frame[..40 + 8 + 10];
    check(
        LinkType::Ipv6,
        cut,
        Ok("v6 2001:db8::1:0 -> 2001:db8::2:0 proto 6"),
    );
}

#[test]
fn an_extension_header_without_its_first_2_bytes_is_the_protocol() {
    let frame = with_ipv6_extensions(&ipv6_tcp(), &[hop_by_hop(), routing()]);
    let cut = &frame[..40 + 8 + 1];
    check(
        LinkType::Ipv6,
        cut,
        Ok("v6 2001:db8::1:0 -> 2001:db8::2:0 proto 43"),
    );
}

#[test]
fn ipv6_payload_length_bounds_the_extension_headers_and_ports() {
    let mut frame = with_ipv6_extensions(&ipv6_tcp(), &[hop_by_hop()]);
    frame[4..6].copy_from_slice(&11u16.to_be_bytes()); // hop-by-hop + 3 TCP bytes
    check(
        LinkType::Ipv6,
        &frame,
        Ok("v6 2001:db8::1:0 -> 2001:db8::2:0 proto 6"),
    );
    frame[4..6].copy_from_slice(&12u16.to_be_bytes());
    check(LinkType::Ipv6, &frame, Ok(V6_TCP));
}

#[test]
fn ipv6_payload_length_0_jumbogram_reads_to_the_end_of_the_capture() {
    let mut frame = ipv6_tcp();
    frame[4..6].copy_from_slice(&[0, 0]);
    check(LinkType::Ipv6, &frame, Ok(V6_TCP));
}

#[test]
fn ipv6_cut_at_34_bytes_is_malformed() {
    check(
        LinkType::Ipv6,
        &ipv6_tcp()[..34],
        Err(SkipReason::MalformedIp),
    );
    check(
        LinkType::Ethernet,
        &eth_ipv6_udp()[..14 + 34],
        Err(SkipReason::MalformedIp),
    );
}

#[test]
fn ipv6_in_ipv6_is_not_looked_into() {
    let mut outer = Vec::new();
    etherparse::PacketBuilder::ipv6(SRC6, DST6, 64)
        .write(&mut outer, etherparse::IpNumber::IPV6, &ipv6_udp())
        .expect("writing to a Vec cannot fail");
    check(
        LinkType::Ipv6,
        &outer,
        Ok("v6 2001:db8::1:0 -> 2001:db8::2:0 proto 41"),
    );
}

// ------------------------------------------------------------ robustness

#[test]
fn every_cut_of_a_valid_frame_parses_without_panicking_and_ports_need_4_bytes() {
    let frame = with_ipv6_extensions(&ipv6_tcp(), &[hop_by_hop(), fragment(0), authentication()]);
    let transport_start = 40 + 8 + 8 + 24;
    for len in 0..=frame.len() {
        let got = parse(LinkType::Ipv6, &frame[..len]);
        match got {
            Ok(key) => assert_eq!(
                key.src_port != 0,
                len >= transport_start + 4,
                "cut at {len}"
            ),
            Err(reason) => {
                assert_eq!(reason, SkipReason::MalformedIp, "cut at {len}");
                assert!(len < 40, "cut at {len}");
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_under_every_link_type_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        for link in ALL_LINKS {
            let _ = parse(link, &bytes);
        }
    }

    #[test]
    fn arbitrary_payloads_behind_ip_bearing_link_headers_never_panic(
        ether_type in prop::sample::select(vec![0x0800u16, 0x86DD, 0x8100, 0x88A8, 0x9100, 0x8847]),
        first in prop::sample::select(vec![0x45u8, 0x46, 0x4F, 0x60, 0x00]),
        protocol in prop::sample::select(vec![0u8, 6, 17, 43, 44, 51, 60, 132]),
        tail in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut ip = vec![first, 0, 0, 0, 0, 0, protocol, protocol, 64, protocol];
        ip.extend(&tail);
        let _ = parse(LinkType::Ethernet, &ethernet(ether_type, &ip));
        let _ = parse(LinkType::LinuxSll2, &sll2(ether_type, &ip));
        let _ = parse(LinkType::Raw, &ip);
    }
}

// ------------------------------------------------------------ encapsulations of issue #15

const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_FABRICPATH: u16 = 0x8903;
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_LCP: u16 = 0xC021;
const LCP_ECHO: [u8; 8] = [0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0];

#[test]
fn pppoe_session_carrying_ipv4_and_ipv6_is_keyed_by_the_inner_header() {
    let v4 = pppoe_session(&ppp_protocol(PPP_IPV4, &ipv4_udp()));
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_PPPOE_SESSION, &v4),
        Ok(V4_UDP),
    );
    let v6 = pppoe_session(&ppp_protocol(PPP_IPV6, &ipv6_tcp()));
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_PPPOE_SESSION, &v6),
        Ok(V6_TCP),
    );
}

#[test]
fn pppoe_with_a_compressed_one_byte_ppp_protocol_is_keyed() {
    let session = pppoe_session(&[&[0x57][..], &ipv6_udp()].concat());
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_PPPOE_SESSION, &session),
        Ok(V6_UDP),
    );
}

#[test]
fn pppoe_under_vlan_and_qinq_tags_is_followed() {
    let session = pppoe_session(&ppp_protocol(PPP_IPV4, &ipv4_tcp()));
    let vlan = [&vlan_tag(ETHERTYPE_PPPOE_SESSION)[..], &session].concat();
    check(LinkType::Ethernet, &ethernet(0x8100, &vlan), Ok(V4_TCP));
    let qinq = [&vlan_tag(0x8100)[..], &vlan].concat();
    check(LinkType::Ethernet, &ethernet(0x88A8, &qinq), Ok(V4_TCP));
}

#[test]
fn pppoe_control_protocols_and_discovery_are_not_ip() {
    let lcp = pppoe_session(&ppp_protocol(PPP_LCP, &LCP_ECHO));
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_PPPOE_SESSION, &lcp),
        Err(SkipReason::NotIp),
    );
    let ipcp = pppoe_session(&ppp_protocol(0x8021, &LCP_ECHO));
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_PPPOE_SESSION, &ipcp),
        Err(SkipReason::NotIp),
    );
    let padi = [0x11, 0x09, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00];
    check(
        LinkType::Ethernet,
        &ethernet(0x8863, &padi),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn a_cut_pppoe_header_or_ppp_protocol_is_a_truncated_link_header() {
    let frame = ethernet(
        ETHERTYPE_PPPOE_SESSION,
        &pppoe_session(&ppp_protocol(PPP_IPV4, &ipv4_udp())),
    );
    for cut in [14 + 3, 14 + 6, 14 + 7] {
        check(
            LinkType::Ethernet,
            &frame[..cut],
            Err(SkipReason::TruncatedLinkHeader),
        );
    }
    check(
        LinkType::Ethernet,
        &frame[..14 + 8 + 10],
        Err(SkipReason::MalformedIp),
    );
}

#[test]
fn fabricpath_is_keyed_by_the_inner_ethernet_frame() {
    let v4 = fabricpath(ETHERTYPE_IPV4, &ipv4_tcp());
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_FABRICPATH, &v4),
        Ok(V4_TCP),
    );
    let tagged = [&vlan_tag(ETHERTYPE_IPV6)[..], &ipv6_udp()].concat();
    let v6 = fabricpath(0x8100, &tagged);
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_FABRICPATH, &v6),
        Ok(V6_UDP),
    );
    let arp = fabricpath(0x0806, &[0; 28]);
    check(
        LinkType::Ethernet,
        &ethernet(ETHERTYPE_FABRICPATH, &arp),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn a_fabricpath_header_cut_before_the_inner_ethertype_is_a_truncated_link_header() {
    let frame = ethernet(
        ETHERTYPE_FABRICPATH,
        &fabricpath(ETHERTYPE_IPV4, &ipv4_tcp()),
    );
    check(
        LinkType::Ethernet,
        &frame[..14 + 15],
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Ethernet,
        &frame[..14 + 16],
        Err(SkipReason::MalformedIp),
    );
}

#[test]
fn an_802_3_frame_with_llc_snap_is_keyed_by_the_ip_inside() {
    check(
        LinkType::Ethernet,
        &ieee8023(&llc_snap(ETHERTYPE_IPV4, &ipv4_udp())),
        Ok(V4_UDP),
    );
    let tagged = [
        &vlan_tag(0x0030)[..],
        &llc_snap(ETHERTYPE_IPV6, &ipv6_tcp()),
    ]
    .concat();
    check(LinkType::Ethernet, &ethernet(0x8100, &tagged), Ok(V6_TCP));
}

#[test]
fn llc_other_than_snap_with_oui_0_is_not_ip() {
    let spanning_tree = [0x42, 0x42, 0x03, 0, 0, 0, 0];
    check(
        LinkType::Ethernet,
        &ieee8023(&spanning_tree),
        Err(SkipReason::NotIp),
    );
    let cisco_oui = [
        &[0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C, 0x20, 0x00][..],
        &[0; 20],
    ]
    .concat();
    check(
        LinkType::Ethernet,
        &ieee8023(&cisco_oui),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn an_llc_snap_header_cut_short_is_a_truncated_link_header() {
    let frame = ieee8023(&llc_snap(ETHERTYPE_IPV4, &ipv4_udp()));
    for cut in [14, 14 + 3, 14 + 7] {
        check(
            LinkType::Ethernet,
            &frame[..cut],
            Err(SkipReason::TruncatedLinkHeader),
        );
    }
}

#[test]
fn ppp_link_type_reads_the_protocol_with_or_without_address_and_control() {
    for link in [LinkType::Ppp, LinkType::from_code(50).expect("PPP_HDLC")] {
        let framed = [&[0xFF, 0x03][..], &ppp_protocol(PPP_IPV4, &ipv4_udp())].concat();
        check(link, &framed, Ok(V4_UDP));
        check(link, &ppp_protocol(PPP_IPV6, &ipv6_tcp()), Ok(V6_TCP));
        check(link, &[&[0x21][..], &ipv4_tcp()].concat(), Ok(V4_TCP));
    }
}

#[test]
fn ppp_link_type_with_a_cisco_hdlc_address_is_cisco_hdlc() {
    let frame = [&[0x8F, 0x00, 0x08, 0x00][..], &ipv4_udp()].concat();
    check(LinkType::Ppp, &frame, Ok(V4_UDP));
}

#[test]
fn ppp_control_protocols_and_cut_headers_are_skipped_with_reasons() {
    let lcp = [&[0xFF, 0x03][..], &ppp_protocol(PPP_LCP, &LCP_ECHO)].concat();
    check(LinkType::Ppp, &lcp, Err(SkipReason::NotIp));
    check(LinkType::Ppp, &[], Err(SkipReason::TruncatedLinkHeader));
    check(
        LinkType::Ppp,
        &[0xFF, 0x03, 0x00],
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Ppp,
        &[0xFF, 0x03, 0x00, 0x21, 0x45],
        Err(SkipReason::MalformedIp),
    );
}

#[test]
fn ppp_mpls_is_followed_to_ip() {
    let frame = [
        &[0xFF, 0x03, 0x02, 0x81][..],
        &mpls_label(true),
        &ipv6_udp(),
    ]
    .concat();
    check(LinkType::Ppp, &frame, Ok(V6_UDP));
}

#[test]
fn pppd_link_type_skips_the_direction_byte() {
    for direction in [0x00, 0x01] {
        let frame = [&[direction, 0x03][..], &ppp_protocol(PPP_IPV4, &ipv4_udp())].concat();
        check(LinkType::PppPppd, &frame, Ok(V4_UDP));
    }
    let without_control = [&[0x01][..], &ppp_protocol(PPP_IPV6, &ipv6_tcp())].concat();
    check(LinkType::PppPppd, &without_control, Ok(V6_TCP));
    check(LinkType::PppPppd, &[], Err(SkipReason::TruncatedLinkHeader));
    check(
        LinkType::PppPppd,
        &[0x00, 0x03, 0x00],
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn cisco_hdlc_reads_an_ethertype_after_address_and_control() {
    let v4 = [&[0x0F, 0x00, 0x08, 0x00][..], &ipv4_tcp()].concat();
    check(LinkType::CiscoHdlc, &v4, Ok(V4_TCP));
    let v6 = [&[0x8F, 0x00, 0x86, 0xDD][..], &ipv6_udp()].concat();
    check(LinkType::CiscoHdlc, &v6, Ok(V6_UDP));
    let slarp = [&[0x8F, 0x00, 0x80, 0x35][..], &[0; 20]].concat();
    check(LinkType::CiscoHdlc, &slarp, Err(SkipReason::NotIp));
    check(
        LinkType::CiscoHdlc,
        &v4[..3],
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn wlan_data_frames_with_llc_snap_are_keyed() {
    let data = wlan(
        WLAN_DATA,
        WLAN_FROM_DS,
        &llc_snap(ETHERTYPE_IPV4, &ipv4_udp()),
    );
    check(LinkType::Ieee80211, &data, Ok(V4_UDP));
    let qos = wlan(
        WLAN_QOS_DATA,
        0x01,
        &[&[0, 0][..], &llc_snap(ETHERTYPE_IPV6, &ipv6_tcp())].concat(),
    );
    check(LinkType::Ieee80211, &qos, Ok(V6_TCP));
}

#[test]
fn wlan_optional_header_fields_move_the_body() {
    let four_addresses = wlan(
        WLAN_DATA,
        0x03,
        &[&MAC_C[..], &llc_snap(ETHERTYPE_IPV4, &ipv4_tcp())].concat(),
    );
    check(LinkType::Ieee80211, &four_addresses, Ok(V4_TCP));
    let ht_control = wlan(
        WLAN_QOS_DATA,
        0x81,
        &[
            &[0, 0, 0, 0, 0, 0][..],
            &llc_snap(ETHERTYPE_IPV4, &ipv4_tcp()),
        ]
        .concat(),
    );
    check(LinkType::Ieee80211, &ht_control, Ok(V4_TCP));
}

#[test]
fn wlan_amsdu_is_keyed_by_its_first_subframe() {
    let subframe = llc_snap(ETHERTYPE_IPV6, &ipv6_udp());
    let length = u16::try_from(subframe.len()).expect("small").to_be_bytes();
    let body = [&[0x80, 0][..], &MAC_C, &MAC_C, &length, &subframe].concat();
    check(
        LinkType::Ieee80211,
        &wlan(WLAN_QOS_DATA, 0x01, &body),
        Ok(V6_UDP),
    );
}

#[test]
fn wlan_protected_management_and_null_frames_are_not_ip() {
    let protected = wlan(
        WLAN_DATA,
        WLAN_FROM_DS | WLAN_PROTECTED,
        &[&[0; 8][..], &ipv4_udp()].concat(),
    );
    check(LinkType::Ieee80211, &protected, Err(SkipReason::NotIp));
    let beacon = wlan(WLAN_BEACON, 0, &[0; 12]);
    check(LinkType::Ieee80211, &beacon, Err(SkipReason::NotIp));
    let null = wlan(WLAN_QOS_NULL, 0x01, &[0, 0]);
    check(LinkType::Ieee80211, &null, Err(SkipReason::NotIp));
}

#[test]
fn a_cut_wlan_header_is_a_truncated_link_header() {
    let frame = wlan(
        WLAN_QOS_DATA,
        0x01,
        &[&[0, 0][..], &llc_snap(ETHERTYPE_IPV4, &ipv4_udp())].concat(),
    );
    for cut in [1, 23, 25, 26 + 7] {
        check(
            LinkType::Ieee80211,
            &frame[..cut],
            Err(SkipReason::TruncatedLinkHeader),
        );
    }
}

#[test]
fn radiotap_is_skipped_by_its_length_field() {
    let data = wlan(
        WLAN_DATA,
        WLAN_FROM_DS,
        &llc_snap(ETHERTYPE_IPV4, &ipv4_udp()),
    );
    let antenna_signal = 1 << 5;
    check(
        LinkType::Radiotap,
        &radiotap(antenna_signal, &[0xC4, 0, 0, 0], &data),
        Ok(V4_UDP),
    );
}

#[test]
fn radiotap_data_padding_aligns_the_wlan_body_to_4_bytes() {
    // QoS data header is 26 bytes: 2 bytes of padding before LLC.
    let padded = wlan(
        WLAN_QOS_DATA,
        0x01,
        &[&[0, 0, 0, 0][..], &llc_snap(ETHERTYPE_IPV6, &ipv6_tcp())].concat(),
    );
    let flags_only = 1 << 1;
    check(
        LinkType::Radiotap,
        &radiotap(flags_only, &[0x20, 0, 0, 0], &padded),
        Ok(V6_TCP),
    );
    // With TSFT first, the flags byte sits after 8 aligned bytes of timestamp.
    let tsft_and_flags = 0b11;
    let fields = [&[0; 8][..], &[0x20, 0, 0, 0]].concat();
    check(
        LinkType::Radiotap,
        &radiotap(tsft_and_flags, &fields, &padded),
        Ok(V6_TCP),
    );
    // An extended presence word moves the fields (and the flags byte) by 4.
    let extended = flags_only | 1 << 31;
    let fields = [&[0, 0, 0, 0][..], &[0x20, 0, 0, 0]].concat();
    check(
        LinkType::Radiotap,
        &radiotap(extended, &fields, &padded),
        Ok(V6_TCP),
    );
}

#[test]
fn radiotap_with_an_impossible_length_or_version_is_a_truncated_link_header() {
    let data = wlan(WLAN_DATA, 0, &llc_snap(ETHERTYPE_IPV4, &ipv4_udp()));
    let mut short_len = radiotap(0, &[], &data);
    short_len[2] = 4;
    check(
        LinkType::Radiotap,
        &short_len,
        Err(SkipReason::TruncatedLinkHeader),
    );
    let mut past_the_end = radiotap(0, &[], &data);
    past_the_end[2..4].copy_from_slice(&0x4000u16.to_le_bytes());
    check(
        LinkType::Radiotap,
        &past_the_end,
        Err(SkipReason::TruncatedLinkHeader),
    );
    let mut version1 = radiotap(0, &[], &data);
    version1[0] = 1;
    check(
        LinkType::Radiotap,
        &version1,
        Err(SkipReason::TruncatedLinkHeader),
    );
    let flags_missing = radiotap(1 << 1, &[], &data);
    check(
        LinkType::Radiotap,
        &flags_missing,
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Radiotap,
        &[0, 0, 8],
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn nflog_payload_tlv_holds_the_ip_packet() {
    let v4 = nflog(2, &nflog_tlv(9, &ipv4_udp(), true));
    check(LinkType::Nflog, &v4, Ok(V4_UDP));
    let v6 = nflog(10, &nflog_tlv(9, &ipv6_tcp(), true));
    check(LinkType::Nflog, &v6, Ok(V6_TCP));
}

#[test]
fn nflog_written_on_a_big_endian_host_is_read_too() {
    let tlvs = [
        nflog_tlv(1, &[0x08, 0x00, 3, 0], false),
        nflog_tlv(9, &ipv4_tcp(), false),
    ]
    .concat();
    check(
        LinkType::Nflog,
        &[&[2, 0, 0, 1][..], &tlvs].concat(),
        Ok(V4_TCP),
    );
}

#[test]
fn nflog_without_payload_or_of_another_family_is_not_ip() {
    check(LinkType::Nflog, &nflog(2, &[]), Err(SkipReason::NotIp));
    let bridge = nflog(7, &nflog_tlv(9, &ipv4_udp(), true));
    check(LinkType::Nflog, &bridge, Err(SkipReason::NotIp));
}

#[test]
fn nflog_cut_or_with_a_tlv_shorter_than_its_header_is_a_truncated_link_header() {
    let frame = nflog(2, &nflog_tlv(9, &ipv4_udp(), true));
    check(
        LinkType::Nflog,
        &frame[..3],
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Nflog,
        &frame[..4 + 2],
        Err(SkipReason::TruncatedLinkHeader),
    );
    let zero_length = [&[2, 0, 0, 1][..], &[0, 0, 1, 0]].concat();
    check(
        LinkType::Nflog,
        &zero_length,
        Err(SkipReason::TruncatedLinkHeader),
    );
}

#[test]
fn erf_ethernet_records_are_keyed_after_the_pad_bytes() {
    for record_type in [2, 11, 16, 20] {
        let record = erf(record_type, &[], &[&[0, 0][..], &eth_ipv4_tcp()].concat());
        check(LinkType::Erf, &record, Ok(V4_TCP));
    }
}

#[test]
fn erf_extension_headers_are_skipped() {
    let extensions = [&[0x81][..], &[0; 7], &[0x01], &[0; 7]].concat();
    let record = erf(0x82, &extensions, &[&[0, 0][..], &eth_ipv6_udp()].concat());
    check(LinkType::Erf, &record, Ok(V6_UDP));
}

#[test]
fn erf_raw_ip_and_packet_over_sonet_records_are_keyed() {
    check(LinkType::Erf, &erf(22, &[], &ipv4_udp()), Ok(V4_UDP));
    check(LinkType::Erf, &erf(23, &[], &ipv6_tcp()), Ok(V6_TCP));
    let cisco = [&[0x0F, 0x00, 0x08, 0x00][..], &ipv4_tcp()].concat();
    check(LinkType::Erf, &erf(1, &[], &cisco), Ok(V4_TCP));
    let ppp = [&[0xFF, 0x03][..], &ppp_protocol(PPP_IPV6, &ipv6_udp())].concat();
    check(LinkType::Erf, &erf(10, &[], &ppp), Ok(V6_UDP));
    let frame_relay = [&[0x18, 0x41, 0x03, 0xCC][..], &ipv4_tcp()].concat();
    check(
        LinkType::Erf,
        &erf(1, &[], &frame_relay),
        Err(SkipReason::NotIp),
    );
}

#[test]
fn erf_other_record_types_are_not_ip() {
    let atm = erf(3, &[], &[0; 52]);
    check(LinkType::Erf, &atm, Err(SkipReason::NotIp));
    let meta = erf(27, &[], &[0; 16]);
    check(LinkType::Erf, &meta, Err(SkipReason::NotIp));
}

#[test]
fn a_cut_erf_record_header_is_a_truncated_link_header() {
    let record = erf(2, &[], &[&[0, 0][..], &eth_ipv4_tcp()].concat());
    check(
        LinkType::Erf,
        &record[..15],
        Err(SkipReason::TruncatedLinkHeader),
    );
    let extended = erf(0x82, &[0x81, 0, 0, 0, 0, 0, 0, 0], &[]);
    check(
        LinkType::Erf,
        &extended,
        Err(SkipReason::TruncatedLinkHeader),
    );
    check(
        LinkType::Erf,
        &record[..16 + 2 + 13],
        Err(SkipReason::TruncatedLinkHeader),
    );
}
