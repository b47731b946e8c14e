package purger

import (
	"errors"
	"fmt"
	"strings"
)

// ServerResult is the outcome of one request to one server of a call that
// goes to several (Varnish servers, nginx servers, app instances).
type ServerResult struct {
	// Server names the server in messages: its URL without credentials, or
	// its configured name.
	Server string
	// Err is nil when the server acknowledged the request; otherwise a
	// classified failure (an *Error from FromResponse) or any other error,
	// which counts as Retry like every error Classify does not know.
	Err error
}

// precedence orders the classes for Combine: the higher wins.
var precedence = map[Class]int{Retry: 0, TooLarge: 1, Snooze: 2, Permanent: 3}

// Combine folds the results of a fanned-out call into the call's outcome.
// Results may hold several requests per server (one per URL, say); every
// server the call went to must appear at least once, successes included,
// so that the message can say how many failed.
//
// The rule: the call succeeds when every request succeeded. Otherwise its
// class is the gravest of the failures', in the order
//
//	Permanent > Snooze > TooLarge > Retry
//
// A refusal ends the call at once, naming every failed server: no retry
// can make that server accept it, and once it is fixed a replay purges
// every server again, which is harmless since a purge is idempotent. A rate
// limit makes the whole call wait for the longest Retry-After, so that no
// limited server is asked again early; the servers that failed otherwise
// are retried with it. A 413 splits the call, whose halves again go to
// every server. Anything else is retried with backoff, which is safe for
// the servers that had already succeeded, again because a purge is
// idempotent.
//
// The error's Status is the one status every failure of the winning class
// shares (0 when they differ or have none), its After the longest wait of
// the rate-limited servers, and its Msg names each failed server with its
// own message: "2 of 3 servers failed: http://10.0.0.5:6081: 503 Backend
// fetch failed; …". A server with several failed requests is described by
// its gravest failure, the first in order, and how many more failed. The
// error unwraps to every server's failure, so errors.Is finds a context
// error. Server names and failures must already be free of secrets.
func Combine(provider string, results []ServerResult) error {
	type server struct {
		name     string
		failed   int
		decisive error
		class    Class
	}
	var (
		servers []*server
		byName  = map[string]*server{}
		errs    []error
	)
	for _, r := range results {
		s := byName[r.Server]
		if s == nil {
			s = &server{name: r.Server}
			byName[r.Server] = s
			servers = append(servers, s)
		}
		if r.Err == nil {
			continue
		}
		errs = append(errs, r.Err)
		c, _ := Classify(r.Err)
		if s.failed == 0 || precedence[c] > precedence[s.class] {
			s.decisive, s.class = r.Err, c
		}
		s.failed++
	}
	if len(errs) == 0 {
		return nil
	}

	out := &Error{Provider: provider, Class: Retry, servers: errs}
	for _, err := range errs {
		if c, _ := Classify(err); precedence[c] > precedence[out.Class] {
			out.Class = c
		}
	}
	status := -1
	for _, err := range errs {
		c, after := Classify(err)
		if c != out.Class {
			continue
		}
		if c == Snooze {
			out.After = max(out.After, after)
		}
		st := 0
		if pe, ok := errors.AsType[*Error](err); ok {
			st = pe.Status
		}
		switch status {
		case -1:
			status = st
		case st:
		default:
			status = 0
		}
	}
	out.Status = max(status, 0)

	var parts []string
	failed := 0
	for _, s := range servers {
		if s.failed == 0 {
			continue
		}
		failed++
		part := s.name + ": " + detail(s.decisive)
		switch s.failed {
		case 1:
		case 2:
			part += " (and 1 more failed request)"
		default:
			part += fmt.Sprintf(" (and %d more failed requests)", s.failed-1)
		}
		parts = append(parts, part)
	}
	out.Msg = strings.Join(parts, "; ")
	if len(servers) > 1 {
		out.Msg = fmt.Sprintf("%d of %d servers failed: %s", failed, len(servers), out.Msg)
	}
	return out
}

// detail is err's text without the provider's name that Error.Error puts
// first, and with the status where the class would stand.
func detail(err error) string {
	var pe *Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	var parts []string
	if pe.Status != 0 {
		parts = append(parts, fmt.Sprint(pe.Status))
	}
	if pe.Msg != "" {
		parts = append(parts, pe.Msg)
	}
	s := strings.Join(parts, " ")
	if pe.Class == Snooze && pe.After > 0 {
		s += ", retry after " + pe.After.String()
	}
	if pe.Err != nil {
		if s != "" {
			s += ": "
		}
		s += pe.Err.Error()
	}
	if s == "" {
		s = pe.Class.String()
	}
	return s
}
