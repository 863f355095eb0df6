# Shared by the live benches (sourced, not run): two network namespaces
# joined by a veth pair, torn down on exit, and the helpers around them.
#
# The sourcing script sets, before sourcing: bench_name (for messages),
# ns_tx, ns_rx (namespace names), veth_tx, veth_rx (interface names) and
# mac_tx, mac_rx (their addresses). It keeps the pid of the process it is
# measuring in running_pid, which is killed on exit if still alive.

running_pid=""

die() {
    echo "$bench_name: $*" >&2
    exit 1
}

cleanup() {
    if [[ -n "$running_pid" ]] && kill -0 "$running_pid" 2>/dev/null; then
        kill -KILL "$running_pid" 2>/dev/null || true
    fi
    ip netns del "$ns_tx" 2>/dev/null || true
    ip netns del "$ns_rx" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two namespaces joined by a veth pair; IPv6 off so the kernel sends nothing
# of its own (router solicitations, MLD) onto the link.
make_link() {
    ip netns del "$ns_tx" 2>/dev/null || true
    ip netns del "$ns_rx" 2>/dev/null || true
    ip netns add "$ns_tx"
    ip netns add "$ns_rx"
    ip -n "$ns_tx" link add "$veth_tx" address "$mac_tx" type veth peer name "$veth_rx" address "$mac_rx" netns "$ns_rx"
    ip netns exec "$ns_tx" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip netns exec "$ns_rx" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns_tx" link set "$veth_tx" up
    ip -n "$ns_rx" link set "$veth_rx" up
}

# Waits up to `seconds` for process `pid` to exit; false if it is still running.
wait_for_exit() {
    local pid="$1" seconds="$2" tick
    for ((tick = 0; tick < seconds * 10; tick++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}
