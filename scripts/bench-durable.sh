#!/usr/bin/env bash
# Durable writes: Dorivo with its store (--data-dir: every SET acknowledged
# only once fsynced, group commit) against redis-server with an append-only
# file, twice: appendfsync always (Redis's equivalent guarantee) and
# appendfsync everysec (up to a second of acknowledged writes lost on a
# crash). Same machine, same run, same disk (the data directories live in
# one temporary directory on the filesystem of $TMPDIR, default /var/tmp,
# never tmpfs). Each server runs in its own network namespace on its own
# loopback. redis-benchmark -t set -r 100000 -c 50 at -P 1 and -P 16 against
# each; prints throughput, p50 and p99 (redis-benchmark --csv), the ratios
# Dorivo/redis, and, from Dorivo's own /metrics, fsyncs per second and writes
# per fsync (dorivo_store_fsyncs_total, dorivo_store_entries_total).
#
# Then cold reads: the same keys are rewritten with READ_VALUE_SIZE-byte
# values and read back with redis-benchmark -t get, against the agent with
# --cache-memory 1gb (every value in memory), against the agent restarted
# with --cache-memory $COLD_MEMORY (most values on disk only: a GET waits
# for its value to come back through the read cache and pebble), and
# against redis-server, with the cold values fetched per second from
# dorivo_loop_cold_fetches_total.
#
#   bash scripts/bench-durable.sh [set] [cold]   # both parts by default
#
# scripts/bench.sh runs it for its durable-set and cold cases.
#
# Knobs (env): REQUESTS (100000) per run at -P 1, times P16_SCALE (4) at
# -P 16; REPEATS (1) runs per cell, the median quoted; LOOPS ($(nproc))
# agent event loops; VALUE_SIZE (3, redis-benchmark's default);
# READ_VALUE_SIZE (100) and COLD_MEMORY (1mb) for the reads.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-100000}
P16_SCALE=${P16_SCALE:-4}
REPEATS=${REPEATS:-1}
LOOPS=${LOOPS:-$(nproc)}
VALUE_SIZE=${VALUE_SIZE:-3}
READ_VALUE_SIZE=${READ_VALUE_SIZE:-100}
COLD_MEMORY=${COLD_MEMORY:-1mb}
export TMPDIR=${TMPDIR:-/var/tmp}
do_set= do_cold=
for part in "${@:-set cold}"; do
	for w in $part; do
		case $w in
		set) do_set=1 ;;
		cold) do_cold=1 ;;
		*) echo "bench-durable.sh: unknown part '$w' (set, cold)" >&2; exit 2 ;;
		esac
	done
done

[ "$(id -u)" = 0 ] || { echo "bench-durable.sh: needs root (network namespaces, BPF)" >&2; exit 1; }
for tool in redis-server redis-benchmark redis-cli go awk nsenter ip curl; do
	command -v "$tool" >/dev/null || { echo "bench-durable.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done
if [ "$(stat -f -c %T "$TMPDIR")" = tmpfs ]; then
	echo "bench-durable.sh: $TMPDIR is tmpfs, where fsync costs nothing; set TMPDIR to a disk" >&2
	exit 1
fi

bench_tag=dorivo-bd-$$
. scripts/bench-env.sh

echo "bench-durable.sh: building dorivo" >&2
go build -o "$work/" ./cmd/dorivo

wait_pong() { # NS LOG
	for _ in $(seq 150); do
		[ "$(inns "$1" redis-cli -p 6379 ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "bench-durable.sh: no PONG in $1; log:" >&2
	cat "$2" >&2
	exit 1
}

start_redis() { # FSYNC (always|everysec)
	stop_redis
	mkdir -p "$work/redis-$1"
	# nsenter directly, not through inns: $! must be redis-server itself.
	nsenter --net="/var/run/netns/$ns_r" redis-server --port 6379 --bind 127.0.0.1 --dir "$work/redis-$1" --save "" \
		--appendonly yes --appendfsync "$1" --logfile "$work/redis-$1.log" &
	redis_pid=$!
	wait_pong "$ns_r" "$work/redis-$1.log"
}
stop_redis() {
	[ -n "$redis_pid" ] || return 0
	kill "$redis_pid" 2>/dev/null || true
	wait "$redis_pid" 2>/dev/null || true
	redis_pid=
}

start_agent() { # [CACHE_MEMORY]
	mkdir -p "$work/dorivo-data"
	nsenter --net="/var/run/netns/$ns_d" "$work/dorivo" agent --iface lo --listen 127.0.0.1 --loops "$LOOPS" \
		--pin-dir "$pin" --admin-addr 127.0.0.1:9379 --pprof --data-dir "$work/dorivo-data" \
		--cache-memory "${1:-1gb}" >"$work/agent.log" 2>&1 &
	agent_pid=$!
	wait_pong "$ns_d" "$work/agent.log"
}
stop_agent() {
	kill -TERM "$agent_pid" 2>/dev/null || true
	wait "$agent_pid" 2>/dev/null || true
	agent_pid=
}

# store_counters prints "fsyncs entries cold_fetches" from the agent's
# /metrics.
store_counters() {
	inns "$ns_d" curl -sf http://127.0.0.1:9379/metrics | awk '
		$1 == "dorivo_store_fsyncs_total" { f = $2 }
		$1 == "dorivo_store_entries_total" { e = $2 }
		$1 ~ /^dorivo_loop_cold_fetches_total/ { c += $2 }
		END { printf "%d %d %d\n", f, e, c }'
}

# bench NS P [TEST SIZE]: one redis-benchmark run (default: set,
# VALUE_SIZE); prints "rps p50 p99".
bench() {
	local n=$REQUESTS
	[ "$2" -gt 1 ] && n=$((REQUESTS * P16_SCALE))
	inns "$1" redis-benchmark -h 127.0.0.1 -p 6379 -t "${3:-set}" -r 100000 -c 50 -P "$2" -n "$n" -d "${4:-$VALUE_SIZE}" --csv 2>/dev/null |
		awk -F, 'NR == 2 { gsub(/"/, ""); print $2, $5, $7 }'
}

# fill NS: writes every one of redis-benchmark's 100000 keys once with a
# READ_VALUE_SIZE-byte value (-r draws keys at random, so five passes
# over the key space leave well under 1% unwritten).
fill() {
	inns "$1" redis-benchmark -h 127.0.0.1 -p 6379 -t set -r 100000 -c 50 -P 16 -n 500000 -d "$READ_VALUE_SIZE" -q >/dev/null 2>&1
}

# median of REPEATS runs (by throughput) of bench NS P [TEST SIZE]; for
# Dorivo also fsyncs/s, writes per fsync and cold fetches/s over that run.
declare -A res
measure() { # NAME NS P [TEST SIZE]
	local runs=() i line
	for ((i = 0; i < REPEATS; i++)); do
		local c0 c1 t0 t1
		[[ $1 == dorivo* ]] && c0=$(store_counters)
		t0=$(date +%s.%N)
		line=$(bench "$2" "$3" "${4:-}" "${5:-}")
		t1=$(date +%s.%N)
		if [[ $1 == dorivo* ]]; then
			c1=$(store_counters)
			line="$line $(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN {
				split(a, x, " "); split(b, y, " "); f = y[1] - x[1]; e = y[2] - x[2]; c = y[3] - x[3]
				printf "%.0f %.1f %.0f", f / (t1 - t0), (f > 0 ? e / f : 0), c / (t1 - t0) }')"
		fi
		runs+=("$line")
		echo "  $1 -P $3 run $((i + 1)): $line" >&2
	done
	res[$1,$3]=$(printf '%s\n' "${runs[@]}" | sort -n -k1 | awk -v n="${#runs[@]}" 'NR == int((n + 1) / 2)')
}

echo "bench-durable.sh: dorivo ($LOOPS loops, --data-dir on $(df --output=source "$TMPDIR" | tail -1))" >&2
start_agent
if [ -n "$do_set" ]; then
	for p in 1 16; do measure dorivo "$ns_d" "$p"; done
fi
if [ -n "$do_cold" ]; then
	echo "bench-durable.sh: reads, $READ_VALUE_SIZE-byte values, dorivo --cache-memory 1gb" >&2
	fill "$ns_d"
	for p in 1 16; do measure dorivo-hot "$ns_d" "$p" get "$READ_VALUE_SIZE"; done
	echo "bench-durable.sh: reads, dorivo restarted with --cache-memory $COLD_MEMORY" >&2
	stop_agent
	start_agent "$COLD_MEMORY"
	for p in 1 16; do measure dorivo-cold "$ns_d" "$p" get "$READ_VALUE_SIZE"; done
fi
stop_agent
for f in always everysec; do
	[ -n "$do_set" ] || [ "$f" = everysec ] || continue
	echo "bench-durable.sh: redis-server appendonly yes, appendfsync $f" >&2
	start_redis "$f"
	if [ -n "$do_set" ]; then
		for p in 1 16; do measure "redis-$f" "$ns_r" "$p"; done
	fi
	if [ "$f" = everysec ] && [ -n "$do_cold" ]; then
		fill "$ns_r"
		for p in 1 16; do measure redis-get "$ns_r" "$p" get "$READ_VALUE_SIZE"; done
	fi
	stop_redis
done

if [ -n "$do_set" ]; then
echo
echo "redis-benchmark -t set -r 100000 -c 50 -d $VALUE_SIZE, -n $REQUESTS (-P 1) / $((REQUESTS * P16_SCALE)) (-P 16); median of $REPEATS"
echo "dorivo $(git rev-parse --short HEAD 2>/dev/null || echo tree): $LOOPS loops, writes acknowledged after fsync; redis-server $(redis-server --version | awk '{print $3}' | tr -d v=): appendonly yes"
echo "goal: dorivo >= 1.2x redis fsync always in SET/s, with p99 no higher (p99 x <= 1)"
printf '%-22s %3s %10s %8s %8s %10s %10s %9s %7s\n' target P "SET/s" p50_ms p99_ms fsyncs/s writes/fs "dorivo/x" "p99 x"
for p in 1 16; do
	read -r drps _ dp99 _ <<<"${res[dorivo,$p]}"
	for t in dorivo redis-always redis-everysec; do
		read -r rps p50 p99 fs wpf _ <<<"${res[$t,$p]}"
		ratio=- pratio=-
		[ "$t" != dorivo ] && ratio=$(awk -v a="$drps" -v b="$rps" 'BEGIN { printf "%.2fx", a / b }')
		[ "$t" != dorivo ] && pratio=$(awk -v a="$dp99" -v b="$p99" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		label=$t
		[ "$t" = redis-always ] && label="redis fsync always"
		[ "$t" = redis-everysec ] && label="redis fsync everysec"
		printf '%-22s %3s %10.0f %8s %8s %10s %10s %9s %7s\n' "$label" "$p" "$rps" "$p50" "$p99" "${fs:--}" "${wpf:--}" "$ratio" "$pratio"
	done
done

fi
if [ -n "$do_cold" ]; then
echo
echo "redis-benchmark -t get -r 100000 -c 50, $READ_VALUE_SIZE-byte values over 100000 keys (about $((READ_VALUE_SIZE * 100000 / 1000000)) MB); median of $REPEATS"
echo "goal: dorivo cold >= 0.4x dorivo hot (all in memory) at P16"
printf '%-22s %3s %10s %8s %8s %12s %9s %9s\n' target P "GET/s" p50_ms p99_ms "cold_fetch/s" "dorivo/x" "x hot"
for p in 1 16; do
	read -r grps _ <<<"${res[redis-get,$p]}"
	read -r hrps _ <<<"${res[dorivo-hot,$p]}"
	for t in dorivo-hot dorivo-cold redis-get; do
		read -r rps p50 p99 _ _ cf <<<"${res[$t,$p]}"
		ratio=- hratio=-
		[ "$t" != redis-get ] && ratio=$(awk -v a="$rps" -v b="$grps" 'BEGIN { printf "%.2fx", a / b }')
		[ "$t" = dorivo-cold ] && hratio=$(awk -v a="$rps" -v b="$hrps" 'BEGIN { printf "%.2fx", a / b }')
		label=$t
		[ "$t" = dorivo-hot ] && label="dorivo 1gb (hot)"
		[ "$t" = dorivo-cold ] && label="dorivo $COLD_MEMORY (cold)"
		[ "$t" = redis-get ] && label="redis-server"
		printf '%-22s %3s %10.0f %8s %8s %12s %9s %9s\n' "$label" "$p" "$rps" "$p50" "$p99" "${cf:--}" "$ratio" "$hratio"
	done
done
fi
