package transport_test

import (
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/dorivo/dorivo/shardstore/replica/transport"
)

// printer prints what it receives and signals each batch.
type printer struct{ got chan struct{} }

func (p printer) HandleBatch(from uint64, msgs []transport.GroupMessage) {
	for _, m := range msgs {
		fmt.Printf("from node %d: group %d %v term %d\n", from, m.Group, m.Msg.GetType(), m.Msg.GetTerm())
	}
	p.got <- struct{}{}
}

func (printer) HandleSnapshot(uint64, transport.SnapshotHeader, io.Reader) error { return nil }

func Example() {
	n1, _ := transport.New(1, "127.0.0.1:0", printer{make(chan struct{}, 1)})
	defer n1.Close()
	recv := printer{make(chan struct{}, 1)}
	n2, _ := transport.New(2, "127.0.0.1:0", recv)
	defer n2.Close()
	n1.SetPeer(2, n2.Addr().String())
	n2.SetPeer(1, n1.Addr().String())

	// A loop queues its raft messages, then flushes once per iteration.
	for group := uint64(1); group <= 2; group++ {
		n1.Send(2, group, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3))})
	}
	n1.Flush()
	<-recv.got
	fmt.Println("coalesced:", n1.Stats().Peers[0].HeartbeatsCoalesced)
	// Output:
	// from node 1: group 1 MsgHeartbeat term 3
	// from node 1: group 2 MsgHeartbeat term 3
	// coalesced: 2
}
