# Dorivo build entry points. Every target that needs system packages runs
# scripts/install-deps.sh first, so each works on a fresh Debian 12 machine.
GO ?= go
BIN := bin

.PHONY: all build generate test run bench bench-obs bench-etcd deps clean

all: build

deps:
	bash scripts/install-deps.sh

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Rebuilds the committed bpf2go output from bpf/*.c and bpf/*.h.
generate: deps
	$(GO) generate ./bpf/

test:
	bash scripts/test.sh

run:
	bash scripts/run.sh

# Dorivo vs redis-server, and Dorivo's steering modes (scripts/bench.sh).
# One case: make bench CASE=get-p16-c50 (make bench CASE=--list lists them).
bench:
	bash scripts/bench.sh $(CASE)

# CPU cost of the observability stack and scrape latency (scripts/bench-obs.sh).
bench-obs: deps
	bash scripts/bench-obs.sh

# Replicated writes: Dorivo's three nodes against a three-member etcd 3.4
# under the same 0.5 ms delay (scripts/bench-etcd.sh; CLIENTS="1 1000", SECS=10).
bench-etcd: deps
	bash scripts/bench-etcd.sh

clean:
	rm -rf $(BIN)
