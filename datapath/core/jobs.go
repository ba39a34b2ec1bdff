package core

import (
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// Jobs: work a command leaves to run off the loop (command.Job: the file
// I/O of ACL LOAD and ACL SAVE). The loop takes the connection's reply slot
// and pauses the connection (txWait: its later requests stay unread, so
// they see the job's effect, as they would in Redis), and hands the job to
// Config.RunJob. The job's user table change is proposed to the store from
// the job's goroutine (Propose is safe anywhere); the outcome comes back on
// a bounded channel with a doorbell ring, and the loop fills the slot and
// resumes the connection on its next drain. jobCap bounds the jobs in
// flight per loop, so a job never blocks handing its outcome back.
const jobCap = 64

const errTooManyJobs = "ERR too many ACL LOAD/ACL SAVE in progress, try again later"

type jobDone struct {
	tc    *Conn
	seq   uint64
	reply []byte
}

// jobLoop is a loop's job state, touched only on the loop except donec.
type jobLoop struct {
	donec    chan jobDone
	inflight int
}

// startJob runs job for tc, whose reply slot it takes.
func (l *Loop) startJob(tc *Conn, job command.Job) {
	j := &l.jobs
	if j.donec == nil {
		j.donec = make(chan jobDone, jobCap)
	}
	if j.inflight >= jobCap {
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errTooManyJobs)))
		return
	}
	j.inflight++
	tc.push(mergeNone, 0)
	seq := tc.tail - 1
	tc.txWait = true
	donec, bell, store := j.donec, l.bell, l.cfg.Store
	run := l.cfg.RunJob
	if run == nil {
		run = func(f func()) { f() } // tests: inline, deterministic
	}
	run(func() {
		reply, muts := job()
		finish := func(reply []byte) {
			donec <- jobDone{tc: tc, seq: seq, reply: reply}
			bell.Ring()
		}
		var rec []byte
		for _, m := range muts {
			if m.Op == command.OpUsers {
				rec = durable.AppendUsers(rec, m.Gen, m.Val)
			}
		}
		if rec == nil || store == nil {
			finish(reply)
			return
		}
		store.Propose(store.ShardOf(0), rec, func(_ uint64, err error) {
			if err != nil {
				reply = resp.AppendError(nil, "ERR write failed: "+clientText(err))
			}
			finish(reply)
		})
	})
}

// takeJobs delivers the replies of finished jobs and resumes their
// connections.
func (l *Loop) takeJobs() {
	j := &l.jobs
	for j.inflight > 0 {
		select {
		case d := <-j.donec:
			j.inflight--
			tc := d.tc
			if tc.closed {
				continue
			}
			e := tc.slot(d.seq)
			e.buf = append(e.buf[:0], d.reply...)
			e.done = true
			tc.txWait = false
			l.touch(tc)
		default:
			return
		}
	}
}
