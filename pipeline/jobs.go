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

// DeliveryArgs is the job that resolves deliveries (deliver.go): with
// Delivery, that one again (a replay); without, every delivery waiting,
// which is how group commits have theirs resolved (one job drains them
// all, so a burst costs one River job per run of thousands). Periodic
// marks the safety net's drain (pipeline.go). A job queued by an earlier
// version with a list of deliveries reads as a drain, which resolves
// them.
type DeliveryArgs struct {
	Delivery int64 `json:"delivery,omitempty"`
	Periodic bool  `json:"periodic,omitempty"`
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
