// Package bpf holds Dorivo's kernel programs and their bpf2go bindings.
//
// The C sources (dorivo.c, with constants and types in dorivo.h, every map
// in maps.h, packet parsing in parse.h, the tenant slot function in
// slot.h and SipHash-2-4 in siphash.h) build into one collection with
// three entry points:
//
//   - xdp_ingress: parses Ethernet/VLAN/IPv4/IPv6, validates datagrams for
//     the service port, enforces the ACL, authenticates the tenant (the
//     SipHash-2-4 MAC of siphash.h under the tenant's keys in tenant_auth,
//     then the timestamp; or the unsigned policy), and only then counts
//     per tenant slot and charges the per-tenant token bucket;
//   - tc_ingress, tc_egress (TCX): per-direction service traffic counters;
//   - reuseport_select: picks the socket of the event loop that owns a
//     datagram's slot (UDP) or (sport >> 1) % num_loops (TCP,
//     see slot.PortOwner).
//
// The generated dorivo_bpfel.go and dorivo_bpfel.o are committed so that
// building needs no clang; `make generate` rebuilds them.
package bpf
