#!/usr/bin/env bash
# Installs what the tests need on Debian 12, idempotently: the apt packages
# below (apt-get runs only when one is missing, so a second run is fast and
# offline), then the Go modules. Not root and something missing: says so and
# carries on; the tests that need it skip or fail visibly.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

# package           command that proves it where dpkg is absent
packages='
tshark              tshark
python3-scapy       -
qemu-user-static    qemu-mips-static
tcpdump             tcpdump
iproute2            ip
nftables            nft
conntrack           conntrack
iperf3              iperf3
gcc                 gcc
iputils-ping        ping
ethtool             ethtool
procps              sysctl
groff-base          groff
dbus-daemon         dbus-daemon
strongswan-charon               /usr/lib/ipsec/charon
strongswan-swanctl              swanctl
libcharon-extra-plugins         swanctl
libstrongswan-standard-plugins  swanctl
libc6-dev           gcc
udhcpc              udhcpc
isc-dhcp-client     dhclient
clang               clang
llvm                llvm-objcopy
libbpf-dev          /usr/include/bpf/bpf_helpers.h
openvpn             /usr/sbin/openvpn
wireguard-go        /usr/bin/wireguard-go
wireguard-tools     wg
keepalived          /usr/sbin/keepalived
'

installed() { # package command
	if command -v dpkg-query >/dev/null; then
		[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
	elif [ "$2" = - ]; then
		/usr/bin/python3 -c 'import scapy' 2>/dev/null
	elif [ "${2#/}" != "$2" ]; then
		[ -e "$2" ]
	else
		command -v "$2" >/dev/null
	fi
}

missing=()
while read -r pkg cmd; do
	[ -n "$pkg" ] || continue
	installed "$pkg" "$cmd" || missing+=("$pkg")
done <<<"$packages"

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: apt packages present"
elif [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "deps: MISSING ${missing[*]}" >&2
	echo "deps: install them as root (sudo make deps, or apt-get install ${missing[*]});" >&2
	echo "deps: carrying on, tests that need them will skip or fail" >&2
else
	echo "deps: installing ${missing[*]}"
	# tshark asks whether non-root users may capture; answer no, non-interactively.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

packaging/deps.sh

"$GO" mod download
