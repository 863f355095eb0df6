//! Test support: writes small pcap and pcapng files in memory, so tests and
//! benchmarks build their captures in code. Dependency-free; include it with
//! `#[path = ".../tests/support/capture_writer.rs"] mod capture_writer;`.
//!
//! It writes what it is told, including nonsense (packets on undeclared
//! interfaces, any section version), so readers can be tested on bad input.

use std::io;
use std::path::Path;

const NS_PER_SEC: u128 = 1_000_000_000;

/// Byte order of the file being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, value: u16) -> [u8; 2] {
        match self {
            Endian::Little => value.to_le_bytes(),
            Endian::Big => value.to_be_bytes(),
        }
    }

    fn u32(self, value: u32) -> [u8; 4] {
        match self {
            Endian::Little => value.to_le_bytes(),
            Endian::Big => value.to_be_bytes(),
        }
    }

    fn i64(self, value: i64) -> [u8; 8] {
        match self {
            Endian::Little => value.to_le_bytes(),
            Endian::Big => value.to_be_bytes(),
        }
    }
}

/// Legacy pcap: a 24-byte global header (version 2.4, snap length 262144)
/// then one 16-byte record header and the data per packet.
pub struct PcapWriter {
    out: Vec<u8>,
    endian: Endian,
    nanosecond: bool,
}

impl PcapWriter {
    /// `link_type` is the LINKTYPE_ code; `nanosecond` picks magic
    /// 0xa1b23c4d over 0xa1b2c3d4.
    pub fn new(link_type: u32, nanosecond: bool, endian: Endian) -> PcapWriter {
        let magic: u32 = if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut out = Vec::new();
        out.extend_from_slice(&endian.u32(magic));
        out.extend_from_slice(&endian.u16(2));
        out.extend_from_slice(&endian.u16(4));
        out.extend_from_slice(&[0; 8]); // thiszone, sigfigs
        out.extend_from_slice(&endian.u32(262_144));
        out.extend_from_slice(&endian.u32(link_type));
        PcapWriter {
            out,
            endian,
            nanosecond,
        }
    }

    /// Appends a record; the timestamp is cut to microseconds unless the
    /// file is nanosecond. `data` is the captured part of `wire_len` bytes.
    pub fn packet(&mut self, timestamp_ns: u64, data: &[u8], wire_len: u32) {
        let secs = (timestamp_ns / 1_000_000_000) as u32;
        let nanos = (timestamp_ns % 1_000_000_000) as u32;
        let fraction = if self.nanosecond { nanos } else { nanos / 1000 };
        for field in [secs, fraction, data.len() as u32, wire_len] {
            self.out.extend_from_slice(&self.endian.u32(field));
        }
        self.out.extend_from_slice(data);
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Writes the file to `path`.
    pub fn write_to(self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.out)
    }
}

/// One pcapng interface (IDB) to declare.
#[derive(Debug, Clone, Copy)]
pub struct Interface {
    /// LINKTYPE_ code.
    pub link_type: u16,
    /// `if_tsresol` byte: 6 = microseconds, 9 = nanoseconds, 0x80 | n = 2^-n s.
    pub tsresol: u8,
    /// `if_tsoffset` in seconds, written only when non-zero.
    pub tsoffset_secs: i64,
    /// 0 = no limit.
    pub snaplen: u32,
}

impl Interface {
    /// Microsecond timestamps, no offset, no snap length.
    pub fn new(link_type: u16) -> Interface {
        Interface {
            link_type,
            tsresol: 6,
            tsoffset_secs: 0,
            snaplen: 0,
        }
    }
}

/// pcapng: starts with a version 1.0 section header; then interfaces,
/// packets and other blocks in the order the calls are made.
pub struct PcapngWriter {
    out: Vec<u8>,
    endian: Endian,
    interfaces: Vec<Interface>,
}

impl PcapngWriter {
    pub fn new(endian: Endian) -> PcapngWriter {
        let mut writer = PcapngWriter {
            out: Vec::new(),
            endian,
            interfaces: Vec::new(),
        };
        writer.section(1, 0);
        writer
    }

    /// Starts a new section (SHB) with the given version; interface
    /// numbering starts again at 0.
    pub fn section(&mut self, major: u16, minor: u16) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.endian.u32(0x1a2b_3c4d));
        body.extend_from_slice(&self.endian.u16(major));
        body.extend_from_slice(&self.endian.u16(minor));
        body.extend_from_slice(&self.endian.i64(-1)); // section length unknown
        self.block(0x0a0d_0d0a, &body);
        self.interfaces.clear();
    }

    /// Declares an interface (IDB) with `if_tsresol` and, if non-zero,
    /// `if_tsoffset`; returns its number within the section.
    pub fn interface(&mut self, interface: Interface) -> u32 {
        let mut body = Vec::new();
        body.extend_from_slice(&self.endian.u16(interface.link_type));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.endian.u32(interface.snaplen));
        self.option(&mut body, 9, &[interface.tsresol]);
        if interface.tsoffset_secs != 0 {
            self.option(&mut body, 14, &self.endian.i64(interface.tsoffset_secs));
        }
        body.extend_from_slice(&[0; 4]); // opt_endofopt
        self.block(1, &body);
        self.interfaces.push(interface);
        self.interfaces.len() as u32 - 1
    }

    /// Appends an enhanced packet block on `interface`, the timestamp
    /// expressed in that interface's units (microseconds if undeclared).
    pub fn packet(&mut self, interface: u32, timestamp_ns: u64, data: &[u8], wire_len: u32) {
        let declared = self.interfaces.get(interface as usize).copied();
        let declared = declared.unwrap_or(Interface::new(1));
        let ts = units(declared, timestamp_ns);
        let mut body = Vec::new();
        body.extend_from_slice(&self.endian.u32(interface));
        body.extend_from_slice(&self.endian.u32((ts >> 32) as u32));
        body.extend_from_slice(&self.endian.u32(ts as u32));
        body.extend_from_slice(&self.endian.u32(data.len() as u32));
        body.extend_from_slice(&self.endian.u32(wire_len));
        body.extend_from_slice(data);
        pad(&mut body);
        self.block(6, &body);
    }

    /// Appends a simple packet block (interface 0, no timestamp).
    pub fn simple_packet(&mut self, data: &[u8], wire_len: u32) {
        let mut body = self.endian.u32(wire_len).to_vec();
        body.extend_from_slice(data);
        pad(&mut body);
        self.block(3, &body);
    }

    /// Appends a custom block (type 0x00000BAD) with a private enterprise number.
    pub fn custom_block(&mut self, enterprise: u32, payload: &[u8]) {
        let mut body = self.endian.u32(enterprise).to_vec();
        body.extend_from_slice(payload);
        pad(&mut body);
        self.block(0x0000_0bad, &body);
    }

    /// Appends any block: type, length, `body` (padded to 4 bytes), length.
    pub fn block(&mut self, block_type: u32, body: &[u8]) {
        let padded = body.len().next_multiple_of(4);
        let len = (padded + 12) as u32;
        self.out.extend_from_slice(&self.endian.u32(block_type));
        self.out.extend_from_slice(&self.endian.u32(len));
        self.out.extend_from_slice(body);
        self.out.resize(self.out.len() + padded - body.len(), 0);
        self.out.extend_from_slice(&self.endian.u32(len));
    }

    /// Byte offset at which the next block will start.
    pub fn position(&self) -> u64 {
        self.out.len() as u64
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    /// Writes the file to `path`.
    pub fn write_to(self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.out)
    }

    fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
        body.extend_from_slice(&self.endian.u16(code));
        body.extend_from_slice(&self.endian.u16(value.len() as u16));
        body.extend_from_slice(value);
        pad(body);
    }
}

/// Nanoseconds since the epoch in the interface's timestamp units.
fn units(interface: Interface, timestamp_ns: u64) -> u64 {
    let per_sec: u128 = if interface.tsresol & 0x80 == 0 {
        10u128.pow(u32::from(interface.tsresol))
    } else {
        1u128 << (interface.tsresol & 0x7f)
    };
    let since_offset =
        i128::from(timestamp_ns) - i128::from(interface.tsoffset_secs) * 1_000_000_000;
    let since_offset = u128::try_from(since_offset.max(0)).unwrap_or(0);
    since_offset
        .checked_mul(per_sec)
        .and_then(|units| u64::try_from(units / NS_PER_SEC).ok())
        .unwrap_or(u64::MAX)
}

fn pad(body: &mut Vec<u8>) {
    body.resize(body.len().next_multiple_of(4), 0);
}
