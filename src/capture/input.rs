//! Where a capture's bytes come from: a file, standard input (`-`) or
//! another stream (a FIFO, `/dev/stdin`, a shell's `<(...)`), plain or
//! compressed with gzip or zstd.
//!
//! Owns opening and decompression only: the compression is told by the
//! first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`), never by the file name,
//! and the container format by the first bytes after decompression. Every
//! input is read once, front to back, through one [`Read`]: nothing here
//! seeks, so a stream works as well as a file. A damaged or cut compressed
//! stream surfaces as a read error after everything decompressed before it.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use super::{CaptureError, Format, PCAPNG_SHB_BYTES, read_up_to};

/// The command-line name of standard input.
pub const STDIN_NAME: &str = "-";

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How an input's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// An opened input, positioned at its first (decompressed) byte.
pub(crate) struct CaptureInput {
    pub(crate) format: Format,
    pub(crate) compression: Compression,
    /// The decompressed bytes, from the first; `Send` so a reader thread can own it.
    pub(crate) bytes: Box<dyn Read + Send>,
}

/// Whether `path` names a stream that can be read only once: `-`, or
/// anything that exists and is neither a regular file nor a directory (a
/// FIFO, a character device, `/dev/stdin` on a pipe). A path that cannot
/// be examined is not a stream: opening it reports why.
pub fn is_stream(path: &Path) -> bool {
    if path.as_os_str() == STDIN_NAME {
        return true;
    }
    std::fs::metadata(path)
        .map(|meta| !meta.is_file() && !meta.is_dir())
        .unwrap_or(false)
}

/// Opens `path` (`-` is standard input), undoes gzip or zstd compression
/// when the first bytes say so, and tells pcap from pcapng. Errors: cannot
/// open, empty, not a capture (naming the first decompressed bytes), or a
/// read failure of the first bytes (a compressed stream damaged at once).
pub(crate) fn open_input(path: &Path) -> Result<CaptureInput, CaptureError> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == STDIN_NAME {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        })?)
    };
    let (head, raw) = peek(path, raw, ZSTD_MAGIC.len())?;
    let (compression, bytes): (Compression, Box<dyn Read + Send>) = if head.starts_with(&GZIP_MAGIC)
    {
        // Multi-member: `cat a.gz b.gz` is one gzip stream to gzip(1) as well.
        (
            Compression::Gzip,
            Box::new(flate2::read::MultiGzDecoder::new(raw)),
        )
    } else if head.starts_with(&ZSTD_MAGIC) {
        let decoder =
            zstd::stream::read::Decoder::new(raw).map_err(|source| read_error(path, source))?;
        (Compression::Zstd, Box::new(decoder))
    } else {
        (Compression::None, raw)
    };
    let (magic, bytes) = peek(path, bytes, 4)?;
    let format = match magic.as_slice() {
        [] => {
            return Err(CaptureError::Empty {
                path: path.to_path_buf(),
            });
        }
        m if m == PCAPNG_SHB_BYTES => Format::Pcapng,
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0x34, 0xcd, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xa1, 0xb2, 0x3c, 0x4d] => Format::Pcap,
        other => {
            return Err(CaptureError::NotCapture {
                path: path.to_path_buf(),
                first_bytes: other.to_vec(),
            });
        }
    };
    Ok(CaptureInput {
        format,
        compression,
        bytes,
    })
}

/// Reads up to `len` bytes and returns them with a reader that yields them
/// again, then the rest: a look at the front without seeking.
fn peek(
    path: &Path,
    mut input: Box<dyn Read + Send>,
    len: usize,
) -> Result<(Vec<u8>, Box<dyn Read + Send>), CaptureError> {
    let mut head = vec![0u8; len];
    let got = read_up_to(&mut input, &mut head).map_err(|source| read_error(path, source))?;
    head.truncate(got);
    let again = Box::new(Cursor::new(head.clone()).chain(input));
    Ok((head, again))
}

fn read_error(path: &Path, source: io::Error) -> CaptureError {
    CaptureError::Read {
        path: PathBuf::from(path),
        offset: 0,
        packets_read: 0,
        source,
    }
}
