package dataplane

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mip4d/mip4d/agent/ha"
)

// TestRunLifecycle runs a home agent plane's goroutines over fakes, passes
// traffic both ways and a control message, and stops it. synctest fails
// the test if any goroutine is left behind.
func TestRunLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, dev, cs := testHA(t, Options{}, true)
		if err := h.Apply(ha.Event{Kind: ha.BindingAdded, Binding: binding(addrHoA, addrCoA, epNAT, true, ha.EncapIPIP)}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- h.Run(ctx) }()

		down := udpPacket(addrCN, addrHoA, 100, false)
		up := udpPacket(addrHoA, addrCN, 100, false)
		dev.in <- down
		cs[kindUDP].in <- Msg{Buf: tunnelData(4, up), Addr: epNAT, Local: addrHA}
		cs[kindUDP].in <- Msg{Buf: []byte{1, 2, 3}, Addr: epNAT, Local: addrHA}
		cs[kindIPIP].in <- Msg{Buf: ipip(addrOther, addrHA, up), Addr: netip.AddrPortFrom(addrOther, 0)}
		synctest.Wait()

		if sent := cs[kindUDP].take(); len(sent) != 1 || !bytes.Equal(sent[0].Buf[4:], down) {
			t.Errorf("forward: %+v", sent)
		}
		if got := dev.take(); len(got) != 1 || !bytes.Equal(got[0], up) {
			t.Errorf("reverse: %x", got)
		}
		select {
		case m := <-h.Control():
			if m.Src != epNAT || m.Dst != epHA {
				t.Errorf("control %v -> %v", m.Src, m.Dst)
			}
		default:
			t.Error("no control message")
		}
		if s := h.Stats(); s.Drops["outer_source_mismatch"] != 1 {
			t.Errorf("drops %v", s.Drops)
		}
		if err := h.Run(ctx); err == nil {
			t.Error("a second Run was allowed")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestRunClose stops a running plane with Close, and a mobile node plane
// whose device fails: Run returns the error, every goroutine ends.
func TestRunClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, _, _ := testMN(t, nil)
		done := make(chan error)
		go func() { done <- m.Run(t.Context()) }()
		synctest.Wait()
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		m, dev, _ := testMN(t, nil)
		done := make(chan error)
		go func() { done <- m.Run(t.Context()) }()
		synctest.Wait()
		dev.Close() // the device goes away under the plane
		if err := <-done; err == nil {
			t.Error("Run returned nil after its device failed")
		}
	})
}

// flakyDevice fails its first reads with a transient error.
type flakyDevice struct {
	*fakeDevice
	fails int
}

func (d *flakyDevice) Read(b []byte) (int, error) {
	if d.fails > 0 {
		d.fails--
		return 0, errors.New("transient")
	}
	return d.fakeDevice.Read(b)
}

// TestRunTransientErrors counts read errors and goes on.
func TestRunTransientErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fd := newFakeDevice(true)
		dev := &flakyDevice{fakeDevice: fd, fails: 3}
		c := newFakeConn(true)
		m, err := NewMN(MNConfig{}, dev, MNConns{UDP: c})
		if err != nil {
			t.Fatal(err)
		}
		m.SetTunnel(udpTunnel)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		fd.in <- udpPacket(addrHoA, addrCN, 60, false)
		time.Sleep(time.Second)
		synctest.Wait()
		if m.Stats().ReadErrors != 3 || len(c.take()) != 1 {
			t.Errorf("counters %+v", m.Stats())
		}
		cancel()
		<-done
	})
}

// TestRunRealSocket runs a plane over a real UDP socket on loopback:
// control messages arrive with their destination from IP_PKTINFO, and
// after cancel no goroutine is left.
func TestRunRealSocket(t *testing.T) {
	before := runtime.NumGoroutine()
	sc, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHA(HAConfig{Addr: netip.MustParseAddr("127.0.0.1")}, newFakeDevice(true), HAConns{UDP: sc, IPIP: newFakeConn(true)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	cl, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(sc.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Write([]byte{1, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-h.Control():
		if m.Dst != sc.LocalAddr() || m.Src != cl.LocalAddr().(*net.UDPAddr).AddrPort() || !bytes.Equal(m.Data, []byte{1, 0, 0, 0}) {
			t.Errorf("control message %+v", m)
		}
		// And the reply goes back.
		if err := h.SendControl(ControlMessage{Src: m.Dst, Dst: m.Src, Data: []byte{3, 0}}); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 10)
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := cl.Read(b); err != nil || n != 2 || b[0] != 3 {
			t.Errorf("reply: %d %v", n, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no control message")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines left (was %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
