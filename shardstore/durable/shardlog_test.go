package durable

import (
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

func entries(first, last uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := first; i <= last; i++ {
		out = append(out, &pb.Entry{Index: new(i), Term: new(uint64(1))})
	}
	return out
}

// A replica's log may jump over entries a raft snapshot covered: the gap
// ends at or below pebble's applied index. Any other gap is refused.
func TestShardLogGaps(t *testing.T) {
	var l shardLog
	if err := l.add(0, entries(11, 20), 10); err != nil {
		t.Fatal(err)
	}
	if err := l.add(0, entries(101, 105), 100); err != nil {
		t.Fatalf("gap covered by a snapshot at 100: %v", err)
	}
	if got := l.ents[0].GetIndex(); got != 101 || len(l.ents) != 5 {
		t.Fatalf("log after the snapshot gap starts at %d with %d entries, want 101 and 5", got, len(l.ents))
	}
	if err := l.add(0, entries(110, 111), 100); err == nil {
		t.Fatal("a gap past the applied index was accepted")
	}
	if err := l.add(0, entries(104, 106), 100); err != nil || len(l.ents) != 6 {
		t.Fatalf("overlapping append: %v, %d entries", err, len(l.ents))
	}
}
