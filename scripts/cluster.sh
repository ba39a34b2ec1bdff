#!/usr/bin/env bash
# Three Dorivo nodes on this host, for trying and testing the cluster.
#
#   scripts/cluster.sh up       start them; prints "node N resp IP:PORT pid PID" per node
#   scripts/cluster.sh start N  start node N again (after kill -9 or stop); prints its line
#   scripts/cluster.sh down     stop them and remove everything `up` made (idempotent)
#   scripts/cluster.sh delay N DUR  add DUR (e.g. 100ms) to every frame node N sends and receives
#   scripts/cluster.sh loss N PCT   drop PCT percent (0..100, random) of them, both ways; 100 blackholes N
#   scripts/cluster.sh heal N       back to the base delay, no loss
#   (delay and loss keep each other; each prints "dvN delay=.. loss=.. lost_in=.. lost_out=..")
#
# The three agents are replicas of every shard (--node-id, --peers): any
# node serves any key, writes commit on two of the three.
#
# Each node runs in its own network namespace (dorivo-n1..n3) with one
# interface, dv1..dv3, and the host has dorivo-br0. The nodes are
# 10.77.0.1..3/24 and the host is 10.77.0.254, so redis-cli -h 10.77.0.N works
# from a plain shell; the range exists only on these interfaces, and nothing
# leaves the machine.
#
# Delay: this kernel has no tc netem (CONFIG_NET_SCH_NETEM is off, and there
# is no fq or etf qdisc either), so the interfaces are TAP devices joined by
# netdelay (shardstore/replica/transport/internal/netdelay), a user-space
# learning switch that plays the bridge and delays every frame a node sends by
# 0.5 ms: a round trip between two nodes takes 1 ms more, host to node 0.5 ms.
# On a kernel with netem, veths on a bridge plus `tc qdisc add dev dvN root
# netem delay 500us` in each namespace do the same without the extra hop.
# Each agent attaches its XDP and TCX programs to its own dvN and pins under
# /sys/fs/bpf/dorivo-cluster-nN.
#
# Environment:
#   DORIVO_BIN            agent binary (default: go build ./cmd/dorivo into the state dir)
#   DORIVO_NETDELAY_BIN   the switch (default: go build .../internal/netdelay into the state dir)
#   DORIVO_AGENT_FLAGS    extra flags for every agent, word-split (e.g. "--loops 1")
#   DORIVO_CLUSTER_STATE  state dir: logs, data dirs, pids (default /var/tmp/dorivo-cluster,
#                         on disk so that the agents' fsyncs are real)
#   DORIVO_UP_TIMEOUT     seconds to wait for every node to answer PING (default 30)
#   DORIVO_TEST_SLOW_FSYNC_DIR  tests only: node N's fsyncs wait the duration in file DIR/nN
#   DORIVO_CLUSTER_PEERS  0 leaves out the replication flags: three independent agents
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."

NODES=(1 2 3)
BRIDGE=dorivo-br0
SUBNET=10.77.0
HOST_IP=$SUBNET.254
RESP_PORT=6379
PEER_PORT=7379 # raft peer transport, once replication is wired in
DELAY=500us # one way, every frame a node sends
STATE=${DORIVO_CLUSTER_STATE:-/var/tmp/dorivo-cluster}
PIN_PREFIX=/sys/fs/bpf/dorivo-cluster-n
UP_TIMEOUT=${DORIVO_UP_TIMEOUT:-30}

ns_of() { echo "dorivo-n$1"; }
ip_of() { echo "$SUBNET.$1"; }

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

# resp_ping IP PORT: true when a RESP PING there gets +PONG (or -NOAUTH:
# it serves, and wants a password) within a second.
resp_ping() {
	local reply
	{
		exec 3<>"/dev/tcp/$1/$2" || return 1
		printf '*1\r\n$4\r\nPING\r\n' >&3
		IFS= read -r -t 1 reply <&3 || reply=
		exec 3<&- 3>&-
	} 2>/dev/null
	[[ $reply == "+PONG"* || $reply == "-NOAUTH"* ]]
}

# peer_flags N sets PEER_FLAGS, the flags that make node N one of three
# replicas (DORIVO_CLUSTER_PEERS=0: none, three independent agents).
peer_flags() {
	local n=$1 peers=() m
	for m in "${NODES[@]}"; do peers+=("$m=$(ip_of "$m"):$PEER_PORT"); done
	PEER_FLAGS=()
	# >>> replication: the agent's peer flags
	if [ "${DORIVO_CLUSTER_PEERS:-1}" = 1 ]; then
		PEER_FLAGS=(--node-id "$n" --peer-addr "$(ip_of "$n"):$PEER_PORT" --peers "$(
			IFS=,
			echo "${peers[*]}"
		)")
	fi
	# <<< replication
}

# network_up starts the switch (netdelay, see below) with one TAP for the
# host and one per node, moves each node's TAP into its namespace, and sets
# the addresses.
network_up() {
	if ip -o route show | grep -q "^$SUBNET\."; then
		die "$SUBNET.0/24 is already routed on this host; run '$0 down' or free the range"
	fi
	local taps=() n ns i
	for n in "${NODES[@]}"; do taps+=("dv$n"); done
	echo "$NETDELAY" >"$STATE/netdelay-bin"
	"$NETDELAY" -delay "$DELAY" -host "$BRIDGE" -control "$STATE/netdelay.sock" "${taps[@]}" </dev/null >"$STATE/netdelay.log" 2>&1 &
	echo $! >"$STATE/netdelay.pid"
	for ((i = 0; i < 100; i++)); do
		grep -q '^ready$' "$STATE/netdelay.log" && break
		kill -0 "$(<"$STATE/netdelay.pid")" 2>/dev/null || die "netdelay exited: $(cat "$STATE/netdelay.log")"
		sleep 0.05
	done
	grep -q '^ready$' "$STATE/netdelay.log" || die "netdelay did not start"
	ip addr add "$HOST_IP/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	for n in "${NODES[@]}"; do
		ns=$(ns_of "$n")
		ip netns add "$ns"
		ip link set "dv$n" netns "$ns"
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$(ip_of "$n")/24" dev "dv$n"
		ip -n "$ns" link set "dv$n" up
	done
}

agent_up() {
	local n=$1 pid
	mkdir -p "$STATE/n$n/data"
	peer_flags "$n"
	# Enter only the network namespace: `ip netns exec` also remounts /sys and
	# so hides /sys/fs/bpf from the agent. And nsenter directly, not from a
	# shell function: a backgrounded function is a subshell, and $! its PID.
	# Clients come from the host, over the bridge: protected mode off.
	# shellcheck disable=SC2086 # DORIVO_AGENT_FLAGS is split on purpose
	# DORIVO_TEST_SLOW_FSYNC_DIR (tests only): each node's fsyncs are
	# delayed by the duration in that dir's file nN (cmd/dorivo/slowfsync.go).
	local slow=()
	[ -z "${DORIVO_TEST_SLOW_FSYNC_DIR:-}" ] || slow=(env "DORIVO_TEST_SLOW_FSYNC_FILE=$DORIVO_TEST_SLOW_FSYNC_DIR/n$n")
	nsenter --net="/var/run/netns/$(ns_of "$n")" ${slow[@]+"${slow[@]}"} "$BIN" agent --iface "dv$n" --listen "$(ip_of "$n")" \
		--tcp-port "$RESP_PORT" --udp-port "$RESP_PORT" \
		--pin-dir "$PIN_PREFIX$n" --data-dir "$STATE/n$n/data" \
		--protected-mode no \
		${PEER_FLAGS[@]+"${PEER_FLAGS[@]}"} ${DORIVO_AGENT_FLAGS:-} \
		</dev/null >"$STATE/n$n/agent.log" 2>&1 &
	pid=$! # nsenter execs the agent: this is the agent's own PID
	echo "$pid" >"$STATE/n$n/pid"
}

# wait_serving [N...]: wait until the nodes (default all) answer PING.
wait_serving() {
	local deadline=$((SECONDS + UP_TIMEOUT)) n pid pending nodes=("$@")
	[ ${#nodes[@]} -gt 0 ] || nodes=("${NODES[@]}")
	while :; do
		pending=0
		for n in "${nodes[@]}"; do
			pid=$(<"$STATE/n$n/pid")
			if ! kill -0 "$pid" 2>/dev/null; then
				echo "cluster.sh: node $n (pid $pid) exited; its log:" >&2
				tail -n 20 "$STATE/n$n/agent.log" >&2
				return 1
			fi
			resp_ping "$(ip_of "$n")" "$RESP_PORT" || pending=1
		done
		[ "$pending" = 0 ] && return 0
		if ((SECONDS >= deadline)); then
			echo "cluster.sh: not every node answered PING within ${UP_TIMEOUT}s" >&2
			return 1
		fi
		sleep 0.1
	done
}

up() {
	[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP)"
	[ -e "$STATE" ] && die "$STATE exists: the cluster is up, or was not taken down; run '$0 down'"
	for n in "${NODES[@]}"; do
		[ -e "/var/run/netns/$(ns_of "$n")" ] && die "namespace $(ns_of "$n") exists; run '$0 down'"
	done
	mkdir -p "$STATE"
	# Any failure from here on takes down what was made.
	trap 'rc=$?; if [ "$rc" != 0 ]; then echo "cluster.sh: up failed, taking down what it made" >&2; down >/dev/null 2>&1; fi' EXIT
	BIN=${DORIVO_BIN:-}
	if [ -z "$BIN" ]; then
		BIN=$STATE/dorivo
		go build -o "$BIN" ./cmd/dorivo
	fi
	[[ $BIN == /* ]] || BIN=$CALLER_DIR/$BIN
	[ -x "$BIN" ] || die "agent binary $BIN is not executable"
	echo "$BIN" >"$STATE/bin"
	NETDELAY=${DORIVO_NETDELAY_BIN:-}
	if [ -z "$NETDELAY" ]; then
		NETDELAY=$STATE/netdelay
		go build -o "$NETDELAY" ./shardstore/replica/transport/internal/netdelay
	fi
	[[ $NETDELAY == /* ]] || NETDELAY=$CALLER_DIR/$NETDELAY
	network_up
	for n in "${NODES[@]}"; do agent_up "$n"; done
	wait_serving
	trap - EXIT
	for n in "${NODES[@]}"; do
		echo "node $n resp $(ip_of "$n"):$RESP_PORT pid $(<"$STATE/n$n/pid")"
	done
}

# start N: node N again, with the binary and flags `up` used.
start() {
	local n=${1:-}
	[[ $n =~ ^[1-3]$ ]] || die "start needs a node number, 1..3"
	[ -f "$STATE/bin" ] || die "the cluster is not up"
	BIN=$(<"$STATE/bin")
	if kill -0 "$(<"$STATE/n$n/pid")" 2>/dev/null; then
		die "node $n (pid $(<"$STATE/n$n/pid")) is running"
	fi
	agent_up "$n"
	wait_serving "$n"
	echo "node $n resp $(ip_of "$n"):$RESP_PORT pid $(<"$STATE/n$n/pid")"
}

# stop_agent PID: SIGTERM (a clean stop unpins), SIGKILL after 10 s.
stop_agent() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# down removes by name as well as from the state dir, so it also cleans up
# after an `up` that died half way, and running it twice is harmless.
down() {
	[ "$(id -u)" = 0 ] || die "needs root"
	local n pid stoppers=()
	# Stop the agents this script started in each node's namespace: those with
	# its pin dir on their command line (found even when the state dir is gone
	# or another one). Other processes there (a shell entered with nsenter)
	# are left alone; deleting the namespace cuts them off.
	for n in "${NODES[@]}"; do
		[ -e "/var/run/netns/$(ns_of "$n")" ] || continue
		for pid in $(ip netns pids "$(ns_of "$n")" 2>/dev/null); do
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- " agent .*--pin-dir $PIN_PREFIX$n " || continue
			stop_agent "$pid" &
			stoppers+=($!)
		done
	done
	[ ${#stoppers[@]} = 0 ] || wait "${stoppers[@]}"
	if [ -f "$STATE/netdelay.pid" ]; then
		pid=$(<"$STATE/netdelay.pid")
		if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "" ] && grep -q netdelay "/proc/$pid/cmdline" 2>/dev/null; then
			stop_agent "$pid" # its TAPs go with it
		fi
	fi
	for n in "${NODES[@]}"; do
		ip netns del "$(ns_of "$n")" 2>/dev/null || true
		ip link del "dv$n" 2>/dev/null || true
		rm -rf "$PIN_PREFIX$n"
	done
	ip link del "$BRIDGE" 2>/dev/null || true
	rm -rf "$STATE"
}

# fault N LINE: send the switch's control socket a set or clear for node N's port.
fault() {
	local n=$1 cmd=$2
	shift 2
	[[ $n =~ ^[1-3]$ ]] || die "needs a node number, 1..3"
	[ -f "$STATE/netdelay-bin" ] || die "the cluster is not up"
	"$(<"$STATE/netdelay-bin")" -control "$STATE/netdelay.sock" -ctl "$cmd dv$n $*"
}

case ${1:-} in
up) up ;;
start) start "${2:-}" ;;
down) down ;;
delay) fault "${2:-}" set "delay=${3:?delay N DUR}" ;;
loss) fault "${2:-}" set "loss=${3:?loss N PCT}" ;;
heal) fault "${2:-}" clear ;;
*)
	echo "usage: $0 up|start N|down|delay N DUR|loss N PCT|heal N" >&2
	exit 2
	;;
esac
