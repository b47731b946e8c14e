package graph

// chunkBits sets how many elements one chunk holds (4,096).
const chunkBits = 12

// chunks is an append-only slice kept in fixed-size pieces: growing it
// never copies what it holds, which for a million keys' postings was the
// most of building the index, and a pointer to an element stays valid.
type chunks[T any] struct {
	c [][]T
	n int
}

func (s *chunks[T]) add(v T) {
	if s.n&(1<<chunkBits-1) == 0 {
		s.c = append(s.c, make([]T, 0, 1<<chunkBits))
	}
	last := &s.c[len(s.c)-1]
	*last = append(*last, v)
	s.n++
}

func (s *chunks[T]) at(i uint32) *T { return &s.c[i>>chunkBits][i&(1<<chunkBits-1)] }

func (s *chunks[T]) len() int { return s.n }
