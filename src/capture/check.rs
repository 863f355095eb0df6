//! [`check_link_types`]: refuses a file with an unsupported link type
//! before any packet is counted.
//!
//! Reads only headers: the pcap global header, or each pcapng block header
//! (seeking over bodies), each interface block's link type and each packet
//! block's interface. A pcapng interface with an unsupported link type is
//! refused only once a packet is on it: real captures declare dozens of
//! interfaces and use one. It judges link types only: where the block
//! structure breaks, it stops and leaves
//! the precise error to [`super::CaptureFile`], which reports it after the
//! packets before the damage.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::input::{CaptureInput, Compression, open_input};
use super::{
    CaptureError, Format, PCAPNG_SHB_BYTES, pcap_link_field, read_up_to, supported_link_type,
};

const IDB_TYPE: u32 = 1;
const OPB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;

/// Checks that every link type packets are read with is supported: the pcap
/// header's, or that of every pcapng interface that a packet block refers
/// to, in every section. Errors: cannot open,
/// empty, not a capture, header cut short, or the first unsupported link
/// type, naming its code. Opens `path` anew, so it is for regular files
/// only: a stream is judged while it is read. A compressed file is
/// decompressed for the check (for pcapng, all of it).
pub fn check_link_types(path: &Path) -> Result<(), CaptureError> {
    let CaptureInput {
        format,
        compression,
        bytes,
    } = open_input(path)?;
    let read_error = |source| CaptureError::Read {
        path: path.to_path_buf(),
        offset: 0,
        packets_read: 0,
        source,
    };
    match (format, compression) {
        (Format::Pcap, _) => {
            let mut header = [0u8; 24];
            if read_up_to(&mut BufReader::new(bytes), &mut header).map_err(read_error)?
                < header.len()
            {
                return Err(CaptureError::HeaderTruncated {
                    path: path.to_path_buf(),
                });
            }
            let big_endian = header[0] == 0xa1;
            let (code, _fcs_bytes) = pcap_link_field(field_u32(&header[20..24], big_endian));
            supported_link_type(path, code).map(drop)
        }
        (Format::Pcapng, Compression::None) => {
            // Uncompressed: seek over block bodies instead of reading them.
            let file = File::open(path).map_err(|source| CaptureError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            walk_pcapng(path, &mut BufReader::new(file)).map_err(read_error)?
        }
        (Format::Pcapng, _) => walk_pcapng(path, &mut BufReader::new(bytes)).map_err(read_error)?,
    }
}

/// Moving forward over bytes not needed: by seeking where the input can.
trait SkipForward: Read {
    fn skip_forward(&mut self, bytes: u64) -> io::Result<()>;
}

impl SkipForward for BufReader<File> {
    fn skip_forward(&mut self, bytes: u64) -> io::Result<()> {
        self.seek_relative(i64::try_from(bytes).unwrap_or(i64::MAX))
    }
}

impl SkipForward for BufReader<Box<dyn Read + Send>> {
    fn skip_forward(&mut self, bytes: u64) -> io::Result<()> {
        io::copy(&mut self.take(bytes), &mut io::sink()).map(drop)
    }
}

/// Walks block headers; the outer `Result` is an I/O failure, the inner one
/// the verdict.
fn walk_pcapng(path: &Path, input: &mut impl SkipForward) -> io::Result<Result<(), CaptureError>> {
    let mut big_endian = false;
    // Link type codes of the current section's interfaces.
    let mut interfaces: Vec<u32> = Vec::new();
    loop {
        let mut head = [0u8; 12];
        if read_up_to(input, &mut head)? < head.len() {
            return Ok(Ok(()));
        }
        let mut read = head.len();
        if head[..4] == PCAPNG_SHB_BYTES {
            big_endian = match head[8..12] {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                _ => return Ok(Ok(())),
            };
            let mut version = [0u8; 2];
            if read_up_to(input, &mut version)? < version.len()
                || field_u16(&version, big_endian) != 1
            {
                // The reader refuses this section; its interfaces never matter.
                return Ok(Ok(()));
            }
            read += version.len();
            interfaces.clear();
        }
        let block_type = field_u32(&head[0..4], big_endian);
        let len = field_u32(&head[4..8], big_endian);
        if len < 12 || !len.is_multiple_of(4) {
            return Ok(Ok(()));
        }
        let used = match block_type {
            IDB_TYPE => {
                interfaces.push(u32::from(field_u16(&head[8..10], big_endian)));
                None
            }
            EPB_TYPE => Some(field_u32(&head[8..12], big_endian)),
            OPB_TYPE => Some(u32::from(field_u16(&head[8..10], big_endian))),
            SPB_TYPE => Some(0),
            _ => None,
        };
        let code = used.and_then(|id| interfaces.get(id as usize));
        if let Some(Err(err)) = code.map(|code| supported_link_type(path, *code)) {
            return Ok(Err(err));
        }
        // A section header shorter than its own fields is the reader's to report.
        let Some(rest) = u64::from(len).checked_sub(read as u64) else {
            return Ok(Ok(()));
        };
        input.skip_forward(rest)?;
    }
}

fn field_u32(bytes: &[u8], big_endian: bool) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    if big_endian {
        u32::from_be_bytes(word)
    } else {
        u32::from_le_bytes(word)
    }
}

fn field_u16(bytes: &[u8], big_endian: bool) -> u16 {
    let mut half = [0u8; 2];
    half.copy_from_slice(bytes);
    if big_endian {
        u16::from_be_bytes(half)
    } else {
        u16::from_le_bytes(half)
    }
}
