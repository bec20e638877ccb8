package pipeline

import (
	"context"
	"errors"
	"sync"

	"github.com/algoreg/algoreg-etl/state"
)

// settled is what a chunk settles, to be committed: its record errors,
// what the API answered for each record sent, the records it accepted,
// the errors of rows found unchanged that it resolves, and its counts.
type settled struct {
	s         *stream
	c         *chunk
	d         state.Counts
	held      int64 // added to the rows held back (see run.held) once committed
	settle    func(*chunk) move
	errs      []state.RecordError
	hist      *state.ChunkHistory
	accepted  []state.SentRecord
	unchanged []string
	// write, if not nil, writes the chunk's state instead: a reconcile's
	// chunk of records sent disabled.
	write func(ctx context.Context, tx *state.ChunkTx) error

	turn chan bool // receives true when this chunk commits the group, false once its group is committed
	err  error     // the group's commit's, set before turn receives false
}

// A committer commits the state of a run's chunks. The state of a chunk
// that is ready while another group commits waits, and the first of the
// chunks waiting then commits every one of them in one transaction, with
// one checkpoint: the answers of calls that end together cost the state
// database one commit, not one each, and the single run row is written
// once. Groups commit in turn, so the run's counts and watermarks are
// written in order.
type committer struct {
	mu      sync.Mutex // guards waiting and busy
	waiting []*settled
	busy    bool // a group is being committed
}

// commit commits what st settles, in a group with the chunks ready
// meanwhile, and returns the group's error.
func (k *committer) commit(ctx context.Context, r *run, st *settled) error {
	st.turn = make(chan bool, 1)
	k.mu.Lock()
	k.waiting = append(k.waiting, st)
	lead := !k.busy
	k.busy = true
	k.mu.Unlock()
	if !lead && !<-st.turn {
		return st.err
	}
	k.mu.Lock()
	group := k.waiting
	k.waiting = nil
	k.mu.Unlock()

	err := r.commitGroup(ctx, group)
	for _, o := range group {
		if o != st {
			o.err = err
			o.turn <- false
		}
	}
	k.mu.Lock()
	if len(k.waiting) > 0 {
		k.waiting[0].turn <- true
	} else {
		k.busy = false
	}
	k.mu.Unlock()
	return err
}

// commitGroup writes what the chunks of group settle in one transaction
// and commits it with the run's checkpoint: its counts with the chunks'
// added and, where settle says a chunk completes a settled prefix of its
// stream, the stream's watermark (or a backfill's progress).
func (r *run) commitGroup(ctx context.Context, group []*settled) error {
	tx, err := r.env.State.BeginChunk(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The records the chunks of one stream accepted, and the rows they
	// found unchanged, are written with one statement each: flush writes
	// them before a chunk of another stream, or one that records errors,
	// so that everything is written in the order of the group.
	var (
		st0       *settled // the first chunk of those pending
		accepted  []state.SentRecord
		unchanged []string
	)
	flush := func() error {
		if st0 == nil || !r.persists() {
			st0, accepted, unchanged = nil, nil, nil
			return nil
		}
		n, err := tx.Accept(ctx, r.id, r.job.Name, st0.s.name, accepted)
		if err != nil {
			return err
		}
		st0.d.Resolved += n
		if n, err = tx.Resolve(ctx, r.id, r.job.Name, st0.s.name, unchanged); err != nil {
			return err
		}
		st0.d.Resolved += n
		st0, accepted, unchanged = nil, nil, nil
		return nil
	}
	for _, st := range group {
		if st0 != nil && (st.s != st0.s || st.write != nil || len(st.errs) > 0) {
			if err := flush(); err != nil {
				return err
			}
		}
		if st.write != nil {
			if err := st.write(ctx, tx); err != nil {
				return err
			}
			continue
		}
		if err := r.recordErrors(ctx, tx, st.s, st.errs); err != nil {
			return err
		}
		if st.hist != nil {
			if err := tx.RecordHistory(ctx, *st.hist); err != nil {
				return err
			}
		}
		if st0 == nil {
			st0 = st
		}
		accepted, unchanged = append(accepted, st.accepted...), append(unchanged, st.unchanged...)
	}
	if err := flush(); err != nil {
		return err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	counts := r.counts
	var held int64
	// The last move of each stream in the group, in the order the streams
	// moved.
	var moved []*stream
	moves := make(map[*stream]move)
	for _, st := range group {
		counts.Add(st.d)
		held += st.held
		if st.settle == nil {
			continue
		}
		m := st.settle(st.c)
		if m.watermark == nil && m.progress == nil && m.mark == nil {
			continue
		}
		if _, ok := moves[st.s]; !ok {
			moved = append(moved, st.s)
		}
		moves[st.s] = m
	}
	checkpoint := func(s *stream) state.Checkpoint {
		m := moves[s]
		return state.Checkpoint{RunID: r.id, Job: r.job.Name, Stream: s.name, Watermark: m.watermark, Progress: m.progress, Counts: counts}
	}
	last := group[len(group)-1].s
	if len(moved) > 0 {
		last, moved = moved[len(moved)-1], moved[:len(moved)-1]
	}
	var closed error
	for _, s := range moved {
		if err := tx.Checkpoint(ctx, checkpoint(s)); err != nil {
			if !errors.Is(err, state.ErrRunClosed) {
				return err
			}
			closed = err
		}
	}
	err = tx.Commit(ctx, checkpoint(last))
	switch {
	case err == nil && closed == nil:
		for _, s := range append(moved, last) {
			if m := moves[s].mark; m != nil {
				r.mark = *m
			}
		}
	case err == nil:
		err = closed
	case !errors.Is(err, state.ErrRunClosed):
		return err
	}
	// Committed, the checkpoint too unless the run was closed meanwhile.
	r.counts = counts
	r.held += held
	return err
}
