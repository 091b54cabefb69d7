# Developer entry points. `make` alone lists the targets.
#
# Local Postgres and Redis come from deploy/local/services.sh, bound to
# 127.0.0.1: dev on 55432/56379, test on 55433/56380 (PG_PORT and REDIS_PORT
# in the environment override both profiles). Gorush joins them on 58088
# (dev) and 58089 (test) when GORUSH=local: always for `make test`, and for
# `make run GORUSH=local`. Mailpit (SMTP, read back over HTTP) runs on
# 51025/58025 (dev, with MAILPIT=local) and 51026/58026 (test, always).
# Both are built from the tools/ module into bin/.

GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt
BIN := bin/incident-server
SERVICES := deploy/local/services.sh
GORUSH_BIN := bin/gorush
BENCH_BIN := bin/incident-bench
MAILPIT_BIN := bin/mailpit

# GORUSH=local runs a local Gorush beside the dev services and points the
# server at it; empty means no Gorush (pages go to the log sink).
GORUSH ?=
export GORUSH
ifeq ($(GORUSH),local)
DEV_GORUSH := $(GORUSH_BIN)
endif

# MAILPIT=local runs a local Mailpit beside the dev services; the test
# services always have one.
MAILPIT ?=
export MAILPIT
ifeq ($(MAILPIT),local)
DEV_MAILPIT := $(MAILPIT_BIN)
endif

# Installs shellcheck from Debian's packages when missing and we are root.
SHELLCHECK = if ! command -v shellcheck >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "shellcheck is not installed; install it with: sudo apt-get install shellcheck" >&2; \
			exit 1; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck; \
	fi; \
	shellcheck $$(find deploy -type f -name '*.sh') .ci/run

# Installs pgbouncer from Debian's packages when missing and we are root: the
# store's tests run it in transaction pooling mode in front of the test
# Postgres. It is only installed, never started as a service.
PGBOUNCER = if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "pgbouncer is not installed; install it with: sudo apt-get install pgbouncer" >&2; \
			exit 1; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer; \
		service pgbouncer stop >/dev/null 2>&1 || true; \
	fi

# Installs redis-server from Debian's packages when missing and we are root:
# the fault-injection suite runs redis-server processes of its own.
REDIS_SERVER = if ! command -v redis-server >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "redis-server is not installed; install it with: sudo apt-get install redis-server" >&2; \
			exit 1; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
		service redis-server stop >/dev/null 2>&1 || true; \
	fi

# Installs Debian's chromium when missing and we are root: the web
# console's tests (internal/e2e) drive it headless through chromedp.
CHROMIUM = if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "chromium is not installed; install it with: sudo apt-get install chromium" >&2; \
			exit 1; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# Validates the Prometheus config and alert rules and runs the rules' unit
# tests. promtool comes from Debian's prometheus package, installed when
# missing and we are root; without recommends, so no node exporter comes
# along. The package starts its server on install unless a policy-rc.d
# forbids it, and a test run must leave no server behind, so it is stopped
# and awaited. Only processes of the package's own prometheus account are
# touched: a Prometheus someone runs themselves (say the compose stack's)
# is left alone.
PROMTOOL = if ! command -v promtool >/dev/null 2>&1; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "promtool is not installed; install it with: sudo apt-get install --no-install-recommends prometheus" >&2; \
			exit 1; \
		fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
		service prometheus stop >/dev/null 2>&1 || pkill -x -u prometheus prometheus || true; \
		if ! timeout 30 sh -c 'while pgrep -x -u prometheus prometheus >/dev/null 2>&1; do sleep 0.2; done'; then \
			echo "the prometheus server installed with promtool is still running; stop it with: service prometheus stop" >&2; \
			exit 1; \
		fi; \
	fi; \
	promtool check config deploy/prometheus/prometheus.yml; \
	promtool check rules deploy/prometheus/rules/*.yml; \
	promtool test rules deploy/prometheus/tests/*.yml

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help build gorush mailpit run services-dev services-test test test-k8s test-bench chaos prometheusrule stop clean fmt vet lint shellcheck bench bench-scale screenshots

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build bin/incident-server
	$(GO) build -o $(BIN) ./cmd/incident-server

# Gorush v1.22.0 cannot be `go install`ed (its go.mod keeps a replace), so
# it builds as a tool of the tools/ module, whose go.mod holds its
# dependencies apart from ours. A cold build takes minutes.
$(GORUSH_BIN): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(GORUSH_BIN) github.com/appleboy/gorush
	@touch $@

gorush: $(GORUSH_BIN) ## build bin/gorush (the push gateway run by `make test` and `make run GORUSH=local`)

# Mailpit is a separate binary of the same tools/ module (about two minutes
# cold: its SQLite is pure Go). The test services always run it, the dev
# services with MAILPIT=local.
$(MAILPIT_BIN): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../$(MAILPIT_BIN) github.com/axllent/mailpit
	@touch $@

mailpit: $(MAILPIT_BIN) ## build bin/mailpit (the SMTP server run by `make test` and `make run MAILPIT=local`)

services-dev: $(DEV_GORUSH) $(DEV_MAILPIT) ## start the dev Postgres and Redis, Gorush with GORUSH=local, Mailpit with MAILPIT=local (kept running until `make stop`)
	$(SERVICES) start dev

services-test: $(GORUSH_BIN) $(MAILPIT_BIN) ## start the test Postgres, Redis, Gorush and Mailpit
	GORUSH=local $(SERVICES) start test

# With MAILPIT=local the email channel sends to the dev Mailpit (STARTTLS,
# its self-signed certificate trusted), pages link to the local API, and
# acknowledge links are signed with a secret kept in .data/dev. Settings
# already in the environment win.
run: build $(DEV_GORUSH) $(DEV_MAILPIT) services-dev ## migrate, then run the embedded stack (`incident-server dev`) in the foreground; GORUSH=local adds Gorush, MAILPIT=local Mailpit and email pages
	@eval "$$($(SERVICES) env dev)"; \
	export DATABASE_URL REDIS_ADDR; \
	if [ "$(GORUSH)" = local ]; then export GORUSH_URL; fi; \
	if [ "$(MAILPIT)" = local ]; then \
		if [ ! -s .data/dev/ack-link-secret ]; then \
			mkdir -p .data/dev; \
			(umask 077; head -c 32 /dev/urandom | base64 | tr -d '\n' >.data/dev/ack-link-secret); \
		fi; \
		export INCIDENT_NOTIFICATIONS_EMAIL_SMTP_HOST="$${INCIDENT_NOTIFICATIONS_EMAIL_SMTP_HOST:-$${MAILPIT_SMTP_ADDR%:*}}"; \
		export INCIDENT_NOTIFICATIONS_EMAIL_SMTP_PORT="$${INCIDENT_NOTIFICATIONS_EMAIL_SMTP_PORT:-$${MAILPIT_SMTP_ADDR##*:}}"; \
		export INCIDENT_NOTIFICATIONS_EMAIL_CA_FILE="$${INCIDENT_NOTIFICATIONS_EMAIL_CA_FILE:-$$MAILPIT_SMTP_CA}"; \
		export INCIDENT_NOTIFICATIONS_EMAIL_FROM="$${INCIDENT_NOTIFICATIONS_EMAIL_FROM:-Incident Server <pager@localhost>}"; \
		export INCIDENT_NOTIFICATIONS_PUBLIC_URL="$${INCIDENT_NOTIFICATIONS_PUBLIC_URL:-http://127.0.0.1:8080}"; \
		export INCIDENT_NOTIFICATIONS_ACK_LINK_SECRET="$${INCIDENT_NOTIFICATIONS_ACK_LINK_SECRET:-$$(cat .data/dev/ack-link-secret)}"; \
		echo "email pages go to Mailpit: $$MAILPIT_URL" >&2; \
	fi; \
	$(BIN) migrate up; \
	exec $(BIN) dev

# The test services are stopped on every exit path, Ctrl-C included; the
# recipe's exit status stays that of the first failing step.
test: $(GORUSH_BIN) $(MAILPIT_BIN) ## go vet, go test against fresh test services (Postgres, Redis, Gorush, Mailpit, PgBouncer) and headless Chromium, shellcheck, promtool
	@trap '$(SERVICES) stop test || true' EXIT; \
	$(PGBOUNCER); \
	$(CHROMIUM); \
	GORUSH=local $(SERVICES) start test; \
	eval "$$(GORUSH=local $(SERVICES) env test | sed 's/^/TEST_/')"; \
	export TEST_DATABASE_URL TEST_REDIS_ADDR TEST_GORUSH_URL TEST_MAILPIT_SMTP_ADDR TEST_MAILPIT_URL TEST_MAILPIT_SMTP_CA; \
	$(GO) vet ./...; \
	$(GO) test -count=1 -timeout 20m ./...; \
	$(SHELLCHECK); \
	$(PROMTOOL); \
	$(MAKE) --no-print-directory test-k8s; \
	$(MAKE) --no-print-directory test-bench

# The fault-injection suite (internal/faults) runs in `make test` in its short
# form. `make chaos` runs the long form: 200+ worker kills, a 120 s Postgres
# outage, a 60 s Redis outage, three Temporal restarts, two workers and two
# apis; about 40 minutes on two cores. Each scenario starts its own Postgres
# cluster, redis-server, Temporal server, api and worker processes on free
# loopback ports, so no test services are needed; the figures go to
# .data/faults/<UTC time>.json (failed scenarios' process logs beside it), and
# RELIABILITY.md records a run's.
chaos: ## run the long fault-injection suite (kills and outages of real processes); figures in .data/faults/
	@$(REDIS_SERVER)
	FAULTS=long $(GO) test -count=1 -timeout 150m -v ./internal/faults/

# deploy/k8s is a Go module of its own: the Kubernetes and kustomize
# libraries its tests need would move Temporal's gRPC and protobuf versions
# in the main go.mod. Its tests render the kustomizations and run promtool
# on the PrometheusRule, so they follow $(PROMTOOL) in `make test`.
test-k8s: ## render deploy/k8s kustomizations and check every object against its Kubernetes type
	cd deploy/k8s && $(GO) vet ./... && $(GO) test -count=1 ./...

# bench/ is the load generator's module: an HTTP client of the API with the
# Temporal SDK and pgx for its ceilings, importing nothing of the engine's.
# Its tests need no services.
test-bench: ## go vet and go test the bench/ module (incident-bench)
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

prometheusrule: ## regenerate deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/rules
	cd deploy/k8s && $(GO) test -count=1 -run TestPrometheusRuleMatchesRuleFiles . -update

# Uses the engine answering on :8080 if there is one. Otherwise it starts
# the dev stack like `make run GORUSH=local` in the background, logging to
# .data/bench-engine.log, and stops that engine (only it, by its PID) on
# every exit path. The push receiver is the real Gorush (bin/gorush), which
# answers each push at once while offline, so it never bounds the figures.
# BENCH_FLAGS go to `incident-bench all` (see `bin/incident-bench all -h`);
# the recorded run in BENCHMARKS.md used BENCH_FLAGS='-cost-counts
# 1000,10000 -cost-keep -cost-timeout 100m' (about 30 minutes). Not part of
# `make test`: figures depend on the machine.
#
# The load generator calls /api/v1 as an admin, with $INCIDENT_TOKEN when
# set, else a token signed with the dev stack's JWT secret (auth.jwt_secret,
# or .data/dev/jwt-secret), the one `make run` uses. The engine started
# here runs with the per-credential rate limits off: with them on, the
# bench would measure the limiter instead of the engine.
#
# BENCH_TOPOLOGY=dev|split-sqlite|split-postgres has incident-bench start
# the engine itself instead, in that shape (split-*: Temporal server,
# worker and API as three processes, each measured on its own), on
# databases of the run's own that it drops at the end; nothing may answer
# on :8080 and :7233 then (or pass -url and -temporal-address in
# BENCH_FLAGS). -worker-env KEY=VALUE in BENCH_FLAGS reaches the worker.
BENCH_FLAGS ?=
BENCH_TOPOLOGY ?=
bench: GORUSH = local
bench: build $(GORUSH_BIN) $(BENCH_BIN) services-dev ## run every incident-bench scenario and write .data/bench/<UTC time>.json (starts the dev stack if nothing answers on :8080)
	@pid=; \
	trap 'if [ -n "$$pid" ]; then kill "$$pid" 2>/dev/null || true; wait "$$pid" 2>/dev/null || true; fi' EXIT; \
	eval "$$($(SERVICES) env dev)"; \
	export DATABASE_URL REDIS_ADDR GORUSH_URL; \
	if [ -n "$(BENCH_TOPOLOGY)" ]; then \
		exec $(BENCH_BIN) all -topology "$(BENCH_TOPOLOGY)" -engine-bin $(BIN) -database-url "$$DATABASE_URL" $(BENCH_FLAGS); \
	fi; \
	export INCIDENT_TOKEN="$${INCIDENT_TOKEN:-$$($(BIN) token create --user bench --role admin --ttl 6h)}"; \
	export INCIDENT_AUTH_RATE_LIMIT=0 INCIDENT_AUTH_EVENTS_V2_RATE_LIMIT=0; \
	if ! curl -fsS -m 2 -o /dev/null http://127.0.0.1:8080/health/ready 2>/dev/null; then \
		mkdir -p .data; \
		$(BIN) migrate up; \
		$(BIN) dev >.data/bench-engine.log 2>&1 & pid=$$!; \
		ready=; \
		for _ in $$(seq 1 120); do \
			if curl -fsS -m 2 -o /dev/null http://127.0.0.1:8080/health/ready 2>/dev/null; then ready=1; break; fi; \
			kill -0 "$$pid" 2>/dev/null || break; \
			sleep 1; \
		done; \
		if [ -z "$$ready" ]; then echo "engine not ready within 120 s; see .data/bench-engine.log" >&2; exit 1; fi; \
	fi; \
	$(BENCH_BIN) all -engine-pid "$${pid:-0}" $(BENCH_FLAGS)

# One recorded scale run per shape of SCALE_TOPOLOGY, one after the other
# (`incident-bench scale`, not part of `make bench`): each starts its own
# engine from bin/incident-server in that shape, on an API at SCALE_URL and
# a Temporal frontend at SCALE_TEMPORAL (off the defaults, so an engine of
# `make run` may keep running), on databases and files of the run's own
# that it drops at the end, against the dev Postgres, Redis and Gorush.
# SCALE_FLAGS go to every run (`bin/incident-bench scale -h`); with none it
# opens 100,000 incidents and pings 10,000 heartbeat monitors, which takes
# hours on 2 cores. The smoke runs in BENCHMARKS.md used
# SCALE_FLAGS='-incidents 5000 -monitors 1000'. Ctrl-C stops a run cleanly:
# its figures so far are written and its data dropped.
SCALE_TOPOLOGY ?= split-sqlite split-postgres
SCALE_FLAGS ?=
SCALE_URL ?= http://127.0.0.1:18080
SCALE_TEMPORAL ?= 127.0.0.1:17233
bench-scale: GORUSH = local
bench-scale: build $(GORUSH_BIN) $(BENCH_BIN) services-dev ## run incident-bench scale (100,000 incidents, 10,000 heartbeat monitors) per SCALE_TOPOLOGY shape, with SCALE_FLAGS
	@eval "$$($(SERVICES) env dev)"; \
	for topology in $(SCALE_TOPOLOGY); do \
		$(BENCH_BIN) scale -topology "$$topology" -engine-bin $(BIN) -url $(SCALE_URL) -temporal-address $(SCALE_TEMPORAL) \
			-database-url "$$DATABASE_URL" -redis-addr "$$REDIS_ADDR" -gorush-url "$$GORUSH_URL" $(SCALE_FLAGS) || exit $$?; \
	done

# The load generator builds from its own module, bench/; run it from the
# repository root, where its defaults find .data/.
$(BENCH_BIN): bench/go.mod bench/go.sum $(wildcard bench/cmd/incident-bench/*.go)
	cd bench && $(GO) build -o ../$(BENCH_BIN) ./cmd/incident-bench

# Retakes the web console's pictures (docs/images/*.png, shown in the README
# and docs/console.md) with the browser test that takes them anyway, against
# fresh test services.
screenshots: $(GORUSH_BIN) $(MAILPIT_BIN) ## retake docs/images/console-*.png (the web console at 1280 and 375 px)
	@trap '$(SERVICES) stop test || true' EXIT; \
	$(CHROMIUM); \
	GORUSH=local $(SERVICES) start test; \
	eval "$$(GORUSH=local $(SERVICES) env test | sed 's/^/TEST_/')"; \
	export TEST_DATABASE_URL TEST_REDIS_ADDR TEST_GORUSH_URL TEST_MAILPIT_SMTP_ADDR TEST_MAILPIT_URL TEST_MAILPIT_SMTP_CA; \
	CONSOLE_SCREENSHOTS=1 $(GO) test -count=1 -run TestConsoleScreenshots ./internal/e2e

stop: ## stop the dev and test services (Gorush and Mailpit included)
	$(SERVICES) stop dev
	$(SERVICES) stop test

clean: ## stop the services and delete their data, .data and bin
	$(SERVICES) clean dev
	$(SERVICES) clean test
	rm -rf .data bin

fmt: ## gofmt every Go file
	$(GOFMT) -w .

vet: ## go vet
	$(GO) vet ./...

lint: shellcheck ## fail on unformatted Go files and shellcheck findings
	@unformatted=$$($(GOFMT) -l .); \
	if [ -n "$$unformatted" ]; then \
		printf 'not gofmt-formatted (run make fmt):\n%s\n' "$$unformatted" >&2; \
		exit 1; \
	fi

shellcheck: ## shellcheck the deploy scripts and .ci/run (installs shellcheck when root)
	@$(SHELLCHECK)
