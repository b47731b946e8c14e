package pipeline

// The job kinds, one file each: a job's arguments are all it carries
// across a restart; everything else it reads from the store.
const (
	kindDelivery = "purgehook_delivery"
	kindFlush    = "purgehook_flush"
	kindCall     = "purgehook_call"
	kindWarm     = "purgehook_warm"
	kindPrune    = "purgehook_prune"
	kindCrawl    = "purgehook_crawl"
)

// DeliveryArgs is the job that resolves deliveries (deliver.go): one
// (a replay), or every delivery of one group commit (group.go), so that a
// burst costs one resolve transaction per group rather than per delivery.
type DeliveryArgs struct {
	Delivery   int64   `json:"delivery,omitempty"`
	Deliveries []int64 `json:"deliveries,omitempty"`
}

// ids lists the deliveries the job resolves.
func (a DeliveryArgs) ids() []int64 {
	if a.Delivery != 0 {
		return append([]int64{a.Delivery}, a.Deliveries...)
	}
	return a.Deliveries
}

// Kind names the job.
func (DeliveryArgs) Kind() string { return kindDelivery }

// FlushArgs is the job that closes the coalescing window (flush.go).
// Periodic marks the safety net's (pipeline.go), which takes the targets
// only when they are due and otherwise leaves them to the queued flush.
type FlushArgs struct {
	Periodic bool `json:"periodic,omitempty"`
}

// Kind names the job.
func (FlushArgs) Kind() string { return kindFlush }

// CallArgs is the job that makes one provider call (call.go).
type CallArgs struct {
	Call     int64  `json:"call"`
	Provider string `json:"provider"`
}

// Kind names the job.
func (CallArgs) Kind() string { return kindCall }

// WarmArgs is the job that warms a batch's pages (warm.go).
type WarmArgs struct {
	Batch int64 `json:"batch"`
}

// Kind names the job.
func (WarmArgs) Kind() string { return kindWarm }

// PruneArgs is the periodic job that deletes settled work older than the
// retention (prune.go).
type PruneArgs struct{}

// Kind names the job.
func (PruneArgs) Kind() string { return kindPrune }

// CrawlArgs is the job that crawls a site (crawl.go): with Crawl 0 (the
// periodic job) it starts a crawl of Site; otherwise it fetches the next
// chunk of that crawl's pages and queues itself again until none is left.
type CrawlArgs struct {
	Crawl int64  `json:"crawl,omitempty"`
	Site  string `json:"site"`
}

// Kind names the job.
func (CrawlArgs) Kind() string { return kindCrawl }
