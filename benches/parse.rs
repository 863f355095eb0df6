//! Parser throughput: `packet::parse` on three typical frames, one packet per
//! iteration, reported as packets/s (criterion `Throughput::Elements`).
//!
//! Run: `cargo bench --bench parse`. The frames are built once, outside the
//! timed loop; only `parse` is measured.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use netspectra::packet::{LinkType, parse};

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// A typical small payload; parse never reads it, it only sets the frame size.
const PAYLOAD: [u8; 64] = [0x5A; 64];

fn ethernet_ipv4_tcp() -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([192, 0, 2, 1], [198, 51, 100, 2], 64)
        .tcp(40000, 443, 1, 1024);
    let mut frame = Vec::with_capacity(builder.size(PAYLOAD.len()));
    builder
        .write(&mut frame, &PAYLOAD)
        .expect("writing to a Vec cannot fail");
    frame
}

fn ethernet_ipv6_udp() -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6(SRC6, DST6, 64)
        .udp(5353, 53);
    let mut frame = Vec::with_capacity(builder.size(PAYLOAD.len()));
    builder
        .write(&mut frame, &PAYLOAD)
        .expect("writing to a Vec cannot fail");
    frame
}

fn ethernet_vlan_ipv4_udp() -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MAC_A, MAC_B)
        .single_vlan(100.try_into().expect("valid VLAN id"))
        .ipv4([192, 0, 2, 1], [198, 51, 100, 2], 64)
        .udp(5353, 53);
    let mut frame = Vec::with_capacity(builder.size(PAYLOAD.len()));
    builder
        .write(&mut frame, &PAYLOAD)
        .expect("writing to a Vec cannot fail");
    frame
}

fn bench_parse(c: &mut Criterion) {
    let cases = [
        ("ethernet_ipv4_tcp", ethernet_ipv4_tcp()),
        ("ethernet_ipv6_udp", ethernet_ipv6_udp()),
        ("ethernet_vlan_ipv4_udp", ethernet_vlan_ipv4_udp()),
    ];
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, frame) in &cases {
        assert!(
            parse(LinkType::Ethernet, frame).is_ok(),
            "{name} must parse"
        );
        group.bench_function(*name, |b| {
            b.iter(|| parse(black_box(LinkType::Ethernet), black_box(frame)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
