//go:build !nodbus

package nmwatch

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// privateBus starts a dbus-daemon of our own, so the test needs no system
// bus and no NetworkManager, and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dbus-daemon is required (make deps installs it)")
		}
		t.Skip("SKIP: dbus-daemon not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o644)
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

func TestWatch(t *testing.T) {
	addr := privateBus(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 4)
	if err := Watch(ctx, events); err != nil {
		t.Fatal(err)
	}
	// A stand-in NetworkManager announces a state change, then a device.
	nm, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nm.Close()
	if err := nm.Emit(Path, Interface+".StateChanged", uint32(70)); err != nil {
		t.Fatal(err)
	}
	if err := nm.Emit("/org/freedesktop/NetworkManager/Devices/3", DeviceInterface+".StateChanged", uint32(100), uint32(30), uint32(0)); err != nil {
		t.Fatal(err)
	}
	// Unrelated signals are not reported.
	nm.Emit(Path, "org.example.Other.StateChanged", uint32(1))
	want := []Event{{Member: "StateChanged", Path: Path, State: 70},
		{Member: "StateChanged", Path: "/org/freedesktop/NetworkManager/Devices/3", State: 100}}
	for _, w := range want {
		select {
		case ev := <-events:
			if ev != w {
				t.Fatalf("got %+v, want %+v", ev, w)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no event %+v", w)
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestNoBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
	if err := Watch(context.Background(), make(chan Event)); err == nil {
		t.Fatal("no error without a bus")
	}
}
