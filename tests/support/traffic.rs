//! Synthetic traffic with known content, and the counts a correct analyzer
//! must report for it (a reference model independent of the parser).

use std::collections::BTreeMap;
use std::net::IpAddr;

use etherparse::PacketBuilder;

use super::capture_writer::{Endian, PcapWriter};

/// What one generated packet carries.
#[derive(Debug, Clone)]
pub struct PacketSpec {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub timestamp_ns: u64,
    pub wire_len: u32,
}

/// An Ethernet frame for `spec` (TCP, UDP or ICMP over IPv4 or IPv6), with
/// `payload` bytes after the transport header.
pub fn ethernet_frame(spec: &PacketSpec, payload: usize) -> Vec<u8> {
    let link = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = match (spec.src, spec.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => link.ipv4(src.octets(), dst.octets(), 64),
        (IpAddr::V6(src), IpAddr::V6(dst)) => link.ipv6(src.octets(), dst.octets(), 64),
        _ => panic!("mixed address families in {spec:?}"),
    };
    let body = vec![0x5a; payload];
    let mut frame = Vec::new();
    let written = match spec.protocol {
        6 => ip
            .tcp(spec.src_port, spec.dst_port, 1, 1024)
            .write(&mut frame, &body),
        17 => ip
            .udp(spec.src_port, spec.dst_port)
            .write(&mut frame, &body),
        1 => ip.icmpv4_echo_request(7, 1).write(&mut frame, &body),
        58 => ip.icmpv6_echo_request(7, 1).write(&mut frame, &body),
        other => panic!("no builder for protocol {other}"),
    };
    written.expect("etherparse builds the frame");
    frame
}

/// An ARP request: not IP, must be counted as `non_ip`.
pub fn arp_frame() -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    frame.extend([0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend([0; 20]);
    frame
}

/// A small deterministic pseudo-random generator (xorshift), so tests need no extra crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// `count` mixed packets starting at `start_ns`, `step_ns` apart: IPv4 and
/// IPv6, TCP, UDP and ICMP, varied sizes, some cut by a snap length.
pub fn mixed_packets(count: usize, start_ns: u64, step_ns: u64, seed: u64) -> Vec<PacketSpec> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|index| {
            let v6 = rng.below(10) == 0;
            let host = rng.below(40) as u8;
            let server = rng.below(4) as u8;
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                (
                    format!("2001:db8::{host:x}").parse().expect("valid IPv6"),
                    format!("2001:db8:1::{server:x}")
                        .parse()
                        .expect("valid IPv6"),
                )
            } else {
                (
                    format!("10.0.{}.{host}", host % 3)
                        .parse()
                        .expect("valid IPv4"),
                    format!("192.168.1.{server}").parse().expect("valid IPv4"),
                )
            };
            let protocol = match rng.below(10) {
                0 => {
                    if v6 {
                        58
                    } else {
                        1
                    }
                }
                1..=4 => 17,
                _ => 6,
            };
            let (src_port, dst_port) = if protocol == 6 || protocol == 17 {
                (
                    40_000 + rng.below(8) as u16,
                    [53, 80, 443][rng.below(3) as usize],
                )
            } else {
                (0, 0)
            };
            PacketSpec {
                src,
                dst,
                src_port,
                dst_port,
                protocol,
                timestamp_ns: start_ns + index as u64 * step_ns,
                wire_len: 0,
            }
        })
        .collect()
}

/// Writes `specs` as an Ethernet pcap (nanosecond timestamps); every 7th packet
/// is cut to 60 captured bytes while its wire length stays whole, and an ARP
/// frame follows every 25th. Fills in each spec's wire length.
pub fn write_pcap(path: &std::path::Path, specs: &mut [PacketSpec]) -> u64 {
    let mut writer = PcapWriter::new(1, true, Endian::Little);
    let mut arp = 0;
    for (index, spec) in specs.iter_mut().enumerate() {
        let frame = ethernet_frame(spec, 10 + (index * 37) % 900);
        spec.wire_len = frame.len() as u32;
        let captured = if index % 7 == 3 {
            &frame[..frame.len().min(60)]
        } else {
            &frame[..]
        };
        writer.packet(spec.timestamp_ns, captured, spec.wire_len);
        if index % 25 == 0 {
            let frame = arp_frame();
            writer.packet(spec.timestamp_ns, &frame, frame.len() as u32);
            arp += 1;
        }
    }
    writer.write_to(path).expect("test capture is written");
    arp
}

/// Packets and bytes per key, keyed like the conformance tables.
pub type Table = BTreeMap<String, (u64, u64)>;

/// The counts each default task must report for `specs`, by task name.
pub fn expected_tables(specs: &[PacketSpec]) -> BTreeMap<&'static str, Table> {
    let mut tables: BTreeMap<&'static str, Table> = BTreeMap::new();
    for spec in specs {
        let keys = [
            ("per_src_ip", spec.src.to_string()),
            ("per_dst_ip", spec.dst.to_string()),
            ("per_src_port", spec.src_port.to_string()),
            ("per_dst_port", spec.dst_port.to_string()),
            ("per_protocol", spec.protocol.to_string()),
            (
                "per_five_tuple",
                format!(
                    "{}|{}|{}|{}|{}",
                    spec.src, spec.dst, spec.src_port, spec.dst_port, spec.protocol
                ),
            ),
        ];
        for (task, key) in keys {
            let entry = tables.entry(task).or_default().entry(key).or_default();
            entry.0 += 1;
            entry.1 += u64::from(spec.wire_len);
        }
    }
    tables
}

/// The same tables, read from `inspect --format json` lines.
pub fn tables_from_inspect(lines: &[serde_json::Value]) -> BTreeMap<String, Table> {
    let text = |line: &serde_json::Value, field: &str| match &line[field] {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for line in lines {
        let task = text(line, "task");
        let key = match task.as_str() {
            "per_src_ip" => text(line, "src_ip"),
            "per_dst_ip" => text(line, "dst_ip"),
            "per_src_port" => text(line, "src_port"),
            "per_dst_port" => text(line, "dst_port"),
            "per_protocol" => text(line, "protocol"),
            _ => ["src_ip", "dst_ip", "src_port", "dst_port", "protocol"]
                .map(|field| text(line, field))
                .join("|"),
        };
        let counts = (
            line["packets"].as_u64().expect("packets is a number"),
            line["bytes"].as_u64().expect("bytes is a number"),
        );
        let entry = tables.entry(task).or_default().entry(key).or_default();
        entry.0 += counts.0;
        entry.1 += counts.1;
    }
    tables
}
