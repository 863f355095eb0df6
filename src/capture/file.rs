//! [`CaptureFile`]: a streaming reader over one pcap or pcapng file or
//! stream, plain or compressed (see `input`).
//!
//! pcap-parser does the framing; this file keeps what it leaves to the
//! caller: the pcapng interface table of the current section, timestamp
//! units and offsets, link types, the file offset, and the rules for
//! telling a clean end of file from a truncated or malformed one. A packet
//! is returned borrowed from the read buffer, so its bytes are consumed on
//! the following call.
//!
//! Legacy pcap records skip pcap-parser's block iterator: its frame parser
//! runs straight on the read buffer behind a cursor, and the buffer is
//! consumed in bulk at each refill: the iterator's per-record `next` and
//! `consume` (which shifts half the buffer whenever it passes the middle)
//! took about two thirds of the reader thread's time.

use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use pcap_parser::nom::{self, IResult};
use pcap_parser::pcapng::{Block, OptionCode};
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{
    InterfaceDescriptionBlock, LegacyPcapBlock, LegacyPcapReader, PcapBlockOwned, PcapError,
    PcapNGReader, SectionHeaderBlock, parse_pcap_frame, parse_pcap_frame_be,
    parse_pcap_frame_modified,
};

use super::input::{CaptureInput, open_input};
use super::{
    CaptureError, Format, MAX_CAPTURED_LEN, RawPacket, Timestamp, pcap_link_field,
    supported_link_type, unsupported_link_type,
};
use crate::packet::LinkType;

/// Initial read buffer: large reads keep pcap-parser at 8-20 M packets/s.
const BUFFER_BYTES: usize = 1 << 20;
/// A non-packet pcapng block may grow the buffer up to this size.
const MAX_BLOCK_BYTES: usize = 16 << 20;

const PCAP_RECORD_HEADER: usize = 16;
const PCAP_MODIFIED_RECORD_HEADER: usize = 24;
const PCAP_MODIFIED_MAGIC: u32 = 0xa1b2_cd34;
const IDB_TYPE: u32 = 1;
const OPB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const NS_PER_SEC: u64 = 1_000_000_000;

/// An open capture file, read one packet record at a time.
pub struct CaptureFile {
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    /// The I/O error behind pcap-parser's bare `ReadError`.
    read_error: Arc<Mutex<Option<io::Error>>>,
    layout: Layout,
    /// Size of the record returned last; consumed at the start of the next call.
    pending: usize,
    /// Legacy pcap: bytes at the buffer's front already returned, consumed
    /// from the reader at the next refill. Always 0 for pcapng.
    cursor: usize,
    /// File offset of the first byte in the reader's buffer.
    offset: u64,
    packets: u64,
    capacity: usize,
    last_timestamp_ns: Timestamp,
    /// A record longer than the snap length was reported (once per file).
    snaplen_reported: bool,
    /// A timestamp out of range was reported (once per file).
    bad_timestamp_reported: bool,
}

/// pcap-parser's parser of one legacy pcap record, for the file's byte
/// order and record header.
type FrameParser = fn(&[u8]) -> IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// What the format needs to turn a record into a [`RawPacket`].
enum Layout {
    Pcap {
        frame: FrameParser,
        link_type: LinkType,
        nanosecond: bool,
        big_endian: bool,
        record_header: usize,
        /// The header's snap length; 0 means none declared.
        snaplen: u32,
        /// Bytes of frame check sequence ending every packet on the wire
        /// (from the link-type field); left out of the data parsed.
        fcs_bytes: usize,
    },
    Pcapng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// One pcapng interface (IDB) of the current section.
struct Interface {
    /// An unsupported code is refused only when a packet is on the interface.
    link_type: Result<LinkType, u32>,
    units_per_sec: u128,
    offset_secs: i64,
    snaplen: u32,
}

/// A packet found in the buffer; `data` is relative to the buffer's start.
struct Found {
    link_type: LinkType,
    timestamp_ns: Timestamp,
    wire_len: u32,
    data: Range<usize>,
}

/// Outcome of parsing the front of the buffer.
enum Step {
    Packet { size: usize, found: Found },
    Skip(usize),
    Refill,
    End,
}

/// A problem detected while the buffer is borrowed; [`CaptureFile::fail`]
/// turns it into a [`CaptureError`] with the file, offset and count.
enum Fault {
    Malformed(String),
    Truncated,
    Read,
    Version { major: u16, minor: u16 },
    LinkType(u32),
}

impl CaptureFile {
    /// Opens `path` (`-` is standard input; gzip and zstd are undone) and
    /// reads the file header (pcap) or first section header (pcapng).
    /// Errors: cannot open, empty, not a capture (bad magic),
    /// header cut short, unsupported version, unsupported link type.
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let CaptureInput {
            format,
            compression,
            bytes,
        } = open_input(path)?;
        let read_error = Arc::new(Mutex::new(None));
        let input = ErrorKeepingReader {
            inner: bytes,
            error: Arc::clone(&read_error),
            header_read: false,
        };
        let reader: Box<dyn PcapReaderIterator + Send> = match format {
            Format::Pcap => LegacyPcapReader::new(BUFFER_BYTES, input)
                .map(|r| Box::new(r) as Box<dyn PcapReaderIterator + Send>),
            Format::Pcapng => PcapNGReader::new(BUFFER_BYTES, input)
                .map(|r| Box::new(r) as Box<dyn PcapReaderIterator + Send>),
        }
        .map_err(|err| header_error(path, &read_error, &err))?;
        let mut capture = CaptureFile {
            path: path.to_path_buf(),
            reader,
            read_error,
            layout: Layout::Pcapng {
                big_endian: false,
                interfaces: Vec::new(),
            },
            pending: 0,
            cursor: 0,
            offset: 0,
            packets: 0,
            capacity: BUFFER_BYTES,
            last_timestamp_ns: Timestamp::Exact(0),
            snaplen_reported: false,
            bad_timestamp_reported: false,
        };
        capture.read_file_header(format)?;
        log::debug!(
            "{}: opened as {format:?}, compression {compression:?}",
            path.display()
        );
        Ok(capture)
    }

    /// Next packet record, skipping non-packet blocks. `Ok(None)` only at a
    /// clean end of file; a file cut short is an error after every complete
    /// packet before the cut has been returned.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        let Some(found) = self.advance()? else {
            return Ok(None);
        };
        let Some(data) = self.reader.data().get(found.data) else {
            return Err(self.fail(Fault::Malformed(
                "packet data lies outside the record".to_string(),
            )));
        };
        log::trace!("{}: packet #{}", self.path.display(), self.packets);
        if let Layout::Pcap { snaplen, .. } = self.layout
            && snaplen > 0
            && data.len() > snaplen as usize
            && !self.snaplen_reported
        {
            // libpcap accepts such records too; the bytes are real, so keep them.
            log::warn!(
                "{}: packet #{} at byte offset {}: captured length {} exceeds the file's snap length {snaplen}; counted as is (later such packets are not reported)",
                self.path.display(),
                self.packets,
                self.record_offset(),
                data.len()
            );
            self.snaplen_reported = true;
        }
        if found.timestamp_ns.is_clamped() && !self.bad_timestamp_reported {
            log::warn!(
                "{}: packet #{} at byte offset {}: timestamp is before 1970 or after 2554; counted in the first or last representable window and as bad_timestamp (later such packets in this file are only counted)",
                self.path.display(),
                self.packets,
                self.record_offset()
            );
            self.bad_timestamp_reported = true;
        }
        Ok(Some(RawPacket {
            link_type: found.link_type,
            timestamp_ns: found.timestamp_ns,
            wire_len: found.wire_len,
            data,
        }))
    }

    /// Packet records returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// File offset reached (end of the last record returned), for a progress bar.
    pub fn bytes_consumed(&self) -> u64 {
        self.record_offset().saturating_add(self.pending as u64)
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Consumes the pcap global header or the first pcapng section header.
    fn read_file_header(&mut self, format: Format) -> Result<(), CaptureError> {
        loop {
            let step = match self.reader.next() {
                Ok((size, PcapBlockOwned::LegacyHeader(header))) => {
                    if header.version_major != 2 {
                        return Err(CaptureError::PcapVersion {
                            path: self.path.clone(),
                            major: header.version_major,
                            minor: header.version_minor,
                        });
                    }
                    // The field is unsigned; pcap-parser stores its bits as i32.
                    let (code, fcs_bytes) = pcap_link_field(header.network.0.cast_unsigned());
                    let modified = header.magic_number == PCAP_MODIFIED_MAGIC;
                    self.layout = Layout::Pcap {
                        frame: match (modified, header.is_bigendian()) {
                            (true, _) => parse_pcap_frame_modified,
                            (false, true) => parse_pcap_frame_be,
                            (false, false) => parse_pcap_frame,
                        },
                        link_type: supported_link_type(&self.path, code)?,
                        fcs_bytes,
                        nanosecond: header.is_nanosecond_precision(),
                        big_endian: header.is_bigendian(),
                        snaplen: header.snaplen,
                        record_header: if modified {
                            PCAP_MODIFIED_RECORD_HEADER
                        } else {
                            PCAP_RECORD_HEADER
                        },
                    };
                    Ok(Step::Skip(size))
                }
                Ok((size, PcapBlockOwned::NG(Block::SectionHeader(shb)))) => {
                    begin_section(&mut self.layout, &shb).map(|()| Step::Skip(size))
                }
                Ok(_) => Err(Fault::Malformed(format!(
                    "expected a {format:?} file header"
                ))),
                Err(err) => classify_error(&err),
            };
            match self.settle(step)? {
                Some(Step::Skip(size)) => {
                    self.pending = size;
                    return Ok(());
                }
                Some(_) => return Err(self.fail(Fault::Truncated)),
                None => {}
            }
        }
    }

    /// File offset of the record at the cursor.
    fn record_offset(&self) -> u64 {
        self.offset.saturating_add(self.cursor as u64)
    }

    /// Parses until a packet is at the front of the buffer (pcapng) or at
    /// the cursor (pcap).
    fn advance(&mut self) -> Result<Option<Found>, CaptureError> {
        if let Layout::Pcap {
            frame,
            link_type,
            nanosecond,
            record_header,
            fcs_bytes,
            ..
        } = self.layout
        {
            return self.advance_pcap(
                |record| {
                    pcap_record(link_type, nanosecond, record_header, record)
                        .map(|found| without_fcs(found, fcs_bytes))
                },
                frame,
            );
        }
        loop {
            if self.pending > 0 {
                self.reader.consume(self.pending);
                self.offset = self.offset.saturating_add(self.pending as u64);
                self.pending = 0;
            }
            let step = match self.reader.next() {
                Ok((size, block)) => {
                    handle_block(&mut self.layout, self.last_timestamp_ns, &block, size)
                }
                Err(err) => classify_error(&err),
            };
            match self.settle(step)? {
                Some(Step::Packet { size, found }) => {
                    self.pending = size;
                    self.packets += 1;
                    self.last_timestamp_ns = found.timestamp_ns;
                    return Ok(Some(found));
                }
                Some(Step::Skip(size)) => self.pending = size,
                Some(Step::End) => return Ok(None),
                Some(Step::Refill) | None => {}
            }
        }
    }

    /// [`advance`](Self::advance) for legacy pcap: parses the record at the
    /// cursor; only when it is incomplete is the buffer consumed up to the
    /// cursor and refilled.
    fn advance_pcap(
        &mut self,
        to_found: impl Fn(&LegacyPcapBlock<'_>) -> Result<Found, Fault>,
        frame: FrameParser,
    ) -> Result<Option<Found>, CaptureError> {
        self.cursor += std::mem::take(&mut self.pending);
        loop {
            let rest = self.reader.data().get(self.cursor..).unwrap_or_default();
            let step = match frame(rest) {
                Ok((after, record)) => {
                    let size = rest.len() - after.len();
                    let mut found = to_found(&record).map_err(|fault| self.fail(fault))?;
                    found.data = found.data.start + self.cursor..found.data.end + self.cursor;
                    self.pending = size;
                    self.packets += 1;
                    self.last_timestamp_ns = found.timestamp_ns;
                    return Ok(Some(found));
                }
                Err(nom::Err::Incomplete(_)) => {
                    self.consume_to_cursor();
                    if !self.reader.reader_exhausted() {
                        Ok(Step::Refill)
                    } else if self.reader.data().is_empty() {
                        Ok(Step::End)
                    } else {
                        Err(Fault::Truncated)
                    }
                }
                Err(nom::Err::Error(err) | nom::Err::Failure(err)) => classify_error(&err),
            };
            if let Some(Step::End) = self.settle(step)? {
                return Ok(None);
            }
        }
    }

    /// Hands the records returned from the buffer back to the reader.
    fn consume_to_cursor(&mut self) {
        let returned = std::mem::take(&mut self.cursor);
        self.reader.consume_noshift(returned);
        self.offset = self.offset.saturating_add(returned as u64);
    }

    /// Turns a fault into an error and performs a refill; `None` means
    /// "refilled, parse again".
    fn settle(&mut self, step: Result<Step, Fault>) -> Result<Option<Step>, CaptureError> {
        match step {
            Ok(Step::Refill) => {
                self.guard_pending_record()?;
                if self.reader.refill().is_err() {
                    return Err(self.fail(Fault::Read));
                }
                Ok(None)
            }
            Ok(step) => Ok(Some(step)),
            Err(fault) => Err(self.fail(fault)),
        }
    }

    /// Before buffering more, checks that the record at the front can ever
    /// be complete: a sane captured length, a block that fits the buffer,
    /// and a block that pcap-parser is not still waiting on once it is whole.
    fn guard_pending_record(&mut self) -> Result<(), CaptureError> {
        let data = self.reader.data();
        let available = data.len();
        let needed = match &self.layout {
            Layout::Pcap {
                big_endian,
                record_header,
                ..
            } => match read_u32(data, 8, *big_endian) {
                Some(caplen) => {
                    check_captured_len(caplen).map_err(|fault| self.fail(fault))?;
                    record_header + caplen as usize
                }
                None => return Ok(()),
            },
            Layout::Pcapng { big_endian, .. } => {
                let Some(needed) =
                    pending_block_len(data, *big_endian).map_err(|fault| self.fail(fault))?
                else {
                    return Ok(());
                };
                needed
            }
        };
        if available >= needed {
            return Err(self.fail(Fault::Malformed(format!(
                "its contents do not fit its declared length of {needed} bytes"
            ))));
        }
        if needed > MAX_BLOCK_BYTES {
            return Err(self.fail(Fault::Malformed(format!(
                "block length {needed} exceeds the {MAX_BLOCK_BYTES}-byte limit"
            ))));
        }
        // Grow only once the buffer is full, so a damaged length field in a
        // short file ends in "cut short" without a large allocation.
        if needed >= self.capacity && available >= self.capacity {
            self.capacity = (needed + 1).next_power_of_two();
            self.reader.grow(self.capacity);
        }
        Ok(())
    }

    /// Describes the record at the front of the buffer, for an error.
    fn record_name(&self) -> String {
        let packet = format!("packet #{}", self.packets + 1);
        let Layout::Pcapng { big_endian, .. } = &self.layout else {
            return packet;
        };
        match read_u32(self.reader.data(), 0, *big_endian) {
            Some(OPB_TYPE | SPB_TYPE | EPB_TYPE) => packet,
            _ if self.reader.data().starts_with(&super::PCAPNG_SHB_BYTES) => {
                "a section header".to_string()
            }
            Some(block_type) => format!("a block of type 0x{block_type:08x}"),
            None => "a block header".to_string(),
        }
    }

    fn fail(&self, fault: Fault) -> CaptureError {
        let path = self.path.clone();
        let offset = self.record_offset();
        let packets_read = self.packets;
        match fault {
            Fault::Malformed(problem) => CaptureError::Malformed {
                path,
                record: self.record_name(),
                offset,
                problem,
                packets_read,
            },
            Fault::Truncated => CaptureError::Truncated {
                path,
                record: self.record_name(),
                offset,
                packets_read,
            },
            Fault::Read => CaptureError::Read {
                path,
                offset,
                packets_read,
                source: take_read_error(&self.read_error),
            },
            Fault::Version { major, minor } => CaptureError::SectionVersion {
                path,
                offset,
                major,
                minor,
                packets_read,
            },
            Fault::LinkType(code) => unsupported_link_type(path, code),
        }
    }
}

/// Maps pcap-parser's error to a step or fault. `Incomplete` means "read
/// more"; at end of input pcap-parser reports `UnexpectedEof` instead.
fn classify_error(err: &PcapError<&[u8]>) -> Result<Step, Fault> {
    match err {
        PcapError::Eof => Ok(Step::End),
        // BufferTooSmall too: the guard before the refill grows the buffer or refuses the record.
        PcapError::Incomplete(_) | PcapError::BufferTooSmall => Ok(Step::Refill),
        PcapError::UnexpectedEof => Err(Fault::Truncated),
        PcapError::ReadError => Err(Fault::Read),
        PcapError::HeaderNotRecognized => Err(Fault::Malformed(
            "section header has an unknown byte-order magic".to_string(),
        )),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => Err(Fault::Malformed(
            format!("pcap-parser rejected it ({kind:?})"),
        )),
    }
}

fn handle_block(
    layout: &mut Layout,
    last_timestamp_ns: Timestamp,
    block: &PcapBlockOwned<'_>,
    size: usize,
) -> Result<Step, Fault> {
    let found = match (layout, block) {
        (
            Layout::Pcap {
                link_type,
                nanosecond,
                record_header,
                fcs_bytes,
                ..
            },
            PcapBlockOwned::Legacy(record),
        ) => without_fcs(
            pcap_record(*link_type, *nanosecond, *record_header, record)?,
            *fcs_bytes,
        ),
        (layout, PcapBlockOwned::NG(block)) => {
            match pcapng_block(layout, last_timestamp_ns, block)? {
                Some(found) => found,
                None => return Ok(Step::Skip(size)),
            }
        }
        (_, _) => return Ok(Step::Skip(size)),
    };
    if found.data.end > size {
        return Err(Fault::Malformed(
            "packet data lies outside the record".to_string(),
        ));
    }
    Ok(Step::Packet { size, found })
}

fn pcap_record(
    link_type: LinkType,
    nanosecond: bool,
    record_header: usize,
    record: &LegacyPcapBlock<'_>,
) -> Result<Found, Fault> {
    check_captured_len(record.caplen)?;
    let fraction_ns = if nanosecond {
        u64::from(record.ts_usec)
    } else {
        u64::from(record.ts_usec) * 1000
    };
    Ok(Found {
        link_type,
        timestamp_ns: Timestamp::from_nanos(
            i128::from(record.ts_sec) * i128::from(NS_PER_SEC) + i128::from(fraction_ns),
        ),
        wire_len: record.origlen,
        data: record_header..record_header + record.data.len(),
    })
}

/// Leaves the frame check sequence, the last `fcs_bytes` of the frame on
/// the wire, out of the data, as far as it was captured; the wire length
/// keeps it.
fn without_fcs(mut found: Found, fcs_bytes: usize) -> Found {
    let frame_without_fcs = (found.wire_len as usize).saturating_sub(fcs_bytes);
    let kept = found.data.len().min(frame_without_fcs);
    found.data.end = found.data.start + kept;
    found
}

/// Registers interfaces and sections; returns the packet of a packet block.
fn pcapng_block(
    layout: &mut Layout,
    last_timestamp_ns: Timestamp,
    block: &Block<'_>,
) -> Result<Option<Found>, Fault> {
    match block {
        Block::SectionHeader(shb) => begin_section(layout, shb).map(|()| None),
        Block::InterfaceDescription(idb) => add_interface(layout, idb).map(|()| None),
        Block::EnhancedPacket(epb) => {
            check_captured_len(epb.caplen)?;
            let (interface, link_type) = interface(layout, epb.if_id)?;
            let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            Ok(Some(Found {
                link_type,
                timestamp_ns: interface.timestamp_ns(ts),
                wire_len: epb.origlen,
                data: 28..28 + epb.packet_data().len(),
            }))
        }
        Block::SimplePacket(spb) => {
            let (interface, link_type) = interface(layout, 0)?;
            let mut caplen = spb.packet_data().len();
            if interface.snaplen > 0 {
                caplen = caplen.min(interface.snaplen as usize);
            }
            check_captured_len(u32::try_from(caplen).unwrap_or(u32::MAX))?;
            Ok(Some(Found {
                link_type,
                timestamp_ns: last_timestamp_ns,
                wire_len: spb.origlen,
                data: 12..12 + caplen,
            }))
        }
        Block::Unknown(unknown) if is_block_type(unknown.block_type, OPB_TYPE) => {
            obsolete_packet(layout, unknown.data).map(Some)
        }
        _ => Ok(None),
    }
}

/// pcap-parser reads block types little-endian whatever the section's order.
fn is_block_type(raw_le: u32, block_type: u32) -> bool {
    raw_le == block_type || raw_le == block_type.swap_bytes()
}

/// Obsolete Packet Block (type 2): interface u16, drops u16, timestamp,
/// caplen, origlen, data. pcap-parser hands it over as an unknown block.
fn obsolete_packet(layout: &Layout, body: &[u8]) -> Result<Found, Fault> {
    let big_endian = matches!(
        layout,
        Layout::Pcapng {
            big_endian: true,
            ..
        }
    );
    let short = || Fault::Malformed("obsolete packet block is too short".to_string());
    let if_id = read_u16(body, 0, big_endian).ok_or_else(short)?;
    let ts_high = read_u32(body, 4, big_endian).ok_or_else(short)?;
    let ts_low = read_u32(body, 8, big_endian).ok_or_else(short)?;
    let caplen = read_u32(body, 12, big_endian).ok_or_else(short)?;
    let wire_len = read_u32(body, 16, big_endian).ok_or_else(short)?;
    check_captured_len(caplen)?;
    if caplen as usize > body.len().saturating_sub(20) {
        return Err(Fault::Malformed(format!(
            "captured length {caplen} does not fit in its block"
        )));
    }
    let (interface, link_type) = interface(layout, u32::from(if_id))?;
    let ts = (u64::from(ts_high) << 32) | u64::from(ts_low);
    Ok(Found {
        link_type,
        timestamp_ns: interface.timestamp_ns(ts),
        wire_len,
        data: 28..28 + caplen as usize,
    })
}

fn begin_section(layout: &mut Layout, shb: &SectionHeaderBlock<'_>) -> Result<(), Fault> {
    // Version 1.0 is current; 1.2 was written by some tools for the same layout.
    if shb.major_version != 1 || shb.minor_version > 2 {
        return Err(Fault::Version {
            major: shb.major_version,
            minor: shb.minor_version,
        });
    }
    *layout = Layout::Pcapng {
        big_endian: shb.big_endian(),
        interfaces: Vec::new(),
    };
    Ok(())
}

fn add_interface(layout: &mut Layout, idb: &InterfaceDescriptionBlock<'_>) -> Result<(), Fault> {
    let Layout::Pcapng {
        big_endian,
        interfaces,
    } = layout
    else {
        return Ok(());
    };
    let code = u32::try_from(idb.linktype.0).unwrap_or(u32::MAX);
    let link_type = LinkType::from_code(code).ok_or(code);
    let units_per_sec = units_per_sec(idb.if_tsresol).ok_or_else(|| {
        Fault::Malformed(format!(
            "if_tsresol 0x{:02x} is out of range",
            idb.if_tsresol
        ))
    })?;
    // pcap-parser decodes if_tsoffset little-endian even in big-endian sections.
    let offset_secs = idb
        .options
        .iter()
        .find(|opt| opt.code == OptionCode::IfTsoffset)
        .and_then(|opt| opt.as_bytes().ok())
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map_or(0, |bytes| {
            if *big_endian {
                i64::from_be_bytes(bytes)
            } else {
                i64::from_le_bytes(bytes)
            }
        });
    interfaces.push(Interface {
        link_type,
        units_per_sec,
        offset_secs,
        snaplen: idb.snaplen,
    });
    Ok(())
}

/// The interface a packet is on, with its link type.
fn interface(layout: &Layout, if_id: u32) -> Result<(&Interface, LinkType), Fault> {
    let Layout::Pcapng { interfaces, .. } = layout else {
        return Err(Fault::Malformed("pcapng block in a pcap file".to_string()));
    };
    let interface = interfaces.get(if_id as usize).ok_or_else(|| {
        Fault::Malformed(format!(
            "it is on interface {if_id}, but its section declares {} interface(s)",
            interfaces.len()
        ))
    })?;
    let link_type = interface.link_type.map_err(Fault::LinkType)?;
    Ok((interface, link_type))
}

impl Interface {
    /// `ts` in this interface's units plus its offset, as Unix
    /// nanoseconds, clamped before 1970 and beyond `u64::MAX` nanoseconds.
    fn timestamp_ns(&self, ts: u64) -> Timestamp {
        // u64 * 1e9 < 2^94 and |i64| * 1e9 < 2^93: nothing overflows in 128 bits.
        let ns = u128::from(ts) * u128::from(NS_PER_SEC) / self.units_per_sec;
        let offset_ns = i128::from(self.offset_secs) * i128::from(NS_PER_SEC);
        let ns = i128::try_from(ns)
            .unwrap_or(i128::MAX)
            .saturating_add(offset_ns);
        Timestamp::from_nanos(ns)
    }
}

/// Timestamp units per second for an `if_tsresol` byte: 10^v, or 2^v when
/// the top bit is set. pcap-parser's `ts_resolution()` refuses every power
/// of two (it range-checks the byte with the flag still set).
fn units_per_sec(tsresol: u8) -> Option<u128> {
    if tsresol & 0x80 == 0 {
        10u128.checked_pow(u32::from(tsresol))
    } else {
        2u128.checked_pow(u32::from(tsresol & 0x7f))
    }
}

fn check_captured_len(caplen: u32) -> Result<(), Fault> {
    if caplen > MAX_CAPTURED_LEN {
        return Err(Fault::Malformed(format!(
            "captured length {caplen} exceeds the {MAX_CAPTURED_LEN}-byte limit"
        )));
    }
    Ok(())
}

/// Total length of the pcapng block at the front of `data`, once its header
/// is buffered; refuses lengths that no block can have.
fn pending_block_len(data: &[u8], section_big_endian: bool) -> Result<Option<usize>, Fault> {
    let big_endian = if data.starts_with(&super::PCAPNG_SHB_BYTES) {
        // A new section declares its own byte order in its byte-order magic.
        match data.get(8..12) {
            Some([0x1a, 0x2b, 0x3c, 0x4d]) => true,
            Some(_) => false,
            None => return Ok(None),
        }
    } else {
        section_big_endian
    };
    let (Some(block_type), Some(len)) =
        (read_u32(data, 0, big_endian), read_u32(data, 4, big_endian))
    else {
        return Ok(None);
    };
    if len < 12 || !len.is_multiple_of(4) {
        return Err(Fault::Malformed(format!("block length {len} is invalid")));
    }
    let body = len - 12;
    if block_type == EPB_TYPE || block_type == OPB_TYPE {
        if let Some(caplen) = read_u32(data, 20, big_endian) {
            check_captured_len(caplen)?;
            if caplen > len.saturating_sub(32) {
                return Err(Fault::Malformed(format!(
                    "captured length {caplen} does not fit in a block of {len} bytes"
                )));
            }
        }
    } else if block_type == SPB_TYPE {
        check_captured_len(body.saturating_sub(4))?;
    } else if block_type == IDB_TYPE && body > 1 << 20 {
        return Err(Fault::Malformed(format!(
            "interface block length {len} is absurd"
        )));
    }
    Ok(Some(len as usize))
}

fn read_u32(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

fn read_u16(data: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let bytes: [u8; 2] = data.get(at..at + 2)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    })
}

/// Error for a file whose header pcap-parser could not read.
fn header_error(
    path: &Path,
    read_error: &Mutex<Option<io::Error>>,
    err: &PcapError<&'static [u8]>,
) -> CaptureError {
    let path = path.to_path_buf();
    match err {
        PcapError::ReadError => CaptureError::Read {
            path,
            offset: 0,
            packets_read: 0,
            source: take_read_error(read_error),
        },
        PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
            CaptureError::HeaderTruncated { path }
        }
        other => CaptureError::Malformed {
            path,
            record: "the file header".to_string(),
            offset: 0,
            problem: other.to_string(),
            packets_read: 0,
        },
    }
}

fn take_read_error(slot: &Mutex<Option<io::Error>>) -> io::Error {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_else(|| io::Error::other("pcap-parser reported a read error"))
}

/// Keeps the I/O error that pcap-parser replaces with a bare `ReadError`,
/// and retries interrupted reads, which pcap-parser would treat as fatal.
/// The first read fills the buffer as far as the input goes: pcap-parser
/// parses the file header from one read, and a pipe hands over little at a time.
struct ErrorKeepingReader {
    inner: Box<dyn Read + Send>,
    error: Arc<Mutex<Option<io::Error>>>,
    header_read: bool,
}

impl Read for ErrorKeepingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = if self.header_read {
            loop {
                match self.inner.read(buf) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            }
        } else {
            self.header_read = true;
            fill(&mut self.inner, buf)
        };
        result.map_err(|err| {
            let kind = err.kind();
            *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
            kind.into()
        })
    }
}

/// Reads until `buf` is full or the input ends. An error after some bytes
/// returns those bytes: the next read meets the error again (a damaged
/// compressed stream stays damaged), after the packets before it are counted.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if filled > 0 => break,
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}
