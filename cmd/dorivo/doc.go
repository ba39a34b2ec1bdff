// Command dorivo is the Dorivo node agent and its inspection CLI.
//
//	dorivo agent  [--iface lo] [--udp-port 6379] [--tcp-port 6379] [--loops N]
//	              [--pin-dir /sys/fs/bpf/dorivo] [--admin-addr 127.0.0.1:9379]
//	              [--quota TENANT=RATE[:BURST]]... [--allow CIDR]... [--config FILE]
//	dorivo status [--pin-dir /sys/fs/bpf/dorivo] [--json] [--config FILE] [--tenant TAG]...
//
// `agent` loads and pins the BPF collection, attaches it to --iface, keeps
// the maps in sync with its configuration (re-reading --config on SIGHUP),
// serves Prometheus metrics on --admin-addr/metrics, and on SIGINT or
// SIGTERM detaches and unpins everything. `status` reads the pinned maps
// only, so it works with no agent reachable and even after the agent died
// with its links still pinned.
//
// Subcommands use the standard library flag package, one FlagSet each:
// the CLI is small, and flag's errors already name the flag.
package main
