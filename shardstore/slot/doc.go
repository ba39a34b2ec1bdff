// Package slot maps keys to Redis Cluster hash slots.
//
// A key's tenant is its hash tag: the bytes between the first '{' and the
// next '}' when non-empty, otherwise the whole key. Its slot is
// CRC16-XMODEM(tag) mod 16384, exactly as Redis Cluster computes it, so
// cluster-aware clients can route by themselves. The BPF programs compute
// the same function (bpf/slot.h); a test proves the two agree.
package slot
