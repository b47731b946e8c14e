package ingest

import (
	"crypto/rand"
	"net/http"
)

// RequestIDHeader names the request id a webhook's answer carries: the
// caller's own when it sent a well-formed one (a load balancer's, a CMS's),
// else one made here. The journal keeps it with the delivery, and every
// log line of the jobs that handle the delivery names it.
const RequestIDHeader = "X-Request-Id"

// MaxRequestID caps a request id taken from a request.
const MaxRequestID = 64

// requestID returns the request's X-Request-Id when it is well formed (at
// most MaxRequestID bytes of letters, digits and - _ . : @ + = /, so that
// it cannot break a log line or smuggle anything into one), and a fresh
// random one otherwise.
func requestID(r *http.Request) string {
	if v := r.Header.Get(RequestIDHeader); wellFormed(v) {
		return v
	}
	return rand.Text()
}

func wellFormed(id string) bool {
	if id == "" || len(id) > MaxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '@', c == '+', c == '=', c == '/':
		default:
			return false
		}
	}
	return true
}
