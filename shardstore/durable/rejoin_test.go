package durable

import (
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A rejoining group takes no part in elections: not when its leader is
// reported gone, not when leadership is handed to it, not on its own
// election timeout.
func TestRejoiningGroupNeverCampaigns(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Peers: []uint64{1, 2, 3}, Rejoin: true, TickInterval: 2 * time.Millisecond, ElectionTicks: 5})
	defer s.Close()
	hb := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(6)), Commit: new(uint64(0))}
	if err := s.Step(LayoutGroup, hb); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.LayoutStatus().Leader != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the layout group did not follow node 2: %+v", s.LayoutStatus())
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.PeerGone(2)
	tn := &pb.Message{Type: pb.MsgTimeoutNow.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(6))}
	if err := s.Step(LayoutGroup, tn); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // 50 ticks, 10 election timeouts
	if st := s.LayoutStatus(); st.State != "StateFollower" || st.Term != 6 || !st.Rejoining {
		t.Fatalf("rejoining group after its leader was gone, a hand-over and 10 election timeouts: %+v, want a follower in term 6", st)
	}
}
