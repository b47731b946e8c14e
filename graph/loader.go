package graph

// loadBatch is how many edges a Loader hands over at a time.
const loadBatch = 10_000

// Loader applies a stream of edges (the store's, at start) in batches on
// a goroutine of its own, so that reading the edges and indexing them use
// two cores at once: a load is then as slow as the slower of the two
// rather than their sum. Add and Close are called from one goroutine.
type Loader struct {
	g     *Graph
	batch []Edge
	full  chan []Edge
	done  chan struct{}
}

// Load starts a Loader that applies to g.
func (g *Graph) Load() *Loader {
	l := &Loader{g: g, batch: make([]Edge, 0, loadBatch), full: make(chan []Edge, 2), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for b := range l.full {
			g.Apply(b...)
		}
	}()
	return l
}

// Add queues an edge.
func (l *Loader) Add(e Edge) {
	l.batch = append(l.batch, e)
	if len(l.batch) == loadBatch {
		l.full <- l.batch
		l.batch = make([]Edge, 0, loadBatch)
	}
}

// Close applies what is queued and returns once every edge added is in
// the graph.
func (l *Loader) Close() {
	if len(l.batch) > 0 {
		l.full <- l.batch
	}
	close(l.full)
	<-l.done
}
