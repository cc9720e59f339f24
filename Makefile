# amplitude-testgen: two commands to start with
#   make generate   writes amplitude-test-data.json (45 events, 30 expected identifies)
#   make test       runs the whole suite offline
GO ?= go

# Flags for `make generate`, e.g. make generate ARGS='--seed 7 --start "1 week ago"'
ARGS ?=

.PHONY: generate test update live lint bench build

generate:
	$(GO) run ./cmd/amplitude-testgen generate $(ARGS)

build:
	$(GO) build -o bin/amplitude-testgen ./cmd/amplitude-testgen

test:
	$(GO) test ./...

# Rewrite golden files after an intended change; review the diff like code.
update:
	$(GO) test ./... -update

# Against real Amplitude: needs AMPLITUDE_API_KEY (and AMPLITUDE_SECRET_KEY
# plus an export window for the export check).
live:
	@if [ -z "$$AMPLITUDE_API_KEY" ]; then \
		echo "make live needs AMPLITUDE_API_KEY in the environment (and runs go test -tags live ./...)"; \
		exit 2; \
	fi
	$(GO) test -tags live -run Live -count=1 -v ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags live ./...
	$(GO) tool staticcheck ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./...
