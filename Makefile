# The two set-up commands are `make demo` and `make test`. Both find a
# PostgreSQL with .ci/postgres: $TEST_DATABASE_URL, else 127.0.0.1:5432 when
# it answers, else a throwaway cluster started from the local binaries.

GO ?= go

.PHONY: test demo build vet

## test: go vet, then every test with the race detector against a real PostgreSQL
test: vet
	url=$$(bash .ci/postgres) && TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 45m ./...

## demo: example database + sandbox API + the example job, with a printout
demo: build
	url=$$(bash .ci/postgres) && ALGOREG_ETL_DEMO_DATABASE="$$url" bin/algoreg-etl demo --log-format text

vet:
	$(GO) vet ./...

# The version and commit that `algoreg-etl version` prints and the User-Agent
# carries (see package buildinfo).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/algoreg/algoreg-etl/buildinfo.version=$(VERSION) -X github.com/algoreg/algoreg-etl/buildinfo.commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/algoreg-etl ./cmd/algoreg-etl

.PHONY: report-check

## report-check: write the HTML report of a sample state (four runs of the example job against
## the sandbox) to bin/report.html and, when Chromium is installed, screenshot it to
## bin/report.png. Installs nothing.
report-check:
	mkdir -p bin
	url=$$(bash .ci/postgres) && TEST_DATABASE_URL="$$url" ALGOREG_ETL_REPORT_HTML="$(CURDIR)/bin/report.html" \
		$(GO) test -count=1 -run '^TestReportHTML$$' ./cmd/algoreg-etl/
	@browser=$$(command -v chromium || command -v chromium-browser || command -v google-chrome || true); \
	if [ -n "$$browser" ]; then \
		"$$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1500 \
			--screenshot="$(CURDIR)/bin/report.png" "file://$(CURDIR)/bin/report.html" 2>/dev/null && \
		echo "report-check: bin/report.html rendered to bin/report.png"; \
	else \
		echo "report-check: no chromium found; open bin/report.html in a browser to check it"; \
	fi

.PHONY: bench

## bench: benchmarks at BENCH_N customers (default 1,000,000) and a tenth of it, side by side with the
## read limit and a minimal reference pipeline, then the Go benchmarks of the hot paths; prints the
## table, writes BENCHMARKS.md and CPU profiles of the pipeline's and the reference's backfill at the
## large size to bin/profile (`go tool pprof -top bin/profile/<file>`). Not part of `make test`; takes
## up to 20 minutes on 2 cores.
bench:
	mkdir -p bin/profile
	url=$$(bash .ci/postgres) && TEST_DATABASE_URL="$$url" BENCH_N="$(BENCH_N)" $(GO) run ./cmd/algoreg-bench -o BENCHMARKS.md -profile bin/profile

.PHONY: sim

SEEDS ?= 1000

## sim: the convergence test (pipeline/sim_test.go) over SEEDS seeds (default 1000), from SEED0 (default a
## random one), drawing from FEATURES (default the features that pass; "all" for every one). Prints a
## summary; a failing seed is printed with its story and the command that replays it. Not part of
## `make test`, which runs 24 seeds.
sim:
	url=$$(bash .ci/postgres) && $(GO) test -c -o bin/pipeline.test ./pipeline && cd pipeline && \
		TEST_DATABASE_URL="$$url" ../bin/pipeline.test -test.count=1 -test.timeout=0 \
		-test.run='^TestConvergence$$' -seeds=$(SEEDS) -seed0=$(or $(SEED0),0) -features='$(FEATURES)'
