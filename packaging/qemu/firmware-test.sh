#!/usr/bin/env bash
# The firmware tests (DESIGN.md §5, issue 6):
#
#   packaging/qemu/firmware-test.sh [all|mipsel|arm64]   (default all)
#
# all:    the pure packages' tests under qemu-user as mips (big-endian),
#         mipsle, arm and arm64; then the packaged binary booted under
#         qemu-system on Debian 12's mipsel malta and arm64 virt kernels
#         (agent/internal/firmware): a home agent and a mobile node register
#         and ping through the tunnel inside the guest.
# mipsel, arm64: only that boot (about 10 s), for `make test`.
#
# The boot takes the .ipk from dist/ when `make package` made one, else
# builds it. Guest kernels and busybox are fetched once into a cache
# (packaging/qemu/fetch-guests.sh); reruns are offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
what=${1:-all}

packaging/deps.sh
packaging/qemu/fetch-guests.sh

if [ "$what" = all ]; then
	# Pure code only: qemu-user mistranslates some netlink (LAB-NOTES.md).
	pkgs=(./agent/wire/... ./agent/auth/... ./agent/encap/... ./agent/ha/... ./agent/mn/... ./agent/uci/... ./agent/config/...)
	# GOARCH  environment        qemu-user
	while read -r arch env qemu; do
		[ -n "$arch" ] || continue
		[ "$env" != - ] || env=
		echo "firmware: GOARCH=$arch $env go test -exec $qemu ${pkgs[*]}"
		# $env is unquoted on purpose: empty or one VAR=value word.
		env $env CGO_ENABLED=0 GOOS=linux GOARCH="$arch" "$GO" test -count=1 -exec "$qemu" "${pkgs[@]}"
	done <<-'EOT'
		mips    GOMIPS=softfloat  qemu-mips-static
		mipsle  GOMIPS=softfloat  qemu-mipsel-static
		arm     GOARM=7           qemu-arm-static
		arm64   -                 qemu-aarch64-static
	EOT
fi

MIP4D_FIRMWARE=$what MIP4D_IPK_DIR=dist "$GO" test -count=1 -v -run '^TestBoot$' ./agent/internal/firmware |
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|firmware:)|MIP4D-FIRMWARE|firmware_test.go'
