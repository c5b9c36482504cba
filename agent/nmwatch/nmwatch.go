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
// alone.
package nmwatch

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

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
	Path dbus.ObjectPath
	// State is the new state (NMState or NMDeviceState).
	State uint32
}

// Watch connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS, else the
// standard socket) and sends events on ch until ctx ends. It returns once
// the subscription is in place.
func Watch(ctx context.Context, ch chan<- Event) error {
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("nmwatch: system bus: %w", err)
	}
	return watch(ctx, conn, ch)
}

func watch(ctx context.Context, conn *dbus.Conn, ch chan<- Event) error {
	for _, iface := range []string{Interface, DeviceInterface} {
		if err := conn.AddMatchSignal(dbus.WithMatchInterface(iface), dbus.WithMatchMember("StateChanged")); err != nil {
			conn.Close()
			return fmt.Errorf("nmwatch: subscribing to %s: %w", iface, err)
		}
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	go func() {
		defer conn.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case s, ok := <-sigs:
				if !ok {
					return
				}
				ev := Event{Member: s.Name[len(s.Name)-len("StateChanged"):], Path: s.Path}
				if len(s.Body) > 0 {
					if v, ok := s.Body[0].(uint32); ok {
						ev.State = v
					}
				}
				select {
				case ch <- ev:
				default: // a poke is enough; never block the bus
				}
			}
		}
	}()
	return nil
}
