#!/usr/bin/env bash
# Runs the tests of pure packages as big-endian MIPS (softfloat) under
# qemu-user, no binfmt needed:
#
#   .ci/qemu-test.sh ./agent/wire/... ./agent/auth/...
#
# Only pure code belongs here: qemu-user mistranslates netlink on mips
# (LAB-NOTES.md, "Cross builds and QEMU"). A listed directory that does not
# exist yet, or holds no Go files, is skipped with a note.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
QEMU=${QEMU:-qemu-mips-static}

pkgs=()
for p in "$@"; do
	dir=${p%/...}
	depth=()
	[ "$dir" != "$p" ] || depth=(-maxdepth 1)
	if [ ! -d "$dir" ]; then
		echo "qemu: skip $p (no such directory yet)"
		continue
	fi
	gofile=$(find "$dir" "${depth[@]}" \( -type d ! -path "$dir" \( -name '.*' -o -name '_*' -o -name testdata -o -name vendor \) -prune \) \
		-o \( -type f -name '*.go' -print -quit \))
	if [ -z "$gofile" ]; then
		echo "qemu: skip $p (no Go files yet)"
		continue
	fi
	pkgs+=("$p")
done

if [ ${#pkgs[@]} -eq 0 ]; then
	echo "qemu: no packages to test yet"
	exit 0
fi
if ! command -v "$QEMU" >/dev/null; then
	echo "qemu: $QEMU not found; install qemu-user-static (make deps, as root)" >&2
	exit 1
fi

echo "qemu: GOARCH=mips GOMIPS=softfloat go test -exec $QEMU ${pkgs[*]}"
CGO_ENABLED=0 GOOS=linux GOARCH=mips GOMIPS=softfloat \
	"$GO" test -count=1 -exec "$QEMU" "${pkgs[@]}"
