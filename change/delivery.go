package change

import "time"

// Delivery is one verified, parsed webhook on its way to the journal.
type Delivery struct {
	// Source is the configured source's name.
	Source string
	// ID is the delivery id the CMS sent or, for CMSs that send none, the
	// body's hash; the journal may still rename it (see Identify).
	ID string
	// RequestID correlates the delivery's log lines, from the webhook's
	// request to the warm-up of its pages (ingest sets it).
	RequestID  string
	Remote     string
	BodySHA256 string
	Changes    []Change
	// DedupeWithin, when set, makes a delivery with the same id a
	// redelivery only if it arrived less than this long ago (for ids that
	// are a hash of the body, which two real events can share).
	DedupeWithin time.Duration
}

// Identify returns d under its final id, with every change stamped with
// d's source and that id. The journal calls it once, when the id is
// settled, so that a delivery and its changes never disagree about who
// they are. d's own changes are left as they were.
func (d Delivery) Identify(id string) Delivery {
	d.ID = id
	cs := make([]Change, len(d.Changes))
	for i, c := range d.Changes {
		c.Source, c.Delivery = d.Source, id
		cs[i] = c
	}
	if d.Changes != nil {
		d.Changes = cs
	}
	return d
}
