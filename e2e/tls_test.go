package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/app"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "purgehook test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = writeFile(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyPath = writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

// serve runs `purgehook serve` in-process on cfg until the test ends.
func serve(t *testing.T, yaml string) <-chan error {
	t.Helper()
	cfg, err := app.LoadConfig(writeFile(t, "c.yaml", yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(stopped)
		// The caller checks the error through done.
		done <- app.Run(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler)}, time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	return done
}

func TestServeTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	base := fmt.Sprintf(`
store: {driver: sqlite, dsn: %s/ph.db}
listen: %s
sites: [{name: site, base_url: https://www.site.example}]
sources: [{name: cms, kind: generic, secret: x}]
providers: [{name: log, kind: log}]
`, dir, addr)
	serve(t, base+fmt.Sprintf("tls: {cert: %s, key: %s}\n", certPath, keyPath))

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err = client.Get("https://" + addr + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://%s/readyz: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state %+v", resp.TLS)
	}
	resp.Body.Close()

	// Plain HTTP on the TLS port gets no service.
	plain, err := http.Get("http://" + addr + "/readyz")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS") {
			t.Errorf("plain HTTP: %d %s", plain.StatusCode, b)
		}
	}

	// A key that is missing fails the start, naming what is wrong.
	other := strings.Replace(strings.Replace(base, addr, freeAddr(t), 1), dir, t.TempDir(), 1)
	done := serve(t, other+fmt.Sprintf("tls: {cert: %s, key: %s/missing.pem}\n", certPath, dir))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "tls: ") || !strings.Contains(err.Error(), "missing.pem") {
			t.Errorf("start with a missing key: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve with a missing key did not fail")
	}
}
