#!/bin/sh
# Fetches the guest pieces of the firmware boot test (LAB-NOTES.md, "Cross
# builds and QEMU") into a cache, once: Debian 12's mipsel malta and arm64
# kernels with their modules, and busybox-static of the same architecture.
# A private apt configuration lists the foreign architectures, so the host's
# own apt state is untouched. A second run finds everything and is offline.
#
#   packaging/qemu/fetch-guests.sh [CACHE]   (default $FIRMWARE_CACHE, else ~/.cache/mip4d/firmware)
#
# Layout: CACHE/ARCH/{vmlinuz,System.map,lib/modules/KV/...,busybox,KV}
set -eu

cache=${1:-${FIRMWARE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mip4d/firmware}}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# arch  kernel package (a Debian 12 metapackage naming the current ABI)
guests='
mipsel  linux-image-4kc-malta
arm64   linux-image-arm64
'

need=
for a in mipsel arm64; do
	[ -f "$cache/$a/ready" ] || need="$need $a"
done
if [ -z "$need" ]; then
	echo "firmware: guests cached in $cache"
	exit 0
fi

command -v apt-get >/dev/null || { echo "firmware: apt-get is needed to fetch the guest kernels" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "firmware: dpkg-deb is needed" >&2; exit 1; }
command -v depmod >/dev/null || { echo "firmware: depmod (kmod) is needed" >&2; exit 1; }

apt="$cache/apt"
mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
touch "$apt/state/status"
opts="-o APT::Sandbox::User=root -o Dir::State=$apt/state -o Dir::State::status=$apt/state/status -o Dir::Cache=$apt/cache
 -o APT::Architectures::=amd64 -o APT::Architectures::=mipsel -o APT::Architectures::=arm64
 -o Debug::NoLocking=1"
echo "firmware: apt-get update (private state in $apt)"
# shellcheck disable=SC2086
apt-get $opts -qq update

echo "$guests" | while read -r arch meta; do
	[ -n "$arch" ] || continue
	case " $need " in *" $arch "*) ;; *) continue ;; esac
	# The metapackage depends on linux-image-KV-FLAVOUR: fetch that one.
	# shellcheck disable=SC2086
	img=$(apt-cache $opts depends "$meta:$arch" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
	img=${img%%:*}
	[ -n "$img" ] || { echo "firmware: cannot resolve $meta:$arch" >&2; exit 1; }
	echo "firmware: $arch: $img, busybox-static"
	rm -rf "$apt/debs/$arch" && mkdir -p "$apt/debs/$arch"
	# shellcheck disable=SC2086
	(cd "$apt/debs/$arch" && apt-get $opts -qq download "$img:$arch" "busybox-static:$arch")
	root="$cache/$arch"
	rm -rf "$root" && mkdir -p "$root/x"
	for d in "$apt/debs/$arch"/*.deb; do dpkg-deb -x "$d" "$root/x"; done
	kv=$(ls "$root/x/lib/modules")
	mv "$root/x/boot/vmlinuz-$kv" "$root/vmlinuz" 2>/dev/null || mv "$root/x/boot/vmlinux-$kv" "$root/vmlinuz"
	mv "$root/x/boot/System.map-$kv" "$root/System.map"
	mkdir -p "$root/lib/modules"
	mv "$root/x/lib/modules/$kv" "$root/lib/modules/$kv"
	mv "$root/x/bin/busybox" "$root/busybox"
	rm -rf "$root/x"
	depmod -b "$root" -F "$root/System.map" "$kv"
	echo "$kv" >"$root/kv"
	touch "$root/ready"
	echo "firmware: $arch ready: kernel $kv"
done
