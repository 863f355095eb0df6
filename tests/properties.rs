//! Properties of the parser and of the whole pipeline, checked on random
//! input: any bytes under any link type give a key or a counted skip, never
//! a panic; well-formed frames give the key they were built with under
//! every link type and any snap cut that keeps 4 transport bytes; and
//! `analyze` on a random well-formed capture reports exactly the counts of
//! a reference model computed from the generated packet list.

pub mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;

use netspectra::flow::AddressFamily;
use netspectra::packet::{LinkType, SkipReason, parse};
use proptest::prelude::*;
use support::capture_writer::{Endian, PcapWriter};
use support::cli::{analyze, inspect_json};
use support::traffic::tables_from_inspect;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const ETHERNET_HEADER_LEN: usize = 14;
/// 2025-09-09T10:00:00Z
const START_NS: u64 = 1_757_412_000_000_000_000;

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

/// One generated IP packet, as the model sees it.
#[derive(Debug, Clone)]
struct IpSpec {
    src: IpAddr,
    dst: IpAddr,
    /// TCP, UDP, or ICMP (ICMPv6 for IPv6).
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    payload_len: usize,
}

impl IpSpec {
    fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Ports as a correct parser must report them: 0 unless TCP or UDP.
    fn ports(&self) -> (u16, u16) {
        match self.protocol {
            TCP | UDP => (self.src_port, self.dst_port),
            _ => (0, 0),
        }
    }

    /// The IP packet: header, transport header, `payload_len` bytes.
    fn ip_packet(&self) -> Vec<u8> {
        let transport = self.transport();
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total = u16::try_from(20 + transport.len()).expect("fits an IPv4 length");
                let mut out = vec![0x45, 0];
                out.extend(total.to_be_bytes());
                out.extend([0, 0, 0x40, 0, 64, self.protocol, 0, 0]);
                out.extend(src.octets());
                out.extend(dst.octets());
                out.extend(transport);
                out
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let payload = u16::try_from(transport.len()).expect("fits an IPv6 length");
                let mut out = vec![0x60, 0, 0, 0];
                out.extend(payload.to_be_bytes());
                out.extend([self.protocol, 64]);
                out.extend(src.octets());
                out.extend(dst.octets());
                out.extend(transport);
                out
            }
            _ => unreachable!("strategies pair addresses of one family"),
        }
    }

    fn transport(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.protocol {
            TCP => {
                out.extend(self.src_port.to_be_bytes());
                out.extend(self.dst_port.to_be_bytes());
                out.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x04, 0, 0, 0, 0, 0]);
            }
            UDP => {
                let len = u16::try_from(8 + self.payload_len).expect("fits a UDP length");
                out.extend(self.src_port.to_be_bytes());
                out.extend(self.dst_port.to_be_bytes());
                out.extend(len.to_be_bytes());
                out.extend([0, 0]);
            }
            _ => {
                let echo_request = if self.is_v6() { 128 } else { 8 };
                out.extend([echo_request, 0, 0, 0, 0, 7, 0, 1]);
            }
        }
        out.resize(out.len() + self.payload_len, 0x5a);
        out
    }

    /// Bytes of the IP header plus the first 4 transport bytes: the
    /// shortest capture that must still give the full key.
    fn min_keyed_ip_len(&self) -> usize {
        if self.is_v6() { 40 + 4 } else { 20 + 4 }
    }
}

/// Wraps an IP packet in the link-layer header of `link`.
fn frame(link: LinkType, spec: &IpSpec) -> Vec<u8> {
    let ip = spec.ip_packet();
    let ether_type: u16 = if spec.is_v6() { 0x86dd } else { 0x0800 };
    let mut out = match link {
        LinkType::Null => {
            let family: u32 = if spec.is_v6() { 30 } else { 2 };
            family.to_le_bytes().to_vec()
        }
        LinkType::Loop => {
            let family: u32 = if spec.is_v6() { 24 } else { 2 };
            family.to_be_bytes().to_vec()
        }
        LinkType::Ethernet => {
            let mut header = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
            header.extend(ether_type.to_be_bytes());
            header
        }
        LinkType::LinuxSll => {
            let mut header = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
            header.extend(ether_type.to_be_bytes());
            header
        }
        LinkType::LinuxSll2 => {
            let mut header = ether_type.to_be_bytes().to_vec();
            header.extend([0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]);
            header
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => Vec::new(),
        LinkType::Ppp => [0xFF, 0x03, 0x00, ppp_protocol(spec)].to_vec(),
        LinkType::PppPppd => [0x01, 0x03, 0x00, ppp_protocol(spec)].to_vec(),
        LinkType::CiscoHdlc => [&[0x0F, 0x00][..], &ether_type.to_be_bytes()].concat(),
        LinkType::Ieee80211 => wlan_data_header(ether_type),
        LinkType::Radiotap => {
            [&[0, 0, 8, 0, 0, 0, 0, 0][..], &wlan_data_header(ether_type)].concat()
        }
        LinkType::Nflog => {
            let family = if spec.is_v6() { 10 } else { 2 };
            let tlv_len = u16::try_from(4 + ip.len()).expect("fits an NFLOG TLV");
            [&[family, 0, 0, 0][..], &tlv_len.to_le_bytes(), &[9, 0]].concat()
        }
        LinkType::Erf => {
            let mut header = vec![0; 8];
            header.extend([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            header.extend([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
            header.extend(ether_type.to_be_bytes());
            header
        }
    };
    out.extend(ip);
    out
}

/// The PPP protocol number (low byte) of `spec`'s IP version.
fn ppp_protocol(spec: &IpSpec) -> u8 {
    if spec.is_v6() { 0x57 } else { 0x21 }
}

/// An 802.11 data frame header from the AP, then LLC/SNAP announcing `ether_type`.
fn wlan_data_header(ether_type: u16) -> Vec<u8> {
    let mut header = vec![0x08, 0x02, 0, 0];
    header.extend([
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0x10, 0,
    ]);
    header.extend([0xAA, 0xAA, 0x03, 0, 0, 0]);
    header.extend(ether_type.to_be_bytes());
    header
}

/// Link types that can carry `spec`: all but the single-version raw ones
/// of the other version.
fn link_types_for(spec: &IpSpec) -> impl Iterator<Item = LinkType> {
    let wrong = if spec.is_v6() {
        LinkType::Ipv4
    } else {
        LinkType::Ipv6
    };
    LINK_TYPES.into_iter().filter(move |link| *link != wrong)
}

/// Addresses from a small pool (so keys repeat) or anywhere.
fn ipv4_address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => (0u8..6).prop_map(|host| IpAddr::from([10, 0, 0, host])),
        1 => any::<[u8; 4]>().prop_map(IpAddr::from),
    ]
}

fn ipv6_address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => (0u16..6).prop_map(|host| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, host])),
        1 => any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![3 => prop::sample::select(vec![53u16, 80, 443, 40000]), 1 => any::<u16>()]
}

fn ip_spec() -> impl Strategy<Value = IpSpec> {
    let addresses = prop_oneof![
        3 => (ipv4_address(), ipv4_address()),
        1 => (ipv6_address(), ipv6_address()),
    ];
    let protocol = prop::sample::select(vec![TCP, UDP, ICMP]);
    (addresses, protocol, port(), port(), 0usize..1200).prop_map(
        |((src, dst), protocol, src_port, dst_port, payload_len)| IpSpec {
            src,
            dst,
            protocol: if protocol == ICMP && src.is_ipv6() {
                ICMPV6
            } else {
                protocol
            },
            src_port,
            dst_port,
            payload_len,
        },
    )
}

/// Asserts that `frame` parsed under `link` gives exactly `spec`'s key.
#[track_caller]
fn assert_keyed_as(link: LinkType, frame: &[u8], spec: &IpSpec) {
    let key = parse(link, frame).unwrap_or_else(|reason| {
        panic!("{link:?} frame of {spec:?} was skipped: {reason:?}");
    });
    let (src, dst, family) = match (spec.src, spec.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let mut src16 = [0; 16];
            let mut dst16 = [0; 16];
            src16[..4].copy_from_slice(&src.octets());
            dst16[..4].copy_from_slice(&dst.octets());
            (src16, dst16, AddressFamily::Ipv4)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => (src.octets(), dst.octets(), AddressFamily::Ipv6),
        _ => unreachable!("strategies pair addresses of one family"),
    };
    assert_eq!(key.src, src, "{link:?} {spec:?}");
    assert_eq!(key.dst, dst, "{link:?} {spec:?}");
    assert_eq!(key.family, family, "{link:?} {spec:?}");
    assert_eq!(key.protocol, spec.protocol, "{link:?} {spec:?}");
    assert_eq!(
        (key.src_port, key.dst_port),
        spec.ports(),
        "{link:?} {spec:?}"
    );
}

/// A parse outcome is a key or one of the counted skip reasons.
#[track_caller]
fn assert_key_or_counted_skip(link: LinkType, frame: &[u8]) {
    match parse(link, frame) {
        Ok(_) => {}
        Err(reason @ (SkipReason::NotIp | SkipReason::TruncatedLinkHeader)) => {
            assert!(!reason.describe().is_empty());
        }
        Err(reason @ SkipReason::MalformedIp) => assert!(reason.is_malformed()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_under_any_link_type_give_a_key_or_a_counted_skip(
        link in prop::sample::select(LINK_TYPES.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        assert_key_or_counted_skip(link, &bytes);
    }

    #[test]
    fn mutated_well_formed_frames_give_a_key_or_a_counted_skip(
        spec in ip_spec(),
        link_index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let links: Vec<LinkType> = link_types_for(&spec).collect();
        let link = *link_index.get(&links);
        let mut bytes = frame(link, &spec);
        for (at, value) in &edits {
            let at = at.index(bytes.len());
            bytes[at] = *value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        assert_key_or_counted_skip(link, &bytes);
    }

    #[test]
    fn well_formed_frames_cut_after_4_transport_bytes_keep_their_key_under_every_link_type(
        spec in ip_spec(),
        cut in any::<prop::sample::Index>(),
    ) {
        for link in link_types_for(&spec) {
            let whole = frame(link, &spec);
            assert_keyed_as(link, &whole, &spec);
            let shortest = whole.len() - spec.ip_packet().len() + spec.min_keyed_ip_len();
            let kept = shortest + cut.index(whole.len() - shortest + 1);
            assert_keyed_as(link, &whole[..kept], &spec);
        }
    }
}

/// One record of a generated capture.
#[derive(Debug, Clone)]
enum Record {
    /// An Ethernet IP frame, captured up to `snap` (at least 4 transport bytes).
    Ip {
        spec: IpSpec,
        snap: prop::sample::Index,
    },
    /// An ARP request: counted as `non_ip`.
    Arp,
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        9 => (ip_spec(), any::<prop::sample::Index>())
            .prop_map(|(spec, snap)| Record::Ip { spec, snap }),
        1 => Just(Record::Arp),
    ]
}

fn arp_frame() -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend([0; 20]);
    frame
}

/// Counts per task, key rendered as `inspect` prints it: (packets, bytes).
type Tables = BTreeMap<String, BTreeMap<String, (u64, u64)>>;

/// What the reference model expects from a capture.
struct Expected {
    tables: Tables,
    ip_packets: u64,
    arp_packets: u64,
}

/// Writes `records` as an Ethernet pcap, `gaps[i]` nanoseconds after the
/// previous record, and computes the model's counts from the records alone.
fn write_capture(path: &std::path::Path, records: &[Record], gaps: &[u64]) -> Expected {
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    let mut expected = Expected {
        tables: Tables::new(),
        ip_packets: 0,
        arp_packets: 0,
    };
    let mut timestamp = START_NS;
    for (record, gap) in records.iter().zip(gaps) {
        timestamp += gap;
        match record {
            Record::Arp => {
                let frame = arp_frame();
                writer.packet(timestamp, &frame, frame.len() as u32);
                expected.arp_packets += 1;
            }
            Record::Ip { spec, snap } => {
                let frame = frame(LinkType::Ethernet, spec);
                let shortest = ETHERNET_HEADER_LEN + spec.min_keyed_ip_len();
                let kept = shortest + snap.index(frame.len() - shortest + 1);
                let wire_len = frame.len() as u64;
                writer.packet(timestamp, &frame[..kept], wire_len as u32);
                expected.ip_packets += 1;
                count(&mut expected.tables, spec, wire_len);
            }
        }
    }
    writer.write_to(path).expect("capture is written");
    expected
}

/// The model: every default task's key for `spec`, each counted once.
fn count(tables: &mut Tables, spec: &IpSpec, wire_len: u64) {
    let (src_port, dst_port) = spec.ports();
    let keys = [
        ("per_src_ip", spec.src.to_string()),
        ("per_dst_ip", spec.dst.to_string()),
        ("per_src_port", src_port.to_string()),
        ("per_dst_port", dst_port.to_string()),
        ("per_protocol", spec.protocol.to_string()),
        (
            "per_five_tuple",
            format!(
                "{}|{}|{src_port}|{dst_port}|{}",
                spec.src, spec.dst, spec.protocol
            ),
        ),
    ];
    for (task, key) in keys {
        let entry = tables
            .entry(task.to_string())
            .or_default()
            .entry(key)
            .or_default();
        entry.0 += 1;
        entry.1 += wire_len;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn analyze_counts_random_captures_exactly_as_the_reference_model(
        records in prop::collection::vec(record(), 1..120),
        gaps in prop::collection::vec(
            prop_oneof![3 => 0u64..1_000_000, 1 => 0u64..90_000_000_000],
            120,
        ),
        workers in 1u8..4,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let capture = dir.path().join("random.pcap");
        let out = dir.path().join("out");
        let expected = write_capture(&capture, &records, &gaps);
        let run = analyze(&[&capture], &out, &["--workers", &workers.to_string()]);
        prop_assert_eq!(run.status, 0, "{}", run.stderr);
        let summary = &run.summary;
        prop_assert_eq!(&summary["packets_read"], records.len() as u64);
        prop_assert_eq!(&summary["packets_counted"], expected.ip_packets);
        prop_assert_eq!(&summary["non_ip"], expected.arp_packets);
        prop_assert_eq!(&summary["malformed"], 0);
        for (task, table) in &expected.tables {
            let packets: u64 = table.values().map(|(packets, _)| packets).sum();
            let bytes: u64 = table.values().map(|(_, bytes)| bytes).sum();
            prop_assert_eq!(&summary["tasks"][task]["packets"], packets, "task {}", task);
            prop_assert_eq!(&summary["tasks"][task]["bytes"], bytes, "task {}", task);
        }
        if expected.ip_packets == 0 {
            // Nothing keyed opens no window: the store stays empty.
            prop_assert_eq!(&summary["windows"], 0);
            return Ok(());
        }
        let got = tables_from_inspect(&inspect_json(&out, &["--merge"]));
        prop_assert_eq!(got, expected.tables);
    }
}
