#!/usr/bin/env bash
# Runs every test purgehook has, from a fresh Debian machine with Go: installs
# the real parts the tests use (Varnish with xkey, nginx with ngx_cache_purge,
# promtool from Debian's prometheus package) when they are missing, then golangci-lint (pinned, installed when missing),
# go vet, the whole suite under the race detector, and a short fuzz run of
# every webhook parser and of depcache's handler.
#
#   bash scripts/test.sh            # everything (what CI runs)
#   FUZZTIME=0 bash scripts/test.sh # skip the fuzz runs (FUZZTIME=1000000x: longer ones)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(varnish varnish-modules nginx libnginx-mod-http-cache-purge prometheus chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start services where systemd runs; the tests start
# their own private Varnish and nginx on free ports and need none of them
# (nor a Prometheus server: only promtool).

# PostgreSQL: the store for several replicas. Tests create a database of
# their own on the server PURGEHOOK_TEST_POSTGRES names; without one set,
# use (and if need be install and start) the local server.
if [ -z "${PURGEHOOK_TEST_POSTGRES:-}" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "installing postgresql"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    for v in $(ls /etc/postgresql); do
      $sudo pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
    done
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if psql "postgresql://postgres@127.0.0.1:5432/postgres" -tAc 'select 1' >/dev/null 2>&1; then
    export PURGEHOOK_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  else
    # Debian's default authentication: peer on the local socket. A
    # superuser role named after this user lets the tests create databases.
    me="$(id -un)"
    if [ "$me" = root ]; then
      su postgres -c "createuser -s $me" 2>/dev/null || true
    else
      sudo -u postgres createuser -s "$me" 2>/dev/null || true
    fi
    export PURGEHOOK_TEST_POSTGRES="postgres://$me@/postgres?host=/var/run/postgresql"
  fi
fi

# Tests that need a real part (Varnish, nginx, PostgreSQL) fail rather than
# skip when it is missing.
export CI="${CI:-true}"
# The admin page's browser test keeps a screenshot of each step here (a
# CI artifact).
export PURGEHOOK_UI_SCREENSHOTS="${PURGEHOOK_UI_SCREENSHOTS:-$PWD/artifacts/ui}"

# golangci-lint, pinned: the import rules that keep the layout (depguard)
# and the checks .golangci.yml enables. Built from the Go module proxy when
# missing, another version, or built with another Go (it cannot check code
# for a newer Go than its own); the build takes a few minutes.
golangci_version=v2.15.0
gobin="$(go env GOBIN)"
gobin="${gobin:-$(go env GOPATH)/bin}"
golangci="$gobin/golangci-lint"
want="has version ${golangci_version#v} built with $(go env GOVERSION) "
have="$("$golangci" version 2>/dev/null || true)"
if [[ "$have" != *"$want"* ]]; then
  echo "installing golangci-lint $golangci_version"
  go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$golangci_version"
fi
"$golangci" run --allow-parallel-runners ./...
# depcache is a module of its own: ./... from the root does not reach it.
(cd depcache && "$golangci" run --allow-parallel-runners ./...)

go vet ./...
# The alert rules are valid and their unit tests pass (e2e runs them too).
(cd deploy/prometheus && promtool check rules alerts.yml && promtool test rules alerts_test.yml)
go test -race -count=1 -timeout 20m ./...
# depcache is a module of its own (applications importing it get only its
# requirements), and ./... from the root does not descend into it.
(cd depcache && go vet ./... && go test -race -count=1 -timeout 20m ./...)

# A count, not a duration: with a duration Go 1.26's fuzz coordinator can
# report "context deadline exceeded" as a failure when the time runs out
# while a worker is mid-input (golang/go#75804, fixed in Go 1.27). A count
# has no deadline to race; 100000 inputs take a few seconds per target.
fuzztime="${FUZZTIME:-100000x}"
if [ "$fuzztime" != "0" ]; then
  # One target per package per run: `go test -fuzz` takes one at a time.
  # Each runs from its own module's folder (depcache has its own go.mod).
  while read -r pkg target; do
    [ -n "$pkg" ] || continue
    mod="$pkg"
    until [ -f "$mod/go.mod" ] || [ "$mod" = . ]; do mod="$(dirname "$mod")"; done
    rel="${pkg#"$mod"}"
    (cd "$mod" && go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "./${rel#/}")
  done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
      grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func ||; s|^|$(dirname "${f#./}") |"
    done | sort -u)
fi
