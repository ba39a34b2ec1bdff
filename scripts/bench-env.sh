# Sourced by scripts/bench.sh and scripts/bench-durable.sh, with bench_tag
# set. It makes a work directory and two network namespaces, $ns_r for
# redis-server and $ns_d for the Dorivo agent: each server's loopback then
# carries only its own benchmark traffic, and the agent's programs see nothing
# of redis-server's. On exit it stops the servers the script started
# ($redis_pid, $agent_pid) and removes the namespaces, the agent's pins ($pin)
# and the work directory.
work=$(mktemp -d)
ns_r=$bench_tag-redis
ns_d=$bench_tag-agent
pin=/sys/fs/bpf/$bench_tag
redis_pid=
agent_pid=
cleanup() {
	set +e
	[ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	ip netns del "$ns_d" 2>/dev/null
	ip netns del "$ns_r" 2>/dev/null
	rm -rf "$pin" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$ns_r" "$ns_d"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done

# inns NS CMD...: run CMD in NS's network namespace only (nsenter --net, not
# `ip netns exec`, which would also hide /sys/fs/bpf from the agent).
inns() {
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" "$@"
}
