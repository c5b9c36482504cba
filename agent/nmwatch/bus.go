//go:build !nodbus

package nmwatch

import (
	"context"
	"fmt"

	"github.com/godbus/dbus/v5"
)

func watchBus(ctx context.Context, ch chan<- Event) error {
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
				ev := Event{Member: s.Name[len(s.Name)-len("StateChanged"):], Path: string(s.Path)}
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
