#!/usr/bin/env bash
# Runs Dorivo's whole test suite as root: installs packages, then go test.
# The root, BPF and netns tests refuse to skip when CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# One package at a time: netns and BPF tests share the kernel, and CI has 2 cores.
exec go test -count=1 -p 1 -timeout 25m "$@" ./...
