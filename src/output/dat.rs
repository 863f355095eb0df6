//! `.dat` snapshot files: the records of one task's shard in one window, as a
//! compact, versioned, little-endian binary file (layout: `docs/dat-format.md`).
//!
//! Owns encoding and decoding only. It never chooses where a file goes
//! (`layout`) and never renames anything (`window` makes windows appear
//! atomically). Decoding never panics: every defect is an [`OutputError`]
//! naming the file and the byte offset.

use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::OutputError;
use crate::flow::{
    AddressFamily, AddressPrefix, Directed, FlowKey, FlowRecord, FlowStats, KeyField, KeySchema,
};
use crate::safe_read::read_regular_file;

/// First eight bytes of every `.dat` file.
pub const MAGIC: [u8; 8] = *b"NSPECDAT";
/// The version of files whose header is all the reader needs: whole
/// addresses, plain records. Written whenever it suffices, so such files
/// stay readable by readers that know only version 1.
pub const VERSION: u16 = 1;
/// The version of files with a header extension (address prefixes, and
/// whether records carry per-direction counters); the newest this code reads.
pub const EXTENDED_VERSION: u16 = 2;

/// Bit of the extension's flags byte: every record ends with its
/// conversation's counters per direction.
const DIRECTED_FLAG: u8 = 0x01;
/// Bytes a record's per-direction counters take.
const DIRECTED_LEN: usize = 4 * 8;

const VERSION_OFFSET: usize = 8;
const SCHEMA_OFFSET: usize = 10;
const COUNT_OFFSET: usize = 27;
const TASK_OFFSET: usize = 37;
const CHECKSUM_LEN: usize = 8;

/// The decoded content of one `.dat` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatFile {
    pub task: String,
    pub schema: KeySchema,
    /// Window bounds, nanoseconds since the Unix epoch; the end is exclusive.
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// In file order (`write_window` writes them in the order their keys
    /// were first counted in the window).
    pub records: Vec<FlowRecord>,
    /// A conversation task's counters per direction, one per record in
    /// the same order; `None` for other tasks.
    pub directions: Option<Vec<Directed>>,
}

/// What a `.dat` header says besides the record count.
#[derive(Debug, Clone)]
pub struct DatHeader<'a> {
    pub task: &'a str,
    /// The key fields and their prefixes.
    pub schema: KeySchema,
    /// `start_ns..end_ns`.
    pub window: Range<u64>,
}

/// Writes `records` to `path` (created or truncated), in the order given,
/// and fsyncs the file.
///
/// `window` is `start_ns..end_ns`. Key fields outside `schema` are not
/// stored and read back as zero. Records are encoded one at a time through
/// a buffer, never all at once in memory: a `FlowMap`'s records stream
/// straight from the map. It is not atomic on its own: `write_window` writes
/// into a temporary directory that is renamed only when complete.
pub fn write_dat<'a>(
    path: &Path,
    task: &str,
    schema: KeySchema,
    window: Range<u64>,
    records: impl ExactSizeIterator<Item = &'a FlowRecord>,
) -> Result<(), OutputError> {
    let header = DatHeader {
        task,
        schema,
        window,
    };
    write_records(path, &header, records, None::<std::iter::Empty<Directed>>)
}

/// [`write_dat`] for a conversation task: each record is followed by its
/// counters per direction, `directions` in the order of `records`.
pub fn write_conversation_dat<'a>(
    path: &Path,
    header: &DatHeader<'_>,
    records: impl ExactSizeIterator<Item = &'a FlowRecord>,
    directions: impl Iterator<Item = Directed>,
) -> Result<(), OutputError> {
    write_records(path, header, records, Some(directions))
}

fn write_records<'a>(
    path: &Path,
    header: &DatHeader<'_>,
    records: impl ExactSizeIterator<Item = &'a FlowRecord>,
    directions: Option<impl Iterator<Item = Directed>>,
) -> Result<(), OutputError> {
    let encoded =
        encode_header(header, records.len() as u64, directions.is_some()).map_err(|reason| {
            OutputError::BadTaskName {
                path: path.to_path_buf(),
                task: header.task.to_string(),
                reason,
            }
        })?;
    let file = std::fs::File::create(path).map_err(OutputError::io(path, "create file"))?;
    let file = stream_records(file, &encoded, header.schema, records, directions)
        .map_err(OutputError::io(path, "write file"))?;
    file.sync_all().map_err(OutputError::io(path, "sync file"))
}

/// Writes header, records and checksum trailer through a buffer; returns
/// the file once everything reached it.
fn stream_records<'a>(
    file: std::fs::File,
    header: &[u8],
    schema: KeySchema,
    records: impl Iterator<Item = &'a FlowRecord>,
    mut directions: Option<impl Iterator<Item = Directed>>,
) -> std::io::Result<std::fs::File> {
    let mut out = ChecksummedWriter {
        inner: BufWriter::with_capacity(WRITE_BUFFER, file),
        checksum: FNV_OFFSET_BASIS,
    };
    out.write_all(header)?;
    let mut encoded = Vec::with_capacity(record_len(KeySchema::FIVE_TUPLE) + DIRECTED_LEN);
    for record in records {
        encoded.clear();
        encode_record(&mut encoded, schema, record);
        if let Some(directions) = directions.as_mut() {
            let directed = directions.next().ok_or_else(|| {
                std::io::Error::other("fewer per-direction counters than records")
            })?;
            encode_directed(&mut encoded, &directed);
        }
        out.write_all(&encoded)?;
    }
    let mut inner = out.inner;
    inner.write_all(&out.checksum.to_le_bytes())?;
    inner.into_inner().map_err(|err| err.into_error())
}

/// Largest `.dat` file read: 4 GiB, some 50 million five-tuple records in
/// one shard of one window. The bound is what keeps a symlink or a growing
/// file from eating memory; a real shard file is far smaller.
pub const MAX_DAT_BYTES: u64 = 4 << 30;

/// Reads and validates a whole `.dat` file.
///
/// Refuses first what is not a regular file of at most [`MAX_DAT_BYTES`]
/// (a symlink, a FIFO, a device: never followed or read). Then rejects, in
/// this order: bad magic, unknown version, unknown schema bits, a header
/// cut short, a non-UTF-8 task name, a record count that does not match the
/// file length, a checksum mismatch, an unknown address family.
pub fn read_dat(path: &Path) -> Result<DatFile, OutputError> {
    let bytes = read_regular_file(path, MAX_DAT_BYTES, false)?;
    decode(path, &bytes)
}

/// Bytes of one record under `schema`, without per-direction counters.
pub fn record_len(schema: KeySchema) -> usize {
    let key: usize = schema
        .fields()
        .map(|field| match field {
            KeyField::SrcIp | KeyField::DstIp => 16,
            KeyField::SrcPort | KeyField::DstPort => 2,
            KeyField::Protocol => 1,
        })
        .sum();
    usize::from(has_address(schema)) + key + 4 * 8
}

/// 64-bit FNV-1a; the `.dat` trailer is this over every byte before it.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_update(FNV_OFFSET_BASIS, bytes)
}

/// FNV-1a's starting value: fold bytes into it with [`fnv1a64_update`].
pub const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// Bytes buffered between writes to the file.
const WRITE_BUFFER: usize = 1 << 20;

/// Folds `bytes` into a running FNV-1a hash.
pub fn fnv1a64_update(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Writes through to `inner` and keeps the FNV-1a of everything written.
struct ChecksummedWriter<W> {
    inner: W,
    checksum: u64,
}

impl<W: Write> ChecksummedWriter<W> {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.checksum = fnv1a64_update(self.checksum, bytes);
        self.inner.write_all(bytes)
    }
}

fn has_address(schema: KeySchema) -> bool {
    schema.contains(KeyField::SrcIp) || schema.contains(KeyField::DstIp)
}

/// The header, everything before the first record: version 1 when it
/// says all there is to say, else version 2 with its extension.
fn encode_header(
    header: &DatHeader<'_>,
    count: u64,
    directed: bool,
) -> Result<Vec<u8>, &'static str> {
    let DatHeader {
        task,
        schema,
        window,
    } = header;
    let name_len = u16::try_from(task.len()).map_err(|_| "longer than 65535 bytes")?;
    let extended = directed || schema.has_prefix();
    let version = if extended { EXTENDED_VERSION } else { VERSION };
    let mut out = Vec::with_capacity(TASK_OFFSET + task.len() + EXTENSION_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.push(schema.bits());
    out.extend_from_slice(&window.start.to_le_bytes());
    out.extend_from_slice(&window.end.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(task.as_bytes());
    if extended {
        for field in [KeyField::SrcIp, KeyField::DstIp] {
            let prefix = schema.prefix(field);
            out.extend_from_slice(&[prefix.v4, prefix.v6]);
        }
        out.push(if directed { DIRECTED_FLAG } else { 0 });
    }
    Ok(out)
}

/// Bytes of the version 2 extension: two prefix lengths for each address
/// field, then the flags.
const EXTENSION_LEN: usize = 5;

fn encode_directed(out: &mut Vec<u8>, directed: &Directed) {
    for value in [
        directed.packets_ab,
        directed.bytes_ab,
        directed.packets_ba,
        directed.bytes_ba,
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn encode_record(out: &mut Vec<u8>, schema: KeySchema, record: &FlowRecord) {
    let key = &record.key;
    if has_address(schema) {
        out.push(key.family as u8);
    }
    for field in schema.fields() {
        match field {
            KeyField::SrcIp => out.extend_from_slice(&key.src),
            KeyField::DstIp => out.extend_from_slice(&key.dst),
            KeyField::SrcPort => out.extend_from_slice(&key.src_port.to_le_bytes()),
            KeyField::DstPort => out.extend_from_slice(&key.dst_port.to_le_bytes()),
            KeyField::Protocol => out.push(key.protocol),
        }
    }
    let stats = &record.stats;
    for value in [
        stats.packets,
        stats.bytes,
        stats.first_seen,
        stats.last_seen,
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn decode(path: &Path, bytes: &[u8]) -> Result<DatFile, OutputError> {
    let mut cursor = Cursor {
        path,
        bytes,
        pos: 0,
    };
    check_magic(&mut cursor)?;
    let version = cursor.u16()?;
    if !(VERSION..=EXTENDED_VERSION).contains(&version) {
        return Err(OutputError::UnsupportedVersion {
            path: path.to_path_buf(),
            offset: VERSION_OFFSET as u64,
            found: version,
            want: EXTENDED_VERSION,
        });
    }
    let bits = cursor.u8()?;
    let mut schema = KeySchema::from_bits(bits).ok_or_else(|| OutputError::UnknownSchema {
        path: path.to_path_buf(),
        offset: SCHEMA_OFFSET as u64,
        bits,
    })?;
    let window_start_ns = cursor.u64()?;
    let window_end_ns = cursor.u64()?;
    let count = cursor.u64()?;
    let name_len = cursor.u16()?;
    let name = cursor.take(usize::from(name_len))?;
    let task = std::str::from_utf8(name)
        .map_err(|_| OutputError::TaskNameNotUtf8 {
            path: path.to_path_buf(),
            offset: TASK_OFFSET as u64,
        })?
        .to_string();
    let mut directed = false;
    if version == EXTENDED_VERSION {
        (schema, directed) = cursor.extension(schema)?;
    }
    let record_len = record_len(schema) + if directed { DIRECTED_LEN } else { 0 };
    check_length_and_checksum(&cursor, record_len, count)?;
    let mut records = Vec::new();
    let mut directions = directed.then(Vec::new);
    for _ in 0..count {
        let record = cursor.record(schema)?;
        if let Some(directions) = directions.as_mut() {
            directions.push(cursor.directed(&record)?);
        }
        records.push(record);
    }
    Ok(DatFile {
        task,
        schema,
        window_start_ns,
        window_end_ns,
        records,
        directions,
    })
}

fn check_magic(cursor: &mut Cursor<'_>) -> Result<(), OutputError> {
    let head = &cursor.bytes[..cursor.bytes.len().min(MAGIC.len())];
    if head.len() < MAGIC.len() && MAGIC.starts_with(head) {
        return Err(cursor.truncated(MAGIC.len()));
    }
    if head != MAGIC {
        return Err(OutputError::BadMagic {
            path: cursor.path.to_path_buf(),
            found: String::from_utf8_lossy(head).into_owned(),
        });
    }
    cursor.pos = MAGIC.len();
    Ok(())
}

/// Called with the cursor just past the header.
fn check_length_and_checksum(
    cursor: &Cursor<'_>,
    record_len: usize,
    count: u64,
) -> Result<(), OutputError> {
    let path = cursor.path.to_path_buf();
    let got = cursor.bytes.len();
    let want = cursor.pos as u128 + u128::from(count) * record_len as u128 + CHECKSUM_LEN as u128;
    if want != got as u128 {
        return Err(OutputError::LengthMismatch {
            path,
            offset: COUNT_OFFSET as u64,
            count,
            want,
            got: got as u64,
        });
    }
    let (body, trailer) = cursor.bytes.split_at(got - CHECKSUM_LEN);
    let mut stored = [0; CHECKSUM_LEN];
    stored.copy_from_slice(trailer);
    let stored = u64::from_le_bytes(stored);
    let computed = fnv1a64(body);
    if stored != computed {
        return Err(OutputError::ChecksumMismatch {
            path,
            offset: body.len() as u64,
            stored,
            computed,
        });
    }
    Ok(())
}

/// Reads forward through a file's bytes, turning a short read into an error.
struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn truncated(&self, want: usize) -> OutputError {
        OutputError::Truncated {
            path: PathBuf::from(self.path),
            offset: self.bytes.len() as u64,
            want: (self.pos + want).saturating_sub(self.bytes.len()) as u64,
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], OutputError> {
        let taken = self
            .bytes
            .get(self.pos..self.pos + len)
            .ok_or_else(|| self.truncated(len))?;
        self.pos += len;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], OutputError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, OutputError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, OutputError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, OutputError> {
        self.array().map(u64::from_le_bytes)
    }

    fn malformed(&self, offset: usize, what: String) -> OutputError {
        OutputError::Malformed {
            path: self.path.to_path_buf(),
            offset: offset as u64,
            what,
        }
    }

    /// The version 2 extension: `schema` with its address prefixes, and
    /// whether records carry per-direction counters. Read before the
    /// checksum is checked, so every value is checked here.
    fn extension(&mut self, schema: KeySchema) -> Result<(KeySchema, bool), OutputError> {
        let mut schema = schema;
        for field in [KeyField::SrcIp, KeyField::DstIp] {
            let offset = self.pos;
            let [v4, v6] = self.array()?;
            let prefix = AddressPrefix::new(v4, v6).ok_or_else(|| {
                let what = format!(
                    "{} prefix lengths {v4} (IPv4), {v6} (IPv6) out of range (want at most 32, 128)",
                    field.config_name()
                );
                self.malformed(offset, what)
            })?;
            if prefix.is_whole() {
                continue;
            }
            schema = schema.with_prefix(field, prefix).ok_or_else(|| {
                let what = format!(
                    "prefix for {}, which the key schema lacks",
                    field.config_name()
                );
                self.malformed(offset, what)
            })?;
        }
        let offset = self.pos;
        let flags = self.u8()?;
        if flags & !DIRECTED_FLAG != 0 {
            return Err(self.malformed(
                offset,
                format!("flags {flags:#04x} unknown (want 0x00 or 0x01)"),
            ));
        }
        Ok((schema, flags & DIRECTED_FLAG != 0))
    }

    /// A record's per-direction counters, which must add up to its totals.
    fn directed(&mut self, record: &FlowRecord) -> Result<Directed, OutputError> {
        let offset = self.pos;
        let directed = Directed {
            packets_ab: self.u64()?,
            bytes_ab: self.u64()?,
            packets_ba: self.u64()?,
            bytes_ba: self.u64()?,
        };
        let sums = (
            directed.packets_ab.checked_add(directed.packets_ba),
            directed.bytes_ab.checked_add(directed.bytes_ba),
        );
        if sums != (Some(record.stats.packets), Some(record.stats.bytes)) {
            let what = format!(
                "per-direction counters do not add up to the record's {} packets and {} bytes",
                record.stats.packets, record.stats.bytes
            );
            return Err(self.malformed(offset, what));
        }
        Ok(directed)
    }

    fn record(&mut self, schema: KeySchema) -> Result<FlowRecord, OutputError> {
        let mut key = FlowKey::default();
        if has_address(schema) {
            let offset = self.pos as u64;
            let found = self.u8()?;
            key.family = AddressFamily::from_byte(found).ok_or_else(|| OutputError::BadFamily {
                path: self.path.to_path_buf(),
                offset,
                found,
            })?;
        }
        for field in schema.fields() {
            match field {
                KeyField::SrcIp => key.src = self.array()?,
                KeyField::DstIp => key.dst = self.array()?,
                KeyField::SrcPort => key.src_port = self.u16()?,
                KeyField::DstPort => key.dst_port = self.u16()?,
                KeyField::Protocol => key.protocol = self.u8()?,
            }
        }
        let stats = FlowStats {
            packets: self.u64()?,
            bytes: self.u64()?,
            first_seen: self.u64()?,
            last_seen: self.u64()?,
        };
        Ok(FlowRecord { key, stats })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const WINDOW: Range<u64> = 1_757_412_000_000_000_000..1_757_412_060_000_000_000;

    fn record(key: FlowKey, packets: u64) -> FlowRecord {
        let stats = FlowStats {
            packets,
            bytes: packets * 100,
            first_seen: WINDOW.start + packets,
            last_seen: WINDOW.end - 1,
        };
        FlowRecord { key, stats }
    }

    fn mixed_five_tuple() -> Vec<FlowRecord> {
        vec![
            record(
                FlowKey::ipv4(
                    Ipv4Addr::new(10, 0, 0, 1),
                    Ipv4Addr::new(192, 168, 1, 2),
                    51000,
                    443,
                    6,
                ),
                3,
            ),
            record(
                FlowKey::ipv6(
                    "2001:db8::1".parse().unwrap(),
                    Ipv6Addr::LOCALHOST,
                    53,
                    40000,
                    17,
                ),
                1,
            ),
            record(
                FlowKey::ipv4(Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED, 0, 0, 1),
                1 << 40,
            ),
        ]
    }

    #[track_caller]
    fn round_trip(schema: KeySchema, records: &[FlowRecord]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard_0.dat");
        let projected: Vec<FlowRecord> = records
            .iter()
            .map(|r| FlowRecord {
                key: schema.project(&r.key),
                stats: r.stats,
            })
            .collect();
        write_dat(&path, "by key", schema, WINDOW, projected.iter()).unwrap();
        let file_len = std::fs::metadata(&path).unwrap().len() as usize;
        assert_eq!(
            file_len,
            TASK_OFFSET + "by key".len() + records.len() * record_len(schema) + CHECKSUM_LEN
        );
        let got = read_dat(&path).unwrap();
        let want = DatFile {
            task: "by key".to_string(),
            schema,
            window_start_ns: WINDOW.start,
            window_end_ns: WINDOW.end,
            records: projected,
            directions: None,
        };
        assert_eq!(got, want);
        assert_eq!(
            bytes_of(&path)[VERSION_OFFSET],
            1,
            "a plain file stays version 1"
        );
    }

    fn bytes_of(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    fn conversation_file(schema: KeySchema) -> (tempfile::TempDir, PathBuf, Vec<Directed>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard_0.dat");
        let records = mixed_five_tuple();
        let directions: Vec<Directed> = records
            .iter()
            .map(|record| Directed {
                packets_ab: record.stats.packets - 1,
                bytes_ab: record.stats.bytes - 100,
                packets_ba: 1,
                bytes_ba: 100,
            })
            .collect();
        let header = DatHeader {
            task: "talks",
            schema,
            window: WINDOW,
        };
        write_conversation_dat(&path, &header, records.iter(), directions.iter().copied()).unwrap();
        (dir, path, directions)
    }

    #[test]
    fn prefixes_and_directions_round_trip_in_version_2() {
        let prefix = AddressPrefix::parse("24,48").unwrap();
        let schema = KeySchema::FIVE_TUPLE
            .with_prefix(KeyField::DstIp, prefix)
            .unwrap();
        let (_dir, path, directions) = conversation_file(schema);
        let bytes = bytes_of(&path);
        assert_eq!(bytes[VERSION_OFFSET], 2);
        assert_eq!(
            bytes.len(),
            TASK_OFFSET
                + 5
                + EXTENSION_LEN
                + 3 * (record_len(schema) + DIRECTED_LEN)
                + CHECKSUM_LEN
        );
        let got = read_dat(&path).unwrap();
        assert_eq!(got.schema, schema);
        assert_eq!(got.schema.prefix(KeyField::DstIp), prefix);
        assert_eq!(got.records, mixed_five_tuple());
        assert_eq!(got.directions, Some(directions));
    }

    #[test]
    fn a_prefix_alone_is_version_2_without_directions() {
        let schema = KeySchema::from_fields(&[KeyField::SrcIp])
            .with_prefix(KeyField::SrcIp, AddressPrefix::parse("8").unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard_0.dat");
        write_dat(&path, "cut", schema, WINDOW, mixed_five_tuple().iter()).unwrap();
        let got = read_dat(&path).unwrap();
        assert_eq!((got.schema, got.directions), (schema, None));
        assert_eq!(bytes_of(&path)[VERSION_OFFSET], 2);
    }

    #[test]
    fn a_bad_extension_or_directions_that_do_not_add_up_are_named_with_their_offset() {
        let (_dir, path, _) = conversation_file(KeySchema::FIVE_TUPLE);
        let extension = TASK_OFFSET + "talks".len();
        let valid = bytes_of(&path);
        let mut bytes = valid.clone();
        bytes[extension] = 33;
        reseal(&mut bytes);
        let want = format!(
            "{}: byte {extension}: SrcIP prefix lengths 33 (IPv4), 128 (IPv6) out of range (want at most 32, 128)",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes), want);
        let mut bytes = valid.clone();
        bytes[extension + 4] = 0x03;
        reseal(&mut bytes);
        assert!(error_of(&path, &bytes).ends_with("flags 0x03 unknown (want 0x00 or 0x01)"));
        let mut bytes = valid;
        let first_directions = extension + EXTENSION_LEN + record_len(KeySchema::FIVE_TUPLE);
        bytes[first_directions] += 1;
        reseal(&mut bytes);
        let want = format!(
            "{}: byte {first_directions}: per-direction counters do not add up to the record's 3 packets and 300 bytes",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes), want);
    }

    /// A valid file's bytes, for the corruption tests.
    fn valid_file() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard_3.dat");
        write_dat(
            &path,
            "t",
            KeySchema::FIVE_TUPLE,
            WINDOW,
            mixed_five_tuple().iter(),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        (dir, path, bytes)
    }

    #[track_caller]
    fn error_of(path: &Path, bytes: &[u8]) -> String {
        std::fs::write(path, bytes).unwrap();
        read_dat(path)
            .expect_err("corrupt file must be rejected")
            .to_string()
    }

    fn reseal(bytes: &mut [u8]) {
        let body_len = bytes.len() - CHECKSUM_LEN;
        let checksum = fnv1a64(&bytes[..body_len]);
        bytes[body_len..].copy_from_slice(&checksum.to_le_bytes());
    }

    #[test]
    fn five_tuple_records_with_mixed_ipv4_and_ipv6_round_trip() {
        round_trip(KeySchema::FIVE_TUPLE, &mixed_five_tuple());
    }

    #[test]
    fn ports_only_records_round_trip_without_address_bytes() {
        let schema = KeySchema::from_fields(&[KeyField::SrcPort, KeyField::DstPort]);
        assert_eq!(record_len(schema), 4 + 32);
        round_trip(schema, &mixed_five_tuple());
    }

    #[test]
    fn protocol_only_records_round_trip() {
        let schema = KeySchema::from_fields(&[KeyField::Protocol]);
        round_trip(schema, &mixed_five_tuple()[..2]);
    }

    #[test]
    fn destination_address_only_records_round_trip_with_family() {
        let schema = KeySchema::from_fields(&[KeyField::DstIp]);
        assert_eq!(record_len(schema), 1 + 16 + 32);
        round_trip(schema, &mixed_five_tuple());
    }

    #[test]
    fn a_file_without_records_round_trips() {
        round_trip(KeySchema::FIVE_TUPLE, &[]);
    }

    #[test]
    fn a_flow_map_streams_to_a_file_in_first_seen_order() {
        let mut map = crate::flow::FlowMap::new();
        let keys = crate::flow::CHUNK_LEN as u32 + 4_000;
        for n in 0..keys {
            let key = FlowKey::ipv4(Ipv4Addr::from(n), Ipv4Addr::LOCALHOST, 1, 2, 17);
            map.add(
                crate::flow::hash_key(&key),
                key,
                WINDOW.start + u64::from(n),
                60,
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard_0.dat");
        write_dat(
            &path,
            "streamed",
            KeySchema::FIVE_TUPLE,
            WINDOW,
            map.records(),
        )
        .unwrap();
        let got = read_dat(&path).unwrap();
        let want: Vec<FlowRecord> = map.records().copied().collect();
        assert_eq!(got.records.len(), keys as usize);
        assert_eq!(got.records, want);
    }

    #[test]
    fn bad_magic_is_rejected_at_byte_0() {
        let (_dir, path, mut bytes) = valid_file();
        bytes[..4].copy_from_slice(b"GIF8");
        let want = format!(
            "{}: byte 0: not a netspectra .dat file (starts with \"GIF8CDAT\", want \"NSPECDAT\")",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes), want);
    }

    #[test]
    fn unknown_version_is_rejected_at_byte_8() {
        let (_dir, path, mut bytes) = valid_file();
        bytes[8] = 3;
        let want = format!(
            "{}: byte 8: format version 3 unsupported (want 1 to 2)",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes), want);
    }

    #[test]
    fn unknown_schema_bits_are_rejected_at_byte_10() {
        let (_dir, path, mut bytes) = valid_file();
        bytes[10] = 0x20;
        let want = format!(
            "{}: byte 10: key schema bits 0x20 unknown (want a non-empty subset of 0x1f)",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes), want);
    }

    #[test]
    fn a_truncated_file_is_a_length_mismatch_at_the_count() {
        let (_dir, path, bytes) = valid_file();
        let cut = &bytes[..bytes.len() - 5];
        let want = format!(
            "{}: byte 27: header says 3 records, which needs {} bytes, but the file has {}; truncated or corrupt",
            path.display(),
            bytes.len(),
            cut.len()
        );
        assert_eq!(error_of(&path, cut), want);
    }

    #[test]
    fn a_file_cut_inside_the_header_says_so() {
        let (_dir, path, bytes) = valid_file();
        let want = format!(
            "{}: byte 20: file ends early (header needs 7 more bytes)",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes[..20]), want);
        let want = format!(
            "{}: byte 3: file ends early (header needs 5 more bytes)",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes[..3]), want);
    }

    #[test]
    fn a_flipped_record_byte_is_a_checksum_mismatch() {
        let (_dir, path, mut bytes) = valid_file();
        bytes[TASK_OFFSET + 1 + 40] ^= 0x01;
        let body_len = bytes.len() - CHECKSUM_LEN;
        let err = error_of(&path, &bytes);
        let prefix = format!("{}: byte {body_len}: checksum 0x", path.display());
        assert!(err.starts_with(&prefix), "{err}");
        assert!(err.ends_with("; file corrupt"), "{err}");
    }

    #[test]
    fn an_unknown_address_family_is_rejected_at_its_offset() {
        let (_dir, path, mut bytes) = valid_file();
        let second_record = TASK_OFFSET + 1 + record_len(KeySchema::FIVE_TUPLE);
        bytes[second_record] = 5;
        reseal(&mut bytes);
        let want = format!(
            "{}: byte {second_record}: address family 5 unknown (want 0, 4 or 6)",
            path.display()
        );
        assert_eq!(error_of(&path, &bytes), want);
    }

    #[test]
    fn a_task_name_that_is_not_utf8_is_rejected() {
        let (_dir, path, mut bytes) = valid_file();
        bytes[TASK_OFFSET] = 0xff;
        reseal(&mut bytes);
        let want = format!("{}: byte 37: task name is not UTF-8", path.display());
        assert_eq!(error_of(&path, &bytes), want);
    }

    #[test]
    fn no_truncation_or_single_byte_change_is_accepted_or_panics() {
        let (_dir, path, bytes) = valid_file();
        for len in 0..bytes.len() {
            assert!(decode(&path, &bytes[..len]).is_err(), "cut to {len} bytes");
        }
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut changed = bytes.clone();
                changed[at] ^= flip;
                assert!(decode(&path, &changed).is_err(), "byte {at} ^ {flip:#x}");
            }
        }
    }

    #[test]
    fn a_huge_record_count_is_a_length_mismatch_not_an_allocation() {
        let (_dir, path, mut bytes) = valid_file();
        bytes[COUNT_OFFSET..COUNT_OFFSET + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = error_of(&path, &bytes);
        assert!(
            err.contains("byte 27: header says 18446744073709551615 records"),
            "{err}"
        );
    }
}
