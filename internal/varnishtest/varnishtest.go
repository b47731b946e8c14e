// Package varnishtest runs a private, real varnishd for tests: its own
// absolute work directory (-n), pid file (-P), loopback listen and admin
// ports chosen by the kernel, and the VCL under test pointed at a test
// origin. It is stopped by its pid when the test ends.
//
// Without varnishd installed the test is skipped, unless the CI
// environment variable is set: in CI a missing varnishd fails the test,
// so a broken install cannot pass silently. Install with
//
//	apt-get install -y varnish varnish-modules
package varnishtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long varnishd may take to compile the VCL and
// answer its first request.
const StartTimeout = 60 * time.Second

// Varnish is a running varnishd.
type Varnish struct {
	// Addr is the listen address (127.0.0.1:port); URL is http://Addr.
	Addr string
	URL  string
	// Dir is the -n work directory.
	Dir string
	// PID is the manager process's id, read from the -P file.
	PID int

	adm string
}

// Find returns the path of varnishd, or "" when it is not installed.
// Debian installs it in /usr/sbin, which is not on every user's PATH.
func Find() string {
	if p, err := exec.LookPath("varnishd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/varnishd", "/usr/local/sbin/varnishd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Require skips the test when varnishd is missing outside CI and fails
// it in CI. It returns the varnishd path.
func Require(t testing.TB) string {
	t.Helper()
	p := Find()
	if p == "" {
		if os.Getenv("CI") == "" {
			t.Skip("varnishd is not installed (apt-get install -y varnish varnish-modules); skipping a real-Varnish test outside CI")
		}
		t.Fatal("varnishd is not installed but CI is set: install varnish and varnish-modules")
	}
	return p
}

// backendRE finds the first backend's .host and .port.
var (
	backendRE = regexp.MustCompile(`(?s)backend\s+\w+\s*\{.*?\}`)
	hostRE    = regexp.MustCompile(`\.host\s*=\s*"[^"]*"\s*;`)
	portRE    = regexp.MustCompile(`\.port\s*=\s*"[^"]*"\s*;`)
)

// PointAt rewrites the first backend of vcl to backendAddr (host:port).
func PointAt(vcl, backendAddr string) (string, error) {
	host, port, err := net.SplitHostPort(backendAddr)
	if err != nil {
		return "", fmt.Errorf("varnishtest: backend address %q: %w", backendAddr, err)
	}
	loc := backendRE.FindStringIndex(vcl)
	if loc == nil {
		return "", errors.New("varnishtest: the VCL defines no backend")
	}
	b := vcl[loc[0]:loc[1]]
	if !hostRE.MatchString(b) || !portRE.MatchString(b) {
		return "", errors.New("varnishtest: the first backend has no .host and .port")
	}
	b = hostRE.ReplaceAllLiteralString(b, `.host = "`+host+`";`)
	b = portRE.ReplaceAllLiteralString(b, `.port = "`+port+`";`)
	return vcl[:loc[0]] + b + vcl[loc[1]:], nil
}

// Start runs varnishd with vcl, its first backend pointed at backendAddr,
// and waits until it answers HTTP. Parameters are extra -p name=value
// settings (for example "default_grace=0").
func Start(t testing.TB, vcl, backendAddr string, params ...string) *Varnish {
	t.Helper()
	bin := Require(t)
	vcl, err := PointAt(vcl, backendAddr)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: varnishd reads the VCL after dropping privileges to
	// the varnish user, who cannot enter a 0700 directory.
	dir, err := os.MkdirTemp("", "varnishtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("varnishtest: %v", err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vclPath := filepath.Join(dir, "test.vcl")
	if err := os.WriteFile(vclPath, []byte(vcl), 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "n")
	pidFile := filepath.Join(dir, "varnishd.pid")
	args := []string{
		"-a", "127.0.0.1:0", "-T", "127.0.0.1:0",
		"-f", vclPath, "-s", "malloc,32m",
		"-n", work, "-P", pidFile,
		"-p", "ban_lurker_sleep=0.01",
	}
	for _, p := range params {
		args = append(args, "-p", p)
	}
	// Without -F, varnishd forks the manager and exits once the child
	// runs, or with an error (a VCL that does not compile) on stderr. Its
	// output goes to a file, not a pipe: the manager keeps the parent's
	// stdout open, and waiting for a pipe to close would wait for it.
	logPath := filepath.Join(dir, "varnishd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	output := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Run(); err != nil {
		t.Fatalf("varnishd failed to start: %v\n%s", err, output())
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("varnishd wrote no pid file: %v\n%s", err, output())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("varnishd pid file %q: %v", raw, err)
	}
	v := &Varnish{Dir: work, PID: pid, adm: adminPath(bin)}
	t.Cleanup(func() { v.stop(t) })

	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	addr, err := v.listenAddress(ctx)
	if err != nil {
		t.Fatalf("varnishd: %v\n%s", err, output())
	}
	v.Addr = addr
	v.URL = "http://" + addr
	if err := waitHTTP(ctx, v.URL); err != nil {
		t.Fatalf("varnishd never answered on %s: %v", v.URL, err)
	}
	return v
}

func adminPath(varnishd string) string {
	if p, err := exec.LookPath("varnishadm"); err == nil {
		return p
	}
	return filepath.Join(filepath.Dir(filepath.Dir(varnishd)), "bin", "varnishadm")
}

// Admin runs a varnishadm command (ban.list, param.show, …) against this
// instance.
func (v *Varnish) Admin(args ...string) (string, error) {
	out, err := exec.Command(v.adm, append([]string{"-n", v.Dir, "-t", "10"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("varnishadm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// listenAddress asks the manager which port the kernel gave -a.
func (v *Varnish) listenAddress(ctx context.Context) (string, error) {
	var last error
	for {
		out, err := v.Admin("debug.listen_address")
		if err == nil {
			// "a0 127.0.0.1 43737"
			for line := range strings.SplitSeq(out, "\n") {
				if f := strings.Fields(line); len(f) == 3 {
					return net.JoinHostPort(f[1], f[2]), nil
				}
			}
			err = fmt.Errorf("unexpected debug.listen_address output %q", out)
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no listen address: %w", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, url+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the manager (which ends the child) and waits for it to go.
func (v *Varnish) stop(t testing.TB) {
	p, err := os.FindProcess(v.PID)
	if err != nil {
		return
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return // already gone
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(v.PID) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("varnishd %d ignored SIGTERM; killing it", v.PID)
	_ = p.Signal(syscall.SIGKILL)
}

// alive reports whether pid runs; a zombie (exited, not yet reaped by
// init) counts as gone.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
