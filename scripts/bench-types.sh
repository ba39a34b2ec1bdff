#!/usr/bin/env bash
# Dorivo's collection commands against redis-server, same machine, same run:
# redis-benchmark's hset, lpush, lpop, sadd, zadd and lrange_100 tests at -P 1
# and -P 16, REPEATS runs each, medians and Dorivo/redis-server ratios. Each
# server runs in its own network namespace (scripts/bench-env.sh); the agent
# keeps its data in memory (--data-dir ""), as redis-server runs without
# persistence here. Knobs: REPEATS (3), REQUESTS (100000 at P1, x4 at P16),
# CONNS (50), LOOPS ($(nproc)).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3} REQUESTS=${REQUESTS:-100000} CONNS=${CONNS:-50} LOOPS=${LOOPS:-$(nproc)}
TESTS=hset,lpush,lpop,sadd,zadd,lrange_100
[ "$(id -u)" = 0 ] || { echo "bench-types.sh: needs root" >&2; exit 1; }
for tool in redis-server redis-benchmark redis-cli go nsenter ip awk; do
	command -v "$tool" >/dev/null || { echo "bench-types.sh: $tool not found (bash scripts/install-deps.sh)" >&2; exit 1; }
done
bench_tag=dorivo-bt-$$
. scripts/bench-env.sh
go build -o "$work/" ./cmd/dorivo

inns "$ns_r" redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
nsenter --net="/var/run/netns/$ns_d" "$work/dorivo" agent --iface lo --listen 127.0.0.1 --loops "$LOOPS" --pin-dir "$pin" \
	--admin-addr 127.0.0.1:9379 --data-dir "" >"$work/agent.log" 2>&1 &
agent_pid=$!
for ns in "$ns_r" "$ns_d"; do
	for i in $(seq 100); do
		[ "$(inns "$ns" redis-cli -p 6379 ping 2>/dev/null)" = PONG ] && break
		[ "$i" = 100 ] && { echo "bench-types.sh: no PONG in $ns" >&2; cat "$work"/*.log >&2; exit 1; }
		sleep 0.1
	done
done

# run NS P: one redis-benchmark run, "TEST req/s" lines.
run() {
	local n=$REQUESTS
	[ "$2" -gt 1 ] && n=$((REQUESTS * 4))
	inns "$1" redis-benchmark -p 6379 -c "$CONNS" -n "$n" -P "$2" -t "$TESTS" --csv 2>/dev/null |
		awk -F'"' 'NR > 1 {split($2, a, " "); print a[1], $4}'
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
out=$work/out
: >"$out"
for p in 1 16; do
	for r in $(seq "$REPEATS"); do
		for target in redis dorivo; do
			ns=$ns_r
			[ "$target" = dorivo ] && ns=$ns_d
			inns "$ns" redis-cli -p 6379 flushall >/dev/null
			run "$ns" "$p" | awk -v t="$target" -v p="$p" '{print t, p, $1, $2}' >>"$out"
		done
	done
done
printf 'redis-benchmark -t %s -c %s, -n %s (P1) / %s (P16), median of %s; dorivo %s, %s loops, in memory\n' \
	"$TESTS" "$CONNS" "$REQUESTS" $((REQUESTS * 4)) "$REPEATS" "$(git rev-parse --short HEAD)" "$LOOPS"
printf '%-12s %3s %12s %12s %8s\n' test P redis/s dorivo/s dorivo/x
for p in 1 16; do
	for t in HSET LPUSH LPOP SADD ZADD LRANGE_100; do
		rv=$(awk -v p="$p" -v t="$t" '$1 == "redis" && $2 == p && $3 == t {print $4}' "$out" | median)
		dv=$(awk -v p="$p" -v t="$t" '$1 == "dorivo" && $2 == p && $3 == t {print $4}' "$out" | median)
		awk -v t="$t" -v p="$p" -v r="$rv" -v d="$dv" 'BEGIN {printf "%-12s %3s %12.0f %12.0f %8.2f\n", t, p, r, d, (r > 0 ? d / r : 0)}'
	done
done
