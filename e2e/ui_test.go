package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/purger/purgertest"
)

// uiConfig: two sites (their names are what the purge-everything dialog
// must list), one CDN with a daily budget, an admin token and a read one.
func uiConfig(savoy, royal string, cf *cloudflaretest.Server) string {
	return fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ops, secret: ops-secret-token, scopes: [admin]}
    - {name: viewer, secret: viewer-secret-token, scopes: [read]}
sites:
  - {name: savoy, base_url: %s, warm: [/, /en/]}
  - {name: royal, base_url: %s, warm: [/]}
sources:
  - {name: cms, kind: generic, secret: %s, site: savoy}
providers:
  - {name: cf, kind: cloudflare, layer: edge, zone: %s, token: %s, api_url: %s,
     budget: {calls_per_day: 40}}
coalesce: 50ms
warm: {delay: 1ms}
`, savoy, royal, secret, cf.Zone(), cf.Token(), cf.APIURL())
}

// asLocalhost names a test server by localhost rather than 127.0.0.1, so
// that two sites have two hosts.
func asLocalhost(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }

// TestAdminPageHTTP checks what the browser test cannot see: signed out,
// the page shows nothing; only an admin token signs in; the cookie's
// flags; a form without the session's CSRF token is refused and changes
// nothing.
func TestAdminPageHTTP(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o1, o2 := newOrigin(t), newOrigin(t)
	s := startService(t, uiConfig(o1.URL, asLocalhost(o2.URL), cf))
	base := s.hooks.URL
	if code, _ := send(t, base, publishPayload("secret-content-42", "/en/hidden")); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(c *http.Client, path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	anon := &http.Client{CheckRedirect: noRedirect}
	code, body := get(anon, "/ui/")
	if code != http.StatusOK || !strings.Contains(body, `type="password"`) || strings.Contains(body, "secret-content-42") || strings.Contains(body, "savoy") {
		t.Errorf("signed out: %d, want the sign-in form and no data\n%s", code, body)
	}
	for _, p := range []string{"/ui/timeline", "/ui/deliveries/1"} {
		if code, body := get(anon, p); code == http.StatusOK || strings.Contains(body, "secret-content-42") {
			t.Errorf("signed out GET %s: %d\n%s", p, code, body)
		}
	}

	signIn := func(token string) (*http.Client, *http.Response) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
		resp, err := c.PostForm(base+"/ui/signin", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c, resp
	}
	for _, tok := range []string{"viewer-secret-token", "nope", ""} {
		if _, resp := signIn(tok); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Errorf("sign in with %q: %d, cookies %v", tok, resp.StatusCode, resp.Cookies())
		}
	}
	c, resp := signIn("ops-secret-token")
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("sign in: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || strings.Contains(ck.Value, "ops-secret-token") {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP, no secret", ck)
	}
	code, body = get(c, "/ui/")
	if code != http.StatusOK || !strings.Contains(body, "secret-content-42") || !strings.Contains(body, "savoy, royal") {
		t.Errorf("signed in: %d\n%s", code, body)
	}
	if strings.Contains(body, "ops-secret-token") {
		t.Error("the page shows the token's secret")
	}

	// A form without (or with another session's) CSRF token: refused,
	// nothing journaled, nothing audited.
	before, _ := s.Store.DeliveryCount(t.Context())
	other, _ := signIn("ops-secret-token")
	_, otherBody := get(other, "/ui/")
	for _, csrf := range []string{"", "0123", csrfOf(t, otherBody)} {
		resp, err := c.PostForm(base+"/ui/purge-everything", url.Values{"csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("purge-everything with csrf %q: %d, want 403", csrf, resp.StatusCode)
		}
	}
	// Another origin's request, even with the right token.
	req, _ := http.NewRequest(http.MethodPost, base+"/ui/purge-everything", strings.NewReader(url.Values{"csrf": {csrfOf(t, body)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %v %v", resp, err)
	}
	after, _ := s.Store.DeliveryCount(t.Context())
	audit, _ := s.Store.AuditList(t.Context(), 10)
	if after != before || len(audit) != 0 {
		t.Errorf("refused forms changed something: deliveries %d → %d, audit %v", before, after, audit)
	}

	// Signed out again: the cookie is cleared.
	resp, err := c.PostForm(base+"/ui/signout", url.Values{"csrf": {csrfOf(t, body)}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %v %v", resp, err)
	}
	if code, body := get(c, "/ui/"); code != http.StatusOK || strings.Contains(body, "secret-content-42") {
		t.Errorf("after sign-out: %d\n%s", code, body)
	}
}

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `name="csrf" value="`)
	v, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || v == "" {
		t.Fatalf("no csrf field in\n%s", body)
	}
	return v
}

// chromiumPath finds Debian's chromium: missing, the browser test fails
// under CI and is skipped elsewhere.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI needs it for the admin page test (apt-get install chromium)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// TestAdminPageInChromium drives the admin page in headless Chromium as an
// operator would, checking the provider fake after each action, and keeps
// a screenshot of every step (in $PURGEHOOK_UI_SCREENSHOTS when set).
func TestAdminPageInChromium(t *testing.T) {
	browser := chromiumPath(t)
	shots := os.Getenv("PURGEHOOK_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	savoy, royal := newOrigin(t), newOrigin(t)
	s := startService(t, uiConfig(savoy.URL, asLocalhost(royal.URL), cf))
	base := s.hooks.URL

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// Generous: the machine may be slow; no step is timed.
	ctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	defer cancel()

	start := time.Now()
	defer func() {
		t.Logf("admin page browser test took %s (screenshots in %s)", time.Since(start).Round(time.Millisecond), shots)
	}()

	shot := func(t *testing.T, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(t *testing.T, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	count := func(key string) int {
		n := 0
		for _, c := range cf.Accepted() {
			if c.Key == key {
				n++
			}
		}
		return n
	}
	waitFor := func(t *testing.T, what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	purgedURL := func(u string) func() bool {
		return func() bool {
			for _, c := range cf.Accepted() {
				if c.Key == "files" && slices.Contains(c.Items, u) {
					return true
				}
			}
			return false
		}
	}

	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	ok := t.Run("sign in", func(t *testing.T) {
		run(t, "open the page signed out", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(id("token")))
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(css("main")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, "timeline") || strings.Contains(html, "savoy") {
			t.Errorf("signed out, the page shows data:\n%s", html)
		}
		shot(t, "1-sign-in")
		run(t, "sign in",
			chromedp.SendKeys(id("token"), "ops-secret-token"),
			chromedp.Click(id("signin")),
			chromedp.WaitVisible(id("timeline")))
		if who := text(t, "#who"); who != "ops" {
			t.Errorf("signed in as %q, want ops", who)
		}
	})
	if !ok {
		t.FailNow()
	}

	var delivery int64
	t.Run("a delivery appears after a webhook", func(t *testing.T) {
		code, out := send(t, base, publishPayload("home-page", "/en/"))
		if code != http.StatusAccepted {
			t.Fatalf("webhook: %d %v", code, out)
		}
		ds, err := s.Store.DeliveryList(t.Context(), 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries %v %v", ds, err)
		}
		delivery = ds[0].ID
		row := fmt.Sprintf("#delivery-%d", delivery)
		// No reload: the timeline updates by itself, up to the warm-up.
		run(t, "see the delivery go through every stage",
			chromedp.WaitVisible(css(row)),
			chromedp.WaitVisible(css(row+` li.st-done[title^="purged edge"]`)),
			chromedp.WaitVisible(css(row+` li.st-done[title^="warmed"]`)))
		if !purgedURL(savoy.URL + "/en/")() {
			t.Errorf("the page says purged, the fake saw %+v", cf.Accepted())
		}
		shot(t, "2-timeline")
	})

	t.Run("open its trace", func(t *testing.T) {
		if delivery == 0 {
			t.Skip("no delivery")
		}
		// A click by script: the timeline's rows are replaced every 2 s,
		// so a node found one moment may be gone the next.
		run(t, "open the trace",
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector("#delivery-%d a").click()`, delivery)),
			chromedp.WaitVisible(css("table.calls")))
		calls, targets := text(t, "table.calls"), text(t, "table.targets")
		if !strings.Contains(calls, "cf") || !strings.Contains(calls, "done") || !strings.Contains(targets, savoy.URL+"/en/") || !strings.Contains(targets, "home-page") {
			t.Errorf("trace: calls %q, targets %q", calls, targets)
		}
		shot(t, "3-trace")
	})

	t.Run("manual purge", func(t *testing.T) {
		run(t, "purge a URL",
			chromedp.Navigate(base+"/ui/"),
			chromedp.WaitVisible(id("urls")),
			chromedp.SendKeys(id("urls"), "/en/manual"),
			chromedp.SetValue(id("site"), "savoy"),
			chromedp.SendKeys(id("reason"), "browser test"),
			chromedp.Click(id("purge")),
			chromedp.WaitVisible(css("#notice, #error")))
		if notice := text(t, "#notice"); !strings.Contains(notice, "Purge queued as delivery") {
			t.Errorf("notice %q", notice)
		}
		waitFor(t, "the fake to purge /en/manual", purgedURL(savoy.URL+"/en/manual"))
		run(t, "reload", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(id("audit")))
		if audit := text(t, "#audit"); !strings.Contains(audit, "ops") || !strings.Contains(audit, "/en/manual") || !strings.Contains(audit, "browser test") {
			t.Errorf("audit log on the page: %q", audit)
		}
		shot(t, "4-manual-purge")
	})

	t.Run("purge everything: Cancel sends nothing", func(t *testing.T) {
		before, _ := s.Store.DeliveryCount(t.Context())
		run(t, "open the dialog",
			chromedp.Navigate(base+"/ui/"),
			chromedp.WaitVisible(id("everything")),
			chromedp.Click(id("everything")),
			chromedp.WaitVisible(id("confirm-everything")))
		if sites := text(t, "#everything-sites"); sites != "This will purge ALL cached pages across savoy, royal." {
			t.Errorf("dialog says %q", sites)
		}
		shot(t, "5-purge-everything-dialog")
		run(t, "cancel",
			chromedp.Click(id("cancel")),
			chromedp.WaitNotVisible(id("confirm-everything")),
			// Anything Cancel had sent would be answered before this
			// navigation's page.
			chromedp.Navigate(base+"/ui/"),
			chromedp.WaitVisible(id("everything")))
		after, _ := s.Store.DeliveryCount(t.Context())
		if n := count("purge_everything"); n != 0 || after != before {
			t.Errorf("after Cancel: %d purge_everything call(s), deliveries %d → %d; want none", n, before, after)
		}
	})

	t.Run("purge everything: Confirm", func(t *testing.T) {
		run(t, "confirm",
			chromedp.Click(id("everything")),
			chromedp.WaitVisible(id("confirm-everything")),
			chromedp.Click(id("confirm")),
			chromedp.WaitVisible(css("#notice, #error")))
		if notice := text(t, "#notice"); !strings.Contains(notice, "Purge queued") {
			t.Errorf("notice %q", notice)
		}
		waitFor(t, "one purge_everything call", func() bool { return count("purge_everything") >= 1 })
		waitFor(t, "each site's warm list", func() bool {
			return savoy.warmed("/") >= 1 && savoy.warmed("/en/") >= 2 && royal.warmed("/") >= 1
		})
		if n := count("purge_everything"); n != 1 {
			t.Errorf("%d purge_everything calls, want 1", n)
		}
		shot(t, "6-purged-everything")
	})

	t.Run("retry a failed call", func(t *testing.T) {
		cf.FailNext(purgertest.ClientError)
		if code, out := send(t, base, publishPayload("news", "/en/news")); code != http.StatusAccepted {
			t.Fatalf("webhook: %d %v", code, out)
		}
		var failed int64
		waitFor(t, "the call to fail", func() bool {
			f, err := s.Pipeline.Failures(t.Context(), 10)
			if err != nil || len(f.Calls) == 0 {
				return false
			}
			failed = f.Calls[0].ID
			return true
		})
		if purgedURL(savoy.URL + "/en/news")() {
			t.Fatal("the fake accepted the call it was told to refuse")
		}
		row := fmt.Sprintf("#failed-%d", failed)
		run(t, "see the failure", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(css(row)))
		shot(t, "7-failed-call")
		run(t, "retry", chromedp.Click(css(row+" button.retry")), chromedp.WaitVisible(css("#notice, #error")))
		if notice := text(t, "#notice"); !strings.Contains(notice, fmt.Sprintf("Call %d retried as call", failed)) {
			t.Errorf("notice %q", notice)
		}
		waitFor(t, "the retried call to reach the fake", purgedURL(savoy.URL+"/en/news"))
		shot(t, "8-retried")
	})
}
