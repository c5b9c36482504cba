#!/usr/bin/env bash
# Installs what the OpenWrt packaging, LuCI and firmware tests need on
# Debian 12, only what is missing (as root; otherwise says what to install):
# node (JS syntax, LuCI contract), chromium (status page), qemu-user-static
# (pure tests on mips, mipsle, arm, arm64), qemu-system-mips and
# qemu-system-arm (firmware boot), kmod (depmod for the guest kernels).
set -euo pipefail

# package            command that proves it
packages='
nodejs               node
chromium             chromium
chromium-driver      chromedriver
qemu-user-static     qemu-arm-static
qemu-system-mips     qemu-system-mipsel
qemu-system-arm      qemu-system-aarch64
kmod                 depmod
'

missing=()
while read -r pkg cmd; do
	[ -n "$pkg" ] || continue
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done <<<"$packages"

if [ ${#missing[@]} -eq 0 ]; then
	echo "openwrt deps: present"
elif [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "openwrt deps: MISSING ${missing[*]} (apt-get install ${missing[*]}, as root)" >&2
else
	echo "openwrt deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
