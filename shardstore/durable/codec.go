package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appliedState is a shard's /applied/<shard> record: the index and term of
// the last applied entry and the ConfState it produced, written atomically
// with the data it describes. The raft log resumes after it.
type appliedState struct {
	index, term uint64
	conf        *pb.ConfState
}

func (a appliedState) encode() ([]byte, error) {
	buf := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, a.index), a.term)
	return proto.MarshalOptions{}.MarshalAppend(buf, a.conf)
}

func decodeAppliedState(v []byte) (appliedState, error) {
	if len(v) < 16 {
		return appliedState{}, errors.New("applied state too short")
	}
	cs := &pb.ConfState{}
	if err := proto.Unmarshal(v[16:], cs); err != nil {
		return appliedState{}, fmt.Errorf("decode conf state: %w", err)
	}
	return appliedState{index: binary.BigEndian.Uint64(v), term: binary.BigEndian.Uint64(v[8:]), conf: cs}, nil
}

// encodeValue stores a value with its absolute expiry (Unix ms, 0 = none).
func encodeValue(dst []byte, value []byte, expireAtMs int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(expireAtMs))
	return append(dst, value...)
}

func decodeValue(v []byte) (value []byte, expireAtMs int64, err error) {
	if len(v) < 8 {
		return nil, 0, fmt.Errorf("stored value of %d bytes lacks its expiry", len(v))
	}
	return v[8:], int64(binary.BigEndian.Uint64(v)), nil
}

// expired reports whether a value with expiry exp is gone at nowMs.
func expired(exp, nowMs int64) bool { return exp != 0 && exp <= nowMs }

// Proposal data as stored in a raft entry: uvarint proposal id, then the
// caller's record. The id lets the driver find the proposal's callback when
// the entry commits; it carries no meaning on replay.
func encodeProposal(id uint64, rec []byte) []byte {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(rec))
	buf = binary.AppendUvarint(buf, id)
	return append(buf, rec...)
}

func decodeProposal(data []byte) (id uint64, rec []byte, err error) {
	id, n := binary.Uvarint(data)
	if n <= 0 {
		return 0, nil, errors.New("malformed proposal header")
	}
	return id, data[n:], nil
}
