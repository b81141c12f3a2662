# Sluice — make targets. A fresh machine needs only Go.
#   make run         build, start three demo backends and sluice on configs/quickstart.yaml
#   make test        go vet + every test under the race detector, then the allocation tests
#                    (…Alloc…, built !race) without it (what .ci/run calls)
#   make build       bin/sluice (static, CGO_ENABLED=0) and bin/sluice-bench
#   make image       the container image from bin/sluice without a Docker daemon:
#                    bin/sluice-image (OCI layout) and bin/sluice-image.tar (docker load)
#   make bench       the side-by-side benchmark harness (ARGS='--quick --out DIR' passes flags)
#   make bench-quick the same with --quick (under a minute)
#   make test-deps   install every program the tests use (Debian, as root; .ci/run does this,
#                    then SLUICE_REQUIRE_TOOLS=1 make test, so that no such test is skipped)
#   make bench-deps  the same plus what only the benchmark harness uses
#   make lint        gofmt check and go vet
#   make fuzz        run each fuzz target for FUZZTIME (default 20s)
#   make proto       regenerate api/sluice/v1/*.pb.go (protoc from Debian's protobuf-compiler;
#                    protoc-gen-go and protoc-gen-go-grpc pinned as go tool dependencies in go.mod)
#   make ui          rebuild the web UI (ui/dist, committed) from ui/ with Node.js and npm

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 20s
ARGS     ?=

# Debian packages of the programs tests run (internal/testtool.Packages maps each program to
# its package; a test there checks this list). Where one is missing, its tests skip, unless
# SLUICE_REQUIRE_TOOLS=1, where they fail.
TEST_DEPS  := haproxy nginx libnginx-mod-stream caddy wrk prometheus redis-server redis-tools \
              postgresql postgresql-contrib postgresql-client openssl curl util-linux \
              systemd strace runc umoci nodejs protobuf-compiler
BENCH_DEPS := $(TEST_DEPS) netcat-openbsd

# Packages with tests built only without the race detector (//go:build !race: the …Alloc…
# tests); make test runs them in a second, non-race pass. internal/arch checks the convention.
NORACE_PKGS = $(sort $(patsubst %/,%,$(dir $(shell grep -rl --include='*_test.go' --exclude-dir=.git '^//go:build !race' .))))

DEMO_HTTP := 127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003
DEMO_TCP  := 127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103

.PHONY: build image run test test-deps bench bench-quick bench-deps lint fuzz proto clean ui

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/sluice ./cmd/sluice
	$(GO) build -trimpath -o $(BIN)/sluice-bench ./bench/cmd/sluice-bench

# The Dockerfile's default target, built by tools/mkimage (go-containerregistry):
# FROM scratch, bin/sluice, CA certificates, configs/container.yaml, user 65532.
image: build
	$(GO) run ./tools/mkimage -binary $(BIN)/sluice -config configs/container.yaml \
	  -version $(VERSION) -revision $(COMMIT) -layout $(BIN)/sluice-image -tar $(BIN)/sluice-image.tar

run: build
	@$(BIN)/sluice-bench backends --http $(DEMO_HTTP) --tcp-line $(DEMO_TCP) & be=$$!; \
	trap 'kill $$be 2>/dev/null; wait $$be 2>/dev/null' EXIT; \
	trap 'exit 0' INT TERM; \
	printf '\n  Sluice is starting on configs/quickstart.yaml. Try, in another terminal:\n'; \
	printf '    curl http://127.0.0.1:8080/                    # HTTP, round robin over :9001-:9003\n'; \
	printf '    exec 3<>/dev/tcp/127.0.0.1/8081; echo hi >&3; head -1 <&3   # TCP (bash), least connections\n'; \
	printf '    curl http://127.0.0.1:9900/metrics             # Prometheus metrics\n'; \
	printf '  Ctrl-C stops sluice and the demo backends.\n\n'; \
	$(BIN)/sluice run -c configs/quickstart.yaml

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 18m ./...
	$(GO) test -count=1 -timeout 10m -run Alloc $(NORACE_PKGS)

bench: build
	$(BIN)/sluice-bench run --sluice $(BIN)/sluice $(ARGS)

bench-quick: build
	$(BIN)/sluice-bench run --sluice $(BIN)/sluice --quick $(ARGS)

test-deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make test-deps installs Debian packages: run it as root"; exit 1; fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(TEST_DEPS)

bench-deps:
	@if [ "$$(id -u)" != 0 ]; then echo "make bench-deps installs Debian packages: run it as root"; exit 1; fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(BENCH_DEPS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

proto:
	protoc -I api --plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
	  --plugin=protoc-gen-go-grpc=$$($(GO) tool -n protoc-gen-go-grpc) \
	  --go_out=api --go_opt=paths=source_relative \
	  --go-grpc_out=api --go-grpc_opt=paths=source_relative \
	  api/sluice/v1/control.proto

# The UI's built assets are committed (ui/dist) so Go alone builds sluice;
# a test fails when they are stale against ui/src, the lockfile or the config.
ui:
	cd ui && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(BIN)
