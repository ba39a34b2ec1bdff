#!/usr/bin/env bash
# CPU cost of the observability stack: the agent's CPU time over DURATION
# seconds with the stack on (node, runtime and perf collectors gathered by
# the anomaly detector every 5 s, the default; request timing on the loops;
# one /metrics scrape every 15 s) against the same agent with --no-observe
# (none of it, no scrapes), as a fraction of one core. Each mode runs idle
# and under a steady open-loop dorivo-loadgen load (RATE requests/s, half
# writes, to a store in $TMPDIR), REPEATS times, alternating the modes;
# medians are quoted. The agent's CPU is utime+stime from /proc/PID/stat;
# a CPU profile of each run (--pprof) also attributes the stack's own CPU
# (samples under the detector, the collectors, the registry, the HTTP
# server and the loops' request timing), which the noise of a shared
# machine does not swamp as it does the on - off difference.
# Then scrape latency: SCRAPES back-to-back GETs of /metrics (curl's
# time_total), p50 and p99, plus the p99 of the 15 s scrapes.
#
#   bash scripts/bench-obs.sh            # DURATION=60 REPEATS=3 RATE=2000
#
# Knobs (env): DURATION (60 s per run), REPEATS (3), RATE (2000),
# LOOPS ($(nproc)), SCRAPES (200).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-60}
REPEATS=${REPEATS:-3}
RATE=${RATE:-2000}
LOOPS=${LOOPS:-$(nproc)}
SCRAPES=${SCRAPES:-200}
export TMPDIR=${TMPDIR:-/var/tmp}

[ "$(id -u)" = 0 ] || { echo "bench-obs.sh: needs root (network namespaces, BPF)" >&2; exit 1; }
for tool in go curl nsenter ip python3; do
	command -v "$tool" >/dev/null || { echo "bench-obs.sh: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done

bench_tag=dorivo-bo-$$
. scripts/bench-env.sh

echo "bench-obs.sh: building dorivo and dorivo-loadgen" >&2
go build -o "$work/" ./cmd/dorivo ./cmd/dorivo-loadgen
tck=$(getconf CLK_TCK)
admin=127.0.0.1:9379

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# scrape: one GET of /metrics, prints its seconds.
scrape() { inns "$ns_d" curl -fsS -o /dev/null -w '%{time_total}\n' "http://$admin/metrics"; }

start_agent() { # extra flags...
	rm -rf "$work/data"
	# nsenter execs the agent (no fork for a network namespace): $! is
	# the agent itself, whose CPU is read and which is stopped.
	nsenter --net="/var/run/netns/$ns_d" "$work/dorivo" agent --iface lo --loops "$LOOPS" --pin-dir "$pin" \
		--data-dir "$work/data" --admin-addr "$admin" "$@" >"$work/agent.log" 2>&1 &
	agent_pid=$!
	for _ in $(seq 150); do
		grep -q "dorivo agent ready" "$work/agent.log" && return 0
		sleep 0.1
	done
	echo "bench-obs.sh: agent not ready; log:" >&2
	cat "$work/agent.log" >&2
	exit 1
}

stop_agent() {
	kill -TERM "$agent_pid"
	wait "$agent_pid" || true
	agent_pid=
}

# run MODE LOAD: sets pct to the agent's CPU in percent of one core (run in
# this shell, not in $(...), so that agent_pid stays visible to cleanup).
run() {
	local mode=$1 load=$2 lg=
	if [ "$mode" = on ]; then start_agent --pprof; else start_agent --pprof --no-observe; fi
	if [ "$load" = load ]; then
		nsenter --net="/var/run/netns/$ns_d" "$work/dorivo-loadgen" --target 127.0.0.1:6379 --conns 4 --pipeline 16 \
			--rate "$RATE" --read-ratio 0.5 --keyspace 100000 --duration "$((DURATION + 15))s" --quiet >"$work/loadgen.log" 2>&1 &
		lg=$!
	fi
	sleep 5 # start-up and the load settle
	local c0 c1 t0 t1
	# A CPU profile over the window in both modes (the profiler's own cost
	# then cancels out): the "on" profile attributes the stack's CPU.
	local prof="$work/prof.$load.$mode.$r"
	inns "$ns_d" curl -fsS -o "$prof" "http://$admin/debug/pprof/profile?seconds=$DURATION" &
	local pp=$!
	c0=$(cpu_ticks "$agent_pid")
	t0=$(date +%s.%N)
	local next=0 end=$(( $(date +%s) + DURATION ))
	while [ "$(date +%s)" -lt "$end" ]; do
		if [ "$mode" = on ] && [ "$(date +%s)" -ge "$next" ]; then
			scrape >>"$work/scrapes15"
			next=$(( $(date +%s) + 15 ))
		fi
		sleep 0.5
	done
	c1=$(cpu_ticks "$agent_pid")
	t1=$(date +%s.%N)
	wait "$pp" || echo "bench-obs.sh: no profile for $load $mode" >&2
	go tool pprof -traces "$work/dorivo" "$prof" 2>/dev/null >"$prof.traces" || true
	[ -n "$lg" ] && { kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null || true; }
	stop_agent
	pct=$(python3 -c "print(f'{100 * ($c1 - $c0) / $tck / ($t1 - $t0):.3f}')")
	t_window=$(python3 -c "print($t1 - $t0)")
}

: >"$work/results"
: >"$work/scrapes15"
for r in $(seq "$REPEATS"); do
	for load in idle load; do
		for mode in on off; do
			run "$mode" "$load"
			echo "$load $mode $pct $work/prof.$load.$mode.$r.traces $t_window" >>"$work/results"
			printf 'run %d %-4s observe %-3s  agent CPU %6s%% of a core\n' "$r" "$load" "$mode" "$pct" >&2
		done
	done
done

# Scrape latency on an agent under load, observability on.
start_agent
nsenter --net="/var/run/netns/$ns_d" "$work/dorivo-loadgen" --target 127.0.0.1:6379 --conns 4 --pipeline 16 \
	--rate "$RATE" --read-ratio 0.5 --keyspace 100000 --duration 300s --quiet >"$work/loadgen.log" 2>&1 &
lg=$!
sleep 5
series=$(inns "$ns_d" curl -fsS "http://$admin/metrics" | grep -vc '^#')
: >"$work/scrapes"
for _ in $(seq "$SCRAPES"); do scrape >>"$work/scrapes"; done
kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null || true
stop_agent

python3 - "$work/results" "$work/scrapes" "$work/scrapes15" "$series" "$DURATION" "$RATE" <<'PY'
import re, statistics, sys
res, scr, scr15, series, dur, rate = sys.argv[1:]

# Frames that belong to the observability stack: the detector, the
# collectors, the registry and its HTTP handler, and the loops' request
# timing. Samples under the profiler itself are left out.
STACK = re.compile(r"userspace/anomaly\.|userspace/collect\.|userspace/metrics\.|prometheus/client_golang|prometheus/procfs|"
                   r"datapath/svctime\.|core\.\(\*Loop\)\.(served|observe|tick)$|server\.monoNanos|^net/http\.")
UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

def stack_seconds(path):
    """CPU seconds in the profile, and those with a stack frame above."""
    total = ours = 0.0
    try:
        text = open(path).read()
    except OSError:
        return None
    for block in text.split("-----------+")[1:]:
        lines = [l for l in block.splitlines()[1:] if l.strip()]
        if not lines:
            continue
        m = re.match(r"\s*([\d.]+)(ns|us|ms|s)\s+(.*)", lines[0])
        if not m:
            continue
        v = float(m.group(1)) * UNIT[m.group(2)]
        frames = [m.group(3).strip()] + [l.strip() for l in lines[1:]]
        if any("runtime/pprof" in f for f in frames):
            continue
        total += v
        if any(STACK.search(f) for f in frames):
            ours += v
    return total, ours

cpu, attr = {}, {}
for line in open(res):
    load, mode, pct, traces, window = line.split()
    cpu.setdefault((load, mode), []).append(float(pct))
    st = stack_seconds(traces)
    if st:
        attr.setdefault((load, mode), []).append(100 * st[1] / float(window))

def pq(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]

med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"\nobservability cost over {dur} s per run, medians of {len(cpu[('idle', 'on')])} runs, % of one core:")
print(f"{'':12}{'agent on':>10}{'agent off':>11}{'on - off':>10}{'stack (profile)':>17}")
for load, name in (("idle", "idle"), ("load", f"{rate} req/s")):
    on, off = cpu[(load, "on")], cpu[(load, "off")]
    print(f"{name:12}{med(on):10.3f}{med(off):11.3f}{med(on) - med(off):10.3f}{med(attr.get((load, 'on'), [])):17.3f}"
          f"   (runs on {on}, off {off}; profile: on {[round(x, 3) for x in attr.get((load, 'on'), [])]},"
          f" off {[round(x, 3) for x in attr.get((load, 'off'), [])]})")
s = [float(x) * 1e3 for x in open(scr)]
s15 = [float(x) * 1e3 for x in open(scr15)]
print(f"\nscrape latency ({series} series, under load): p50 {pq(s, .5):.2f} ms, p99 {pq(s, .99):.2f} ms, max {max(s):.2f} ms over {len(s)} back-to-back scrapes;"
      f" the {len(s15)} 15-s scrapes: p99 {pq(s15, .99):.2f} ms")
PY
