//! Encapsulations of issue #15 are transparent: wrapping any valid IP packet
//! in PPPoE (with or without VLAN/QinQ tags), FabricPath, 802.3 LLC/SNAP, PPP,
//! PPP from pppd, Cisco HDLC, 802.11 (bare or behind radiotap), NFLOG or an
//! ERF record gives the same key as the bare packet read as raw IP.

use netspectra::packet::{LinkType, parse};
use proptest::prelude::*;

const MAC: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

/// A syntactically valid IPv4 or IPv6 packet with a TCP, UDP or other header.
fn ip_packet() -> impl Strategy<Value = Vec<u8>> {
    let protocol = prop::sample::select(vec![6u8, 17, 1, 47, 132]);
    let v4 = (
        any::<[u8; 8]>(),
        protocol.clone(),
        any::<[u8; 8]>(),
        0usize..64,
    )
        .prop_map(|(addresses, protocol, transport, extra)| {
            let total = u16::try_from(20 + 8 + extra).expect("small packet");
            let mut packet = vec![0x45, 0];
            packet.extend(total.to_be_bytes());
            packet.extend([0, 0, 0x40, 0, 64, protocol, 0, 0]);
            packet.extend(addresses);
            packet.extend(transport);
            packet.extend(vec![0x5A; extra]);
            packet
        });
    let v6 = (any::<[u8; 32]>(), protocol, any::<[u8; 8]>(), 0usize..64).prop_map(
        |(addresses, protocol, transport, extra)| {
            let payload = u16::try_from(8 + extra).expect("small packet");
            let mut packet = vec![0x60, 0, 0, 0];
            packet.extend(payload.to_be_bytes());
            packet.extend([protocol, 64]);
            packet.extend(addresses);
            packet.extend(transport);
            packet.extend(vec![0x5A; extra]);
            packet
        },
    );
    prop_oneof![v4, v6]
}

fn is_v6(packet: &[u8]) -> bool {
    packet.first().is_some_and(|first| first >> 4 == 6)
}

fn ether_type(packet: &[u8]) -> [u8; 2] {
    if is_v6(packet) {
        [0x86, 0xDD]
    } else {
        [0x08, 0x00]
    }
}

fn ppp_protocol(packet: &[u8]) -> [u8; 2] {
    if is_v6(packet) {
        [0x00, 0x57]
    } else {
        [0x00, 0x21]
    }
}

fn llc_snap(packet: &[u8]) -> Vec<u8> {
    [
        &[0xAA, 0xAA, 0x03, 0, 0, 0][..],
        &ether_type(packet),
        packet,
    ]
    .concat()
}

fn pppoe(packet: &[u8]) -> Vec<u8> {
    let length = u16::try_from(packet.len() + 2).expect("small packet");
    [
        &[0x11, 0x00, 0x00, 0x01][..],
        &length.to_be_bytes(),
        &ppp_protocol(packet),
        packet,
    ]
    .concat()
}

fn wlan_data(packet: &[u8]) -> Vec<u8> {
    let header = [&[0x08, 0x02, 0, 0][..], &MAC, &MAC[..6], &[0x10, 0]].concat();
    [&header[..], &llc_snap(packet)].concat()
}

/// Every wrapping of `packet`, each with the link type to read it under.
fn wrappings(packet: &[u8]) -> Vec<(&'static str, LinkType, Vec<u8>)> {
    let ethernet = |ether_type: [u8; 2], payload: &[u8]| [&MAC[..], &ether_type, payload].concat();
    let vlan = |next: [u8; 2]| [0x00, 0x2A, next[0], next[1]];
    let length = u16::try_from(llc_snap(packet).len())
        .expect("small")
        .to_be_bytes();
    let nflog_tlv_len = u16::try_from(4 + packet.len())
        .expect("small")
        .to_le_bytes();
    let family = if is_v6(packet) { 10 } else { 2 };
    vec![
        (
            "pppoe",
            LinkType::Ethernet,
            ethernet([0x88, 0x64], &pppoe(packet)),
        ),
        (
            "vlan pppoe",
            LinkType::Ethernet,
            ethernet(
                [0x81, 0x00],
                &[&vlan([0x88, 0x64])[..], &pppoe(packet)].concat(),
            ),
        ),
        (
            "qinq pppoe",
            LinkType::Ethernet,
            ethernet(
                [0x88, 0xA8],
                &[&vlan([0x81, 0x00])[..], &vlan([0x88, 0x64]), &pppoe(packet)].concat(),
            ),
        ),
        (
            "fabricpath",
            LinkType::Ethernet,
            ethernet(
                [0x89, 0x03],
                &[&[0x00, 0x3F][..], &ethernet(ether_type(packet), packet)].concat(),
            ),
        ),
        (
            "802.3 llc/snap",
            LinkType::Ethernet,
            ethernet(length, &llc_snap(packet)),
        ),
        (
            "ppp",
            LinkType::Ppp,
            [&[0xFF, 0x03][..], &ppp_protocol(packet), packet].concat(),
        ),
        (
            "ppp without address and control",
            LinkType::Ppp,
            [&ppp_protocol(packet)[..], packet].concat(),
        ),
        (
            "ppp pppd",
            LinkType::PppPppd,
            [&[0x01, 0x03][..], &ppp_protocol(packet), packet].concat(),
        ),
        (
            "cisco hdlc",
            LinkType::CiscoHdlc,
            [&[0x0F, 0x00][..], &ether_type(packet), packet].concat(),
        ),
        ("802.11", LinkType::Ieee80211, wlan_data(packet)),
        (
            "radiotap",
            LinkType::Radiotap,
            [&[0, 0, 8, 0, 0, 0, 0, 0][..], &wlan_data(packet)].concat(),
        ),
        (
            "nflog",
            LinkType::Nflog,
            [&[family, 0, 0, 0][..], &nflog_tlv_len, &[9, 0], packet].concat(),
        ),
        (
            "erf ethernet",
            LinkType::Erf,
            [
                &[0; 8][..],
                &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                &ethernet(ether_type(packet), packet),
            ]
            .concat(),
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn wrapping_a_valid_ip_packet_in_any_encapsulation_keeps_its_key(packet in ip_packet()) {
        let bare = parse(LinkType::Raw, &packet).expect("a valid packet has a key");
        for (name, link, frame) in wrappings(&packet) {
            prop_assert_eq!(parse(link, &frame), Ok(bare), "{}", name);
        }
    }

    #[test]
    fn every_cut_of_a_wrapped_packet_gives_a_key_or_a_skip_without_panicking(
        packet in ip_packet(),
        cut in any::<prop::sample::Index>(),
    ) {
        for (_, link, frame) in wrappings(&packet) {
            let _ = parse(link, &frame[..cut.index(frame.len() + 1)]);
        }
    }
}
