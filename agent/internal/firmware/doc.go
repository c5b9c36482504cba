// Package firmware boots the packaged mip4d on real kernels under
// qemu-system (DESIGN.md §5): Debian 12's mipsel malta and arm64 virt
// kernels with an initramfs of busybox-static, the mip4d binary taken out
// of the .ipk, and guestinit as /init, which runs a home agent and a mobile
// node in two network namespaces of the guest, registers, pings through
// the tunnel, prints the result on the serial console and powers off.
//
// The boot test runs when MIP4D_FIRMWARE names the architectures ("all",
// or "mipsel", "arm64", comma-separated); `make firmware-test` sets it.
// The kernels and busybox come from packaging/qemu/fetch-guests.sh's cache
// (FIRMWARE_CACHE, default ~/.cache/mip4d/firmware). The .ipk comes from
// MIP4D_IPK_DIR (make package's dist/) when it holds one for the
// architecture, else it is built here the same way.
package firmware
