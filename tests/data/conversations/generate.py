#!/usr/bin/env python3
"""Expected conversation tables for tests/conversations.rs, computed once with tshark.

Usage: python3 generate.py CORPUS_PCAPS_DIR   (writes <capture>.conv-ip.tsv here)

For each capture it runs `tshark -q -z conv,ip -z conv,ipv6` (the conversations
and their frames per direction) and, because `-z conv` rounds bytes above 10 kB
("3045 kB"), `tshark -T fields -e frame.protocols -e frame.len -e ip.src -e
ip.dst -e ipv6.src -e ipv6.dst` for exact byte counts by the outermost IP header.
The two must agree on every conversation and on every frame count (and on bytes
wherever `-z conv` prints them exactly); a capture where they do not is left
out and named on stderr with the reason.
"""
import ipaddress
import os
import re
import subprocess
import sys

PREFS = ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
         "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "sctp.reassembly:FALSE"]
ROW = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+) (bytes|kB|MB)\s+(\d+)\s+(\d+) (bytes|kB|MB)")


def canonical(a, b, ab, ba):
    """(A, B, packets/bytes A->B, B->A) with A the address that sorts lower."""
    ka, kb = ipaddress.ip_address(a), ipaddress.ip_address(b)
    if ka.packed <= kb.packed:
        return (str(ka), str(kb)), ab, ba
    return (str(kb), str(ka)), ba, ab


def from_conv(path):
    out = subprocess.run(["tshark", "-n", "-r", path, *PREFS, "-q", "-z", "conv,ip", "-z", "conv,ipv6"],
                         capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        a, b = m.group(1), m.group(2)
        # tshark's "<-" columns are frames into A (B->A), "->" frames out of A (A->B).
        into_a = (int(m.group(3)), int(m.group(4)) if m.group(5) == "bytes" else None)
        out_of_a = (int(m.group(6)), int(m.group(7)) if m.group(8) == "bytes" else None)
        key, ab, ba = canonical(a, b, out_of_a, into_a)
        table[key] = (ab, ba)
    return table


def from_fields(path):
    out = subprocess.run(["tshark", "-n", "-r", path, *PREFS, "-T", "fields", "-E", "separator=\t",
                          "-e", "frame.protocols", "-e", "frame.len", "-e", "ip.src", "-e", "ip.dst",
                          "-e", "ipv6.src", "-e", "ipv6.dst"], capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        protocols, length, ip_src, ip_dst, ip6_src, ip6_dst = (line.split("\t") + [""] * 6)[:6]
        layers = protocols.split(":")
        first = next((layer for layer in layers if layer in ("ip", "ipv6")), None)
        src, dst = (ip_src, ip_dst) if first == "ip" else (ip6_src, ip6_dst)
        if first is None or not src or not dst:
            continue
        src, dst = src.split(",")[0], dst.split(",")[0]
        key, ab, ba = canonical(src, dst, (1, int(length)), (0, 0))
        if key[0] == key[1]:
            ab, ba = (1, int(length)), (0, 0)
        old = table.get(key, ((0, 0), (0, 0)))
        table[key] = tuple((o[0] + n[0], o[1] + n[1]) for o, n in zip(old, (ab, ba)))
    return table


def disagreement(conv, fields):
    if set(conv) != set(fields):
        return f"conversations differ: only -z conv {sorted(set(conv) - set(fields))[:3]}, " \
               f"only outermost headers {sorted(set(fields) - set(conv))[:3]}"
    for key, directions in conv.items():
        for (frames, size), (want_frames, want_size) in zip(directions, fields[key]):
            if frames != want_frames or (size is not None and size != want_size):
                return f"{key}: -z conv says {directions}, outermost headers {fields[key]}"
    return None


def main(pcaps):
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(pcaps)):
        path = os.path.join(pcaps, name)
        conv, fields = from_conv(path), from_fields(path)
        why = disagreement(conv, fields)
        if why:
            print(f"left out {name}: {why}", file=sys.stderr)
            continue
        with open(os.path.join(here, name + ".conv-ip.tsv"), "w") as out:
            out.write("a\tb\tpackets_ab\tbytes_ab\tpackets_ba\tbytes_ba\n")
            for (a, b), (ab, ba) in sorted(fields.items()):
                out.write(f"{a}\t{b}\t{ab[0]}\t{ab[1]}\t{ba[0]}\t{ba[1]}\n")


if __name__ == "__main__":
    main(sys.argv[1])
