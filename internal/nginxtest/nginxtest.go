// Package nginxtest starts a real nginx for tests: Debian's nginx with the
// ngx_cache_purge module (package libnginx-mod-http-cache-purge), on free
// loopback ports, with its own prefix, temp and cache directories under
// t.TempDir(), stopped by its pid when the test ends.
//
// When nginx or the module is missing, Require skips the test with a message
// saying what to install — except in CI (CI=true), where it fails, so that a
// CI image without nginx cannot turn the integration tests into silent
// skips.
package nginxtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Where Debian puts things; PURGEHOOK_TEST_NGINX and
// PURGEHOOK_TEST_NGINX_PURGE_MODULE override them.
const (
	DefaultModule = "/usr/lib/nginx/modules/ngx_http_cache_purge_module.so"
	// Install is what to install on Debian 12.
	Install = "apt-get install -y nginx libnginx-mod-http-cache-purge"
)

// startTimeout bounds how long nginx may take to bind its ports; it only
// turns a hung start into a failure, it is never waited out on success.
const startTimeout = 20 * time.Second

// Require returns the nginx binary and the cache purge module, or skips (fails
// in CI) the test when either is missing.
func Require(t testing.TB) (bin, module string) {
	t.Helper()
	bin, module, err := find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginxtest: %v (CI=true, so this fails instead of skipping; install with: %s)", err, Install)
		}
		t.Skipf("nginxtest: %v; install with: %s (skipped; with CI=true this fails)", err, Install)
	}
	return bin, module
}

func find() (bin, module string, err error) {
	bin = os.Getenv("PURGEHOOK_TEST_NGINX")
	if bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", "", fmt.Errorf("PURGEHOOK_TEST_NGINX: %w", err)
		}
	} else {
		if p, err := exec.LookPath("nginx"); err == nil {
			bin = p
		} else if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			// /usr/sbin is often not on a non-root PATH.
			bin = "/usr/sbin/nginx"
		} else {
			return "", "", errors.New("nginx is not installed (not on PATH nor /usr/sbin/nginx)")
		}
	}
	module = os.Getenv("PURGEHOOK_TEST_NGINX_PURGE_MODULE")
	if module == "" {
		module = DefaultModule
	}
	if _, err := os.Stat(module); err != nil {
		return "", "", fmt.Errorf("the ngx_cache_purge module is missing (%s)", module)
	}
	return bin, module, nil
}

// Config is what a test's http{} block is rendered from.
type Config struct {
	// Dir is the nginx prefix directory (a fresh t.TempDir()); put caches
	// under it.
	Dir string
	// Ports are free loopback ports, one per listener the test asked for.
	Ports []int
}

// Addr is "127.0.0.1:port" of the i-th port.
func (c Config) Addr(i int) string { return "127.0.0.1:" + strconv.Itoa(c.Ports[i]) }

// Options describe the nginx to start.
type Options struct {
	// Ports is how many free loopback ports to reserve (default 1).
	Ports int
	// HTTP returns the contents of the http{} block: proxy_cache_path,
	// server blocks listening on the reserved ports, and so on. The
	// harness adds the module, pid file, logs and temp paths around it.
	HTTP func(c Config) string
}

// Nginx is a running nginx.
type Nginx struct {
	Config
	// Pid is the master process id.
	Pid int

	cmd  *exec.Cmd
	exit chan error
}

// URL is "http://127.0.0.1:port" of the i-th port.
func (n *Nginx) URL(i int) string { return "http://" + n.Addr(i) }

// ErrorLog returns nginx's error log so far.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	return string(b)
}

// Start starts nginx and registers its stop with t.Cleanup. It retries with
// new ports when another process took a reserved port in the meantime.
func Start(t testing.TB, o Options) *Nginx {
	t.Helper()
	bin, module := Require(t)
	if o.Ports == 0 {
		o.Ports = 1
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		n, err := start(t, bin, module, o)
		if err == nil {
			return n
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	t.Fatalf("nginxtest: %v", lastErr)
	return nil
}

func start(t testing.TB, bin, module string, o Options) (*Nginx, error) {
	dir := t.TempDir()
	ports, err := freePorts(o.Ports)
	if err != nil {
		return nil, err
	}
	c := Config{Dir: dir, Ports: ports}
	for _, d := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody and could not use the
		// cache and temp directories under a root-owned 0700 TempDir.
		user = "user root;"
	}
	conf := fmt.Sprintf(`load_module %s;
%s
worker_processes 1;
pid %s;
error_log %s info;
events { worker_connections 256; }
http {
	access_log %s;
	client_body_temp_path %s;
	proxy_temp_path %s;
	fastcgi_temp_path %s;
	uwsgi_temp_path %s;
	scgi_temp_path %s;
%s
}
`, module, user, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"),
		filepath.Join(dir, "access.log"),
		filepath.Join(dir, "tmp/body"), filepath.Join(dir, "tmp/proxy"), filepath.Join(dir, "tmp/fastcgi"),
		filepath.Join(dir, "tmp/uwsgi"), filepath.Join(dir, "tmp/scgi"), o.HTTP(c))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that a signal to the test's group (^C)
	// does not reach it before Cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	n := &Nginx{Config: c, Pid: cmd.Process.Pid, cmd: cmd, exit: make(chan error, 1)}
	go func() { n.exit <- cmd.Wait() }()

	deadline := time.Now().Add(startTimeout)
	for _, p := range ports {
		for {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case err := <-n.exit:
				return nil, fmt.Errorf("nginx exited (%w): %s%s", err, out.String(), n.ErrorLog())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				serr := n.stop()
				return nil, errors.Join(fmt.Errorf("nginx did not listen on 127.0.0.1:%d within %s: %s", p, startTimeout, n.ErrorLog()), serr)
			}
		}
	}
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("nginxtest: stop: %v", err)
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
	})
	return n, nil
}

// stop ends the master by its pid (fast shutdown, then kill) and waits for
// it; the workers exit with it.
func (n *Nginx) stop() error {
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-n.exit:
		// nginx exits 0 on SIGTERM, or dies of it when the signal comes
		// before it installed its handlers (a test that stops it right
		// after it started); anything else (it crashed before) is news.
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return nil
			}
		}
		return err
	case <-time.After(10 * time.Second):
		kerr := n.cmd.Process.Kill()
		werr := <-n.exit
		return fmt.Errorf("nginx (pid %d) ignored SIGTERM for 10s and was killed: %w", n.Pid, errors.Join(kerr, werr))
	}
}

// freePorts reserves n distinct free loopback ports by binding port 0; they
// are released just before nginx binds them, which Start's retry covers.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
