# The two set-up commands are `make demo` and `make test`. Both find a
# PostgreSQL with .ci/postgres: $TEST_DATABASE_URL, else 127.0.0.1:5432 when
# it answers, else a throwaway cluster started from the local binaries.

GO ?= go

.PHONY: test demo build vet

## test: go vet, then every test with the race detector against a real PostgreSQL
test: vet
	url=$$(bash .ci/postgres) && TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 ./...

## demo: example database + sandbox API + the example job, with a printout
demo:
	url=$$(bash .ci/postgres) && ALGOREG_ETL_DEMO_DATABASE="$$url" $(GO) run ./cmd/algoreg-etl demo --log-format text

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/algoreg-etl ./cmd/algoreg-etl
