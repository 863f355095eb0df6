#!/usr/bin/env bash
# Live CPU benchmark: CPU time per packet of `netspectra capture` against
# `tcpdump -w /dev/null` receiving the same traffic at the same rates.
#
# trafgen (Debian netsniff-ng) sends generated IPv4 TCP/UDP frames (several
# thousand flows, a few heavy ones) from one end of a veth pair to the other;
# the two ends live in two network namespaces the bench creates (and deletes
# on exit, also on failure), so no traffic leaves them. For each rate the
# bench runs netspectra (A) then tcpdump (B), RUNS times, each alone on the
# receiving end with the same snap length. A tool's CPU time is the sum of
# its threads' run time (/proc/<pid>/task/*/schedstat) from just before the
# send to SETTLE_S seconds after it, so start-up and shutdown are left out
# (every thread of either tool lives for the whole run, so none is missed).
#
# Before the rates, each tool captures on the idle link for IDLE_S seconds:
# the CPU a capture costs when nothing arrives, per second.
#
# A pair of runs counts only when both tools saw every packet trafgen sent
# (netspectra: packets_read; tcpdump: "packets captured") with zero drops
# (libpcap's dropped and interface-dropped counters, and the veth's
# tx_dropped); the medians are over the pairs that count.
#
# trafgen's rate option (-b) sends in bursts: the rate holds on average over
# the run, not packet by packet. "max" sends without a rate limit.
#
# Usage: bash benches/live_cpu.sh      (as root; Debian: installs netsniff-ng, tcpdump)
# Environment:
#   RATES     packets/s to try, in order; "max" is no limit (default "100000 300000 max")
#   PACKETS   packets per run (default 1000000)
#   RUNS      A/B pairs per rate (default 3)
#   SETTLE_S  seconds after the send before the CPU time is read (default 1)
#   IDLE_S    seconds each tool first captures on the idle link, to print its
#             CPU time per second of idling (default 10; 0 skips it)
#   CAPTURE_ARGS  extra `netspectra capture` flags, e.g. "--snaplen 128"
#   SNAPLEN   snap length for both tools (default 262144, netspectra's default)
#   NETSPECTRA  binary to measure instead of building target/release/netspectra
#             (e.g. a saved copy of an earlier build, for before/after figures)
#
# Files: target/bench-data/live-cpu/{trafgen.cfg,<rate>-<run>-<tool>.*}.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

RATES="${RATES:-100000 300000 max}"
PACKETS="${PACKETS:-1000000}"
RUNS="${RUNS:-3}"
SETTLE_S="${SETTLE_S:-1}"
IDLE_S="${IDLE_S:-10}"
SNAPLEN="${SNAPLEN:-262144}"
read -r -a capture_args <<<"${CAPTURE_ARGS:-}"

runs_dir="$root/target/bench-data/live-cpu"
config="$runs_dir/trafgen.cfg"
# A copy of the release binary, so a rebuild during the run cannot change it.
bin="$runs_dir/netspectra"

ns_tx="ns-nscpu-tx"
ns_rx="ns-nscpu-rx"
veth_tx="nsc-tx"
veth_rx="nsc-rx"
# Locally administered addresses; the frames go from mac_tx to mac_rx.
mac_tx="02:6e:73:63:00:01"
mac_rx="02:6e:73:63:00:02"

bench_name="live_cpu"
# shellcheck source=support/veth_pair.sh
source "$here/support/veth_pair.sh"

prepare_tools() {
    [[ "$(id -u)" == 0 ]] || die "needs root (network namespaces, raw sockets)"
    command -v python3 >/dev/null || die "needs python3"
    if ! command -v trafgen >/dev/null; then
        echo "installing netsniff-ng (trafgen)" >&2
        apt-get install -y netsniff-ng >/dev/null
    fi
    if ! command -v tcpdump >/dev/null; then
        echo "installing tcpdump" >&2
        apt-get install -y tcpdump >/dev/null
    fi
    mkdir -p "$runs_dir"
    if [[ -n "${NETSPECTRA:-}" ]]; then
        cp "$NETSPECTRA" "$bin"
    else
        echo "building netspectra (release)" >&2
        (cd "$root" && cargo build --release --quiet)
        cp "$root/target/release/netspectra" "$bin"
    fi
}

# Six templates sent round robin: three copies of a heavy UDP template
# (16 flows, half the packets), and three wide ones (TCP and UDP with random
# hosts and ports: about 2048 + 1024 + 800 flows). Checksums are trafgen's.
write_config() {
    cat >"$config" <<EOF
#define HEAVY { eth(da=$mac_rx, sa=$mac_tx), ipv4(sa=10.1.0.7, da=10.2.0.53), udp(sp=dinc(40000, 40015), dp=53), fill(0x61, 24) }
HEAVY
HEAVY
HEAVY
{ eth(da=$mac_rx, sa=$mac_tx), ipv4(sa=10.1.0.0, sa[3]=drnd(1, 64), da=10.2.0.1, da[3]=drnd(1, 4)), tcp(sp=drnd(1024, 1031), dp=443, ack, seq=drnd()), fill(0x62, 40) }
{ eth(da=$mac_rx, sa=$mac_tx), ipv4(sa=10.1.1.0, sa[3]=drnd(1, 32), da=10.2.0.80), tcp(sp=drnd(30000, 30031), dp=80, ack), fill(0x63, 6) }
{ eth(da=$mac_rx, sa=$mac_tx), ipv4(sa=10.1.2.0, sa[3]=dinc(1, 50), da=10.2.0.123), udp(sp=drnd(50000, 50007), dp=drnd(1, 2)), fill(0x64, 100) }
EOF
}

tx_counter() {
    ip netns exec "$ns_tx" cat "/sys/class/net/$veth_tx/statistics/$1"
}

# Nanoseconds the process has run on a CPU so far, all its threads together.
cpu_ns() {
    local pid="$1" task total=0 run
    for task in /proc/"$pid"/task/*/schedstat; do
        read -r run _ <"$task" 2>/dev/null || continue
        total=$((total + run))
    done
    echo "$total"
}

wait_for_line() {
    local pattern="$1" file="$2" tick
    for ((tick = 0; tick < 600; tick++)); do
        grep -qs "$pattern" "$file" && return 0
        kill -0 "$running_pid" 2>/dev/null || die "capture tool exited before capturing; see $file"
        sleep 0.1
    done
    die "capture tool did not start capturing in 60 s; see $file"
}

# Starts one tool capturing on the receiving end, its files under `stem`;
# returns once it captures, its pid in running_pid.
start_tool() {
    local tool="$1" stem="$2"
    rm -rf "$stem.out" "$stem.json" "$stem.log" "$stem.trafgen"
    if [[ "$tool" == netspectra ]]; then
        ip netns exec "$ns_rx" env RUST_LOG=info "$bin" capture -i "$veth_rx" --snaplen "$SNAPLEN" \
            --output "$stem.out" --json "${capture_args[@]}" >"$stem.json" 2>"$stem.log" &
        running_pid=$!
        wait_for_line "capturing on" "$stem.log"
    else
        ip netns exec "$ns_rx" tcpdump -n -i "$veth_rx" -s "$SNAPLEN" -w /dev/null >"$stem.json" 2>"$stem.log" &
        running_pid=$!
        wait_for_line "listening on" "$stem.log"
    fi
}

# Stops the tool started last and waits for it.
stop_tool() {
    kill -TERM "$running_pid"
    wait_for_exit "$running_pid" 30 || kill -KILL "$running_pid"
    wait "$running_pid" || true
    running_pid=""
}

# CPU time one tool spends on an idle link over IDLE_S seconds, in
# microseconds per second.
idle_one() {
    local tool="$1" stem="$runs_dir/idle-$1" before after
    start_tool "$tool" "$stem"
    before="$(cpu_ns "$running_pid")"
    sleep "$IDLE_S"
    after="$(cpu_ns "$running_pid")"
    stop_tool
    echo $(((after - before) / 1000 / IDLE_S))
}

# One run of one tool at one rate; prints "sent seconds cpu_ns veth_drops".
# The tool's own counters stay in its files, read by summarize.
run_one() {
    local tool="$1" rate="$2" stem="$3"
    start_tool "$tool" "$stem"
    local speed=()
    [[ "$rate" == max ]] || speed=(-b "${rate}pps")
    local sent_before drop_before cpu_before start end
    sent_before="$(tx_counter tx_packets)"
    drop_before="$(tx_counter tx_dropped)"
    cpu_before="$(cpu_ns "$running_pid")"
    # The rate is timed from the first packet on the link, not from
    # trafgen's start (it sets up its ring first).
    ip netns exec "$ns_tx" trafgen -o "$veth_tx" -i "$config" --cpp -P 1 -n "$PACKETS" "${speed[@]}" \
        >"$stem.trafgen" 2>&1 &
    local sender=$!
    while [[ "$(tx_counter tx_packets)" == "$sent_before" ]] && kill -0 "$sender" 2>/dev/null; do
        sleep 0.005
    done
    start="$(date +%s%N)"
    wait "$sender" || die "trafgen failed; see $stem.trafgen"
    end="$(date +%s%N)"
    sleep "$SETTLE_S"
    local cpu_after sent drops
    cpu_after="$(cpu_ns "$running_pid")"
    sent=$(($(tx_counter tx_packets) - sent_before))
    drops=$(($(tx_counter tx_dropped) - drop_before))
    stop_tool
    echo "$sent $(((end - start) / 1000)) $((cpu_after - cpu_before)) $drops"
}

# Reads every run's files and prints the table.
summarize() {
    python3 - "$runs_dir" "$PACKETS" "$RUNS" $RATES <<'PY'
import json, re, statistics, sys

runs_dir, packets, runs, rates = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]

def run(rate, index, tool):
    stem = f"{runs_dir}/{rate}-{index}-{tool}"
    sent, micros, cpu_ns, veth_drops = map(int, open(f"{stem}.measured").read().split())
    if tool == "netspectra":
        try:
            s = json.loads(open(f"{stem}.json").read())
        except ValueError:
            s = {}
        seen = s.get("packets_read", -1)
        dropped = s.get("pcap_dropped", -1) + s.get("pcap_if_dropped", -1)
    else:
        text = open(f"{stem}.log").read()
        number = lambda what: int(m.group(1)) if (m := re.search(rf"(\d+) packets? {what}", text)) else -1
        seen, dropped = number("captured"), number("dropped by kernel")
    return {"sent": sent, "pps": sent / micros * 1e6 if micros else 0, "seen": seen,
            "drops": dropped + veth_drops, "us": cpu_ns / 1000 / seen if seen > 0 else float("nan")}

head = ("target_pps", "pairs_ok", "pps_achieved", "netspectra_us/pkt", "tcpdump_us/pkt", "ratio", "drops(ns/td)", "note")
rows = [head]
for rate in rates:
    good, notes, drops, pps = [], [], [], []
    for index in range(1, runs + 1):
        a, b = run(rate, index, "netspectra"), run(rate, index, "tcpdump")
        drops.append(f"{a['drops']}/{b['drops']}")
        pps += [a["pps"], b["pps"]]
        if a["sent"] == b["sent"] == a["seen"] == b["seen"] and a["drops"] == b["drops"] == 0:
            good.append((a["us"], b["us"], a["us"] / b["us"]))
        else:
            notes.append(f"run {index} not counted (sent {a['sent']}/{b['sent']}, seen {a['seen']}/{b['seen']})")
    med = lambda i: f"{statistics.median(g[i] for g in good):.3f}" if good else "-"
    rows.append((rate, f"{len(good)}/{runs}", f"{statistics.median(pps):.0f}", med(0), med(1),
                 med(2), " ".join(drops), "; ".join(notes) or "ok"))
widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
for row in rows:
    print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
PY
}

main() {
    prepare_tools
    write_config
    make_link
    local rate index tool idle=()
    if ((IDLE_S > 0)); then
        for tool in netspectra tcpdump; do
            echo "idle link, $IDLE_S s: $tool" >&2
            idle+=("$tool $(idle_one "$tool") us/s")
        done
    fi
    for rate in $RATES; do
        for ((index = 1; index <= RUNS; index++)); do
            for tool in netspectra tcpdump; do
                echo "rate $rate, run $index: $tool" >&2
                run_one "$tool" "$rate" "$runs_dir/$rate-$index-$tool" >"$runs_dir/$rate-$index-$tool.measured"
                echo "  sent, us, cpu_ns, veth drops: $(cat "$runs_dir/$rate-$index-$tool.measured")" >&2
            done
        done
    done
    echo
    echo "load: $(uptime)"
    echo "packets per run: $PACKETS, runs per rate: $RUNS, snaplen: $SNAPLEN"
    ((IDLE_S > 0)) && echo "CPU on an idle link over $IDLE_S s: ${idle[0]}, ${idle[1]}"
    summarize
}

main "$@"
