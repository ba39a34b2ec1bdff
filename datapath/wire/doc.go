// Package wire encodes and decodes the Dorivo datagram protocol
// (docs/protocol.md): one request or reply per UDP datagram, a fixed 16-byte
// big-endian header carrying the tenant tag's length, then tag, key and value.
//
// Every constant comes from package bpf (bpf2go output of bpf/dorivo.h), so
// the kernel's parser and this one cannot drift apart by a retyped number.
// ParseRequest checks a datagram in the same order as the XDP program and
// returns one exported error per malformation; DropReason maps each error to
// the kernel's drop counter, which lets tests compare the two parsers.
//
// Version 2 signs: AppendSignedRequest ends a request with the client's
// timestamp and a SipHash-2-4 MAC (MAC, Verify; github.com/dchest/siphash)
// of every byte before the MAC, and AppendSignedReply ends a reply with
// the request's MAC and its own. Key holds a tenant's 128-bit key and
// redacts itself in every printed form. Package auth applies the
// per-tenant policy on top.
//
// Parsing and appending never allocate: parsed slices alias the datagram,
// and appends grow only the caller's buffer.
package wire
