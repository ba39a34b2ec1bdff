// Package kenum names the values of the C enums shared with the BPF
// programs (bpf/dorivo.h), read from the collection's BTF.
//
// bpf2go emits the enums as Go constants but no names for them, and
// retyping the names would let them drift from the header. BTF is the
// header as compiled, so a reason added in C shows up in `dorivo status`
// and the metrics without a Go change.
package kenum
