package durable

import (
	"encoding/binary"
)

// Key prefixes; see the layout table in doc.go.
var (
	layoutKey      = []byte("\x01slayout")
	shardPrefixTag = []byte("\x01i")
	dataPrefix     = byte(0x02)
)

// suffixApplied follows the shard prefix. Layout version 1 also kept the
// raft log (urftl), HardState (urfth) and truncated state (urftt) here.
const suffixApplied = "rrask"

// shardPrefix returns \x01i<shard>, the prefix of all of shard's raft and
// applied state.
func shardPrefix(shard uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), shardPrefixTag...), shard)
}

// shardPrefixEnd returns the first key after every key of shard.
func shardPrefixEnd(shard uint32) []byte {
	if shard == ^uint32(0) {
		return []byte("\x01j")
	}
	return shardPrefix(shard + 1)
}

func shardKey(shard uint32, suffix string) []byte {
	return append(shardPrefix(shard), suffix...)
}

func appliedKey(shard uint32) []byte { return shardKey(shard, suffixApplied) }

// dataKey returns /data/<slot>/<key>.
func dataKey(dst []byte, slot uint16, key []byte) []byte {
	dst = append(dst, dataPrefix)
	dst = binary.BigEndian.AppendUint16(dst, slot)
	return append(dst, key...)
}

// slotSpan returns the data key span [start, end) of the slots first..last.
func slotSpan(first, last uint16) (start, end []byte) {
	start = binary.BigEndian.AppendUint16([]byte{dataPrefix}, first)
	if last == 0xffff {
		return start, []byte{dataPrefix + 1}
	}
	return start, binary.BigEndian.AppendUint16([]byte{dataPrefix}, last+1)
}
