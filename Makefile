# Airut on Temporal. `make run` runs it; `make test` runs every test.
# Build tags of the podman bindings (pure-Go remote client, no cgo storage drivers).
TAGS := remote,exclude_graphdriver_btrfs,btrfs_noversion,exclude_graphdriver_devicemapper,containers_image_openpgp
GO   ?= go
REPO ?= $(CURDIR)
# Packages that link the whole Temporal server build slowly with -race; they
# run without it, everything else with it.
SLOW_PKGS := ./workers/embedded/ ./e2e/

.PHONY: build run deps test-deps test-fresh-root base-image test test-unit test-e2e fuzz bench vet fmt clean

build:
	$(GO) build -tags $(TAGS) -o bin/airut ./cmd/airut
	CGO_ENABLED=0 $(GO) build -o bin/airut-proxy ./cmd/airut-proxy
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -o bin/airut-sandbox ./cmd/airut-sandbox

deps:
	scripts/install-deps.sh runtime

test-deps:
	scripts/install-deps.sh test

# Proves scripts/install-deps.sh installs everything on a bare Debian 12:
# it runs in a minimal root made with mmdebstrap, then every program of
# internal/hostdeps/programs.txt must be there and podman must run a
# container on a bridge network. Needs root; the minbase tarball, .debs and
# npm packages are cached in /var/cache/airut-freshroot between runs.
test-fresh-root:
	$(GO) test -tags freshroot -count=1 -timeout 20m -run TestFreshRootInstall -v ./internal/hostdeps/

base-image: deps
	scripts/base-image.sh

# Builds, installs podman and the Claude Code CLI if missing, writes a local
# config for $(REPO) (default: this checkout) if none exists, and starts the
# embedded Temporal server, its Web UI and a worker.
run: build base-image
	bin/airut run --init-repo $(REPO)

# go vet, staticcheck (pinned as a go tool in go.mod; staticcheck.conf
# says which checks) and the gofmt check.
vet:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) tool staticcheck -tags $(TAGS) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test-unit:
	$(GO) test -tags $(TAGS) -race -count=1 $$($(GO) list -tags $(TAGS) ./... | grep -v -e /e2e -e /workers/embedded)

test-e2e: base-image
	$(GO) test -tags $(TAGS) -count=1 -timeout 30m $(SLOW_PKGS)

# Each fuzz target runs briefly (about 10 s here); the corpus in
# testdata/fuzz keeps what earlier runs found. The budgets are execution
# counts, not durations: with a duration, Go 1.26's fuzz coordinator can
# report a spurious "context deadline exceeded" at the deadline under load
# (fixed in Go 1.27). FUZZSCALE multiplies every count (e.g. 10 for a long
# session).
FUZZSCALE ?= 1
fuzzrun = $(GO) test -run '^$$' -fuzz '^$(1)$$' -fuzztime $$(( $(2) * $(FUZZSCALE) ))x $(3)
fuzz:
	$(call fuzzrun,FuzzParse,25000,./ingest/email/)
	$(call fuzzrun,FuzzAuthenticate,60000,./ingest/email/)
	$(call fuzzrun,FuzzAuthResults,40000,./ingest/email/)
	$(call fuzzrun,FuzzHTMLToText,40000,./ingest/email/)
	$(call fuzzrun,FuzzRenderHTML,50000,./internal/mailout/)
	$(call fuzzrun,FuzzRender,15000,./internal/mrkdwn/)
	$(call fuzzrun,FuzzSplit,150000,./internal/mrkdwn/)
	$(call fuzzrun,FuzzParse,130000,./proxy/allowlist/)
	$(call fuzzrun,FuzzAllowed,250000,./proxy/allowlist/)
	$(call fuzzrun,FuzzApply,350000,./proxy/masking/)
	$(call fuzzrun,FuzzCheck,600000,./proxy/graphql/)
	$(call fuzzrun,FuzzRequestPath,3000,./proxy/)
	$(call fuzzrun,FuzzXOAUTH2Challenge,20000,./internal/mailauth/)
	$(call fuzzrun,FuzzChunks,200000,./proxy/awssig/)
	$(call fuzzrun,FuzzAuthorization,250000,./proxy/awssig/)
	$(call fuzzrun,FuzzNodeID,250000,./proxy/graphql/)
	$(call fuzzrun,FuzzCheckRepoScope,250000,./proxy/graphql/)

# Everything CI runs: dependencies, the fresh-root install check, vet,
# unit tests with -race, brief fuzzing, then the end-to-end tests against
# real Temporal, Podman, Dovecot and Claude Code.
test: test-deps test-fresh-root vet test-unit fuzz test-e2e

# test-deps brings dovecot (imapbox) and mitmproxy (the proxy's baseline).
# The scale benchmarks measure one long run each (minutes: 48 tasks, 10,000
# conversations, 350 tasks), so they run once.
SCALE_BENCH = ScaleOutWorkers|IdleConversationsMemory|SignalToTaskStartLatency

bench: test-deps build base-image
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -skip '$(SCALE_BENCH)' -benchtime 5x -count=1 ./e2e/ ./internal/podman/ ./internal/imapbox/ ./internal/sandbox/ ./sandbox/ ./dashboard/
	$(GO) test -tags $(TAGS) -run '^$$' -bench '$(SCALE_BENCH)' -benchtime 1x -count=1 -timeout 60m ./e2e/
	$(GO) test -run '^$$' -bench 'VsMitmproxy|KeepAliveHTTPS' -benchtime 3s ./proxy/mitm/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
