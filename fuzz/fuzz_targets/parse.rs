//! Fuzzes `packet::parse` under every supported link type: the first input
//! byte picks the link type, the rest is the captured frame. Any outcome but
//! a panic is fine; a key must come from the IP version the link promised.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netspectra::flow::AddressFamily;
use netspectra::packet::{LinkType, parse};

const LINK_TYPES: [LinkType; 15] = [
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

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let link = LINK_TYPES[usize::from(selector) % LINK_TYPES.len()];
    if let Ok(key) = parse(link, frame) {
        match link {
            LinkType::Ipv4 => assert_eq!(key.family, AddressFamily::Ipv4),
            LinkType::Ipv6 => assert_eq!(key.family, AddressFamily::Ipv6),
            _ => {}
        }
    }
});
