package pipeline

import "github.com/algoreg/algoreg-etl/extract"

// A settler turns chunks that finish in any order into a watermark that
// only ever covers a contiguous prefix of the stream.
//
// Chunks are numbered in the order they are cut from the stream; each ends
// at the position of its last row. When chunk n settles (every row in it
// sent, skipped or recorded as an error), the watermark may move to the end
// of the highest chunk m such that every chunk up to m has settled. A chunk
// that settles early waits for the ones before it.
// A settler is not safe for concurrent use.
type settler struct {
	next    int                      // number of the first chunk not yet settled
	settled map[int]extract.Position // chunks past next that have settled, by number
}

func newSettler() *settler {
	return &settler{settled: make(map[int]extract.Position)}
}

// settle marks chunk n, ending at end, as settled. It returns the position
// the watermark may move to, or false when the settled prefix did not grow.
// The caller serialises calls, and writes the watermarks in the order settle
// returns them.
func (s *settler) settle(n int, end extract.Position) (extract.Position, bool) {
	s.settled[n] = end
	var to extract.Position
	moved := false
	for {
		p, ok := s.settled[s.next]
		if !ok {
			break
		}
		delete(s.settled, s.next)
		s.next++
		to, moved = p, true
	}
	return to, moved
}
