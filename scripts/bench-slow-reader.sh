#!/usr/bin/env bash
# One client pipelines GETs of a 100 KB value for 10 s and never reads,
# while 4 others PING: the server's RSS and Go heap, and the PINGs' p99,
# for Dorivo with its client bounds (default), Dorivo with them off
# (dorivo-client-pause-bytes 0 and dorivo-client-output-total 0: the
# behaviour before they existed, and Redis's with normal 0 0 0), and
# redis-server, in one run, inside a network namespace of its own.
# Needs root. Usage: scripts/bench-slow-reader.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10}
tmp=$(mktemp -d)
ns=dorivo-slowrd-$$
pin=/sys/fs/bpf/dorivo-slowrd-$$
go build -o "$tmp/dorivo" ./cmd/dorivo
go build -o "$tmp/slowreader" ./scripts/slowreader
ip netns add "$ns"
cleanup() {
	[[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null && sleep 1
	[[ -n ${rpid:-} ]] && kill "$rpid" 2>/dev/null && sleep 0.5
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp" "$pin"
}
trap cleanup EXIT
in_ns() { ip netns exec "$ns" "$@"; }
nspid() { # the process named $1 in the namespace
	for p in $(ip netns pids "$ns"); do [[ $(cat /proc/$p/comm 2>/dev/null) == "$1" ]] && echo "$p" && return; done
}
in_ns ip link set lo up

run_dorivo() { # label, then CONFIG SET arguments
	local label=$1; shift
	nsenter --net=/var/run/netns/"$ns" "$tmp/dorivo" agent --iface lo --tcp-port 7400 --udp-port 7400 --loops 2 --data-dir '' \
		--pin-dir "$pin" --admin-addr 127.0.0.1:7401 >"$tmp/agent.log" 2>&1 &
	agent=$!
	for _ in $(seq 100); do in_ns redis-cli -p 7400 PING >/dev/null 2>&1 && break; sleep 0.1; done
	pid=$(nspid dorivo) # ip netns exec may fork
	if (($#)); then in_ns redis-cli -p 7400 CONFIG SET "$@" >/dev/null; fi
	in_ns "$tmp/slowreader" -addr 127.0.0.1:7400 -pid "$pid" -metrics http://127.0.0.1:7401/metrics -dur "${dur}s" -name "$label"
	in_ns redis-cli -p 7400 INFO clients | grep -E 'client_recent_max_output_buffer|dorivo_client_pauses' | tr -d '\r' | tr '\n' ' '; echo
	kill "$pid" 2>/dev/null || tail -5 "$tmp/agent.log"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	wait "$agent" 2>/dev/null || true
	agent=
}
run_dorivo "dorivo (bounds on, default)"
run_dorivo "dorivo (bounds off)" dorivo-client-pause-bytes 0 dorivo-client-output-total 0
in_ns redis-server --port 7402 --save '' --appendonly no >"$tmp/redis.log" 2>&1 &
redis=$!
for _ in $(seq 100); do in_ns redis-cli -p 7402 PING >/dev/null 2>&1 && break; sleep 0.1; done
rpid=$(nspid redis-server)
in_ns "$tmp/slowreader" -addr 127.0.0.1:7402 -pid "$rpid" -dur "${dur}s" -name "redis-server 7.0.15 (normal 0 0 0)"
in_ns redis-cli -p 7402 INFO clients | grep -E 'client_recent_max_output_buffer' | tr -d '\r'
