// Package auth decides whether a datagram proves its tenant, the same way
// the XDP program does (bpf/dorivo.c: xdp_authenticate), so that the event
// loop can check again what the kernel checked and know which key to sign
// the reply with.
//
// A Table holds each tenant's current key, the previous key with the time
// it stops verifying (a rotation's overlap), and whether the tenant may
// send unsigned (v1) datagrams. userspace/agentconfig builds it from the
// tenant_auth map, which is the one source of truth for both.
package auth
