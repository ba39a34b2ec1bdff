#!/usr/bin/env bash
# Side-by-side load benchmark: redis-benchmark and dorivo-loadgen, each
# against a private redis-server started here and, when DORIVO_ADDR is set,
# against a running Dorivo agent (RESP over TCP). DORIVO_UDP_ADDR adds
# dorivo-loadgen over the datagram protocol. Every cell is the median of
# REPEATS runs; ratios are against redis-benchmark on redis-server for the
# same scenario, measured in this same run on this same machine.
#
#   bash scripts/bench.sh                      # redis-server only
#   DORIVO_ADDR=127.0.0.1:7379 bash scripts/bench.sh
#
# Knobs (env): REPEATS (3), REQUESTS per run (100000), CONNS (4),
# VALUE_SIZE (100), KEYSPACE (10000), RUN_TIMEOUT per run (60 s). Defaults take about 2 minutes on 2 cores.
set -euo pipefail

REPEATS=${REPEATS:-3}
REQUESTS=${REQUESTS:-100000}
CONNS=${CONNS:-4}
VALUE_SIZE=${VALUE_SIZE:-100}
KEYSPACE=${KEYSPACE:-10000}
RUN_TIMEOUT=${RUN_TIMEOUT:-60} # seconds; a run that hangs fails the script instead
cd "$(dirname "$0")/.."

for tool in redis-server redis-benchmark redis-cli go awk timeout; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found (run scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
redis_pid=
cleanup() {
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/dorivo-loadgen" ./cmd/dorivo-loadgen

# A free loopback port: one nothing answers on.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	echo "bench.sh: no free port found" >&2
	exit 1
}
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
for i in $(seq 51); do
	[ "$(timeout 2 redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
	[ "$i" = 51 ] && { echo "bench.sh: redis-server on port $port not ready after 5s" >&2; exit 1; }
	sleep 0.1
done
REDIS_ADDR=127.0.0.1:$port

# One run prints "rps p50_ms p99_ms".
rb_run() { # addr test pipeline
	local host=${1%:*} p=${1##*:}
	timeout "$RUN_TIMEOUT" redis-benchmark -h "$host" -p "$p" -c "$CONNS" -n "$REQUESTS" -P "$3" -d "$VALUE_SIZE" -r "$KEYSPACE" \
		-t "$2" --csv 2>/dev/null | awk -F'"' 'NR==2 {print $4, $10, $14}'
}
lg_run() { # proto addr op pipeline
	local ratio=0
	[ "$3" = get ] && ratio=1
	timeout "$RUN_TIMEOUT" "$work/dorivo-loadgen" --proto "$1" --target "$2" --conns "$CONNS" --requests "$REQUESTS" \
		--pipeline "$4" --value-size "$VALUE_SIZE" --keyspace "$KEYSPACE" --read-ratio "$ratio" --quiet |
		awk '$1 == "ALL" {print $3, $4, $6}'
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# measure LABEL CMD... runs CMD REPEATS times and prints LABEL and medians.
measure() {
	local label=$1
	shift
	: >"$work/runs"
	for _ in $(seq "$REPEATS"); do
		"$@" >>"$work/runs" || { echo "bench.sh: $label: run failed or exceeded ${RUN_TIMEOUT}s" >&2; exit 1; }
	done
	[ "$(wc -l <"$work/runs")" = "$REPEATS" ] || { echo "bench.sh: $label: a run printed no result" >&2; exit 1; }
	printf '%s %s %s %s\n' "$label" \
		"$(awk '{print $1}' "$work/runs" | median)" \
		"$(awk '{print $2}' "$work/runs" | median)" \
		"$(awk '{print $3}' "$work/runs" | median)"
}

results=$work/results
: >"$results"
for pipeline in 1 16; do
	for op in set get; do # set first, so that the gets find their keys
		scen="${op^^}-P$pipeline"
		measure "$scen redis-benchmark redis-server" rb_run "$REDIS_ADDR" "$op" "$pipeline" >>"$results"
		measure "$scen dorivo-loadgen redis-server" lg_run resp "$REDIS_ADDR" "$op" "$pipeline" >>"$results"
		if [ -n "${DORIVO_ADDR:-}" ]; then
			measure "$scen redis-benchmark dorivo" rb_run "$DORIVO_ADDR" "$op" "$pipeline" >>"$results"
			measure "$scen dorivo-loadgen dorivo" lg_run resp "$DORIVO_ADDR" "$op" "$pipeline" >>"$results"
		fi
		if [ -n "${DORIVO_UDP_ADDR:-}" ]; then
			measure "$scen dorivo-loadgen/udp dorivo" lg_run udp "$DORIVO_UDP_ADDR" "$op" "$pipeline" >>"$results"
		fi
	done
done

echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
echo "peers:   $(redis-server --version | awk '{print $3}' | tr -d v=) redis-server; dorivo ${DORIVO_ADDR:-not measured (set DORIVO_ADDR)}"
echo "runs:    median of $REPEATS runs x $REQUESTS requests, $CONNS conns, ${VALUE_SIZE}-byte values, $KEYSPACE keys; client and server share the machine"
echo
awk '
	{ base[$1] = base[$1] }
	$2 == "redis-benchmark" && $3 == "redis-server" { base[$1] = $4 }
	{ row[NR] = $0 }
	END {
		printf "%-9s %-20s %-13s %12s %9s %9s %8s\n", "scenario", "client", "server", "req/s", "p50 ms", "p99 ms", "ratio"
		for (i = 1; i <= NR; i++) {
			split(row[i], f, " ")
			ratio = (base[f[1]] > 0) ? sprintf("%.2f", f[4] / base[f[1]]) : "-"
			printf "%-9s %-20s %-13s %12.0f %9.3f %9.3f %8s\n", f[1], f[2], f[3], f[4], f[5], f[6], ratio
		}
	}' "$results"
