#!/usr/bin/env bash
# Live capture benchmark: the highest packet rate `netspectra capture` takes
# with zero kernel drops, for the six tasks of the default config.
#
# Replays a 1,000,000-packet Ethernet capture with tcpreplay from one end of
# a veth pair to the other, at increasing --pps rates, while netspectra
# captures on the receiving end. Both ends live in two network namespaces the
# bench creates (and deletes on exit, also on failure), so no traffic leaves
# them and no interface of the machine is touched.
#
# A rate passes when tcpreplay sent every packet, libpcap reports no drop
# (pcap_dropped == 0 and pcap_if_dropped == 0) and netspectra read exactly
# the packets sent (it stops by itself on --count, or on SIGTERM after a drain).
#
# Usage: bash benches/live_replay.sh      (as root; Debian: installs tcpreplay)
# Environment:
#   RATES     packets/s to try, in order; "max" is tcpreplay --topspeed
#             (default: "25000 50000 100000 200000 400000 1000000 max")
#   PACKETS   packets in the generated capture (default 1000000)
#   DRAIN_S   seconds netspectra may take after the replay ends (default 5)
#   CAPTURE_ARGS  extra `netspectra capture` flags, e.g. "--snaplen 128"
#             (default: none, the default config's capture settings)
#
# Files: target/bench-data/live-<PACKETS>.pcap (made once, Python 3 stdlib),
# target/bench-data/live-runs/<rate>.{json,log,replay} (each run's output).

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

RATES="${RATES:-25000 50000 100000 200000 400000 1000000 max}"
PACKETS="${PACKETS:-1000000}"
DRAIN_S="${DRAIN_S:-5}"
read -r -a capture_args <<<"${CAPTURE_ARGS:-}"

data_dir="$root/target/bench-data"
pcap="$data_dir/live-$PACKETS.pcap"
runs_dir="$data_dir/live-runs"
# A copy of the release binary, so a rebuild during the run cannot change it.
bin="$runs_dir/netspectra"

ns_tx="ns-nsbench-tx"
ns_rx="ns-nsbench-rx"
veth_tx="nsb-tx"
veth_rx="nsb-rx"
# Locally administered addresses; the generated frames go from mac_tx to mac_rx.
mac_tx="02:6e:73:62:00:01"
mac_rx="02:6e:73:62:00:02"

result_line=""

bench_name="live_replay"
# shellcheck source=support/veth_pair.sh
source "$here/support/veth_pair.sh"

prepare_tools() {
    [[ "$(id -u)" == 0 ]] || die "needs root (network namespaces, raw sockets)"
    command -v python3 >/dev/null || die "needs python3"
    if ! command -v tcpreplay >/dev/null; then
        echo "installing tcpreplay" >&2
        apt-get install -y tcpreplay >/dev/null
    fi
    echo "building netspectra (release)" >&2
    (cd "$root" && cargo build --release --quiet)
    mkdir -p "$runs_dir"
    cp "$root/target/release/netspectra" "$bin"
}

# Writes $pcap: Ethernet mac_tx -> mac_rx, ~50k flows with a Zipf-like skew,
# 10% IPv6, TCP/UDP/ICMP, 60 to ~190 byte frames, valid IPv4 header checksums.
make_capture() {
    [[ -s "$pcap" ]] && return
    echo "writing $pcap ($PACKETS packets)" >&2
    mkdir -p "$data_dir"
    python3 - "$pcap" "$PACKETS" "$mac_tx" "$mac_rx" <<'PY'
import os, random, struct, sys

path, packets, mac_src, mac_dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = random.Random(20261125)
eth = bytes.fromhex(mac_dst.replace(":", "")) + bytes.fromhex(mac_src.replace(":", ""))

def checksum(header):
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def transport(proto, sport, dport, payload):
    if proto == 6:
        return struct.pack("!HHIIBBHHH", sport, dport, rng.getrandbits(32), 0, 5 << 4, 0x10, 65535, 0, 0) + payload
    if proto == 17:
        return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHH", 8, 0, 0, sport, dport) + payload

def frame(v6, proto, src, dst, sport, dport):
    l4 = transport(proto, sport, dport, bytes(rng.choice((0, 0, 6, 40, 100))))
    if v6:
        ip = struct.pack("!IHBB", 6 << 28, len(l4), 58 if proto == 1 else proto, 64) + src + dst
        out = eth + b"\x86\xdd" + ip + l4
    else:
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst))
        ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
        out = eth + b"\x08\x00" + bytes(ip) + l4
    return out + bytes(max(0, 60 - len(out)))

def host(v6, index):
    if v6:
        return b"\x20\x01\x0d\xb8" + bytes(10) + struct.pack("!H", index)
    return bytes((10, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF))

flows = []
for _ in range(50_000):
    v6 = rng.random() < 0.1
    proto = rng.choices((6, 17, 1), weights=(70, 27, 3))[0]
    src = host(v6, int(rng.paretovariate(1.2)) % 20_000)
    dst = host(v6, 30_000 + int(rng.paretovariate(1.5)) % 5_000)
    dport = rng.choice((443, 80, 53, 123, 8080, rng.randrange(1024, 65536)))
    flows.append(frame(v6, proto, src, dst, rng.randrange(1024, 65536), dport))

weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(flows))]
order = rng.choices(range(len(flows)), weights=weights, k=packets)
record = struct.Struct("<IIII")
base = 1_764_028_800
tmp = path + ".tmp"
with open(tmp, "wb", buffering=1 << 20) as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for start in range(0, packets, 65536):
        chunk = []
        for i in range(start, min(packets, start + 65536)):
            data = flows[order[i]]
            chunk.append(record.pack(base + i // 1_000_000, i % 1_000_000, len(data), len(data)))
            chunk.append(data)
        out.write(b"".join(chunk))
os.replace(tmp, path)
PY
}

# Packets the tx veth could not hand to its peer (the receiver's backlog was full).
veth_tx_dropped() {
    ip netns exec "$ns_tx" cat "/sys/class/net/$veth_tx/statistics/tx_dropped"
}

# One rung of the ladder; sets result_line to its tab-separated result.
run_rate() {
    local rate="$1" json="$runs_dir/$1.json" log="$runs_dir/$1.log" replay="$runs_dir/$1.replay"
    local out="$runs_dir/$1.out" stop="count" tick drop_before
    rm -rf "$out" "$json" "$log" "$replay"
    ip netns exec "$ns_rx" env RUST_LOG=info "$bin" capture -i "$veth_rx" \
        --count "$PACKETS" --output "$out" --json "${capture_args[@]}" >"$json" 2>"$log" &
    running_pid=$!
    for ((tick = 0; tick < 600; tick++)); do
        grep -qs "capturing on" "$log" && break
        kill -0 "$running_pid" 2>/dev/null || die "netspectra exited before capturing; see $log"
        sleep 0.1
    done
    grep -qs "capturing on" "$log" || die "netspectra did not start capturing in 60 s; see $log"

    local speed=(--pps="$rate")
    [[ "$rate" == max ]] && speed=(--topspeed)
    drop_before="$(veth_tx_dropped)"
    ip netns exec "$ns_tx" tcpreplay -i "$veth_tx" "${speed[@]}" --preload-pcap "$pcap" >"$replay" 2>&1 ||
        die "tcpreplay failed; see $replay"
    local veth_drops=$(($(veth_tx_dropped) - drop_before))

    if ! wait_for_exit "$running_pid" "$DRAIN_S"; then
        stop="sigterm"
        kill -TERM "$running_pid"
        if ! wait_for_exit "$running_pid" 30; then
            stop="hung"
            kill -KILL "$running_pid"
        fi
    fi
    local status=0
    wait "$running_pid" || status=$?
    running_pid=""

    result_line="$(python3 - "$rate" "$replay" "$json" "$stop" "$status" "$veth_drops" <<'PY'
import json, re, sys

rate, replay, summary, stop, status, veth_drops = sys.argv[1:]
text = open(replay).read()
actual = re.search(r"Actual: (\d+) packets .* sent in ([\d.]+) seconds", text)
rated = re.search(r"Rated: .*, ([\d.]+) pps", text)
failed = re.search(r"Failed packets:\s+(\d+)", text)
sent = int(actual.group(1)) if actual else -1
failed = int(failed.group(1)) if failed else -1
try:
    s = json.loads(open(summary).read())
except ValueError:
    s = {}
get = lambda key: s.get(key, -1)
ok = (sent > 0 and failed == 0 and status == "0" and get("pcap_dropped") == 0
      and get("pcap_if_dropped") == 0 and get("packets_read") == sent)
print("\t".join(str(v) for v in (
    rate, sent, f"{float(rated.group(1)):.0f}" if rated else "?", get("pcap_received"),
    get("pcap_dropped"), get("pcap_if_dropped"), veth_drops, get("packets_read"),
    get("packets_counted"), f"{stop}/{status}", "pass" if ok else "FAIL")))
PY
)"
}

main() {
    prepare_tools
    make_capture
    make_link
    local header="target_pps\tsent\treplay_pps\tpcap_received\tpcap_dropped\tif_dropped\tveth_dropped\tpackets_read\tcounted\tstop/exit\tresult"
    local results="" rate best="" failed="" below=""
    for rate in $RATES; do
        echo "replaying $PACKETS packets at $rate pps" >&2
        run_rate "$rate"
        echo "  $result_line" >&2
        results+="$result_line"$'\n'
        if [[ "$result_line" == *$'\tpass' ]]; then
            best="$(cut -f1,3 <<<"$result_line")"
            below="$failed"
        else
            failed+=" $rate"
        fi
    done
    echo
    printf '%b\n%s' "$header" "$results" | column -t -s $'\t'
    echo
    if [[ -n "$best" ]]; then
        echo "highest rate with zero drops: ${best%%$'\t'*} pps requested, ${best##*$'\t'} pps achieved by tcpreplay"
        [[ -z "$below" ]] || echo "(lower rates that failed in this run:$below)"
    else
        echo "no rate passed"
    fi
}

main "$@"
