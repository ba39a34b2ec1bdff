#!/usr/bin/env bash
# Replicated writes: Dorivo's three-node cluster against a three-member etcd
# 3.4 cluster, on this machine, under the same 0.5 ms one-way delay.
#
#   bash scripts/bench-etcd.sh          # or make bench-etcd; root, about 2 minutes
#   CLIENTS="1 100 1000" bash scripts/bench-etcd.sh
#   PROFILE=1 bash scripts/bench-etcd.sh  # also a CPU profile of node 1 under the last client count
#
# What it does:
#   1. scripts/cluster.sh up: agents in netns dorivo-n1..3 (10.77.0.1..3),
#      joined by the netdelay user-space switch, which delays every frame a
#      node sends by 0.5 ms (no tc netem on this kernel; see cluster.sh).
#   2. etcd member eN (Debian's etcd-server, /usr/bin/etcd 3.4) in the same
#      namespace as dorivo node N, on 10.77.0.N:2379 (clients) and :2380
#      (peers), so its traffic takes the same TAP and netdelay path. It checks
#      that: ping between the namespaces, and the RTT the kernel measured on
#      the etcd members' own peer connections (ss -ti).
#   3. The same load on both, per client count: writes only (SET, PUT),
#      100-byte values, keys drawn uniformly from 100k, one request in flight
#      per client, clients spread over the three nodes (each system forwards
#      writes to the leader). Dorivo first: dorivo-loadgen, one process per
#      node. Then the agents are stopped (idle, they still take CPU) and
#      etcd runs: etcd's own tools/benchmark, `put`.
#   4. A table: throughput, p50 and p99 per system and client count, and the
#      Dorivo/etcd ratios; then where the machine's CPU went during each run
#      (agents, netdelay, etcd members, the rest: clients, kernel, others).
#
# The etcd benchmark tool: the v3.4 tags are not usable Go module versions
# (no /v3 module path then), but the v3 API of go.etcd.io/etcd/v3 v3.5.x
# talks to a 3.4 server, and the module proxy serves v3.5.11. The tool is
# built at run time in a throwaway wrapper module under $WORK (outside the
# repository), so the repository's go.mod keeps its dependencies.
#
# Merging the three dorivo-loadgen reports of one run: throughput is their
# sum; p50 is their request-weighted mean (the merged median lies between the
# smallest and largest p50); p99 is their largest (an upper bound of the
# merged p99: no process has more than 1% of its requests above it).
# Keys: dorivo-loadgen's are `{tenantT}:key:M` (about 20 bytes, 1000 hash
# tags so that they spread over every shard), etcd's 16 bytes.
#
# Safety: it takes /tmp/dorivo-netns.lock (other users of the namespaces
# wait), sends load only to the test namespaces' addresses, every run is
# bounded (seconds for Dorivo, request counts for etcd), and on any exit the
# trap stops the etcd members and runs cluster.sh down.
#
# Environment:
#   CLIENTS            client counts (default "1 1000")
#   SECS               seconds per Dorivo run (default 10)
#   ETCD_TOTAL_1       etcd requests with 1 client (default 3000); for other
#                      counts C: ETCD_TOTAL_PER_CLIENT * C (default 150), at least ETCD_TOTAL_1
#   ETCD_CONNS_MAX     most gRPC connections of the etcd benchmark (default 100,
#                      etcd's documented setup: 1000 clients over 100 conns)
#   DORIVO_CLUSTER_STATE  cluster.sh state dir (default /var/tmp/dorivo-cluster-etcdbench)
#   WORK               build and result dir (default /var/tmp/etcd-bench): the tools,
#                      each run's raw output, the members' and agents' logs
#   ETCD_BIN           etcd 3.4 server (default /usr/bin/etcd; apt-get install etcd-server)
#   ETCD_BENCH_VERSION go.etcd.io/etcd/v3 version for tools/benchmark (default v3.5.11)
#   PROFILE            1: CPU profile of node 1's agent during the last Dorivo run (SECS-4 s)
#   LOCK_WAIT          seconds to wait for /tmp/dorivo-netns.lock (default 1800)
#   NETNS_WAIT         then for dorivo-n1..3 and 10.77.0.0/24 to be free (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-"1 1000"}
SECS=${SECS:-10}
ETCD_TOTAL_1=${ETCD_TOTAL_1:-3000}
ETCD_TOTAL_PER_CLIENT=${ETCD_TOTAL_PER_CLIENT:-150}
ETCD_CONNS_MAX=${ETCD_CONNS_MAX:-100}
export DORIVO_CLUSTER_STATE=${DORIVO_CLUSTER_STATE:-/var/tmp/dorivo-cluster-etcdbench}
WORK=${WORK:-/var/tmp/etcd-bench}
ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
ETCD_BENCH_VERSION=${ETCD_BENCH_VERSION:-v3.5.11}
PROFILE=${PROFILE:-0}
LOCK=/tmp/dorivo-netns.lock
NODES=(1 2 3)
SUBNET=10.77.0
RESP_PORT=6379
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
KEYSPACE=100000
VALUE_SIZE=100
ETCD_KEY_SIZE=16
ETCD_DATA=$WORK/etcd-data # on disk, so that etcd's fsyncs are real, like the agents'

die() {
	echo "bench-etcd.sh: $*" >&2
	exit 1
}
log() { echo "== $*" >&2; }
ns_of() { echo "dorivo-n$1"; }
ip_of() { echo "$SUBNET.$1"; }
in_ns() {
	local n=$1
	shift
	nsenter --net="/var/run/netns/$(ns_of "$n")" "$@"
}

# take_lock: the namespaces are shared with tests. Under an outer
# `flock /tmp/dorivo-netns.lock ...` the lock's descriptor is inherited:
# locking that same descriptor again returns at once instead of deadlocking.
take_lock() {
	local fd
	for fd in "/proc/$$/fd"/*; do
		if [ "$(readlink "$fd" 2>/dev/null)" = "$LOCK" ]; then
			flock -w "${LOCK_WAIT:-1800}" "${fd##*/}" || die "could not take $LOCK"
			return
		fi
	done
	exec 9>"$LOCK"
	log "waiting for $LOCK"
	flock -w "${LOCK_WAIT:-1800}" 9 || die "$LOCK still held after ${LOCK_WAIT:-1800}s"
}

# need_tools installs etcd-server and ping when they are missing.
need_tools() {
	local pkgs=()
	[ -x "$ETCD_BIN" ] || pkgs+=(etcd-server)
	command -v ping >/dev/null || pkgs+=(iputils-ping)
	command -v jq >/dev/null || pkgs+=(jq)
	[ ${#pkgs[@]} = 0 ] && return
	log "apt-get install ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	[ -x "$ETCD_BIN" ] || die "no etcd at $ETCD_BIN after installing etcd-server"
}

# build: dorivo-loadgen from the repository, etcd's benchmark tool in a
# wrapper module of its own under $WORK/etcd-tool (see the header).
build() {
	mkdir -p "$WORK"
	log "building dorivo-loadgen"
	go build -o "$WORK/dorivo-loadgen" ./cmd/dorivo-loadgen
	local mod=$WORK/etcd-tool
	if [ ! -x "$mod/benchmark-$ETCD_BENCH_VERSION" ]; then
		log "building go.etcd.io/etcd/v3/tools/benchmark@$ETCD_BENCH_VERSION in $mod"
		rm -rf "$mod"
		mkdir -p "$mod"
		(
			cd "$mod"
			export GOFLAGS=-mod=mod GOWORK=off
			go mod init etcdbench-wrapper >/dev/null 2>&1
			go get "go.etcd.io/etcd/v3@$ETCD_BENCH_VERSION" >/dev/null 2>&1 ||
				die "go get go.etcd.io/etcd/v3@$ETCD_BENCH_VERSION failed"
			go build -o "benchmark-$ETCD_BENCH_VERSION" go.etcd.io/etcd/v3/tools/benchmark
		)
	fi
	ETCD_TOOL=$mod/benchmark-$ETCD_BENCH_VERSION
}

ETCD_PIDS=()
CLUSTER_UP=0  # 1 once cluster.sh up succeeded (a failed up takes itself down)
AGENTS_GONE=0 # 1 once stop_agents ran (before the etcd runs)
cleanup() {
	local rc=$? pid n
	trap - EXIT INT TERM
	for pid in $(jobs -p); do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in ${ETCD_PIDS[@]+"${ETCD_PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in ${ETCD_PIDS[@]+"${ETCD_PIDS[@]}"}; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if [ "$CLUSTER_UP" = 1 ]; then
		for n in "${NODES[@]}"; do cp "$DORIVO_CLUSTER_STATE/n$n/agent.log" "$WORK/agent-n$n.log" 2>/dev/null || true; done
		bash scripts/cluster.sh down >/dev/null 2>&1 || echo "bench-etcd.sh: cluster.sh down failed" >&2
	fi
	rm -rf "$ETCD_DATA"
	exit "$rc"
}

etcd_up() {
	local n cluster=() url
	for n in "${NODES[@]}"; do cluster+=("e$n=http://$(ip_of "$n"):$ETCD_PEER_PORT"); done
	rm -rf "$ETCD_DATA"
	for n in "${NODES[@]}"; do
		mkdir -p "$ETCD_DATA/e$n"
		url=http://$(ip_of "$n")
		# nsenter directly, not via in_ns: a backgrounded function is a
		# subshell, and $! would be its PID instead of etcd's
		nsenter --net="/var/run/netns/$(ns_of "$n")" "$ETCD_BIN" --name "e$n" --data-dir "$ETCD_DATA/e$n" \
			--listen-client-urls "$url:$ETCD_CLIENT_PORT" --advertise-client-urls "$url:$ETCD_CLIENT_PORT" \
			--listen-peer-urls "$url:$ETCD_PEER_PORT" --initial-advertise-peer-urls "$url:$ETCD_PEER_PORT" \
			--initial-cluster "$(IFS=,; echo "${cluster[*]}")" --initial-cluster-state new \
			--initial-cluster-token etcdbench --logger zap --log-level warn \
			</dev/null >"$WORK/etcd-e$n.log" 2>&1 &
		ETCD_PIDS+=($!)
		disown # no "Killed" job report if cleanup has to SIGKILL it
	done
	local deadline=$((SECONDS + 30)) ok
	while :; do
		ok=0
		for n in "${NODES[@]}"; do
			curl -s -m 1 "http://$(ip_of "$n"):$ETCD_CLIENT_PORT/health" | grep -q '"health":"true"' && ok=$((ok + 1))
		done
		[ "$ok" = 3 ] && break
		((SECONDS < deadline)) || die "etcd not healthy within 30 s; see $WORK/etcd-e*.log"
		for n in "${!ETCD_PIDS[@]}"; do
			kill -0 "${ETCD_PIDS[$n]}" 2>/dev/null || die "etcd e$((n + 1)) exited: $(tail -n 5 "$WORK/etcd-e$((n + 1)).log")"
		done
		sleep 0.2
	done
}

# check_delay: ping RTT between the namespaces and the RTT the kernel keeps
# for the etcd members' peer connections; both must show the delay.
check_delay() {
	local n m out
	log "delay check (expect ~1 ms RTT node to node, ~0.5 ms host to node)"
	for n in 1 2; do
		m=$((n + 1))
		out=$(in_ns "$n" ping -q -c 20 -i 0.02 "$(ip_of "$m")" | tail -n 1)
		echo "ping n$n -> n$m: $out"
	done
	out=$(ping -q -c 20 -i 0.02 "$(ip_of 1)" | tail -n 1)
	echo "ping host -> n1: $out"
	for n in "${NODES[@]}"; do
		# rtt:AVG/VAR in ms, per established peer connection of etcd eN
		out=$(in_ns "$n" ss -tin "( sport = :$ETCD_PEER_PORT or dport = :$ETCD_PEER_PORT )" |
			grep -o 'rtt:[0-9.]*' | cut -d: -f2 | sort -n | tr '\n' ' ')
		echo "etcd e$n peer connections, kernel srtt ms: ${out:-none}"
	done
	local avg
	avg=$(in_ns 1 ping -q -c 10 -i 0.02 "$(ip_of 2)" | awk -F/ '/^rtt/ {print $5}')
	awk -v a="$avg" 'BEGIN { exit !(a >= 0.8) }' || die "node-to-node RTT ${avg} ms: the 0.5 ms delay is missing"
}

# resp_cmd IP ARG...: one RESP command to IP:RESP_PORT; prints the reply's
# first line, or the lines of a bulk string reply.
resp_cmd() {
	local ip=$1 a req line
	shift
	req="*$#\r\n"
	for a in "$@"; do req+="\$${#a}\r\n$a\r\n"; done
	{
		exec 3<>"/dev/tcp/$ip/$RESP_PORT" || return 1
		printf '%b' "$req" >&3
		IFS= read -r -t 2 line <&3 || line=
		if [[ $line == \$* ]]; then
			while IFS= read -r -t 0.2 line <&3; do printf '%s\n' "${line%$'\r'}"; done
		else
			printf '%s\n' "${line%$'\r'}"
		fi
		exec 3<&- 3>&-
	} 2>/dev/null
}

# dorivo_settle: wait (30 s at most) until every node sees every shard led by
# its preferred node (cluster.sh's agents hand a shard back to node i%3+1)
# and a SET of each of 30 tenants answers +OK on every node, so that the
# runs do not measure elections, reloads or the forwarders' first dials.
dorivo_settle() {
	local deadline=$((SECONDS + 30)) n t bad info reply last
	while :; do
		bad=0
		for n in "${NODES[@]}"; do
			info=$(resp_cmd "$(ip_of "$n")" INFO cluster) || info=
			last="node $n: $(grep -c '^shard' <<<"$info") shards listed"
			grep -q '^shard' <<<"$info" || bad=1
			awk -F'[:,=]' '/^shard[0-9]+:/ {
				s = substr($1, 6); for (i = 2; i < NF; i++) if ($i == "leader" && $(i + 1) != s % 3 + 1) bad = 1
			} END { exit bad }' <<<"$info" || bad=1
			for t in $(seq 30); do
				reply=$(resp_cmd "$(ip_of "$n")" SET "{tenant$t}:key:settle" v) || reply="(no reply)"
				[ "$reply" = +OK ] || { bad=1; last="node $n: SET {tenant$t}: $reply"; }
			done
		done
		[ "$bad" = 0 ] && return 0
		((SECONDS < deadline)) || die "dorivo cluster not settled within 30 s (last seen: $last); see $WORK/agent-n*.log"
		sleep 0.5
	done
}

# dorivo_run C: C clients over the three nodes for SECS seconds; prints
# "writes/s p50 p99 errors" (merged as the header says). dorivo-loadgen's
# requests, throughput and latencies count the acknowledged writes only;
# error replies (e.g. -TRYAGAIN) are counted apart, as errors.
dorivo_run() {
	local c=$1 n share pids=() files=()
	for n in "${NODES[@]}"; do
		share=$(((c + 3 - n) / 3)) # 1000 -> 334 333 333; 1 -> 1 0 0
		[ "$share" -gt 0 ] || continue
		"$WORK/dorivo-loadgen" --target "$(ip_of "$n"):$RESP_PORT" --conns "$share" --pipeline 1 \
			--read-ratio 0 --value-size "$VALUE_SIZE" --keyspace "$KEYSPACE" --tenants 1000 \
			--duration "${SECS}s" --timeout 5s --json --quiet >"$WORK/dorivo-c$c-n$n.json" 2>"$WORK/dorivo-c$c-n$n.err" &
		pids+=($!)
		files+=("$WORK/dorivo-c$c-n$n.json")
	done
	local rc=0
	for n in "${pids[@]}"; do wait "$n" || rc=$?; done
	[ "$rc" = 0 ] || die "dorivo-loadgen failed (exit $rc): $(cat "$WORK"/dorivo-c"$c"-n*.err)"
	jq -s -r '
		(map(.total.requests) | add) as $req
		| [ (map(.total.throughput_rps) | add),
		    (map(.total.latency_ms.p50 * .total.requests) | add / $req),
		    (map(.total.latency_ms.p99) | max),
		    (map(.total.errors) | add) ]
		| @tsv' "${files[@]}"
}

# etcd_run C: C clients over the three members; prints "writes/s p50 p99
# errors" (its Requests/sec counts the successful puts only).
etcd_run() {
	local c=$1 total conns eps=()
	for n in "${NODES[@]}"; do eps+=("$(ip_of "$n"):$ETCD_CLIENT_PORT"); done
	total=$((c * ETCD_TOTAL_PER_CLIENT))
	[ "$total" -ge "$ETCD_TOTAL_1" ] || total=$ETCD_TOTAL_1
	conns=$((c < ETCD_CONNS_MAX ? c : ETCD_CONNS_MAX))
	# one client: the first endpoint only, like Dorivo's single client
	[ "$c" -gt 1 ] || eps=("${eps[0]}")
	"$ETCD_TOOL" --endpoints "$(IFS=,; echo "${eps[*]}")" --conns "$conns" --clients "$c" --precise \
		put --key-size "$ETCD_KEY_SIZE" --key-space-size "$KEYSPACE" --val-size "$VALUE_SIZE" --total "$total" \
		>"$WORK/etcd-c$c.out" 2>"$WORK/etcd-c$c.err" || die "etcd benchmark failed: $(tail -n 5 "$WORK/etcd-c$c.err")"
	awk '
		/Requests\/sec:/ { rps = $2 }
		/^ *50% in/ { p50 = $3 * 1000 }
		/^ *99% in/ { p99 = $3 * 1000 }
		/^Error distribution:/ { inerr = 1; next }
		inerr && /^ *\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); errs += $1 }
		END { if (rps == "") exit 1; printf "%s\t%.3f\t%.3f\t%d\n", rps, p50, p99, errs }' "$WORK/etcd-c$c.out" ||
		die "no summary in $WORK/etcd-c$c.out"
}

# stop_agents: SIGTERM to the three agents cluster.sh started (their PIDs
# from its state dir), SIGKILL after 10 s; cluster.sh down later finds
# nothing left to stop and removes the rest.
stop_agents() {
	local n pid i
	for n in "${NODES[@]}"; do
		for pid in $(<"$DORIVO_CLUSTER_STATE/n$n/pid"); do kill -TERM "$pid" 2>/dev/null || true; done
	done
	for n in "${NODES[@]}"; do
		pid=$(<"$DORIVO_CLUSTER_STATE/n$n/pid")
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# proc_ticks PID...: their CPU time (user + system) in clock ticks.
proc_ticks() {
	local pid t=0 f
	for pid in "$@"; do
		# fields 14 and 15 after the ")" that ends the command name
		f=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
		# shellcheck disable=SC2086 # split into the stat fields on purpose
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}

# cpu_mark: "machine_busy machine_all agents netdelay etcd" in ticks now.
cpu_mark() {
	local agents=() n busy all
	[ "$AGENTS_GONE" = 1 ] || for n in "${NODES[@]}"; do agents+=("$(<"$DORIVO_CLUSTER_STATE/n$n/pid")"); done
	read -r busy all < <(awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat)
	echo "$busy $all $(proc_ticks ${agents[@]+"${agents[@]}"}) $(proc_ticks "$(<"$DORIVO_CLUSTER_STATE/netdelay.pid")") $(proc_ticks "${ETCD_PIDS[@]}")"
}

# cpu_report WHAT BEFORE AFTER: where the machine's CPU went between two
# cpu_marks, in cores (1.00 = one core busy the whole time).
cpu_report() {
	local what=$1 b0 a0 g0 d0 e0 b1 a1 g1 d1 e1
	read -r b0 a0 g0 d0 e0 <<<"$2"
	read -r b1 a1 g1 d1 e1 <<<"$3"
	awk -v w="$what" -v cores="$(nproc)" -v b=$((b1 - b0)) -v a=$((a1 - a0)) -v g=$((g1 - g0)) -v d=$((d1 - d0)) -v e=$((e1 - e0)) \
		'BEGIN { s = a / cores; if (s == 0) s = 1
		r = (b - g - d - e) / s; if (r < 0) r = 0 # the machine and per-process counters are sampled apart
		printf "cpu %-18s machine busy %.2f of %d cores: dorivo agents %.2f, netdelay %.2f, etcd members %.2f, rest (clients, kernel, other processes) %.2f\n",
			w, b / s, cores, g / s, d / s, e / s, r }'
}

# profile_node1: CPU profile of node 1's agent (admin server on its
# namespace's loopback, started with --pprof), printed as pprof -top.
profile_node1() {
	local secs=$((SECS > 6 ? SECS - 4 : 2))
	sleep 2
	in_ns 1 curl -s -m $((secs + 10)) -o "$WORK/cpu-n1.pb.gz" "http://127.0.0.1:9379/debug/pprof/profile?seconds=$secs" ||
		echo "bench-etcd.sh: profile failed" >&2
}

main() {
	local n m
	[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP)"
	need_tools
	take_lock
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg) # the machine may be shared: say how busy it was
	build
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	# Someone else's cluster (a test that did not take the lock) or one just
	# taken down: wait a while for the namespaces and the range to be free.
	local busy
	for ((n = 0; ; n++)); do
		busy=
		ip -o route show | grep -q "^$SUBNET\." && busy="$SUBNET.0/24 is routed"
		for m in "${NODES[@]}"; do [ ! -e "/var/run/netns/$(ns_of "$m")" ] || busy="namespace $(ns_of "$m") exists"; done
		[ -n "$busy" ] || break
		((n < ${NETNS_WAIT:-300})) || die "$busy after ${NETNS_WAIT:-300} s (a cluster left behind? DORIVO_CLUSTER_STATE=... scripts/cluster.sh down)"
		((n > 0)) || log "$busy (another cluster up?); waiting up to ${NETNS_WAIT:-300} s"
		sleep 1
	done
	[ "$PROFILE" = 1 ] && export DORIVO_AGENT_FLAGS="${DORIVO_AGENT_FLAGS:-} --pprof"
	log "cluster.sh up"
	bash scripts/cluster.sh up >&2
	CLUSTER_UP=1
	log "etcd members up"
	etcd_up
	check_delay
	log "waiting for the dorivo cluster to settle"
	dorivo_settle
	local c rows=() cpu=() last m0 m1
	local -A d e
	for c in $CLIENTS; do last=$c; done
	for c in $CLIENTS; do
		log "dorivo, $c clients, ${SECS}s"
		local prof=
		if [ "$PROFILE" = 1 ] && [ "$c" = "$last" ]; then
			profile_node1 &
			prof=$!
		fi
		m0=$(cpu_mark)
		d[$c]=$(dorivo_run "$c")
		m1=$(cpu_mark)
		cpu+=("$(cpu_report "dorivo, $c clients:" "$m0" "$m1")")
		[ -z "$prof" ] || wait "$prof"
	done
	# The agents use CPU even idle (raft ticks of every shard): stop them,
	# so that etcd has the machine to itself as they had it (the idle etcd
	# members take about 0.02 cores). The namespaces and netdelay stay.
	log "stopping the dorivo agents (namespaces and netdelay stay)"
	AGENTS_GONE=1
	stop_agents
	for c in $CLIENTS; do
		log "etcd, $c clients"
		m0=$(cpu_mark)
		e[$c]=$(etcd_run "$c")
		m1=$(cpu_mark)
		cpu+=("$(cpu_report "etcd, $c clients:" "$m0" "$m1")")
		rows+=("$c	${d[$c]}	${e[$c]}")
	done
	print_table "${rows[@]}"
	echo
	printf '%s\n' "${cpu[@]}"
	if [ "$PROFILE" = 1 ] && [ -s "$WORK/cpu-n1.pb.gz" ]; then
		echo
		echo "CPU profile of node 1 during the $last-client Dorivo run ($WORK/cpu-n1.pb.gz):"
		go tool pprof -top -nodecount 30 "$(cat "$DORIVO_CLUSTER_STATE/bin")" "$WORK/cpu-n1.pb.gz" 2>/dev/null | head -n 40
		go tool pprof -top -cum -nodecount 30 "$(cat "$DORIVO_CLUSTER_STATE/bin")" "$WORK/cpu-n1.pb.gz" 2>/dev/null | sed -n '6,40p'
	fi
}

# print_table ROW...: ROW is "clients d_rps d_p50 d_p99 d_err e_rps e_p50 e_p99 e_err".
print_table() {
	echo
	echo "Replicated writes, 3 nodes, 0.5 ms one-way delay; ${VALUE_SIZE}-byte values, keyspace $KEYSPACE, 1 request in flight per client"
	echo "(writes/s and latencies: acknowledged writes only; errors: error replies, counted apart)"
	echo "machine: $(nproc) cores, load average before the runs: $LOADAVG"
	printf '%-7s %8s | %12s %8s %8s | %s\n' system clients "writes/s" "p50 ms" "p99 ms" errors
	local r
	for r in "$@"; do
		IFS=$'\t' read -r c drps dp50 dp99 derr erps ep50 ep99 eerr <<<"$r"
		printf '%-7s %8s | %12.0f %8.3f %8.3f | %s\n' dorivo "$c" "$drps" "$dp50" "$dp99" "$derr"
		printf '%-7s %8s | %12.0f %8.3f %8.3f | %s\n' etcd "$c" "$erps" "$ep50" "$ep99" "$eerr"
	done
	echo
	printf '%-8s | %16s %14s %14s\n' clients "throughput d/e" "p50 d/e" "p99 d/e"
	for r in "$@"; do
		IFS=$'\t' read -r c drps dp50 dp99 derr erps ep50 ep99 _ <<<"$r"
		awk -v c="$c" -v a="$drps" -v b="$erps" -v p="$dp50" -v q="$ep50" -v x="$dp99" -v y="$ep99" \
			'BEGIN { printf "%-8s | %16.2f %14.2f %14.2f\n", c, a / b, p / q, x / y }'
	done
}

main "$@"
