package durable

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
	pb "go.etcd.io/raft/v3/raftpb"
)

// A replica logs each leader it learns of, at Info: raft's own election
// lines are at Debug, so without it an operator's log showed no failover.
func TestLeaderChangesLogged(t *testing.T) {
	var buf testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := openStore(t, t.TempDir(), Options{Peers: []uint64{1, 2, 3}, Logger: log, ElectionTicks: 1000})
	defer s.Close()
	hb := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(6)), Commit: new(uint64(0))}
	if err := s.Step(LayoutGroup, hb); err != nil {
		t.Fatal(err)
	}
	const want = `msg="durable: raft leader" group=layout leader=2 term=6`
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, buf.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
