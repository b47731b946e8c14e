// Package ui is purgehook's admin page under /ui/: a server-rendered view
// of the deliveries and how far each got, one delivery's trace, budgets,
// failed calls, manual purges and the audit log. An operator signs in with
// an admin token; the page reads and acts through the same functions as
// the JSON API in package admin, so the two never disagree.
package ui

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// Options wire the page.
type Options struct {
	Tokens   admin.Tokens
	API      *admin.API
	Store    *store.Store
	Pipeline *pipeline.Pipeline
	// Sites are the configured sites' names, which the purge-everything
	// dialog names.
	Sites  []string
	Logger *slog.Logger
}

// UI serves /ui/.
type UI struct {
	o    Options
	tmpl *template.Template
	log  *slog.Logger
}

// Register adds the page's routes to mux.
func Register(mux *http.ServeMux, o Options) *UI {
	u := &UI{o: o, log: o.Logger.With("component", "ui")}
	u.tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	mux.Handle("GET /ui/static/", u.headers(http.StripPrefix("/ui/static/", http.FileServerFS(static))))
	mux.Handle("GET /ui/{$}", u.headers(http.HandlerFunc(u.dashboard)))
	mux.Handle("GET /ui/timeline", u.headers(u.signedIn(u.timeline)))
	mux.Handle("GET /ui/deliveries/{id}", u.headers(u.signedIn(u.trace)))
	mux.Handle("POST /ui/signin", u.headers(http.HandlerFunc(u.signIn)))
	mux.Handle("POST /ui/signout", u.headers(u.form(u.signOut)))
	mux.Handle("POST /ui/purge", u.headers(u.form(u.purge)))
	mux.Handle("POST /ui/purge-everything", u.headers(u.form(u.purgeEverything)))
	mux.Handle("POST /ui/calls/{id}/retry", u.headers(u.form(u.retry)))
	return u
}

// headers keep the page out of frames and caches and allow only its own
// scripts and styles, so that an injected string cannot run.
func (u *UI) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s session)

// signedIn serves h to a signed-in admin; anyone else is sent to the
// sign-in form (or, for the timeline the script polls, told 401).
func (u *UI) signedIn(h sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := readSession(r, u.o.Tokens, u.now())
		if !ok {
			if r.URL.Path == "/ui/timeline" {
				http.Error(w, "signed out", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		h(w, r, s)
	})
}

// form checks a POST: a signed-in session, a request from this origin,
// and the session's CSRF token in the form.
func (u *UI) form(h sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed form: "+err.Error(), http.StatusBadRequest)
			return
		}
		s, ok := readSession(r, u.o.Tokens, u.now())
		if !ok {
			http.Error(w, "signed out: sign in again at /ui/", http.StatusUnauthorized)
			return
		}
		if !sameOrigin(r) || !s.checkCSRF(r.PostForm.Get("csrf")) {
			u.log.Warn("form refused: bad CSRF token or origin", "token", s.Token, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
			http.Error(w, "form refused: it did not come from this page (reload and try again)", http.StatusForbidden)
			return
		}
		h(w, r, s)
	})
}

// sameOrigin refuses a request a browser says came from another origin.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host == r.Host
}

func (u *UI) now() time.Time { return u.o.Store.Now() }

// page is what every template gets.
type page struct {
	Title   string
	Token   string
	CSRF    string
	Error   string
	Notice  string
	Sites   []string
	Layers  []string
	Rows    []row
	Budgets []chart
	Failed  []store.CallRow
	Audit   []store.Audit
	Trace   *trace
	Now     time.Time
}

func (u *UI) render(w http.ResponseWriter, status int, name string, p page) {
	p.Now = u.now()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := u.tmpl.ExecuteTemplate(w, name, p); err != nil {
		u.log.Error("render", "template", name, "err", err)
	}
}

func (u *UI) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	u.log.Error("ui", "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request) {
	s, ok := readSession(r, u.o.Tokens, u.now())
	if !ok {
		// Signed out: the sign-in form and nothing else.
		u.render(w, http.StatusOK, "signin", page{Title: "Sign in"})
		return
	}
	p, err := u.dashboardPage(r, s)
	if err != nil {
		u.fail(w, err)
		return
	}
	u.render(w, http.StatusOK, "dashboard", p)
}

func (u *UI) dashboardPage(r *http.Request, s session) (page, error) {
	ctx := r.Context()
	p := page{Title: "purgehook", Token: s.Token, CSRF: s.CSRF(), Sites: u.o.Sites, Layers: u.layers()}
	var err error
	if p.Rows, err = u.rows(ctx, 30); err != nil {
		return p, err
	}
	if p.Budgets, err = u.charts(ctx); err != nil {
		return p, err
	}
	f, err := u.o.Pipeline.Failures(ctx, 50)
	if err != nil {
		return p, err
	}
	p.Failed = f.Calls
	if p.Audit, err = u.o.Store.AuditList(ctx, 50); err != nil {
		return p, err
	}
	q := r.URL.Query()
	if d := q.Get("purged"); d != "" {
		p.Notice = "Purge queued as delivery " + num(d) + "."
	}
	if c := q.Get("retried"); c != "" {
		p.Notice = "Call " + num(c) + " retried as call " + num(q.Get("as")) + "."
	}
	return p, nil
}

// num keeps only a number from a query parameter, so that a link cannot
// make the page say something else.
func num(s string) string {
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return "?"
	}
	return s
}

// layers are the configured layers, innermost first.
func (u *UI) layers() []string {
	var ls []change.Layer
	for _, p := range u.o.Pipeline.Providers() {
		if !slices.Contains(ls, p.Layer) {
			ls = append(ls, p.Layer)
		}
	}
	slices.Sort(ls)
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

func (u *UI) timeline(w http.ResponseWriter, r *http.Request, s session) {
	rows, err := u.rows(r.Context(), 30)
	if err != nil {
		u.fail(w, err)
		return
	}
	u.render(w, http.StatusOK, "timeline", page{Token: s.Token, Rows: rows, Layers: u.layers()})
}

func (u *UI) trace(w http.ResponseWriter, r *http.Request, s session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "id must be a positive integer", http.StatusBadRequest)
		return
	}
	t, err := u.readTrace(r.Context(), id)
	if err != nil {
		u.fail(w, err)
		return
	}
	u.render(w, http.StatusOK, "trace", page{Title: fmt.Sprintf("Delivery %d", id), Token: s.Token, CSRF: s.CSRF(), Trace: &t, Layers: u.layers()})
}

func (u *UI) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !sameOrigin(r) {
		u.render(w, http.StatusBadRequest, "signin", page{Title: "Sign in", Error: "Malformed sign-in form."})
		return
	}
	t, ok := u.o.Tokens.Lookup(strings.TrimSpace(r.PostForm.Get("token")))
	if !ok || !admin.HasScope(t, admin.ScopeAdmin) {
		if ok {
			u.log.Warn("sign-in refused: the token lacks the admin scope", "token", t.Name)
		} else {
			u.log.Warn("sign-in refused: unknown token", "remote", r.RemoteAddr)
		}
		u.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Error: "Sign-in refused: not a token with the admin scope."})
		return
	}
	s := newSession(t, u.now(), SessionTTL)
	setCookie(w, r, s.value(), s.Expires)
	u.log.Info("signed in", "token", t.Name)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) signOut(w http.ResponseWriter, r *http.Request, s session) {
	setCookie(w, r, "", time.Time{})
	u.log.Info("signed out", "token", s.Token)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (u *UI) purge(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	warm := f.Get("warm") != ""
	req := admin.PurgeRequest{Site: f.Get("site"), URLs: lines(f.Get("urls")), Tags: lines(f.Get("tags")), Prefixes: lines(f.Get("prefixes")), Hosts: lines(f.Get("hosts")), Warm: &warm, Reason: strings.TrimSpace(f.Get("reason"))}
	u.doPurge(w, r, s, req)
}

func (u *UI) purgeEverything(w http.ResponseWriter, r *http.Request, s session) {
	warm := true
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" {
		reason = "admin page: purge everything"
	}
	u.doPurge(w, r, s, admin.PurgeRequest{Everything: true, Warm: &warm, Reason: reason})
}

func (u *UI) doPurge(w http.ResponseWriter, r *http.Request, s session, req admin.PurgeRequest) {
	// Only admin tokens sign in, so a purge of everything here is an
	// admin's emergency purge, as with POST /v1/purge.
	res, err := u.o.API.Purge(r.Context(), s.Token, true, req)
	if errors.Is(err, admin.ErrBadRequest) {
		msg := strings.TrimSuffix(err.Error(), ": "+admin.ErrBadRequest.Error())
		for _, d := range res.Dropped {
			msg += fmt.Sprintf("; dropped %s: %s", d.Value, d.Reason)
		}
		u.renderError(w, r, s, http.StatusBadRequest, "Purge refused: "+msg)
		return
	}
	if err != nil {
		u.fail(w, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/?purged=%d", res.Delivery), http.StatusSeeOther)
}

func (u *UI) retry(w http.ResponseWriter, r *http.Request, s session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "id must be a positive integer", http.StatusBadRequest)
		return
	}
	c, err := u.o.API.RetryCall(r.Context(), s.Token, id)
	if errors.Is(err, pipeline.ErrNotRetryable) || errors.Is(err, store.ErrNotFound) {
		u.renderError(w, r, s, http.StatusConflict, "Retry refused: "+err.Error())
		return
	}
	if err != nil {
		u.fail(w, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/?retried=%d&as=%d", id, c.ID), http.StatusSeeOther)
}

// renderError shows the dashboard with an error above it.
func (u *UI) renderError(w http.ResponseWriter, r *http.Request, s session, status int, msg string) {
	p, err := u.dashboardPage(r, s)
	if err != nil {
		u.fail(w, err)
		return
	}
	p.Error = msg
	u.render(w, status, "dashboard", p)
}
