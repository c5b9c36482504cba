#!/usr/bin/env bash
# go test -count=1 ./..., with the race detector when this host can build
# with it (it needs cgo and a C compiler). RACE=0 turns it off.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

race=()
if [ "${RACE:-auto}" != 0 ]; then
	probe=$(mktemp -d)
	trap 'rm -rf "$probe"' EXIT
	printf 'module probe\n' >"$probe/go.mod"
	printf 'package main\n\nfunc main() {}\n' >"$probe/main.go"
	if (cd "$probe" && CGO_ENABLED=1 "$GO" build -race -o /dev/null . >build.log 2>&1); then
		race=(-race)
		export CGO_ENABLED=1
	else
		echo "go test: race detector unavailable here, testing without -race:"
		sed 's/^/  /' "$probe/build.log"
	fi
fi

# The labs run twice (issue 9): every daemon with the kernel (BPF) data
# plane, then with the userspace one. Without root the labs skip, visibly.
echo "go test ${race[*]} -count=1 ./...   (labs: MIP4D_DATAPLANE=bpf)"
MIP4D_DATAPLANE=bpf "$GO" test "${race[@]}" -count=1 ./...
echo "go test ${race[*]} -count=1 ./agent/internal/scenario   (labs: MIP4D_DATAPLANE=userspace)"
MIP4D_DATAPLANE=userspace "$GO" test "${race[@]}" -count=1 ./agent/internal/scenario
