//! The benches' synthetic captures: Ethernet frames with IPv4 or IPv6
//! (every 10th flow) and UDP or TCP headers, one flow number per packet.
//! `e2e` and `count` read the same skewed capture.

use std::io::{BufWriter, Write};
use std::path::Path;

/// Distinct 5-tuples of the skewed capture.
pub const FIVE_TUPLES: u64 = 50_000;

/// A flow number drawn with a Zipf-like skew over FIVE_TUPLES flows.
pub fn zipf_flow(_: u64, rng: &mut u64) -> u64 {
    let uniform = (next(rng) >> 11) as f64 / (1u64 << 53) as f64;
    // Inverse of a power-law CDF: small flow numbers are much more popular.
    (FIVE_TUPLES as f64 * uniform.powi(3)) as u64
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Writes a little-endian microsecond pcap of Ethernet frames, one per packet,
/// whose 5-tuple is derived from `flow_of(packet number)`. Every 10th flow is IPv6.
pub fn write_capture(path: &Path, packets: u64, mut flow_of: impl FnMut(u64, &mut u64) -> u64) {
    let file = std::fs::File::create(path).expect("bench capture created");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut header = Vec::new();
    for field in [
        0xa1b2_c3d4u32.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
        &[0; 8],
        &65535u32.to_le_bytes(),
        &1u32.to_le_bytes(),
    ] {
        header.extend_from_slice(field);
    }
    out.write_all(&header).expect("write");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut frame = Vec::with_capacity(128);
    for n in 0..packets {
        let flow = flow_of(n, &mut rng);
        let wire_len = [64u32, 128, 576, 1500][(next(&mut rng) % 4) as usize];
        build_frame(&mut frame, flow);
        let seconds = 1_757_412_000 + n / 100_000;
        let micros = (n % 100_000) * 10;
        for value in [
            seconds as u32,
            micros as u32,
            frame.len() as u32,
            wire_len.max(frame.len() as u32),
        ] {
            out.write_all(&value.to_le_bytes()).expect("write");
        }
        out.write_all(&frame).expect("write");
    }
    out.flush().expect("flush");
}

/// An Ethernet + IPv4/IPv6 + UDP/TCP header (no payload captured) for `flow`.
fn build_frame(frame: &mut Vec<u8>, flow: u64) {
    frame.clear();
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    let protocol = if flow.is_multiple_of(3) { 17u8 } else { 6 };
    let ports = [
        (1024 + flow % 50_000) as u16,
        [53u16, 80, 443, 8080][(flow % 4) as usize],
    ];
    let host = (flow / 4) as u32;
    if flow % 10 == 9 {
        frame.extend_from_slice(&0x86ddu16.to_be_bytes());
        frame.extend_from_slice(&[0x60, 0, 0, 0, 0, 8, protocol, 64]);
        frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&host.to_be_bytes());
        frame.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    } else {
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        frame.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, protocol, 0, 0]);
        frame.extend_from_slice(&(0x0a00_0000 | (host & 0x00ff_ffff)).to_be_bytes());
        frame.extend_from_slice(&[192, 168, 0, 1]);
    }
    frame.extend_from_slice(&ports[0].to_be_bytes());
    frame.extend_from_slice(&ports[1].to_be_bytes());
    frame.extend_from_slice(&[0, 8, 0, 0]);
}
