package durable

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes; see the layout table in doc.go.
var (
	layoutKey      = []byte("\x01slayout")
	shardPrefixTag = []byte("\x01i")
	dataPrefix     = byte(0x02)
)

const (
	suffixLog       = "urftl"
	suffixHardState = "urfth"
	suffixTruncated = "urftt"
	suffixApplied   = "rrask"
)

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

func hardStateKey(shard uint32) []byte { return shardKey(shard, suffixHardState) }
func truncatedKey(shard uint32) []byte { return shardKey(shard, suffixTruncated) }
func appliedKey(shard uint32) []byte   { return shardKey(shard, suffixApplied) }

// logKey returns /raftlog/<shard>/<index>.
func logKey(shard uint32, index uint64) []byte {
	return binary.BigEndian.AppendUint64(shardKey(shard, suffixLog), index)
}

// logKeyIndex parses the index out of a key that logKey built for shard.
func logKeyIndex(shard uint32, k []byte) (uint64, error) {
	p := len(shardPrefixTag) + 4 + len(suffixLog)
	if len(k) != p+8 {
		return 0, fmt.Errorf("shard %d: malformed raft log key %x", shard, k)
	}
	return binary.BigEndian.Uint64(k[p:]), nil
}

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
