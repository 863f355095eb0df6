#!/usr/bin/env python3
"""Builds the seed corpora of the fuzz targets under fuzz/corpus/<target>/.

Run from anywhere after `cargo build --release` of the main crate:

    python3 fuzz/make_seeds.py

Sources: tests/data/*.pcap, tests/data/encap/*.pcap*, the conformance corpus ../shared/corpus/pcaps
(next to the repository, used when present, never copied into git),
config/default.yaml and the .dat files of an `analyze` run on
tests/data/sample.pcap. The corpora are generated, not committed.
"""

import hashlib
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
CORPUS = REPO / "fuzz" / "corpus"
SHARED_PCAPS = REPO.parent / "shared" / "corpus" / "pcaps"

# Largest seed file for the capture_file target; bigger captures are cut
# (a cut capture is a useful seed too: it ends in a truncated record).
MAX_CAPTURE_SEED = 64 * 1024
# Link type codes in the order of the parse target's selector byte.
PARSE_LINK_TYPES = {
    0: 0, 1: 1, 12: 2, 14: 2, 101: 2, 108: 3, 113: 4, 276: 5, 228: 6, 229: 7,
    9: 8, 50: 8, 166: 9, 104: 10, 105: 11, 127: 12, 239: 13, 197: 14,
}
MAX_FRAMES_PER_CAPTURE = 200


def put(target, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def pcap_frames(data):
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        return
    if len(data) < 24:
        return
    (link,) = struct.unpack(endian + "I", data[20:24])
    offset = 24
    while offset + 16 <= len(data):
        caplen = struct.unpack(endian + "I", data[offset + 8 : offset + 12])[0]
        frame = data[offset + 16 : offset + 16 + caplen]
        yield link, frame
        offset += 16 + caplen


def pcapng_frames(data):
    offset = 0
    endian = "<"
    links = []
    while offset + 12 <= len(data):
        if data[offset : offset + 4] == b"\x0a\x0d\x0d\x0a":
            endian = ">" if data[offset + 8 : offset + 12] == b"\x1a\x2b\x3c\x4d" else "<"
            links = []
        block_type, length = struct.unpack(endian + "II", data[offset : offset + 8])
        if length < 12 or offset + length > len(data):
            return
        body = data[offset + 8 : offset + length - 4]
        if block_type == 1 and len(body) >= 2:
            links.append(struct.unpack(endian + "H", body[:2])[0])
        elif block_type == 6 and len(body) >= 20:
            if_id, _, _, caplen, _ = struct.unpack(endian + "IIIII", body[:20])
            if if_id < len(links):
                yield links[if_id], body[20 : 20 + caplen]
        elif block_type == 3 and len(body) >= 4 and links:
            yield links[0], body[4:]
        offset += length


def captures():
    paths = sorted((REPO / "tests" / "data").glob("*.pcap*"))
    paths += sorted((REPO / "tests" / "data" / "encap").glob("*.pcap*"))
    if SHARED_PCAPS.is_dir():
        paths += sorted(SHARED_PCAPS.iterdir())
    else:
        print(f"note: {SHARED_PCAPS} is absent; seeding from tests/data only", file=sys.stderr)
    return paths


def seed_captures():
    for path in captures():
        data = path.read_bytes()
        put("capture_file", data[:MAX_CAPTURE_SEED])
        frames = pcapng_frames(data) if data[:4] == b"\x0a\x0d\x0d\x0a" else pcap_frames(data)
        for count, (link, frame) in enumerate(frames):
            if count >= MAX_FRAMES_PER_CAPTURE:
                break
            if link in PARSE_LINK_TYPES:
                put("parse", bytes([PARSE_LINK_TYPES[link]]) + frame)


def seed_configs():
    put("config", (REPO / "config" / "default.yaml").read_bytes())
    put(
        "config",
        b"""aggregator:
  num_workers: 16
  size_of_packet_channel: 8096
  snapshot_interval: "30s"
  storage_root_path: "/tmp/gons_snapshots"
  exact_tasks:
    - name: "per_src_ip"
      key_fields: ["SrcIP"]
      num_shards: 1024
    - name: "per_five_tuple"
      key_fields: ["SrcIP", "DstIP", "SrcPort", "DstPort", "Protocol"]
      num_shards: 4096
capture:
  interface: lo
  filter: "tcp port 80"
  snaplen: 65535
  promisc: false
  buffer_size: 4194304
  duration: 10m
  count: 1000
retention:
  max_windows: 24
  max_age: 7d
""",
    )


def seed_dats():
    binary = REPO / "target" / "release" / "netspectra"
    if not binary.exists():
        sys.exit(f"{binary} is missing: run `cargo build --release` first")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [str(binary), "analyze", str(REPO / "tests" / "data" / "sample.pcap"), "-o", out],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for dat in sorted(pathlib.Path(out).glob("*/*/shard_*.dat")):
            put("dat", dat.read_bytes())


def main():
    for target in ("parse", "capture_file", "config", "dat"):
        shutil.rmtree(CORPUS / target, ignore_errors=True)
    seed_captures()
    seed_configs()
    seed_dats()
    for target in ("parse", "capture_file", "config", "dat"):
        print(f"{target}: {len(list((CORPUS / target).iterdir()))} seeds")


if __name__ == "__main__":
    main()
