//! Packet sources: capture files and streams (plain, gzip or zstd), read as
//! pcap and pcapng records (through `pcap-parser`) into [`RawPacket`]s with
//! a check of a file's link types before a run starts; live interfaces
//! through libpcap (`live`), paced so a wake-up reads several ring blocks
//! (`pacing`); and tcpdump filter expressions compiled by
//! libpcap and applied to recorded packets (`filter`).
//!
//! Owns the file formats only: record framing, timestamps, interfaces and
//! sections. It never looks inside a packet (that is `packet/`) and never
//! counts anything. Every bad input is a [`CaptureError`] naming the file and,
//! where it applies, the packet number and byte offset; nothing here panics
//! on file contents.

mod check;
mod file;
mod filter;
mod input;
pub mod live;
mod pacing;
mod stats;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::packet::LinkType;

pub use check::check_link_types;
pub use file::CaptureFile;
pub use filter::{FilterError, PacketFilter};
pub use input::{STDIN_NAME, is_stream};
pub use stats::{CaptureStats, RunMode};

/// Largest captured length accepted for one record: a record claiming more
/// is refused instead of being buffered. Linux BIG TCP frames reach ~80 KB.
pub const MAX_CAPTURED_LEN: u32 = 256 * 1024;

/// One packet record as read from a file. `data` borrows the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Link type of the interface the packet was captured on.
    pub link_type: LinkType,
    /// When it was captured. A time before 1970 (a pcapng `if_tsoffset`
    /// can do that) or later than u64 nanoseconds reach (2554) is clamped;
    /// the reader warns once per file and counts it as `bad_timestamp`. A
    /// pcapng simple packet block has no timestamp and gets the previous
    /// packet's (0 for the first).
    pub timestamp_ns: Timestamp,
    /// Original (on-the-wire) length from the record, NOT the captured length.
    pub wire_len: u32,
    /// Captured bytes (possibly fewer than `wire_len`).
    pub data: &'a [u8],
}

/// A record's capture time in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    Exact(u64),
    /// The time is outside 1970..2554: the nearest end (0 or `u64::MAX`).
    Clamped(u64),
}

impl Timestamp {
    /// A time given in signed nanoseconds, clamped into `u64`.
    pub fn from_nanos(ns: i128) -> Timestamp {
        match u64::try_from(ns) {
            Ok(ns) => Timestamp::Exact(ns),
            Err(_) if ns < 0 => Timestamp::Clamped(0),
            Err(_) => Timestamp::Clamped(u64::MAX),
        }
    }

    /// The time in nanoseconds, clamped.
    pub fn ns(self) -> u64 {
        match self {
            Timestamp::Exact(ns) | Timestamp::Clamped(ns) => ns,
        }
    }

    pub fn is_clamped(self) -> bool {
        matches!(self, Timestamp::Clamped(_))
    }
}

/// Everything that can go wrong reading a capture file. Every variant names
/// the file; `{:#}` through anyhow appends the I/O cause where there is one.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: cannot open capture", .path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("{}: read failed at byte offset {offset} ({} read before it)", .path.display(), Packets(*.packets_read))]
    Read {
        path: PathBuf,
        offset: u64,
        packets_read: u64,
        source: io::Error,
    },
    #[error("{}: empty file", .path.display())]
    Empty { path: PathBuf },
    #[error("{}: not a pcap or pcapng file (starts with {})", .path.display(), Hex(.first_bytes))]
    NotCapture { path: PathBuf, first_bytes: Vec<u8> },
    #[error("{}: cut short in the file header", .path.display())]
    HeaderTruncated { path: PathBuf },
    #[error("{}: pcap version {major}.{minor} is not supported (want 2.x)", .path.display())]
    PcapVersion {
        path: PathBuf,
        major: u16,
        minor: u16,
    },
    #[error("{}: section at byte offset {offset} has unsupported version {major}.{minor} ({} read before it)", .path.display(), Packets(*.packets_read))]
    SectionVersion {
        path: PathBuf,
        offset: u64,
        major: u16,
        minor: u16,
        packets_read: u64,
    },
    #[error("{}: link type {code} ({name}) is not supported (supported: Ethernet, raw IP, Linux SLL/SLL2, BSD loopback, PPP, Cisco HDLC, IEEE 802.11, radiotap, NFLOG, ERF)", .path.display())]
    LinkType {
        path: PathBuf,
        code: u32,
        name: &'static str,
    },
    #[error("{}: cut short in the middle of {record} at byte offset {offset} ({} read before it)", .path.display(), Packets(*.packets_read))]
    Truncated {
        path: PathBuf,
        record: String,
        offset: u64,
        packets_read: u64,
    },
    #[error("{}: {record} at byte offset {offset} is malformed: {problem} ({} read before it)", .path.display(), Packets(*.packets_read))]
    Malformed {
        path: PathBuf,
        record: String,
        offset: u64,
        problem: String,
        packets_read: u64,
    },
}

impl CaptureError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            CaptureError::Open { path, .. }
            | CaptureError::Read { path, .. }
            | CaptureError::Empty { path }
            | CaptureError::NotCapture { path, .. }
            | CaptureError::HeaderTruncated { path }
            | CaptureError::PcapVersion { path, .. }
            | CaptureError::SectionVersion { path, .. }
            | CaptureError::LinkType { path, .. }
            | CaptureError::Truncated { path, .. }
            | CaptureError::Malformed { path, .. } => path,
        }
    }
}

/// "1 packet" / "3 packets", for "(N read before it)".
struct Packets(u64);

impl fmt::Display for Packets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.0 == 1 { "packet" } else { "packets" };
        write!(f, "{} {noun}", self.0)
    }
}

/// Bytes as "47 45 54 20".
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Container format, told by the first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Pcap,
    Pcapng,
}

const PCAPNG_SHB_BYTES: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Fills as much of `buf` as the input has; returns how many bytes that was.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Splits a pcap header's link-type field as libpcap does: the link type is
/// the low 16 bits; when bit 26 (libpcap's `LT_FCS_LENGTH_PRESENT`) is
/// set, bits 28-31 give the length of the frame check sequence that ends
/// every packet, in 16-bit words. Bits 16-25 are reserved and ignored.
/// Returns the link type code and the FCS length in bytes.
fn pcap_link_field(field: u32) -> (u32, usize) {
    let code = field & 0xffff;
    let fcs_bytes = if field & 0x0400_0000 != 0 {
        (field >> 28) as usize * 2
    } else {
        0
    };
    (code, fcs_bytes)
}

/// Maps a file's link type code to a supported [`LinkType`].
fn supported_link_type(path: &Path, code: u32) -> Result<LinkType, CaptureError> {
    LinkType::from_code(code).ok_or_else(|| unsupported_link_type(path.to_path_buf(), code))
}

fn unsupported_link_type(path: PathBuf, code: u32) -> CaptureError {
    CaptureError::LinkType {
        path,
        code,
        name: unsupported_link_type_name(code),
    }
}

/// Names a few link types users meet that we do not decode, for the error.
fn unsupported_link_type_name(code: u32) -> &'static str {
    match code {
        6 => "IEEE 802.5 Token Ring",
        10 => "FDDI",
        192 => "PPI",
        195 => "IEEE 802.15.4",
        220 => "Linux USB",
        252 => "Wireshark upper PDU",
        253 => "Linux netlink",
        _ => "unknown",
    }
}
