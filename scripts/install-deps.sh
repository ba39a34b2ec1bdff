#!/usr/bin/env bash
# Installs the Debian 12 packages Dorivo's build, tests and benchmarks need.
# Idempotent: skips apt when every tool is already present.
set -euo pipefail

need=()
command -v clang >/dev/null          || need+=(clang)
command -v llvm-strip >/dev/null     || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null        || need+=(bpftool)
command -v ip >/dev/null             || need+=(iproute2)
command -v redis-server >/dev/null   || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
/usr/bin/python3 -c "import redis" 2>/dev/null || need+=(python3-redis) # scripts/redis-py-types.py
[ -d /usr/include/x86_64-linux-gnu/asm ] || [ -d /usr/include/asm ] || need+=(linux-libc-dev)
command -v ethtool >/dev/null        || need+=(ethtool)
/usr/bin/python3 -c 'import redis' 2>/dev/null || need+=(python3-redis) # redis-py, for the client tests
command -v promtool >/dev/null       || need+=(prometheus) # promtool check metrics/rules (deploy/check.sh, cmd/dorivo tests)

if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# bpffs for pinning (the agent mounts it itself too).
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
