//! Reader tests: captures are built with the test-support writer, read
//! back, and compared record by record or by error text.

#[path = "../../tests/support/capture_writer.rs"]
mod capture_writer;

use std::path::{Path, PathBuf};

use capture_writer::{Endian, Interface, PcapWriter, PcapngWriter};
use tempfile::TempDir;

use super::{CaptureError, CaptureFile, Timestamp, check_link_types};
use crate::packet::LinkType;

const TS: u64 = 1_700_000_000_123_456_789;
const ETHERNET: u32 = 1;
const SLL: u16 = 113;

/// An owned copy of a [`super::RawPacket`].
#[derive(Debug, PartialEq, Eq)]
struct Packet {
    link_type: LinkType,
    timestamp_ns: Timestamp,
    wire_len: u32,
    data: Vec<u8>,
}

fn packet(link_type: LinkType, timestamp_ns: u64, data: &[u8], wire_len: u32) -> Packet {
    Packet {
        link_type,
        timestamp_ns: Timestamp::Exact(timestamp_ns),
        wire_len,
        data: data.to_vec(),
    }
}

/// A file named `name` in a fresh directory, so error texts are predictable.
struct Fixture {
    _dir: TempDir,
    path: PathBuf,
}

fn fixture(name: &str, bytes: &[u8]) -> Fixture {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    Fixture { _dir: dir, path }
}

/// Every packet up to the end, and the error that ended the read, if any.
fn read_all(path: &Path) -> (Vec<Packet>, Option<CaptureError>) {
    let mut capture = match CaptureFile::open(path) {
        Ok(capture) => capture,
        Err(err) => return (Vec::new(), Some(err)),
    };
    let mut packets = Vec::new();
    loop {
        match capture.next_packet() {
            Ok(Some(raw)) => packets.push(Packet {
                link_type: raw.link_type,
                timestamp_ns: raw.timestamp_ns,
                wire_len: raw.wire_len,
                data: raw.data.to_vec(),
            }),
            Ok(None) => return (packets, None),
            Err(err) => return (packets, Some(err)),
        }
    }
}

/// Error text with the temp directory removed.
fn message(err: &CaptureError) -> String {
    let dir = err.path().parent().expect("fixture in a directory");
    err.to_string().replace(&format!("{}/", dir.display()), "")
}

#[track_caller]
fn check_clean(bytes: &[u8], want: &[Packet]) {
    let file = fixture("x.pcapng", bytes);
    let (got, err) = read_all(&file.path);
    assert!(
        err.is_none(),
        "unexpected error: {}",
        err.map(|e| e.to_string()).unwrap_or_default()
    );
    assert_eq!(got, want);
}

#[track_caller]
fn check_error(name: &str, bytes: &[u8], want_packets: usize, want: &str) {
    let file = fixture(name, bytes);
    let (got, err) = read_all(&file.path);
    assert_eq!(got.len(), want_packets, "packets before the error");
    assert_eq!(message(&err.expect("an error")), want);
}

fn pcap_round_trip(nanosecond: bool, endian: Endian) {
    let mut writer = PcapWriter::new(ETHERNET, nanosecond, endian);
    writer.packet(TS, b"first", 5);
    writer.packet(TS + 1_000, b"second packet", 13);
    let fraction = if nanosecond { TS } else { TS - 789 };
    check_clean(
        &writer.finish(),
        &[
            packet(LinkType::Ethernet, fraction, b"first", 5),
            packet(LinkType::Ethernet, fraction + 1_000, b"second packet", 13),
        ],
    );
}

#[test]
fn pcap_microsecond_little_endian_round_trips() {
    pcap_round_trip(false, Endian::Little);
}

#[test]
fn pcap_microsecond_big_endian_round_trips() {
    pcap_round_trip(false, Endian::Big);
}

#[test]
fn pcap_nanosecond_little_endian_keeps_nanoseconds() {
    pcap_round_trip(true, Endian::Little);
}

#[test]
fn pcap_nanosecond_big_endian_keeps_nanoseconds() {
    pcap_round_trip(true, Endian::Big);
}

fn two_interfaces(endian: Endian) {
    let mut writer = PcapngWriter::new(endian);
    let eth = writer.interface(Interface::new(1));
    let sll = writer.interface(Interface {
        tsresol: 9,
        ..Interface::new(SLL)
    });
    writer.packet(sll, TS, b"sll frame", 9);
    writer.packet(eth, TS, b"eth frame", 9);
    check_clean(
        &writer.finish(),
        &[
            packet(LinkType::LinuxSll, TS, b"sll frame", 9),
            packet(LinkType::Ethernet, TS - 789, b"eth frame", 9),
        ],
    );
}

#[test]
fn pcapng_interfaces_keep_their_own_link_type_and_resolution() {
    two_interfaces(Endian::Little);
}

#[test]
fn big_endian_pcapng_interfaces_keep_their_own_link_type_and_resolution() {
    two_interfaces(Endian::Big);
}

#[test]
fn pcapng_binary_resolution_and_timestamp_offset_are_applied() {
    for endian in [Endian::Little, Endian::Big] {
        let mut writer = PcapngWriter::new(endian);
        // 2^-10 s units; 3 units = 2_929_687.5 ns, rounded down.
        writer.interface(Interface {
            tsresol: 0x80 | 10,
            tsoffset_secs: 1_000_000_000,
            ..Interface::new(1)
        });
        writer.packet(0, 1_000_000_000 * NS + 2_929_688, b"x", 1);
        check_clean(
            &writer.finish(),
            &[packet(
                LinkType::Ethernet,
                1_000_000_000 * NS + 2_929_687,
                b"x",
                1,
            )],
        );
    }
}

const NS: u64 = 1_000_000_000;

#[test]
fn timestamps_before_1970_or_beyond_u64_nanoseconds_are_none() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface {
        tsresol: 0,
        tsoffset_secs: i64::MAX,
        ..Interface::new(1)
    });
    writer.interface(Interface {
        tsresol: 0,
        tsoffset_secs: -1000,
        ..Interface::new(1)
    });
    writer.packet(0, 0, b"late", 4);
    let early = writer.position() as usize;
    writer.packet(1, 1000 * NS, b"early", 5);
    let mut bytes = writer.finish();
    // 1 s since an offset of -1000 s: before the epoch.
    bytes[early + 16..early + 20].copy_from_slice(&1u32.to_le_bytes());
    let clamped = |ns, data: &[u8], wire_len| Packet {
        timestamp_ns: Timestamp::Clamped(ns),
        ..packet(LinkType::Ethernet, 0, data, wire_len)
    };
    check_clean(
        &bytes,
        &[clamped(u64::MAX, b"late", 4), clamped(0, b"early", 5)],
    );
}

/// A pcap whose header's link-type field is `field`, holding `frame`
/// captured whole and cut to 6 and to 2 bytes.
fn pcap_with_link_field(field: u32, frame: &[u8]) -> Vec<u8> {
    let mut writer = PcapWriter::new(field, true, Endian::Big);
    let wire_len = frame.len() as u32;
    writer.packet(TS, frame, wire_len);
    writer.packet(TS + 1, &frame[..6], wire_len);
    writer.packet(TS + 2, &frame[..2], wire_len);
    writer.finish()
}

#[test]
fn a_pcap_link_type_with_fcs_bits_is_read_as_its_base_type_without_the_fcs() {
    // FCS length present (bit 26), 2 16-bit words: a 4-byte CRC ends every frame.
    let bytes = pcap_with_link_field(0x2400_0001, b"framFCS!");
    let file = fixture("fcs.pcap", &bytes);
    assert!(check_link_types(&file.path).is_ok());
    check_clean(
        &bytes,
        &[
            packet(LinkType::Ethernet, TS, b"fram", 8),
            packet(LinkType::Ethernet, TS + 1, b"fram", 8),
            packet(LinkType::Ethernet, TS + 2, b"fr", 8),
        ],
    );
}

#[test]
fn fcs_length_bits_without_the_present_flag_strip_nothing() {
    let bytes = pcap_with_link_field(0x5000_0001, b"framFCS!");
    check_clean(
        &bytes,
        &[
            packet(LinkType::Ethernet, TS, b"framFCS!", 8),
            packet(LinkType::Ethernet, TS + 1, b"framFC", 8),
            packet(LinkType::Ethernet, TS + 2, b"fr", 8),
        ],
    );
}

#[test]
fn an_unsupported_base_link_type_is_named_without_its_fcs_bits() {
    let bytes = pcap_with_link_field(0x2400_00dc, b"framFCS!");
    let file = fixture("usb.pcap", &bytes);
    let error = check_link_types(&file.path).expect_err("refused");
    assert_eq!(
        message(&error),
        "usb.pcap: link type 220 (Linux USB) is not supported (supported: Ethernet, raw IP, Linux SLL/SLL2, BSD loopback, PPP, Cisco HDLC, IEEE 802.11, radiotap, NFLOG, ERF)"
    );
    assert_eq!(
        message(&CaptureFile::open(&file.path).err().expect("refused")),
        message(&error)
    );
}

#[test]
fn simple_packet_uses_interface_zero_and_the_smallest_length() {
    let mut writer = PcapngWriter::new(Endian::Big);
    writer.interface(Interface {
        snaplen: 4,
        ..Interface::new(SLL)
    });
    writer.packet(0, TS, b"epb", 3);
    writer.simple_packet(b"0123456789", 60);
    writer.simple_packet(b"0123456789", 3);
    check_clean(
        &writer.finish(),
        &[
            packet(LinkType::LinuxSll, TS - 789, b"epb", 3),
            packet(LinkType::LinuxSll, TS - 789, b"0123", 60),
            packet(LinkType::LinuxSll, TS - 789, b"012", 3),
        ],
    );
}

#[test]
fn non_packet_blocks_are_skipped() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.custom_block(32473, b"before any interface");
    writer.interface(Interface::new(1));
    writer.block(4, &[0; 4]); // name resolution block, only opt_endofrecord
    writer.packet(0, TS, b"a", 1);
    writer.block(5, &[0; 12]); // interface statistics block
    writer.custom_block(32473, b"between packets");
    writer.block(0x4000_0bad, &[0, 0, 0x7e, 0xd9]); // custom, not to be copied
    writer.packet(0, TS, b"b", 1);
    check_clean(
        &writer.finish(),
        &[
            packet(LinkType::Ethernet, TS - 789, b"a", 1),
            packet(LinkType::Ethernet, TS - 789, b"b", 1),
        ],
    );
}

#[test]
fn block_larger_than_the_read_buffer_is_skipped() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(1));
    writer.custom_block(32473, &vec![7; 3 << 20]);
    writer.packet(0, TS, b"after", 5);
    check_clean(
        &writer.finish(),
        &[packet(LinkType::Ethernet, TS - 789, b"after", 5)],
    );
}

#[test]
fn obsolete_packet_block_is_read() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(SLL));
    let mut body = Vec::new();
    body.extend_from_slice(&0u16.to_le_bytes()); // interface
    body.extend_from_slice(&0u16.to_le_bytes()); // drops
    body.extend_from_slice(&0u32.to_le_bytes()); // timestamp high
    body.extend_from_slice(&2_000_000u32.to_le_bytes()); // timestamp low: 2 s
    body.extend_from_slice(&3u32.to_le_bytes());
    body.extend_from_slice(&90u32.to_le_bytes());
    body.extend_from_slice(b"opb");
    writer.block(2, &body);
    check_clean(
        &writer.finish(),
        &[packet(LinkType::LinuxSll, 2 * NS, b"opb", 90)],
    );
}

#[test]
fn new_section_starts_a_new_interface_table() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(1));
    writer.packet(0, TS, b"first", 5);
    writer.section(1, 0);
    writer.interface(Interface::new(SLL));
    writer.packet(0, TS, b"second", 6);
    check_clean(
        &writer.finish(),
        &[
            packet(LinkType::Ethernet, TS - 789, b"first", 5),
            packet(LinkType::LinuxSll, TS - 789, b"second", 6),
        ],
    );
}

#[test]
fn wire_length_differing_from_captured_length_is_preserved() {
    let mut pcap = PcapWriter::new(ETHERNET, false, Endian::Little);
    pcap.packet(TS, b"cut", 1514);
    check_clean(
        &pcap.finish(),
        &[packet(LinkType::Ethernet, TS - 789, b"cut", 1514)],
    );
    let mut pcapng = PcapngWriter::new(Endian::Little);
    pcapng.interface(Interface::new(1));
    pcapng.packet(0, TS, b"cut", 9000);
    check_clean(
        &pcapng.finish(),
        &[packet(LinkType::Ethernet, TS - 789, b"cut", 9000)],
    );
}

#[test]
fn packets_spanning_buffer_refills_are_all_read() {
    let mut writer = PcapWriter::new(ETHERNET, true, Endian::Little);
    let frame: Vec<u8> = (0..1499u32).map(|i| i as u8).collect();
    for i in 0..3000 {
        writer.packet(i, &frame, 1499);
    }
    let bytes = writer.finish();
    let file = fixture("x.pcap", &bytes);
    let mut capture = CaptureFile::open(&file.path).expect("opens");
    let mut count = 0;
    while let Some(raw) = capture.next_packet().expect("reads") {
        assert_eq!(
            (raw.timestamp_ns, raw.data),
            (Timestamp::Exact(count), &frame[..])
        );
        count += 1;
    }
    assert_eq!(count, 3000);
    assert_eq!(capture.packets_read(), 3000);
    assert_eq!(capture.bytes_consumed(), bytes.len() as u64);
    assert_eq!(capture.path(), file.path);
}

#[test]
fn pcap_cut_short_in_a_record_header_errors_after_the_complete_packets() {
    let mut writer = PcapWriter::new(ETHERNET, false, Endian::Little);
    writer.packet(TS, b"complete", 8);
    writer.packet(TS, b"lost", 4);
    let mut bytes = writer.finish();
    bytes.truncate(24 + 16 + 8 + 10);
    check_error(
        "x.pcap",
        &bytes,
        1,
        "x.pcap: cut short in the middle of packet #2 at byte offset 48 (1 packet read before it)",
    );
}

#[test]
fn pcap_cut_short_in_record_data_errors_after_the_complete_packets() {
    let mut writer = PcapWriter::new(ETHERNET, false, Endian::Big);
    writer.packet(TS, b"one", 3);
    writer.packet(TS, b"two", 3);
    writer.packet(TS, b"three", 5);
    let mut bytes = writer.finish();
    bytes.truncate(bytes.len() - 1);
    check_error(
        "x.pcap",
        &bytes,
        2,
        "x.pcap: cut short in the middle of packet #3 at byte offset 62 (2 packets read before it)",
    );
}

#[test]
fn pcapng_cut_short_in_a_packet_block_errors_after_the_complete_packets() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(1));
    writer.packet(0, TS, b"kept", 4);
    let cut_at = writer.position();
    writer.packet(0, TS, b"lost", 4);
    let mut bytes = writer.finish();
    bytes.truncate(bytes.len() - 3);
    check_error(
        "x.pcapng",
        &bytes,
        1,
        &format!(
            "x.pcapng: cut short in the middle of packet #2 at byte offset {cut_at} (1 packet read before it)"
        ),
    );
}

#[test]
fn file_with_bad_magic_is_not_a_capture() {
    let bytes = b"GET / HTTP/1.1\r\n\r\n";
    let want = "x.pcap: not a pcap or pcapng file (starts with 47 45 54 20)";
    check_error("x.pcap", bytes, 0, want);
    let file = fixture("x.pcap", bytes);
    assert_eq!(
        message(&check_link_types(&file.path).expect_err("refused")),
        want
    );
}

#[test]
fn empty_file_is_an_error() {
    check_error("x.pcap", b"", 0, "x.pcap: empty file");
}

#[test]
fn missing_file_cannot_be_opened() {
    let (_, err) = read_all(Path::new("no/such/dir/x.pcap"));
    assert_eq!(
        err.expect("an error").to_string(),
        "no/such/dir/x.pcap: cannot open capture"
    );
}

#[test]
fn file_cut_short_in_its_header_is_an_error() {
    let bytes = PcapWriter::new(ETHERNET, false, Endian::Little).finish();
    check_error(
        "x.pcap",
        &bytes[..10],
        0,
        "x.pcap: cut short in the file header",
    );
    let bytes = PcapngWriter::new(Endian::Little).finish();
    check_error(
        "x.pcapng",
        &bytes[..20],
        0,
        "x.pcapng: cut short in the file header",
    );
}

#[test]
fn pcap_with_only_the_global_header_has_no_packets() {
    check_clean(
        &PcapWriter::new(ETHERNET, false, Endian::Little).finish(),
        &[],
    );
}

#[test]
fn unsupported_pcap_version_is_refused() {
    let mut bytes = PcapWriter::new(ETHERNET, false, Endian::Little).finish();
    bytes[4] = 3;
    check_error(
        "x.pcap",
        &bytes,
        0,
        "x.pcap: pcap version 3.4 is not supported (want 2.x)",
    );
}

const REFUSED_147: &str = "link type 147 (unknown) is not supported (supported: Ethernet, raw IP, Linux SLL/SLL2, BSD loopback, PPP, Cisco HDLC, IEEE 802.11, radiotap, NFLOG, ERF)";

#[test]
fn unsupported_pcap_link_type_is_refused_by_open_and_by_the_check() {
    let mut writer = PcapWriter::new(147, false, Endian::Big);
    writer.packet(TS, b"x", 1);
    let bytes = writer.finish();
    check_error("x.pcap", &bytes, 0, &format!("x.pcap: {REFUSED_147}"));
    let file = fixture("x.pcap", &bytes);
    let err = check_link_types(&file.path).expect_err("refused");
    assert_eq!(message(&err), format!("x.pcap: {REFUSED_147}"));
}

#[test]
fn check_refuses_an_unsupported_interface_in_the_middle_of_a_pcapng() {
    for endian in [Endian::Little, Endian::Big] {
        let mut writer = PcapngWriter::new(endian);
        writer.interface(Interface::new(1));
        writer.custom_block(1, b"padding");
        writer.packet(0, TS, b"a", 1);
        writer.section(1, 0);
        writer.interface(Interface::new(1));
        writer.interface(Interface::new(192));
        writer.packet(0, TS, b"b", 1);
        writer.packet(1, TS, b"radio", 5);
        let file = fixture("x.pcapng", &writer.finish());
        let err = check_link_types(&file.path).expect_err("refused");
        assert_eq!(
            message(&err),
            "x.pcapng: link type 192 (PPI) is not supported (supported: Ethernet, raw IP, Linux SLL/SLL2, BSD loopback, PPP, Cisco HDLC, IEEE 802.11, radiotap, NFLOG, ERF)"
        );
        let (packets, err) = read_all(&file.path);
        assert_eq!(packets.len(), 2);
        assert!(matches!(
            err,
            Some(CaptureError::LinkType { code: 192, .. })
        ));
    }
}

#[test]
fn unsupported_interface_without_packets_is_accepted() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(147));
    writer.interface(Interface::new(1));
    writer.packet(1, TS, b"eth", 3);
    let bytes = writer.finish();
    check_clean(&bytes, &[packet(LinkType::Ethernet, TS - 789, b"eth", 3)]);
    let file = fixture("x.pcapng", &bytes);
    check_link_types(&file.path).expect("interface 0 carries no packet");
}

#[test]
fn check_accepts_supported_files() {
    let mut pcapng = PcapngWriter::new(Endian::Big);
    pcapng.interface(Interface::new(1));
    pcapng.interface(Interface::new(276));
    pcapng.section(1, 0);
    pcapng.interface(Interface::new(0));
    pcapng.interface(Interface::new(229));
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("x.pcapng");
    pcapng.write_to(&path).expect("write");
    check_link_types(&path).expect("supported");
    let path = dir.path().join("x.pcap");
    PcapWriter::new(113, true, Endian::Big)
        .write_to(&path)
        .expect("write");
    check_link_types(&path).expect("supported");
}

#[test]
fn pcapng_section_with_version_2_errors_after_the_first_sections_packets() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(1));
    writer.packet(0, TS, b"counted", 7);
    let offset = writer.position();
    writer.section(2, 0);
    writer.interface(Interface::new(147));
    writer.packet(0, TS, b"never", 5);
    let bytes = writer.finish();
    check_error(
        "x.pcapng",
        &bytes,
        1,
        &format!(
            "x.pcapng: section at byte offset {offset} has unsupported version 2.0 (1 packet read before it)"
        ),
    );
    let file = fixture("x.pcapng", &bytes);
    check_link_types(&file.path).expect("the refused section's interfaces are not judged");
}

#[test]
fn packet_on_an_undeclared_interface_is_an_error() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(1));
    writer.packet(0, TS, b"ok", 2);
    let offset = writer.position();
    writer.packet(3, TS, b"where?", 6);
    check_error(
        "x.pcapng",
        &writer.finish(),
        1,
        &format!(
            "x.pcapng: packet #2 at byte offset {offset} is malformed: it is on interface 3, but its section declares 1 interface(s) (1 packet read before it)"
        ),
    );
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.simple_packet(b"no interface", 12);
    check_error(
        "x.pcapng",
        &writer.finish(),
        0,
        "x.pcapng: packet #1 at byte offset 28 is malformed: it is on interface 0, but its section declares 0 interface(s) (0 packets read before it)",
    );
}

#[test]
fn absurd_pcap_captured_length_is_an_error_not_endless_buffering() {
    let mut writer = PcapWriter::new(ETHERNET, false, Endian::Little);
    writer.packet(TS, b"fine", 4);
    writer.packet(TS, b"liar", 4);
    let mut bytes = writer.finish();
    let caplen_at = 24 + 16 + 4 + 8;
    bytes[caplen_at..caplen_at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
    check_error(
        "x.pcap",
        &bytes,
        1,
        "x.pcap: packet #2 at byte offset 44 is malformed: captured length 1000000 exceeds the 262144-byte limit (1 packet read before it)",
    );
}

#[test]
fn pcapng_captured_length_beyond_its_block_is_an_error() {
    let mut writer = PcapngWriter::new(Endian::Little);
    writer.interface(Interface::new(1));
    let offset = writer.position();
    writer.packet(0, TS, b"liar", 4);
    writer.packet(0, TS, b"never reached", 13);
    let mut bytes = writer.finish();
    let caplen_at = offset as usize + 20;
    bytes[caplen_at..caplen_at + 4].copy_from_slice(&64u32.to_le_bytes());
    check_error(
        "x.pcapng",
        &bytes,
        0,
        &format!(
            "x.pcapng: packet #1 at byte offset {offset} is malformed: captured length 64 does not fit in a block of 36 bytes (0 packets read before it)"
        ),
    );
}

/// Deterministic xorshift, so a failure replays.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn damaged_files_end_in_an_error_or_a_clean_end_never_a_panic() {
    let mut pcapng = PcapngWriter::new(Endian::Little);
    pcapng.interface(Interface::new(1));
    pcapng.interface(Interface {
        tsresol: 9,
        ..Interface::new(SLL)
    });
    for i in 0..20u32 {
        pcapng.packet(i % 2, u64::from(i) * NS, &[i as u8; 40], 60);
        pcapng.simple_packet(&[1; 17], 17);
        pcapng.custom_block(9, b"x");
    }
    let mut pcap = PcapWriter::new(ETHERNET, true, Endian::Big);
    for i in 0..20u32 {
        pcap.packet(u64::from(i), &[i as u8; 33], 70);
    }
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("fuzz");
    let mut state = 0x9e37_79b9_7f4a_7c15;
    for original in [pcapng.finish(), pcap.finish()] {
        // Each open zeroes a 1 MiB buffer: ~10 ms in a debug build.
        for _ in 0..150 {
            let mut bytes = original.clone();
            for _ in 0..1 + next_random(&mut state) % 4 {
                let at = (next_random(&mut state) % bytes.len() as u64) as usize;
                bytes[at] = next_random(&mut state) as u8;
            }
            bytes.truncate((next_random(&mut state) % (bytes.len() as u64 + 200)) as usize);
            std::fs::write(&path, &bytes).expect("write");
            let _ = check_link_types(&path);
            let (packets, _) = read_all(&path);
            assert!(packets.len() <= 60);
        }
    }
}

/// `frames_total` from an expected-results JSON file.
fn frames_total(json: &str) -> Option<u64> {
    let rest = &json[json.find("\"frames_total\"")? + "\"frames_total\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

#[test]
fn every_corpus_capture_yields_its_expected_packet_count() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let Ok(entries) = std::fs::read_dir(corpus.join("pcaps")) else {
        println!("skipped: no capture corpus at {}", corpus.display());
        return;
    };
    let mut checked = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let expected =
            std::fs::read_to_string(corpus.join("expected").join(format!("{name}.json")))
                .expect("expected results beside each capture");
        let want = frames_total(&expected).expect("frames_total in expected results");
        check_link_types(&path).unwrap_or_else(|err| panic!("{err}"));
        let (packets, err) = read_all(&path);
        assert_eq!(
            packets.len() as u64,
            want,
            "{name}: packet count (error: {err:?})"
        );
        if let Some(err) = err {
            // The oracle notes a read error only for the broken files.
            assert!(
                !expected.contains("\"notes\": \"\""),
                "{name}: unexpected error {err}"
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "corpus has no captures");
}
