package nginxtest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestStartServesAndStops(t *testing.T) {
	var pid int
	t.Run("running", func(t *testing.T) {
		n := Start(t, Options{Ports: 2, HTTP: func(c Config) string {
			return fmt.Sprintf(`
server { listen %s; location / { return 200 "one"; } }
server { listen %s; location / { return 200 "two"; } }
`, c.Addr(0), c.Addr(1))
		}})
		pid = n.Pid
		for i, want := range []string{"one", "two"} {
			resp, err := http.Get(n.URL(i))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != want {
				t.Errorf("port %d answered %q, want %q", i, b, want)
			}
		}
		if n.Ports[0] == n.Ports[1] {
			t.Errorf("ports %v are not distinct", n.Ports)
		}
	})
	// The subtest's Cleanup stopped nginx by its pid and reaped it.
	if pid == 0 {
		t.Skip("nginx did not start")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("nginx (pid %d) still runs after Cleanup: kill 0 = %v", pid, err)
	}
}

func TestStartReportsABadConfig(t *testing.T) {
	Require(t)
	r := &recorder{TB: t}
	run(func() {
		Start(r, Options{HTTP: func(c Config) string { return "server { listen " + c.Addr(0) + "; no_such_directive; }" }})
	})
	if !strings.Contains(r.fatal, "no_such_directive") {
		t.Errorf("fatal = %q, want nginx's complaint about the directive", r.fatal)
	}
}

func TestRequireMissingModule(t *testing.T) {
	t.Setenv("PURGEHOOK_TEST_NGINX_PURGE_MODULE", "/nonexistent/ngx_http_cache_purge_module.so")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		run(func() { Require(r) })
		if ci == "true" && (r.fatal == "" || r.skip != "") {
			t.Errorf("CI=true: fatal %q skip %q, want a failure", r.fatal, r.skip)
		}
		if ci == "" && (r.skip == "" || r.fatal != "") {
			t.Errorf("CI unset: fatal %q skip %q, want a skip", r.fatal, r.skip)
		}
		if msg := r.fatal + r.skip; !strings.Contains(msg, "libnginx-mod-http-cache-purge") {
			t.Errorf("message %q does not say what to install", msg)
		}
	}
}

// recorder stands in for a testing.TB whose Fatalf and Skipf end the
// goroutine, as the real ones do.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Cleanup(f func())          { r.TB.Cleanup(f) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Skipf(f string, a ...any)  { r.skip = fmt.Sprintf(f, a...); runtime.Goexit() }

func run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
