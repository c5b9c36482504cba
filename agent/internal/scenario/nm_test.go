package scenario

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/mip4d/mip4d/agent/nmwatch"
)

// TestNetworkManagerSignals runs the mobile node with a private system bus
// on which a stand-in NetworkManager announces a state change: the daemon
// follows NetworkManager and re-checks its attachment on the signal.
func TestNetworkManagerSignals(t *testing.T) {
	r := newRoaming(t)
	dir := r.L.Dir()
	conf := filepath.Join(dir, "bus.conf")
	os.WriteFile(conf, []byte(`<busconfig><type>system</type><listen>unix:path=`+filepath.Join(dir, "sysbus")+`</listen>
<auth>EXTERNAL</auth><policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`), 0o644)
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address")
	out, _ := bus.StdoutPipe()
	must(t, bus.Start())
	defer func() { bus.Process.Kill(); bus.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	must(t, err)
	addr = strings.TrimSpace(addr)
	r.MNEnv = []string{"DBUS_SYSTEM_BUS_ADDRESS=" + addr}

	must(t, r.MoveTo(1))
	must(t, r.StartHA())
	must(t, r.StartMN())
	_, err = r.WaitRegistered(CoAs[1], 10*time.Second)
	must(t, err)
	if !strings.Contains(r.MN.Output(), "following NetworkManager state changes") {
		t.Fatalf("the mobile node did not subscribe to NetworkManager:\n%s", r.MN.Output())
	}
	nm, err := dbus.Connect(addr)
	must(t, err)
	defer nm.Close()
	must(t, nm.Emit(nmwatch.Path, nmwatch.Interface+".StateChanged", uint32(70)))
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(r.MN.Output(), "NetworkManager state changed") {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not react to the signal:\n%s", r.MN.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := r.MNStatus(); st.State != "registered" || st.CareOf != CoAs[1] {
		t.Fatalf("state after a signal with no move: %+v", st)
	}
}
