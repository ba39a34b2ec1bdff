#!/usr/bin/env bash
# Builds and runs the agent on its embedded single-node defaults: programs on
# lo, RESP and datagrams served on 127.0.0.1:6379 (redis-cli -p 6379 ping),
# metrics on 127.0.0.1:9379. Extra arguments go to `dorivo agent`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
go build -o bin/ ./cmd/...
exec ./bin/dorivo agent "$@"
