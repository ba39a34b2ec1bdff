#!/usr/bin/env bash
# Builds and runs the agent on its embedded single-node defaults (loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
go build -o bin/ ./cmd/...
exec ./bin/dorivo agent "$@"
