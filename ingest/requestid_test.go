package ingest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/ingest"
)

// TestRequestID: a well-formed X-Request-Id is answered back and journaled
// with the delivery; a missing or ill-formed one is replaced by a fresh id;
// a rejected webhook is answered with one too (so that its log line can be
// found), and journals nothing.
func TestRequestID(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	hdr := sig(good)
	hdr[ingest.RequestIDHeader] = "lb-7f3a:2026@edge/1"
	status, _, h := e.postHeader(t, "/hooks/cms", good, hdr)
	if status != http.StatusAccepted || h.Get(ingest.RequestIDHeader) != "lb-7f3a:2026@edge/1" {
		t.Fatalf("status %d, request id %q", status, h.Get(ingest.RequestIDHeader))
	}
	ds, err := e.st.DeliveryList(ctx, 10)
	if err != nil || len(ds) != 1 || ds[0].RequestID != "lb-7f3a:2026@edge/1" {
		t.Fatalf("journaled %+v %v", ds, err)
	}

	other := strings.Replace(good, "g1", "g2", 1)
	seen := map[string]bool{}
	for _, bad := range []string{"", "two words", "x\"y", strings.Repeat("a", ingest.MaxRequestID+1), "é"} {
		hdr := sig(other)
		if bad != "" {
			hdr[ingest.RequestIDHeader] = bad
		}
		_, _, h := e.postHeader(t, "/hooks/cms", other, hdr)
		got := h.Get(ingest.RequestIDHeader)
		if got == "" || got == bad || seen[got] {
			t.Errorf("X-Request-Id %q answered %q, want a fresh id", bad, got)
		}
		seen[got] = true
	}

	before := e.journaled(t)
	status, _, h = e.postHeader(t, "/hooks/cms", good, map[string]string{ingest.RequestIDHeader: "rejected-1"})
	if status != http.StatusUnauthorized || h.Get(ingest.RequestIDHeader) != "rejected-1" {
		t.Errorf("unsigned: status %d, request id %q", status, h.Get(ingest.RequestIDHeader))
	}
	if e.journaled(t) != before {
		t.Error("a rejected webhook wrote something")
	}
}
