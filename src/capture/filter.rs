//! [`PacketFilter`]: a tcpdump filter expression applied to recorded
//! packets, as `tcpdump -r FILE EXPR` applies it.
//!
//! libpcap compiles the expression (`pcap_compile` on a dead handle) once
//! per link type met, since the same expression compiles to different
//! programs for Ethernet, SLL or raw IP; a pcapng file mixing interfaces
//! gets one program per link type. The program runs through
//! `pcap_offline_filter` with the packet's captured bytes and its wire
//! length, so `len`, `greater` and `less` see the length on the wire as in
//! tcpdump. Never counts anything: the caller counts what is rejected.

use std::collections::HashMap;

use pcap::{BpfInstruction, BpfProgram, Capture, Linktype};

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
        Ok(run_program(
            program.get_instructions(),
            packet.data,
            packet.wire_len,
        ))
    }

    fn program(&mut self, link_type: LinkType) -> Result<&BpfProgram, FilterError> {
        if !self.programs.contains_key(&link_type) {
            let program = compile(&self.expression, link_type)?;
            self.programs.insert(link_type, program);
        }
        Ok(self
            .programs
            .get(&link_type)
            .expect("the program was inserted just above"))
    }
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
    Capture::dead(Linktype(dlt(link_type)))
        .map_err(error)?
        .compile(expression, true)
        .map_err(error)
}

/// libpcap's DLT value for a link type (what `pcap_open_dead` takes; the
/// file's LINKTYPE differs for raw IP). Link types that one `LinkType`
/// covers frame packets the same way for a filter.
fn dlt(link_type: LinkType) -> i32 {
    match link_type {
        LinkType::Null => 0,
        LinkType::Ethernet => 1,
        LinkType::Raw => 12,
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
