//! [`PacketFilter`]: a tcpdump filter expression applied to recorded
//! packets, as `tcpdump -r FILE EXPR` applies it.
//!
//! libpcap compiles the expression (`pcap_compile` on a handle reading an
//! empty capture file, as `tcpdump -r` compiles it) once
//! per link type met, since the same expression compiles to different
//! programs for Ethernet, SLL or raw IP; a pcapng file mixing interfaces
//! gets one program per link type. The program runs through
//! `pcap_offline_filter` with the packet's captured bytes and its wire
//! length, so `len`, `greater` and `less` see the length on the wire as in
//! tcpdump. Never counts anything: the caller counts what is rejected.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{self, Write};
use std::os::fd::IntoRawFd;

use pcap::{BpfInstruction, BpfProgram, Capture, Offline};

use super::RawPacket;
use crate::packet::LinkType;

/// A filter libpcap would not compile, with libpcap's own message.
#[derive(Debug, thiserror::Error)]
#[error("filter {expression:?} for {link} frames: {message}")]
pub struct FilterError {
    pub expression: String,
    /// The link type it was compiled for, by name.
    pub link: &'static str,
    pub message: String,
}

/// One expression and its programs, compiled on first use per link type.
pub struct PacketFilter {
    expression: String,
    programs: HashMap<LinkType, BpfProgram>,
}

impl PacketFilter {
    /// Compiles `expression` for Ethernet at once, so a syntax error is
    /// found before anything is read. Errors carry libpcap's message.
    pub fn new(expression: &str) -> Result<PacketFilter, FilterError> {
        let mut filter = PacketFilter {
            expression: expression.to_string(),
            programs: HashMap::new(),
        };
        filter.program(LinkType::Ethernet)?;
        Ok(filter)
    }

    /// Whether `packet` passes. Errors only when the expression cannot be
    /// compiled for the packet's link type (e.g. `ether host` on raw IP).
    pub fn matches(&mut self, packet: &RawPacket<'_>) -> Result<bool, FilterError> {
        let program = self.program(packet.link_type)?;
        let swapped;
        let data = match null_family_swapped(packet) {
            Some(copy) => {
                swapped = copy;
                &swapped[..]
            }
            None => packet.data,
        };
        Ok(run_program(
            program.get_instructions(),
            data,
            packet.wire_len,
        ))
    }

    fn program(&mut self, link_type: LinkType) -> Result<&BpfProgram, FilterError> {
        Ok(match self.programs.entry(link_type) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => new.insert(compile(&self.expression, link_type)?),
        })
    }
}

/// BSD loopback (NULL) frames start with the address family in the byte
/// order of the machine that captured them, and libpcap's filter expects
/// this machine's order: it swaps the field when reading a file of the
/// other byte order. Families are small, so a field that reads above
/// 0xffff here was written in the other order: a copy with it swapped.
fn null_family_swapped(packet: &RawPacket<'_>) -> Option<Vec<u8>> {
    if packet.link_type != LinkType::Null {
        return None;
    }
    let field: [u8; 4] = packet.data.get(..4)?.try_into().ok()?;
    if u32::from_ne_bytes(field) <= 0xffff {
        return None;
    }
    let mut copy = packet.data.to_vec();
    copy[..4].reverse();
    Some(copy)
}

fn compile(expression: &str, link_type: LinkType) -> Result<BpfProgram, FilterError> {
    let error = |error: pcap::Error| FilterError {
        expression: expression.to_string(),
        link: link_type.name(),
        message: match error {
            pcap::Error::PcapError(message) => message,
            other => other.to_string(),
        },
    };
    savefile_handle(link_type)
        .map_err(|source| error(pcap::Error::IoError(source.kind())))?
        .map_err(error)?
        .compile(expression, true)
        .map_err(error)
}

/// A libpcap handle on an empty capture file of `link_type`, fed through a
/// pipe. libpcap compiles some primitives differently for a file than for
/// a dead handle: on BSD loopback, `ip6` matches every system's AF_INET6
/// value (10, 24, 28, 30) only when reading a file, as `tcpdump -r` does.
/// The outer `Result` is the pipe's.
fn savefile_handle(link_type: LinkType) -> io::Result<Result<Capture<Offline>, pcap::Error>> {
    let (reader, mut writer) = io::pipe()?;
    let mut header = Vec::with_capacity(24);
    header.extend(0xa1b2_c3d4u32.to_ne_bytes());
    header.extend(2u16.to_ne_bytes());
    header.extend(4u16.to_ne_bytes());
    header.extend([0u8; 8]);
    header.extend(262_144u32.to_ne_bytes());
    header.extend(linktype_code(link_type).to_ne_bytes());
    // 24 bytes fit a pipe's buffer: the write cannot block.
    writer.write_all(&header)?;
    drop(writer);
    // SAFETY: `into_raw_fd` gives up the descriptor, so the capture is its
    // sole owner, as `from_raw_fd` requires.
    Ok(unsafe { Capture::from_raw_fd(reader.into_raw_fd()) })
}

/// The LINKTYPE code a capture file states for a link type. Link types
/// that one `LinkType` covers frame packets the same way for a filter.
fn linktype_code(link_type: LinkType) -> u32 {
    match link_type {
        LinkType::Null => 0,
        LinkType::Ethernet => 1,
        LinkType::Raw => 101,
        LinkType::Loop => 108,
        LinkType::LinuxSll => 113,
        LinkType::LinuxSll2 => 276,
        LinkType::Ipv4 => 228,
        LinkType::Ipv6 => 229,
        LinkType::Ppp => 9,
        LinkType::PppPppd => 166,
        LinkType::CiscoHdlc => 104,
        LinkType::Ieee80211 => 105,
        LinkType::Radiotap => 127,
        LinkType::Nflog => 239,
        LinkType::Erf => 197,
    }
}

/// libpcap's `struct bpf_program`, pointing at a program the pcap crate owns.
#[repr(C)]
struct RawProgram {
    bf_len: libc::c_uint,
    bf_insns: *const BpfInstruction,
}

/// libpcap's `struct pcap_pkthdr`.
#[repr(C)]
struct RawHeader {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

unsafe extern "C" {
    fn pcap_offline_filter(
        program: *const RawProgram,
        header: *const RawHeader,
        data: *const u8,
    ) -> libc::c_int;
}

/// Runs a compiled program on one packet. The pcap crate's own
/// `BpfProgram::filter` passes the captured length as the wire length too,
/// which would change `len`/`greater`/`less` on snap-length-cut packets.
fn run_program(instructions: &[BpfInstruction], data: &[u8], wire_len: u32) -> bool {
    let program = RawProgram {
        bf_len: libc::c_uint::try_from(instructions.len()).unwrap_or(libc::c_uint::MAX),
        bf_insns: instructions.as_ptr(),
    };
    let header = RawHeader {
        ts: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        caplen: u32::try_from(data.len()).unwrap_or(u32::MAX),
        len: wire_len,
    };
    // SAFETY: `BpfInstruction` is `repr(transparent)` over libpcap's
    // `bpf_insn`, so `program` describes the compiled program, which lives
    // as long as `instructions`; `header.caplen` is `data`'s length (a
    // captured length never reaches 4 GiB), and libpcap reads no byte past it.
    unsafe { pcap_offline_filter(&program, &header, data.as_ptr()) != 0 }
}
