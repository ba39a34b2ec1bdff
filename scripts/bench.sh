#!/usr/bin/env bash
# Dorivo against redis-server, same machine, same run. Builds the agent and
# dorivo-loadgen from this tree, starts redis-server and the agent each in a
# private network namespace on its own loopback (the agent with its XDP,
# TCX and sk_reuseport programs attached there, nothing on the host), runs
# every workload with redis-benchmark and with dorivo-loadgen against both,
# and prints medians side by side with Dorivo/redis ratios. Then it compares
# Dorivo's steering modes: UDP steered by the kernel program versus the
# program detached (--no-steer), TCP shard-aware versus not. Everything it
# started is stopped and removed on exit, whatever the exit.
#
#   bash scripts/bench.sh                 # the whole suite (about 6 minutes on 2 cores)
#   bash scripts/bench.sh get-p16-c50     # one case (or several), same table
#   bash scripts/bench.sh --list          # case names
#   make bench [CASE=steer-udp-hash]
#
# Cases: OP-pP-cC for OP in set get mix (90% GET, 10% SET; dorivo-loadgen
# only: redis-benchmark has no mix) mset (10 keys), P in 1 16 (pipeline),
# C in 50 500 (connections); and steer-udp-kernel, steer-udp-hash,
# steer-tcp-aware, steer-tcp-plain, steer-tcp-hash (loadgen, 90/10 mix,
# P16, 50 connections or sockets). Keys are preloaded, so GETs hit.
#
# Knobs (env): REPEATS (3) runs per cell, medians quoted; REQUESTS (60000)
# per run at P1, times P16_SCALE (4) at P16; VALUE_SIZE (100); KEYSPACE
# (10000) keys per client's key set; TENANTS (10) loadgen hash tags; LOOPS
# ($(nproc)) agent event loops; RUN_TIMEOUT (60) seconds per run.
# DORIVO_ADDR=host:port measures an agent that is already running instead of
# starting one (its keyspace gets the preloaded keys; the steering cases
# need the script's own agent and are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-3}
REQUESTS=${REQUESTS:-60000}
P16_SCALE=${P16_SCALE:-4}
VALUE_SIZE=${VALUE_SIZE:-100}
KEYSPACE=${KEYSPACE:-10000}
TENANTS=${TENANTS:-10}
LOOPS=${LOOPS:-$(nproc)}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}

matrix=()
for p in 1 16; do
	for c in 50 500; do
		for op in set get mix mset; do matrix+=("$op-p$p-c$c"); done
	done
done
steering=(steer-udp-kernel steer-tcp-aware steer-tcp-plain steer-udp-hash steer-tcp-hash)

if [ "${1:-}" = --list ] || [ "${1:-}" = -l ]; then
	printf '%s\n' "${matrix[@]}" "${steering[@]}"
	exit 0
fi
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
fi
want=("$@")
[ ${#want[@]} -gt 0 ] || want=("${matrix[@]}" "${steering[@]}")
for w in "${want[@]}"; do
	case " ${matrix[*]} ${steering[*]} " in
	*" $w "*) ;;
	*) echo "bench.sh: unknown case '$w' (bash scripts/bench.sh --list)" >&2; exit 2 ;;
	esac
done
selected() { case " ${want[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

[ "$(id -u)" = 0 ] || { echo "bench.sh: needs root (network namespaces, BPF)" >&2; exit 1; }
bash scripts/install-deps.sh
for tool in redis-server redis-benchmark redis-cli go awk timeout nsenter ip; do
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
start_agent() { # MODE (kernel or hash)
	[ -z "${DORIVO_ADDR:-}" ] || return 0
	[ "$agent_mode" = "$1" ] && return 0
	stop_agent
	local flags=()
	[ "$1" = hash ] && flags=(--no-steer)
	: >"$work/agent.log"
	# nsenter directly, not through inns: $! must be the agent itself
	# (nsenter execs it), not a subshell that a signal would not reach.
	nsenter --net="/var/run/netns/$ns_d" "$work/dorivo" agent --iface lo --listen 127.0.0.1 --loops "$LOOPS" --pin-dir "$pin" \
		--admin-addr 127.0.0.1:9379 --data-dir "" "${key_flags[@]}" "${flags[@]}" >>"$work/agent.log" 2>&1 & # in memory, like the redis-server peer (scripts/bench-durable.sh measures durability)
	agent_pid=$!
	for i in $(seq 150); do
		grep -q "dorivo agent ready" "$work/agent.log" && break
		kill -0 "$agent_pid" 2>/dev/null && [ "$i" != 150 ] ||
			{ echo "bench.sh: agent did not start; its log:" >&2; cat "$work/agent.log" >&2; exit 1; }
		sleep 0.1
	done
	agent_mode=$1
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
rb_run() { # TARGET OP P C
	local n out x0 x1
	n=$(requests_for "$3")
	x0=$(dstats "$1")
	out=$(on "$1" timeout "$RUN_TIMEOUT" redis-benchmark -h "${thost[$1]}" -p "${tport[$1]}" -c "$4" -n "$n" -P "$3" \
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
elif [ -n "$(printf '%s\n' "${want[@]}" | grep '^steer-')" ]; then
	echo "bench.sh: steering cases skipped: they need the script's own agent (unset DORIVO_ADDR)" >&2
fi
stop_agent

echo
echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), $(go version | awk '{print $3}')"
echo "peers:   redis-server $(redis-server --version | awk '{print $3}' | tr -d v=) (single-threaded, no persistence) vs dorivo agent from $(git rev-parse --short HEAD 2>/dev/null || echo this tree) (${LOOPS} loops, XDP generic + TCX + sk_reuseport on lo)"
[ -n "${DORIVO_ADDR:-}" ] && echo "         dorivo: the running agent at $DORIVO_ADDR"
echo "runs:    median of $REPEATS runs; $REQUESTS requests per run at P1, $((REQUESTS * P16_SCALE)) at P16; ${VALUE_SIZE}-byte values; $KEYSPACE keys preloaded per client; clients and servers share the machine, each server in its own netns"
echo "ratio:   dorivo / redis-server for the same client and case (req/s, and p99: lower is better); x-loop: messages between loops per request"
echo
if grep -qv '^steer-' "$results"; then
	awk '
		$1 !~ /^steer-/ {
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
fi
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
echo "took $(($(date +%s) - started)) s; rerun one case: bash scripts/bench.sh CASE (bash scripts/bench.sh --list)"
