package durable

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// snapMsg is a MsgSnap for shard 0 from node 1 at index, with voters.
func snapMsg(to, index uint64, voters ...uint64) *pb.Message {
	return &pb.Message{
		Type: pb.MsgSnap.Enum(), From: new(uint64(1)), To: new(to), Term: new(uint64(6)),
		Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
			Index: new(index), Term: new(uint64(6)), ConfState: &pb.ConfState{Voters: voters},
		}},
	}
}

// snapRecords returns valid snapshot records for slot 0 of about n bytes.
func snapRecords(n int) []byte {
	var b []byte
	val := bytes.Repeat([]byte("v"), 1000)
	for i := 0; len(b) < n; i++ {
		k := dataKey(nil, 0, binary.BigEndian.AppendUint32(nil, uint32(i)))
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(val)))
		b = append(b, val...)
	}
	return b
}

// Restarting a node with other --peers than its groups were created with
// must fail, naming both voter sets.
func TestOpenRefusesOtherPeers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{NodeID: 1, Peers: []uint64{1, 2, 3}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{NodeID: 1, Peers: []uint64{1, 2, 4}, Logger: testLogger(nil)})
	if err == nil {
		s2.Close()
		t.Fatal("Open with peers {1,2,4} of a store created with {1,2,3} succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "[1 2 3]") || !strings.Contains(msg, "[1 2 4]") {
		t.Fatalf("error does not name both voter sets: %v", err)
	}
	// The same set in another order is the same membership.
	s3 := openStore(t, dir, Options{NodeID: 1, Peers: []uint64{3, 1, 2}})
	s3.Close()
}

// A snapshot whose voters are not this node's peers is refused and counted.
func TestSnapshotWithOtherVotersRefused(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{NodeID: 2, Peers: []uint64{1, 2, 3}})
	defer s.Close()
	err := s.ReceiveSnapshot(0, snapMsg(2, 100, 1, 2, 4), bytes.NewReader(nil))
	if err == nil || !strings.Contains(err.Error(), "voters") {
		t.Fatalf("snapshot with voters {1,2,4} on a {1,2,3} node: err %v, want a refusal naming the voters", err)
	}
	if got := s.Stats().SnapshotsRefused; got != 1 {
		t.Fatalf("SnapshotsRefused = %d, want 1", got)
	}
	if err := s.ReceiveSnapshot(0, snapMsg(2, 100, 3, 2, 1), bytes.NewReader(snapRecords(10))); err != nil {
		t.Fatalf("snapshot with the node's own voters refused: %v", err)
	}
}

// Received snapshots past Options.MaxStagedSnapshotBytes are refused.
func TestStagedSnapshotCap(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{NodeID: 2, Peers: []uint64{1, 2, 3}, MaxStagedSnapshotBytes: 1 << 20})
	defer s.Close()
	err := s.ReceiveSnapshot(0, snapMsg(2, 100, 1, 2, 3), bytes.NewReader(snapRecords(2<<20)))
	if err == nil || !strings.Contains(err.Error(), "MaxStagedSnapshotBytes") {
		t.Fatalf("2 MiB snapshot under a 1 MiB cap: err %v, want a refusal naming the cap", err)
	}
	if got := s.Stats().SnapshotsRefused; got != 1 {
		t.Fatalf("SnapshotsRefused = %d, want 1", got)
	}
	s.snapIn.mu.Lock()
	used := s.snapIn.used
	s.snapIn.mu.Unlock()
	if used != 0 {
		t.Fatalf("%d bytes still reserved after the refusal", used)
	}
	if err := s.ReceiveSnapshot(0, snapMsg(2, 100, 1, 2, 3), bytes.NewReader(snapRecords(100<<10))); err != nil {
		t.Fatalf("100 KiB snapshot under a 1 MiB cap refused: %v", err)
	}
	// Raft applies it, and its memory is released.
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().SnapshotsApplied == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := s.Stats().SnapshotsApplied; got != 1 {
		t.Fatalf("SnapshotsApplied = %d, want 1", got)
	}
	s.snapIn.mu.Lock()
	used = s.snapIn.used
	s.snapIn.mu.Unlock()
	if used != 0 {
		t.Fatalf("%d bytes still reserved after the snapshot was applied", used)
	}
}

// At most one snapshot per shard is held: a newer one replaces it and
// frees its bytes, an older or equal one is refused; the total is capped.
func TestSnapIntakeOnePerShard(t *testing.T) {
	in := newSnapIntake(1000)
	hold := func(shard uint32, index uint64, size int64) error {
		t.Helper()
		if err := in.reserve(size); err != nil {
			t.Fatalf("reserve %d: %v", size, err)
		}
		return in.hold(shard, &snapshotData{index: index, size: size})
	}
	if err := hold(0, 100, 300); err != nil {
		t.Fatal(err)
	}
	if err := hold(0, 200, 300); err != nil {
		t.Fatalf("newer snapshot refused: %v", err)
	}
	if in.used != 300 {
		t.Fatalf("%d bytes reserved after the replacement, want 300", in.used)
	}
	if err := hold(0, 150, 100); err == nil {
		t.Fatal("older snapshot than the held one accepted")
	}
	if err := hold(0, 200, 100); err == nil {
		t.Fatal("snapshot at the held index accepted again")
	}
	if in.used != 300 {
		t.Fatalf("%d bytes reserved after refusals, want 300", in.used)
	}
	if err := in.check(0, 200); err == nil {
		t.Fatal("check passed an index the held snapshot covers")
	}
	if err := hold(1, 50, 600); err != nil {
		t.Fatalf("another shard's snapshot refused: %v", err)
	}
	if err := in.reserve(200); err == nil || !strings.Contains(err.Error(), "MaxStagedSnapshotBytes") {
		t.Fatalf("reserve past the cap: %v", err)
	}
	if d := in.take(0, 100); d != nil {
		t.Fatal("the replaced snapshot was taken")
	}
	d := in.take(0, 200)
	if d == nil || d.index != 200 {
		t.Fatalf("take(0, 200) = %v", d)
	}
	in.release(d.size)
	if in.used != 600 {
		t.Fatalf("%d bytes reserved, want 600", in.used)
	}
}

// Records are read back across chunk boundaries; a cut record is refused.
func TestSnapshotRecordsAcrossChunks(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	defer s.Close()
	recs := snapRecords(5 * snapChunk / 2)
	spans := shardSpans(s.shards[0])
	for _, tc := range []struct {
		data []byte
		ok   bool
	}{{recs, true}, {recs[:len(recs)-1], false}} {
		d, err := s.readSnapshot(bytes.NewReader(tc.data))
		if err != nil {
			t.Fatal(err)
		}
		if d.n != int64(len(tc.data)) || len(d.chunks) != 3 {
			t.Fatalf("read %d bytes in %d chunks, want %d in 3", d.n, len(d.chunks), len(tc.data))
		}
		var got []byte
		err = eachSnapshotRecord(d, spans, func(k, v []byte) error {
			got = binary.AppendUvarint(got, uint64(len(k)))
			got = append(got, k...)
			got = binary.AppendUvarint(got, uint64(len(v)))
			got = append(got, v...)
			return nil
		})
		switch {
		case tc.ok && (err != nil || !bytes.Equal(got, recs)):
			t.Fatalf("records read back differ (err %v)", err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "truncated")):
			t.Fatalf("cut record: err %v, want truncated", err)
		}
		s.snapIn.release(d.size)
	}
}
