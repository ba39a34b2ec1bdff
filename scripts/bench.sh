#!/usr/bin/env bash
# Dorivo against redis-server, same machine, same run. Builds the agent and
# dorivo-loadgen from this tree, starts redis-server and the agent each in a
# private network namespace on its own loopback (the agent with its XDP,
# TCX and sk_reuseport programs attached there, nothing on the host), runs
# every workload against both, and prints medians side by side with
# Dorivo/redis ratios, one table per question of issue 10 (performance).
# Everything it started is stopped and removed on exit, whatever the exit.
#
#   bash scripts/bench.sh                 # every table (under 10 minutes on 2 cores)
#   bash scripts/bench.sh get-p16-c50     # one case (or several)
#   bash scripts/bench.sh --list          # case names
#   make bench [CASE=steer-udp-hash]      # CASE may hold several, space-separated
#
# Tables and their cases:
# - unpinned, default loops ($(nproc)): OP-pP-cC for OP in set get mix (90%
#   GET, 10% SET; dorivo-loadgen only) mset (10 keys), P in 1 16
#   (pipeline), C in 50 500 (connections), with redis-benchmark and
#   dorivo-loadgen. The whole suite runs set and get with 50 connections
#   (500 are in the per-core table); the others on request.
# - per core: pin-OP-pP-cC (set, get at p16-c50, p1-c50, p1-c500): the
#   server pinned to CPU 1 (the agent with 1 loop), redis-benchmark to CPU 0.
# - cross-loop CPU cost: xloop-get-p16: server CPU per request (utime +
#   stime from /proc/PID/stat over the requests served) at GET P16 from
#   redis-benchmark (plain clients), 2 loops against 1 loop.
# - datagrams: dgram-p16, dgram-p1: dorivo-loadgen's signed datagrams
#   (sendmmsg/recvmmsg batches) against its RESP over TCP, same depth, 50
#   sockets or connections, 90% GET.
# - steering: steer-udp-kernel, steer-udp-hash, steer-tcp-aware,
#   steer-tcp-plain, steer-tcp-hash (loadgen, 90/10 mix, P16, 50).
# - durable: durable-set (SET P1, P16 against appendfsync always and
#   everysec) and cold (GET P16 with --cache-memory 1mb against all in
#   memory), both from scripts/bench-durable.sh in its own namespaces.
# - memory: bytes per key for 1M keys of 100 B: Dorivo's live Go heap after
#   a GC (and RSS) against redis-server's used_memory.
# - inline: 100,000 pipelined inline SET+GET pairs through redis-cli --pipe,
#   the agent on 1 and on 2 loops against redis-server.
# Keys are preloaded, so GETs hit.
#
# Knobs (env): REPEATS (3) runs per cell, medians quoted; REQUESTS (20000)
# per run at P1, times P16_SCALE (4) at P16; VALUE_SIZE (100); KEYSPACE
# (10000) keys per client's key set; TENANTS (10) loadgen hash tags; LOOPS
# ($(nproc)) agent event loops; RUN_TIMEOUT (60) seconds per run;
# MEMORY_KEYS (1000000); INLINE_PAIRS (100000); DURABLE_REQUESTS (20000,
# per run at P1 of scripts/bench-durable.sh, times its P16_SCALE at P16).
# DORIVO_ADDR=host:port measures an agent that is already running instead of
# starting one (its keyspace gets the preloaded keys; only the unpinned
# matrix runs against it).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-3}
REQUESTS=${REQUESTS:-20000}
P16_SCALE=${P16_SCALE:-4}
VALUE_SIZE=${VALUE_SIZE:-100}
KEYSPACE=${KEYSPACE:-10000}
TENANTS=${TENANTS:-10}
LOOPS=${LOOPS:-$(nproc)}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
MEMORY_KEYS=${MEMORY_KEYS:-1000000}
INLINE_PAIRS=${INLINE_PAIRS:-100000}
DURABLE_REQUESTS=${DURABLE_REQUESTS:-20000}

matrix=()
for p in 1 16; do
	for c in 50 500; do
		for op in set get mix mset; do matrix+=("$op-p$p-c$c"); done
	done
done
steering=(steer-udp-kernel steer-tcp-aware steer-tcp-plain steer-udp-hash steer-tcp-hash)
pinned=(pin-set-p16-c50 pin-get-p16-c50 pin-set-p1-c50 pin-get-p1-c50 pin-set-p1-c500 pin-get-p1-c500)
others=(xloop-get-p16 dgram-p16 dgram-p1 durable-set cold memory inline)
all=("${matrix[@]}" "${pinned[@]}" "${steering[@]}" "${others[@]}")

if [ "${1:-}" = --list ] || [ "${1:-}" = -l ]; then
	printf '%s\n' "${all[@]}"
	exit 0
fi
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
fi
want=($*) # make bench CASE="a b" passes one word with spaces
if [ ${#want[@]} -eq 0 ]; then
	for cs in "${matrix[@]}"; do case $cs in set-*-c50 | get-*-c50) want+=("$cs") ;; esac; done
	want+=("${pinned[@]}" "${steering[@]}" "${others[@]}")
fi
for w in "${want[@]}"; do
	case " ${all[*]} " in
	*" $w "*) ;;
	*) echo "bench.sh: unknown case '$w' (bash scripts/bench.sh --list)" >&2; exit 2 ;;
	esac
done
selected() { case " ${want[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

[ "$(id -u)" = 0 ] || { echo "bench.sh: needs root (network namespaces, BPF)" >&2; exit 1; }
bash scripts/install-deps.sh
for tool in redis-server redis-benchmark redis-cli go awk timeout nsenter ip taskset curl getconf; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found after scripts/install-deps.sh" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || true

started=$(date +%s)
bench_tag=dorivo-bench-$$
. scripts/bench-env.sh

# Datagrams are signed (protocol v2): one key per run for every loadgen
# tenant, given to the agent and to dorivo-loadgen.
bench_key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
key_flags=()
for i in $(seq 0 $((TENANTS - 1))); do key_flags+=(--tenant-key "tenant$i=$bench_key"); done

echo "bench.sh: building dorivo and dorivo-loadgen" >&2
go build -o "$work/" ./cmd/dorivo ./cmd/dorivo-loadgen


# Targets: name -> namespace, host, port.
declare -A tns thost tport
tns[redis]=$ns_r thost[redis]=127.0.0.1 tport[redis]=6379
tns[dorivo]=$ns_d thost[dorivo]=127.0.0.1 tport[dorivo]=6379
if [ -n "${DORIVO_ADDR:-}" ]; then
	tns[dorivo]= thost[dorivo]=${DORIVO_ADDR%:*} tport[dorivo]=${DORIVO_ADDR##*:}
fi
on() { # TARGET CMD...: run CMD where TARGET's loopback is
	local t=$1
	shift
	if [ -n "${tns[$t]}" ]; then inns "${tns[$t]}" "$@"; else "$@"; fi
}
rcli() { local t=$1; shift; on "$t" timeout 10 redis-cli -h "${thost[$t]}" -p "${tport[$t]}" "$@"; }

wait_pong() { # TARGET LOGFILE
	for _ in $(seq 100); do
		[ "$(rcli "$1" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "bench.sh: $1 not answering PING after 10s; its log:" >&2
	cat "$2" >&2
	exit 1
}

# Both clients' key sets, SET over RESP, so that every GET hits.
preload() { # TARGET
	awk -v n="$KEYSPACE" -v tenants="$TENANTS" -v size="$VALUE_SIZE" '
		function set(k) { printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v }
		BEGIN {
			v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
			for (i = 0; i < n; i++) set(sprintf("key:%012d", i))      # redis-benchmark -r
			per = int(n / tenants)
			for (t = 0; t < tenants; t++) for (m = 0; m < per; m++) set("{tenant" t "}:key:" m)  # dorivo-loadgen
		}' | rcli "$1" --pipe >"$work/preload.log" 2>&1 ||
		{ echo "bench.sh: preloading $1 failed:" >&2; cat "$work/preload.log" >&2; exit 1; }
}

agent_mode=
# start_agent MODE [LOOPS [CPUS]]: MODE kernel (steered) or hash
# (--no-steer); CPUS, when given, is the taskset list the agent runs on
# (its loops pin themselves within it). An agent already running so is
# kept.
start_agent() {
	[ -z "${DORIVO_ADDR:-}" ] || return 0
	local spec="$1 ${2:-$LOOPS} ${3:--}"
	[ "$agent_mode" = "$spec" ] && return 0
	stop_agent
	local flags=() pre=()
	[ "$1" = hash ] && flags=(--no-steer)
	[ -n "${3:-}" ] && pre=(taskset -c "$3")
	: >"$work/agent.log"
	# nsenter directly, not through inns: $! must be the agent itself
	# (taskset and nsenter exec it), not a subshell a signal would not reach.
	"${pre[@]}" nsenter --net="/var/run/netns/$ns_d" "$work/dorivo" agent --iface lo --listen 127.0.0.1 --loops "${2:-$LOOPS}" --pin-dir "$pin" \
		--admin-addr 127.0.0.1:9379 --pprof --data-dir "" "${key_flags[@]}" "${flags[@]}" >>"$work/agent.log" 2>&1 & # in memory, like the redis-server peer (scripts/bench-durable.sh measures durability)
	agent_pid=$!
	for i in $(seq 150); do
		grep -q "dorivo agent ready" "$work/agent.log" && break
		kill -0 "$agent_pid" 2>/dev/null && [ "$i" != 150 ] ||
			{ echo "bench.sh: agent did not start; its log:" >&2; cat "$work/agent.log" >&2; exit 1; }
		sleep 0.1
	done
	agent_mode=$spec
	wait_pong dorivo "$work/agent.log"
	preload dorivo
}
stop_agent() {
	[ -n "$agent_pid" ] || return 0
	kill -TERM "$agent_pid" 2>/dev/null || true
	wait "$agent_pid" 2>/dev/null || true
	agent_pid= agent_mode=
}

# dstats TARGET prints the agent's counters from INFO's Datapath section:
# messages sent between loops (requests for another loop's slots, forwarded
# datagrams), then the TCP connections each loop accepted (a0/a1/...).
# redis-server has neither: "0 -".
dstats() {
	[ "$1" = dorivo ] || { echo "0 -"; return; }
	rcli dorivo INFO datapath | tr -d '\r' | awk -F: '
		$1 == "total_cross_sent" { x = $2 }
		$1 ~ /^loop[0-9]+_accepted$/ { acc = acc (acc == "" ? "" : "/") $2 }
		END { print x + 0, (acc == "" ? "-" : acc) }'
}
# delta "X0 A0" "X1 A1" prints "X1-X0 A1-A0" (the accepts per loop, by loop).
delta() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		if (y[2] == "-") { print y[1] - x[1], "-"; exit }
		n = split(x[2], p, "/"); split(y[2], q, "/"); d = ""
		for (i = 1; i <= n; i++) d = d (i > 1 ? "/" : "") q[i] - p[i]
		print y[1] - x[1], d
	}'
}

requests_for() { [ "$1" -gt 1 ] && echo $((REQUESTS * P16_SCALE)) || echo "$REQUESTS"; }

# One run prints "req/s p50_ms p99_ms crossed accepted-per-loop".
# client_pre is what the client runs under (taskset for the pinned table).
client_pre=()
rb_run() { # TARGET OP P C
	local n out x0 x1
	n=$(requests_for "$3")
	x0=$(dstats "$1")
	out=$(on "$1" "${client_pre[@]}" timeout "$RUN_TIMEOUT" redis-benchmark -h "${thost[$1]}" -p "${tport[$1]}" -c "$4" -n "$n" -P "$3" \
		-d "$VALUE_SIZE" -r "$KEYSPACE" -t "$2" --csv 2>/dev/null | awk -F'"' 'NR == 2 {print $4, $10, $14}')
	x1=$(dstats "$1")
	[ -n "$out" ] && echo "$out $(delta "$x0" "$x1")"
}
lg_run() { # TARGET PROTO OP P C [loadgen flags...]
	local t=$1 proto=$2 op=$3 p=$4 c=$5 n out x0 x1
	shift 5
	local mix=(--read-ratio 0)
	case $op in
	get) mix=(--read-ratio 1) ;;
	mix) mix=(--read-ratio 0.9) ;;
	mset) mix=(--read-ratio 0 --mset-ratio 1) ;;
	esac
	n=$(requests_for "$p")
	x0=$(dstats "$t")
	out=$(on "$t" timeout "$RUN_TIMEOUT" "$work/dorivo-loadgen" --proto "$proto" --target "${thost[$t]}:${tport[$t]}" \
		--conns "$c" --requests "$n" --pipeline "$p" --value-size "$VALUE_SIZE" --keyspace "$KEYSPACE" \
		--tenants "$TENANTS" "${key_flags[@]}" "${mix[@]}" --quiet "$@" | awk '$1 == "ALL" {print $3, $4, $6}')
	x1=$(dstats "$t")
	[ -n "$out" ] && echo "$out $(delta "$x0" "$x1")"
}
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# measure CASE CLIENT SERVER CMD...: REPEATS runs of CMD, one result row of
# medians: case client server req/s p50 p99 crossed requests, and the last
# run's connections accepted per loop.
results=$work/results
: >"$results"
measure() {
	local cs=$1 client=$2 server=$3 n=$4
	shift 4
	: >"$work/runs"
	echo "bench.sh: $cs $client -> $server" >&2
	for _ in $(seq "$REPEATS"); do
		"$@" >>"$work/runs" || { echo "bench.sh: $cs $client -> $server: run failed or exceeded ${RUN_TIMEOUT}s" >&2; exit 1; }
	done
	[ "$(wc -l <"$work/runs")" = "$REPEATS" ] || { echo "bench.sh: $cs $client -> $server: a run printed no result" >&2; exit 1; }
	printf '%s %s %s %s %s %s %s %s %s\n' "$cs" "$client" "$server" \
		"$(awk '{print $1}' "$work/runs" | median)" "$(awk '{print $2}' "$work/runs" | median)" \
		"$(awk '{print $3}' "$work/runs" | median)" "$(awk '{print $4}' "$work/runs" | median)" "$n" \
		"$(tail -1 "$work/runs" | awk '{print $5}')" >>"$results"
}

# med_run NAME CMD...: REPEATS runs of CMD, each printing one line of
# numbers; one row "NAME" plus each column's median goes to $extra.
extra=$work/extra
: >"$extra"
med_run() {
	local name=$1 nf row i
	shift
	row=$name
	: >"$work/runs"
	echo "bench.sh: $name" >&2
	for _ in $(seq "$REPEATS"); do
		"$@" >>"$work/runs" || { echo "bench.sh: $name: run failed or exceeded ${RUN_TIMEOUT}s" >&2; exit 1; }
	done
	nf=$(head -1 "$work/runs" | awk '{print NF}')
	[ -n "$nf" ] && [ "$(wc -l <"$work/runs")" = "$REPEATS" ] || { echo "bench.sh: $name: a run printed no result" >&2; exit 1; }
	for i in $(seq "$nf"); do row="$row $(awk -v i="$i" '{print $i}' "$work/runs" | median)"; done
	echo "$row" >>"$extra"
}
ncpu=$(nproc)
all_cpus=0-$((ncpu - 1))

# Per core: the server on CPU 1 (the agent with one loop), redis-benchmark
# on CPU 0; redis-server is pinned for these cases and unpinned after.
pinned_run() { # CASE
	local op p c
	IFS=- read -r _ op p c <<<"$1"
	p=${p#p} c=${c#c}
	start_agent kernel 1 1
	taskset -a -pc 1 "$redis_pid" >/dev/null
	client_pre=(taskset -c 0)
	for server in redis dorivo; do
		measure "$1" redis-benchmark "$server" "$(requests_for "$p")" rb_run "$server" "$op" "$p" "$c"
	done
	client_pre=()
	taskset -a -pc "$all_cpus" "$redis_pid" >/dev/null
}

# Cross-loop cost: one GET P16 run from redis-benchmark (50 plain
# connections, twice the P16 requests for a finer CPU figure) prints
# "req/s p99_ms cpu_us_per_request x-loop_per_request", the CPU being the
# server process's utime+stime (/proc/PID/stat) over the run.
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
xloop_run() { # TARGET PID
	local n c0 c1 x0 x1 out
	n=$((2 * $(requests_for 16)))
	x0=$(dstats "$1")
	c0=$(cpu_ticks "$2")
	out=$(on "$1" timeout "$RUN_TIMEOUT" redis-benchmark -h "${thost[$1]}" -p "${tport[$1]}" -c 50 -n "$n" -P 16 \
		-d "$VALUE_SIZE" -r "$KEYSPACE" -t get --csv 2>/dev/null | awk -F'"' 'NR == 2 {print $4, $14}')
	c1=$(cpu_ticks "$2")
	x1=$(dstats "$1")
	[ -n "$out" ] || return 1
	awk -v o="$out" -v c="$((c1 - c0))" -v hz="$clk_tck" -v n="$n" -v x="$(delta "$x0" "$x1" | awk '{print $1}')" \
		'BEGIN { split(o, f, " "); printf "%s %s %.3f %.3f\n", f[1], f[2], c / hz * 1e6 / n, x / n }'
}

# Datagrams against RESP over TCP from the same dorivo-loadgen, same depth.
dgram_run() { # CASE (dgram-pP)
	local p=${1#dgram-p}
	start_agent kernel
	measure "$1" loadgen-udp dorivo "$(requests_for "$p")" lg_run dorivo udp mix "$p" 50
	measure "$1" loadgen-resp dorivo "$(requests_for "$p")" lg_run dorivo resp mix "$p" 50
}

# Inline: INLINE_PAIRS "SET k v" / "GET k" pairs, inline, in one pipe.
inline_run() { # TARGET: prints the seconds the whole pipe took
	local t0 t1 out
	t0=$(date +%s.%N)
	out=$(on "$1" timeout "$RUN_TIMEOUT" redis-cli -h "${thost[$1]}" -p "${tport[$1]}" --pipe <"$work/inline.txt" 2>&1) || return 1
	t1=$(date +%s.%N)
	grep -q "errors: 0, replies: $((2 * INLINE_PAIRS))" <<<"$out" || { echo "bench.sh: inline pipe to $1: $out" >&2; return 1; }
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# Memory: MEMORY_KEYS SETs of 100-byte values; Dorivo's live heap after a
# forced GC (pprof's heap?gc=1) and its RSS, against redis's used_memory.
dorivo_heap() {
	# Two GCs: buffers a connection gave back to a sync.Pool (gnet's) live
	# through the first one, in the pool's victim cache.
	inns "$ns_d" curl -sf -o /dev/null 'http://127.0.0.1:9379/debug/pprof/heap?gc=1'
	inns "$ns_d" curl -sf -o /dev/null 'http://127.0.0.1:9379/debug/pprof/heap?gc=1'
	inns "$ns_d" curl -sf http://127.0.0.1:9379/metrics | awk '$1 == "go_memstats_heap_alloc_bytes" { printf "%d\n", $2 }'
}
rss_of() { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$1/status"; }
redis_used() { rcli redis INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
load_keys() { # TARGET
	awk -v n="$MEMORY_KEYS" 'BEGIN {
			v = sprintf("%100s", ""); gsub(/ /, "v", v)
			for (i = 0; i < n; i++) { k = sprintf("mem:%012d", i); printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n", length(k), k, v }
		}' | on "$1" timeout 300 redis-cli -h "${thost[$1]}" -p "${tport[$1]}" --pipe >"$work/load.log" 2>&1 ||
		{ echo "bench.sh: loading $MEMORY_KEYS keys into $1 failed:" >&2; cat "$work/load.log" >&2; exit 1; }
}
memory_run() {
	local d0 d1 s0 s1 r0 r1
	start_agent kernel
	d0=$(dorivo_heap) s0=$(rss_of "$agent_pid") r0=$(redis_used)
	echo "bench.sh: memory: $MEMORY_KEYS keys of 100 B" >&2
	load_keys dorivo
	load_keys redis
	d1=$(dorivo_heap) s1=$(rss_of "$agent_pid") r1=$(redis_used)
	echo "memory $(awk -v n="$MEMORY_KEYS" -v d="$((d1 - d0))" -v s="$((s1 - s0))" -v r="$((r1 - r0))" \
		'BEGIN { printf "%.1f %.1f %.1f", d / n, s / n, r / n }')" >>"$extra"
}

redis-server --version >/dev/null
nsenter --net="/var/run/netns/$ns_r" redis-server --port "${tport[redis]}" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
	--maxclients 10000 >"$work/redis.log" 2>&1 &
redis_pid=$!
wait_pong redis "$work/redis.log"
preload redis

for cs in "${matrix[@]}"; do
	selected "$cs" || continue
	IFS=- read -r op p c <<<"$cs"
	p=${p#p} c=${c#c}
	n=$(requests_for "$p")
	start_agent kernel
	for server in redis dorivo; do
		[ "$op" = mix ] || measure "$cs" redis-benchmark "$server" "$n" rb_run "$server" "$op" "$p" "$c"
		measure "$cs" dorivo-loadgen "$server" "$n" lg_run "$server" resp "$op" "$p" "$c"
	done
done

for cs in "${pinned[@]}"; do
	selected "$cs" && [ -z "${DORIVO_ADDR:-}" ] && pinned_run "$cs"
done
if selected xloop-get-p16 && [ -z "${DORIVO_ADDR:-}" ]; then
	start_agent kernel 2
	med_run xloop-2 xloop_run dorivo "$agent_pid"
	start_agent kernel 1
	med_run xloop-1 xloop_run dorivo "$agent_pid"
	med_run xloop-redis xloop_run redis "$redis_pid"
fi
for cs in dgram-p16 dgram-p1; do
	selected "$cs" && [ -z "${DORIVO_ADDR:-}" ] && dgram_run "$cs"
done

steer_run() { # CASE
	local n
	n=$(requests_for 16)
	case $1 in
	steer-udp-kernel) start_agent kernel && measure "$1" loadgen-udp dorivo "$n" lg_run dorivo udp mix 16 50 ;;
	steer-udp-hash) start_agent hash && measure "$1" loadgen-udp dorivo "$n" lg_run dorivo udp mix 16 50 ;;
	steer-tcp-aware) start_agent kernel && measure "$1" loadgen-shard-aware dorivo "$n" lg_run dorivo resp mix 16 50 --shard-aware --loops "$LOOPS" ;;
	steer-tcp-plain) start_agent kernel && measure "$1" loadgen dorivo "$n" lg_run dorivo resp mix 16 50 ;;
	steer-tcp-hash) start_agent hash && measure "$1" loadgen dorivo "$n" lg_run dorivo resp mix 16 50 ;;
	esac
}
if [ -z "${DORIVO_ADDR:-}" ]; then
	for cs in "${steering[@]}"; do
		selected "$cs" && steer_run "$cs"
	done
elif [ -n "$(printf '%s\n' "${want[@]}" | grep -v -e '^[a-z]*-p[0-9]*-c[0-9]*$')" ]; then
	echo "bench.sh: only the unpinned matrix runs against DORIVO_ADDR; the other cases need the script's own agent" >&2
fi
if selected inline && [ -z "${DORIVO_ADDR:-}" ]; then
	awk -v n="$INLINE_PAIRS" 'BEGIN { for (i = 0; i < n; i++) printf "SET inl:%d %d\r\nGET inl:%d\r\n", i, i, i }' >"$work/inline.txt"
	start_agent kernel 1
	med_run inline-1 inline_run dorivo
	start_agent kernel 2
	med_run inline-2 inline_run dorivo
	med_run inline-redis inline_run redis
fi
if selected memory && [ -z "${DORIVO_ADDR:-}" ]; then
	memory_run
fi
stop_agent
kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
redis_pid=
: >"$work/durable.out"
durable_parts=()
selected durable-set && durable_parts+=(set)
selected cold && durable_parts+=(cold)
if [ ${#durable_parts[@]} -gt 0 ] && [ -z "${DORIVO_ADDR:-}" ]; then
	REPEATS=$REPEATS REQUESTS=$DURABLE_REQUESTS LOOPS=$LOOPS bash scripts/bench-durable.sh "${durable_parts[@]}" >"$work/durable.out"
fi

echo
echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), $(go version | awk '{print $3}')"
echo "peers:   redis-server $(redis-server --version | awk '{print $3}' | tr -d v=) (single-threaded, no persistence) vs dorivo agent from $(git rev-parse --short HEAD 2>/dev/null || echo this tree) (${LOOPS} loops, XDP generic + TCX + sk_reuseport on lo)"
[ -n "${DORIVO_ADDR:-}" ] && echo "         dorivo: the running agent at $DORIVO_ADDR"
echo "runs:    median of $REPEATS runs; $REQUESTS requests per run at P1, $((REQUESTS * P16_SCALE)) at P16; ${VALUE_SIZE}-byte values; $KEYSPACE keys preloaded per client; clients and servers share the machine, each server in its own netns"
echo "ratio:   dorivo / redis-server for the same client and case (req/s, and p99: lower is better); x-loop: messages between loops per request"
echo
# pairs CASE-REGEX TITLE: the Dorivo-vs-redis table of the cases matching.
pairs() {
	awk -v re="$1" '$1 ~ re && !($1 ~ /^pin-/ && re !~ /pin/) { found = 1 } END { exit !found }' "$results" || return 0
	echo "$2"
	awk -v re="$1" '
		$1 ~ re && !($1 ~ /^pin-/ && re !~ /pin/) {
			k = $1 " " $2
			if (!(k in seen)) { seen[k] = 1; order[++n] = k }
			v[k, $3] = $4 " " $5 " " $6; x[k, $3] = $7; req[k] = $8
		}
		END {
			printf "%-14s %-16s | %10s %7s %7s | %10s %7s %7s %6s | %7s %7s\n", "case", "client", "redis req/s", "p50 ms", "p99 ms", "dorivo req/s", "p50 ms", "p99 ms", "x-loop", "req/s x", "p99 x"
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, kk, " ")
				split(v[k, "redis"], r, " "); split(v[k, "dorivo"], d, " ")
				printf "%-14s %-16s | %10.0f %7.3f %7.3f | %10.0f %7.3f %7.3f %6.2f | %7.2f %7.2f\n", kk[1], kk[2], r[1], r[2], r[3], d[1], d[2], d[3], x[k, "dorivo"] / req[k], (r[1] > 0 ? d[1] / r[1] : 0), (r[3] > 0 ? d[3] / r[3] : 0)
			}
		}' "$results"
	echo
}
pairs '-c[0-9]*$' "unpinned, ${LOOPS} loops (steered), clients and servers unpinned:"
pairs '^pin-' "per core: server pinned to CPU 1 (dorivo: 1 loop), redis-benchmark pinned to CPU 0 (goals: P16 >= 1.3x, P1 >= 1.0x):"
if grep -q '^steer-' "$results"; then
	echo "steering (dorivo-loadgen, 90% GET / 10% SET, P16, 50 connections or sockets, ${LOOPS} loops;"
	echo "conns per loop: TCP connections each loop accepted in the last run, plus the one that read INFO):"
	awk '
		BEGIN {
			name["steer-udp-kernel"] = "UDP, steered by reuseport_select"
			name["steer-udp-hash"] = "UDP, program detached (--no-steer)"
			name["steer-tcp-aware"] = "TCP, shard-aware client, steered"
			name["steer-tcp-plain"] = "TCP, plain client, steered"
			name["steer-tcp-hash"] = "TCP, plain client, --no-steer"
			printf "%-17s %-37s %10s %7s %7s %10s %7s  %s\n", "case", "mode", "req/s", "p50 ms", "p99 ms", "crossed", "x-loop", "conns per loop"
		}
		$1 ~ /^steer-/ {
			printf "%-17s %-37s %10.0f %7.3f %7.3f %10d %7.2f  %s\n", $1, name[$1], $4, $5, $6, $7, $7 / $8, ($1 ~ /udp/ ? "-" : $9)
		}' "$results"
	echo
fi
if grep -q '^dgram-' "$results"; then
	echo "datagrams vs RESP over TCP, same dorivo-loadgen, 90% GET / 10% SET, 50 sockets or connections, signed datagrams (goal: udp/tcp >= 1.0):"
	awk '
		$1 ~ /^dgram-/ { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } v[$1, $2] = $4 " " $6 }
		END {
			printf "%-10s | %10s %7s | %10s %7s | %7s\n", "case", "udp req/s", "p99 ms", "tcp req/s", "p99 ms", "udp/tcp"
			for (i = 1; i <= n; i++) {
				k = order[i]; split(v[k, "loadgen-udp"], u, " "); split(v[k, "loadgen-resp"], t, " ")
				printf "%-10s | %10.0f %7.3f | %10.0f %7.3f | %7.2f\n", k, u[1], u[2], t[1], t[2], (t[1] > 0 ? u[1] / t[1] : 0)
			}
		}' "$results"
	echo
fi
if grep -q '^xloop-' "$extra"; then
	echo "cross-loop CPU cost: GET P16, redis-benchmark, 50 plain connections, server CPU (utime+stime) per request (goal: 2 loops <= 1.15x 1 loop):"
	awk '
		$1 ~ /^xloop-/ { r[$1] = $0 }
		END {
			printf "%-22s %10s %7s %12s %7s\n", "server", "req/s", "p99 ms", "CPU us/req", "x-loop"
			split(r["xloop-1"], one, " ")
			name["xloop-2"] = "dorivo 2 loops"; name["xloop-1"] = "dorivo 1 loop"; name["xloop-redis"] = "redis-server"
			for (k in name) if (k in r) { split(r[k], f, " "); row[k] = sprintf("%-22s %10.0f %7.3f %12.3f %7.2f", name[k], f[2], f[3], f[4], f[5]) }
			print row["xloop-2"]; print row["xloop-1"]; if ("xloop-redis" in row) print row["xloop-redis"]
			split(r["xloop-2"], two, " ")
			if (one[4] > 0) printf "2 loops / 1 loop CPU per request: %.2fx\n", two[4] / one[4]
		}' "$extra"
	echo
fi
if grep -q '^inline-' "$extra"; then
	echo "inline: $INLINE_PAIRS pipelined inline SET+GET pairs through one redis-cli --pipe (goal: <= 1.5x redis's time):"
	awk '
		$1 ~ /^inline-/ { t[$1] = $2 }
		END {
			printf "%-22s %8s %8s\n", "server", "seconds", "x redis"
			printf "%-22s %8.3f %8s\n", "redis-server", t["inline-redis"], "-"
			printf "%-22s %8.3f %8.2f\n", "dorivo 1 loop", t["inline-1"], t["inline-1"] / t["inline-redis"]
			printf "%-22s %8.3f %8.2f\n", "dorivo 2 loops", t["inline-2"], t["inline-2"] / t["inline-redis"]
		}' "$extra"
	echo
fi
if grep -q '^memory ' "$extra"; then
	echo "memory: $MEMORY_KEYS keys of 100 B, in memory (goal: dorivo <= redis's used_memory per key):"
	awk '$1 == "memory" {
		printf "%-44s %8s\n", "measure", "B/key"
		printf "%-44s %8.1f\n", "redis-server used_memory", $4
		printf "%-44s %8.1f  (%.2fx redis)\n", "dorivo live Go heap after GC (heap_alloc)", $2, $2 / $4
		printf "%-44s %8.1f  (%.2fx redis)\n", "dorivo RSS", $3, $3 / $4
	}' "$extra"
	echo
fi
if [ -s "$work/durable.out" ]; then
	cat "$work/durable.out"
	echo
fi
echo "took $(($(date +%s) - started)) s; rerun one case: bash scripts/bench.sh CASE (bash scripts/bench.sh --list)"
