package app_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/app"
)

// keyed is a call with a key of its own: instances drop a repeated key.
func keyed(item string) change.Call {
	c := call(change.URL, item)
	c.Key = "k" + item
	return c
}

// dns is a resolver whose answer the test changes, as a headless service's
// does when pods come and go.
type dns struct {
	mu    sync.Mutex
	addrs []string
	asked []string
}

func (d *dns) set(addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = addrs
}

func (d *dns) LookupHost(_ context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, host)
	if len(d.addrs) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return append([]string(nil), d.addrs...), nil
}

func TestDiscoverCallsEveryAddressOfTheName(t *testing.T) {
	a := newFakeInstance(t, secret, app.DefaultPerCall)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(a.srv.URL, "http://"))
	// A second instance on another loopback address, same port: what a
	// headless service's name resolves to.
	b := newFakeInstanceAt(t, secret, app.DefaultPerCall, "127.0.0.2:"+port)
	d := &dns{}
	d.set("127.0.0.1", "127.0.0.2")
	p := newPurger(t, app.Options{Config: app.Config{Secret: secret, Discover: "http://shop-headless.test:" + port + path}, LookupHost: d.LookupHost})

	if _, err := p.Purge(context.Background(), keyed("https://s.example/1")); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*fakeInstance{"a": a, "b": b} {
		if items, _ := f.cache.snapshot(); len(items) != 1 {
			t.Errorf("instance %s invalidated %v", name, items)
		}
	}
	if d.asked[0] != "shop-headless.test" {
		t.Errorf("looked up %q", d.asked)
	}
	// b's pod is gone: the next call looks the name up again.
	d.set("127.0.0.1")
	if _, err := p.Purge(context.Background(), keyed("https://s.example/2")); err != nil {
		t.Fatal(err)
	}
	if items, _ := b.cache.snapshot(); len(items) != 1 {
		t.Errorf("a removed instance was called: %v", items)
	}
	if items, _ := a.cache.snapshot(); len(items) != 2 {
		t.Errorf("instance a: %v", items)
	}
	// No answer from DNS is a retry, not a silent success.
	d.set()
	_, err := p.Purge(context.Background(), keyed("https://s.example/3"))
	var pe *purger.Error
	if !errors.As(err, &pe) || pe.Class != purger.Retry || !strings.Contains(err.Error(), "discover instances") {
		t.Errorf("lookup failure: %v", err)
	}
}

func TestUnreachableInstanceIsSkippedPastTheDeadlineAndStartsCold(t *testing.T) {
	a := newFakeInstance(t, secret, app.DefaultPerCall)
	b := newFakeInstance(t, secret, app.DefaultPerCall)
	// The signed timestamp follows the clock: start it a little behind the
	// instances' real one, so that it stays within their tolerance.
	now := time.Now().Add(-2 * time.Minute)
	p := newPurger(t, app.Options{Config: app.Config{Secret: secret, Instances: []string{a.url(), b.url()}, UnreachableAfter: 3 * time.Minute},
		Now: func() time.Time { return now }})
	b.answer(503)

	purge := func(item string) error {
		_, err := p.Purge(context.Background(), keyed(item))
		return err
	}
	if err := purge("/1"); err == nil || !strings.Contains(err.Error(), b.url()) {
		t.Fatalf("b down: %v, want a failure naming b", err)
	}
	now = now.Add(2 * time.Minute)
	if err := purge("/2"); err == nil {
		t.Fatal("b down 2m of 3: the call should still fail")
	}
	now = now.Add(90 * time.Second)
	if err := purge("/3"); err != nil {
		t.Fatalf("b down past unreachable_after: %v, want b skipped", err)
	}
	if items, _ := a.cache.snapshot(); len(items) != 3 {
		t.Errorf("instance a got %v", items)
	}
	// b answers again: it missed /3, so it is emptied first.
	b.answer(0)
	if err := purge("/4"); err != nil {
		t.Fatal(err)
	}
	items, all := b.cache.snapshot()
	if all != 1 || len(items) != 1 || items[0] != "/4" {
		t.Errorf("b on return: %d invalidate-everything, items %v; want 1 and [/4]", all, items)
	}
	// Recovered: no more invalidate-everything.
	if err := purge("/5"); err != nil {
		t.Fatal(err)
	}
	if _, all := b.cache.snapshot(); all != 1 {
		t.Errorf("%d invalidate-everything after recovery", all)
	}
}

func TestRefusalIsNeverSkipped(t *testing.T) {
	a := newFakeInstance(t, secret, app.DefaultPerCall)
	now := time.Now()
	p := newPurger(t, app.Options{Config: app.Config{Secret: "wrong-secret", Instances: []string{a.url()}, UnreachableAfter: time.Minute},
		Now: func() time.Time { return now }})
	for range 3 {
		_, err := p.Purge(context.Background(), call(change.URL, "/x"))
		if err == nil {
			t.Fatal("a refused call succeeded")
		}
		now = now.Add(time.Minute)
	}
}
