# mip4d: build, cross-compile, test, fuzz and benchmark. `make help` lists
# the targets. Recipes run in bash with -eu -o pipefail: a failing command
# anywhere, pipelines included, fails the target.

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.0.0-dev)
# Time per fuzz target: 3s inside `make test`, 60s for `make fuzz`, unless
# given: `make fuzz FUZZTIME=10s`.
FUZZTIME  ?=
# Per benchmark (go test -benchtime).
BENCHTIME ?= 1s
# Pure packages (no netlink, no host sockets) whose tests also run as
# big-endian MIPS under qemu-user; see LAB-NOTES.md "Cross builds and QEMU".
QEMU_PKGS ?= ./agent/wire/... ./agent/auth/... ./agent/encap/... ./agent/ha/... ./agent/mn/... ./agent/uci/... ./agent/config/...

CMD     := ./agent/cmd/mip4d
LDFLAGS := -X main.version=$(VERSION)

export GO

SHELL         := bash
.SHELLFLAGS   := -eu -o pipefail -c
.DEFAULT_GOAL := build

.PHONY: help build cross deps test fuzz bench clean demo package firmware-test

help: ## list targets and variables
	@echo 'Targets:'
	@awk -F ':.*## ' '/^[a-zA-Z0-9_.-]+:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo 'Variables (make VAR=value): GO=$(GO) VERSION=$(VERSION)'
	@echo '  FUZZTIME=$(FUZZTIME) (empty: 3s per target in test; 60s in fuzz) BENCHTIME=$(BENCHTIME)'
	@echo '  QEMU_PKGS=$(QEMU_PKGS)'

build: ## host binary bin/mip4d
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/mip4d $(CMD)

demo: deps build ## the roaming lab: mobile node moved between two NATed hotspots, with a live progress line and a handoff table (root)
	$(GO) run ./agent/internal/tools/demo --bin bin/mip4d $(DEMO_ARGS)

cross: ## static router binaries in dist/ (mips, mipsle softfloat; arm v7; arm64; amd64) and their sizes
	VERSION='$(VERSION)' cross/build.sh dist

package: build cross ## OpenWrt packages in dist/: mip4d_VERSION_ARCH.ipk per router target, luci-app-mip4d_VERSION_all.ipk
	$(GO) run ./agent/internal/tools/ipk -mip4d bin/mip4d -dist dist -version '$(VERSION)'

firmware-test: package ## pure tests under qemu-user (mips, mipsle, arm, arm64); the packaged binary booted in QEMU (mipsel malta, arm64 virt): HA + MN register and ping
	packaging/qemu/firmware-test.sh all

deps: ## install the test tools (apt, as root, only what is missing) and Go modules
	.ci/deps.sh

test: deps ## go vet, gofmt check, go test (-race where possible), short fuzz, QEMU_PKGS under qemu-mips, the QEMU firmware boots (mipsel, arm64)
	$(GO) vet ./...
	.ci/gofmt-check.sh
	.ci/gotest.sh
	.ci/fuzz.sh '$(or $(FUZZTIME),3s)'
	.ci/qemu-test.sh $(QEMU_PKGS)
	.ci/firmware.sh

fuzz: ## every fuzz target for FUZZTIME (default 60s each)
	.ci/fuzz.sh '$(or $(FUZZTIME),60s)'

bench: ## go benchmarks as a table, merged into bench-results.json
	mkdir -p out
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime='$(BENCHTIME)' ./... | tee out/bench.txt
	$(GO) run ./agent/internal/tools/benchtable -trim "$$($(GO) list -m)/" -json bench-results.json <out/bench.txt

clean: ## remove bin/, dist/, out/ and bench-results.json
	rm -rf bin dist out bench-results.json
