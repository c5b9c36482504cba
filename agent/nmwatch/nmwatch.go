// Package nmwatch tells the mobile node when NetworkManager says the
// network changed (RFC 5944 §2.4.2 leaves movement detection to the
// implementation; link-layer and connection-manager hints are faster than
// waiting for addresses to change). It listens on the D-Bus system bus for
// NetworkManager's StateChanged signals and for device state changes, and
// turns each into a poke: the daemon then re-reads the care-of address
// exactly as it does for a netlink change.
//
// Where there is no system bus or no NetworkManager (an OpenWrt router,
// most servers), Watch returns an error and the daemon relies on netlink
// alone. The router builds (build tag nodbus, cross/build.sh) leave D-Bus
// out altogether: OpenWrt has no NetworkManager, and godbus costs some
// 200 kB of a binary with a 6 MB budget.
package nmwatch

import "context"

// Names on the bus (NetworkManager's D-Bus API).
const (
	Interface       = "org.freedesktop.NetworkManager"
	DeviceInterface = "org.freedesktop.NetworkManager.Device"
	Path            = "/org/freedesktop/NetworkManager"
)

// Event is one NetworkManager notification.
type Event struct {
	// Member is the signal: "StateChanged" (NetworkManager or a device).
	Member string
	// Path is the object that sent it.
	Path string
	// State is the new state (NMState or NMDeviceState).
	State uint32
}

// Watch connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS, else the
// standard socket) and sends events on ch until ctx ends. It returns once
// the subscription is in place, or an error when there is no bus (or the
// binary was built without D-Bus).
func Watch(ctx context.Context, ch chan<- Event) error { return watchBus(ctx, ch) }
