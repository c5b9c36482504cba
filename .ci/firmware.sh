#!/usr/bin/env bash
# The QEMU firmware boots for `make test` (about 10 s each once the guest
# kernels are cached): the packaged mip4d on Debian's mipsel malta and arm64
# virt kernels, an HA and an MN registering and pinging inside the guest.
# `make firmware-test` runs these plus the pure tests under qemu-user on
# mips, mipsle, arm and arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
exec packaging/qemu/firmware-test.sh mipsel,arm64
