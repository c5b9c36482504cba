#!/bin/sh
# Static mip4d binaries for the OpenWrt targets of DESIGN.md §5, then a table
# of their stripped sizes.
#
#   cross/build.sh [OUTDIR]        (default dist/; GO and VERSION from the environment)
#
# CGO_ENABLED=0, -trimpath, -ldflags '-s -w', -tags nodbus (OpenWrt has no
# NetworkManager to listen to: agent/nmwatch), no inlining in the control
# plane (below). No UPX: it breaks Go on MIPS.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo 0.0.0-dev)}
out=${1:-dist}
pkg=./agent/cmd/mip4d

# Budget for the router binary (DESIGN.md §4): stripped mips softfloat ≤ 6 MB.
budget=6000000

# Control-plane packages are built without inlining (-gcflags=PKG=-l):
# configuration, the control socket, netlink, DHCP and the daemon's glue
# run a few times per registration or command, and inlining their calls
# costs the mips binary about 600 kB. The packet path (wire, auth, encap,
# dataplane, bpfplane, linkio), the engines and the runtime keep it.
noinline='
github.com/vishvananda/...
github.com/insomniacslk/...
encoding/json
log/slog
fmt
./agent/cmd/mip4d
./agent/config
./agent/uci
./agent/control
./agent/netconf
./agent/daemon
./agent/dhcpserve
'
gcflags=
for p in $noinline; do gcflags="$gcflags -gcflags=$p=-l"; done

# GOARCH  extra environment  OpenWrt target
targets='
mips    GOMIPS=softfloat   mips_24kc
mipsle  GOMIPS=softfloat   mipsel_24kc
arm     GOARM=7            arm_cortex-a7
arm64   -                  aarch64_cortex-a53
amd64   -                  x86_64
'

mkdir -p "$out"
over=0
while read -r arch extra target; do
	[ -n "$arch" ] || continue
	[ "$extra" != - ] || extra=
	bin=$out/mip4d-linux-$arch
	echo "build $bin ($target${extra:+, $extra})"
	# $extra is unquoted on purpose: it is empty or one VAR=value word.
	env $extra CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
		"$GO" build -trimpath -tags nodbus $gcflags -ldflags "-s -w -X main.version=$VERSION" -o "$bin" "$pkg"
done <<EOF
$targets
EOF

echo
w=$((${#out} + 20)) # width of the longest name, $out/mip4d-linux-mipsle
printf "%-${w}s %-20s %12s %8s\n" binary target bytes MB
while read -r arch extra target; do
	[ -n "$arch" ] || continue
	bin=$out/mip4d-linux-$arch
	bytes=$(wc -c <"$bin")
	bytes=$((bytes))
	mb=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1000000 }')
	note=
	if [ "$arch" = mips ] || [ "$arch" = mipsle ]; then
		if [ "$bytes" -le "$budget" ]; then note='  (budget 6 MB: ok)'; else note='  (budget 6 MB: OVER)'; over=1; fi
	fi
	printf "%-${w}s %-20s %12d %8s%s\n" "$bin" "$target" "$bytes" "$mb" "$note"
done <<EOF
$targets
EOF
[ "$over" = 0 ] || { echo "cross: the mips binary is over its budget of $budget bytes (DESIGN.md §4)" >&2; exit 1; }
