package durable

import (
	"encoding/binary"
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A log record's payload is one driver batch: a sequence of shard blocks,
// each
//
//	uvarint shard
//	byte    flags (blockHardState: a HardState follows)
//	        [uvarint term, uvarint vote, uvarint commit]
//	uvarint entries; when > 0: uvarint first index, then per entry
//	        uvarint term, byte type, uvarint len, data
//
// Entries of a block have consecutive indexes. A shard may have several
// blocks in one payload; they apply in order, and an entry at or below the
// shard's last index replaces that suffix, as raft's log does.
const blockHardState = 1

// logBlock is one decoded shard block.
type logBlock struct {
	shard uint32
	hs    *pb.HardState // nil: unchanged
	ents  []*pb.Entry
}

// appendBlock encodes one shard block onto dst.
func appendBlock(dst []byte, shard uint32, hs *pb.HardState, ents []*pb.Entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(shard))
	if hs != nil {
		dst = append(dst, blockHardState)
		dst = binary.AppendUvarint(dst, hs.GetTerm())
		dst = binary.AppendUvarint(dst, hs.GetVote())
		dst = binary.AppendUvarint(dst, hs.GetCommit())
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ents)))
	if len(ents) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, ents[0].GetIndex())
	for _, e := range ents {
		dst = binary.AppendUvarint(dst, e.GetTerm())
		dst = append(dst, byte(e.GetType()))
		dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
		dst = append(dst, e.Data...)
	}
	return dst
}

var errShortBlock = errors.New("log block truncated")

func uvarint(p []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, nil, errShortBlock
	}
	return v, p[n:], nil
}

// decodeBlocks parses a record payload. Entry data aliases p.
func decodeBlocks(p []byte) ([]logBlock, error) {
	var out []logBlock
	for len(p) > 0 {
		var b logBlock
		var v uint64
		var err error
		if v, p, err = uvarint(p); err != nil {
			return nil, err
		}
		if v > 1<<32-1 {
			return nil, fmt.Errorf("log block: shard %d out of range", v)
		}
		b.shard = uint32(v)
		if len(p) == 0 {
			return nil, errShortBlock
		}
		flags := p[0]
		p = p[1:]
		if flags&^blockHardState != 0 {
			return nil, fmt.Errorf("log block: unknown flags %#x", flags)
		}
		if flags&blockHardState != 0 {
			var t, vote, c uint64
			if t, p, err = uvarint(p); err != nil {
				return nil, err
			}
			if vote, p, err = uvarint(p); err != nil {
				return nil, err
			}
			if c, p, err = uvarint(p); err != nil {
				return nil, err
			}
			b.hs = &pb.HardState{Term: new(t), Vote: new(vote), Commit: new(c)}
		}
		var n, idx uint64
		if n, p, err = uvarint(p); err != nil {
			return nil, err
		}
		if n > uint64(len(p)) { // every entry takes at least 3 bytes
			return nil, errShortBlock
		}
		if n > 0 {
			if idx, p, err = uvarint(p); err != nil {
				return nil, err
			}
			b.ents = make([]*pb.Entry, 0, n)
		}
		for i := range n {
			var term, l uint64
			if term, p, err = uvarint(p); err != nil {
				return nil, err
			}
			if len(p) == 0 {
				return nil, errShortBlock
			}
			typ := pb.EntryType(p[0])
			if _, ok := pb.EntryType_name[int32(typ)]; !ok {
				return nil, fmt.Errorf("log block: unknown entry type %d", typ)
			}
			if l, p, err = uvarint(p[1:]); err != nil {
				return nil, err
			}
			if l > uint64(len(p)) {
				return nil, errShortBlock
			}
			b.ents = append(b.ents, &pb.Entry{Index: new(idx + i), Term: new(term), Type: typ.Enum(), Data: p[:l:l]})
			p = p[l:]
		}
		out = append(out, b)
	}
	return out, nil
}
