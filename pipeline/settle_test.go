package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
)

func TestSettlerMovesOnlyOverContiguousPrefix(t *testing.T) {
	pos := func(n int) extract.Position {
		return extract.Position{UpdatedAt: time.Unix(int64(n), 0), Key: fmt.Sprint(n)}
	}
	for trial := 0; trial < 200; trial++ {
		const chunks = 12
		order := rand.Perm(chunks)
		s := newSettler()
		var marks []extract.Position
		settled := map[int]bool{}
		for _, n := range order {
			settled[n] = true
			if p, ok := s.settle(n, pos(n)); ok {
				marks = append(marks, p)
			}
			// The watermark covers exactly the chunks of the longest
			// settled prefix.
			prefix := 0
			for settled[prefix] {
				prefix++
			}
			switch {
			case prefix == 0 && len(marks) != 0:
				t.Fatalf("order %v: watermark moved to %v before chunk 0 settled", order, marks)
			case prefix > 0 && (len(marks) == 0 || marks[len(marks)-1] != pos(prefix-1)):
				t.Fatalf("order %v: after settling %d the watermark is %v, want %v", order, n, marks, pos(prefix-1))
			}
		}
		for i := 1; i < len(marks); i++ {
			if !marks[i-1].UpdatedAt.Before(marks[i].UpdatedAt) {
				t.Fatalf("order %v: watermark went %v then %v", order, marks[i-1], marks[i])
			}
		}
	}
}
