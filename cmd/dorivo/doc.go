// Command dorivo is the Dorivo node agent and its inspection CLI.
//
//	dorivo agent  [--iface lo] [--listen 127.0.0.1] [--udp-port 6379] [--tcp-port 6379] [--loops N]
//	              [--no-steer] [--pin-dir /sys/fs/bpf/dorivo] [--admin-addr 127.0.0.1:9379]
//	              [--quota TENANT=RATE[:BURST]]... [--allow CIDR]... [--config FILE]
//	dorivo status [--pin-dir /sys/fs/bpf/dorivo] [--json] [--config FILE] [--tenant TAG]...
//
// `agent` loads and pins the BPF collection, attaches it to --iface, keeps
// the maps in sync with its configuration (re-reading --config on SIGHUP),
// runs the datapath (datapath/server: RESP and datagrams on --listen, each
// request steered to its slot's loop by the reuseport program unless
// --no-steer), serves Prometheus metrics on --admin-addr/metrics, and on
// SIGINT or SIGTERM stops the loops, then detaches and unpins everything.
// A loop that dies on its own stops the agent with exit status 1. `status` reads the pinned maps
// only, so it works with no agent reachable and even after the agent died
// with its links still pinned.
//
// Subcommands use the standard library flag package, one FlagSet each:
// the CLI is small, and flag's errors already name the flag.
package main
