package wire

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/pcap"
	"github.com/mip4d/mip4d/agent/internal/scapy"
	"github.com/mip4d/mip4d/agent/internal/tshark"
)

// Independent decoders: our encoder's output, checked field by field by
// tshark's Mobile IP and ICMP dissectors and by scapy's MobileIP layers.

// interopMessages are the golden messages, adjusted where Wireshark's
// dissector (4.0) lags the RFCs: it reads extension 139 only in the
// pre-RFC short layout, it does not know the long-format GRE Key extension
// 48 (RFC 6245), and it throws a malformed-packet exception on the
// one-byte padding extension in registration messages (which RFC 5944
// §1.8 defines for both spaces; it handles it in advertisements). Those
// forms are covered by the hand-written golden files instead.
func interopMessages(t *testing.T) []Message {
	var out []Message
	for _, tc := range goldenCases {
		m := tc.want
		switch v := m.(type) {
		case *RegistrationRequest:
			c := *v
			c.Extensions = nil
			for _, e := range v.Extensions {
				switch x := e.(type) {
				case *GREKey, *Padding:
					continue
				case *DynamicHA:
					y := *x
					y.Short = true
					e = &y
				}
				c.Extensions = append(c.Extensions, e)
			}
			m = &c
		}
		out = append(out, m)
	}
	return out
}

// ntpString formats an Identification the way tshark prints mip.ident.
func ntpString(id uint64) string {
	sec := int64(id>>32) - 2208988800
	ns := int64((id & 0xffffffff) * 1e9 >> 32)
	return time.Unix(sec, ns).UTC().Format("Jan 2, 2006 15:04:05.000000000 UTC")
}

func b01(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// expected lists, per tshark field, the values (in order of occurrence)
// our struct says the packet carries.
type expected map[string][]string

func (e expected) add(field string, vals ...string) { e[field] = append(e[field], vals...) }

func expectExtensions(e expected, exts []Extension) {
	for _, x := range exts {
		switch x.(type) {
		case *Padding:
		default:
			e.add("mip.ext.type", fmt.Sprint(uint8(x.Type())))
		}
		switch x := x.(type) {
		case *Padding:
			e.add("mip.ext.type", "0")
		case *NAI:
			e.add("mip.nai", x.NAI)
		case *Auth:
			e.add("mip.auth.spi", fmt.Sprintf("0x%08x", x.SPI))
			e.add("mip.auth.auth", hex.EncodeToString(x.Authenticator))
		case *GenAuth:
			e.add("mip.ext.auth.subtype", fmt.Sprint(x.SubType))
			e.add("mip.auth.spi", fmt.Sprintf("0x%08x", x.SPI))
			e.add("mip.auth.auth", hex.EncodeToString(x.Authenticator))
		case *UDPTunnelRequest:
			e.add("mip.ext.utrq.f", b01(x.Force()))
			e.add("mip.ext.utrq.r", b01(x.ViaFA()))
			e.add("mip.ext.utrq.encaptype", fmt.Sprint(x.Encapsulation))
		case *UDPTunnelReply:
			e.add("mip.ext.utrp.code", fmt.Sprint(x.Code))
			e.add("mip.ext.utrp.f", b01(x.Forced()))
			e.add("mip.ext.utrp.keepalive", fmt.Sprint(x.Keepalive))
		case *RevocationSupport:
			e.add("mip.ext.rev.i", b01(x.Inform()))
			e.add("mip.ext.rev.tstamp", fmt.Sprint(x.Timestamp))
		case *DynamicHA:
			e.add("mip.ext.dynha.subtype", fmt.Sprint(x.SubType))
			e.add("mip.ext.dynha.ha", x.HA.String())
		case *CVSE:
			e.add("mip.ext.cvse.vendor_id", fmt.Sprint(x.VendorID))
			e.add("mip.ext.cvse.vendor_type", fmt.Sprintf("0x%04x", x.VendorType))
		case *NVSE:
			e.add("mip.ext.nvse.vendor_id", fmt.Sprint(x.VendorID))
			e.add("mip.ext.nvse.vendor_type", fmt.Sprint(x.VendorType))
		case *PMIPPerNodeAuthMethod:
			e.add("mip.ext.pmipv4nonskipext.pernodeauthmethod", fmt.Sprint(x.Method))
		case *PMIPInterface:
			e.add("mip.ext.pmipv4skipext.subtype", "1")
			e.add("mip.ext.pmipv4skipext.interfaceid", hex.EncodeToString(x.ID))
		case *PMIPIdentifier:
			e.add("mip.ext.pmipv4skipext.subtype", fmt.Sprint(x.SubType))
			if x.SubType == PMIPDeviceID {
				e.add("mip.ext.pmipv4skipext.deviceid_type", fmt.Sprint(x.IDType))
				e.add("mip.ext.pmipv4skipext.deviceid_id", hex.EncodeToString(x.ID))
			} else {
				e.add("mip.ext.pmipv4skipext.subscriberid_type", fmt.Sprint(x.IDType))
				e.add("mip.ext.pmipv4skipext.subscriberid_id", hex.EncodeToString(x.ID))
			}
		case *PMIPAccessTechnology:
			e.add("mip.ext.pmipv4skipext.subtype", "4")
			e.add("mip.ext.pmipv4skipext.accesstechnology_type", fmt.Sprint(x.Tech))
		case *MobileNetworkRequest:
			e.add("mip.ext.mne.subtype", "0")
			e.add("mip.ext.mne.prefix_length", fmt.Sprint(x.PrefixLen))
			e.add("mip.ext.mne.prefix", x.Prefix.String())
		case *MobileNetworkAck:
			e.add("mip.ext.mne.subtype", fmt.Sprint(x.SubType))
			e.add("mip.ext.mne.code", fmt.Sprint(x.Code))
			e.add("mip.ext.mne.prefix_length", fmt.Sprint(x.PrefixLen))
			e.add("mip.ext.mne.prefix", x.Prefix.String())
		}
	}
}

func expectMessage(m Message) expected {
	e := expected{}
	switch m := m.(type) {
	case *RegistrationRequest:
		e.add("mip.type", "1")
		e.add("mip.flags", fmt.Sprintf("0x%02x", uint8(m.Flags)))
		e.add("mip.life", fmt.Sprint(m.Lifetime))
		e.add("mip.homeaddr", m.HomeAddr.String())
		e.add("mip.haaddr", m.HomeAgent.String())
		e.add("mip.coa", m.CareOf.String())
		e.add("mip.ident", ntpString(m.ID))
		expectExtensions(e, m.Extensions)
	case *RegistrationReply:
		e.add("mip.type", "3")
		e.add("mip.code", fmt.Sprint(uint8(m.Code)))
		e.add("mip.life", fmt.Sprint(m.Lifetime))
		e.add("mip.homeaddr", m.HomeAddr.String())
		e.add("mip.haaddr", m.HomeAgent.String())
		e.add("mip.ident", ntpString(m.ID))
		expectExtensions(e, m.Extensions)
	case *Revocation:
		e.add("mip.type", "7")
		e.add("mip.rev.a", b01(m.ByHomeAgent()))
		e.add("mip.rev.i", b01(m.Inform()))
		e.add("mip.homeaddr", m.HomeAddr.String())
		e.add("mip.rev.hda", m.HomeDomain.String())
		e.add("mip.rev.fda", m.ForeignDomain.String())
		e.add("mip.revid", fmt.Sprint(m.ID))
		expectExtensions(e, m.Extensions)
	case *RevocationAck:
		e.add("mip.type", "15")
		e.add("mip.ack.i", b01(m.Informed()))
		e.add("mip.homeaddr", m.HomeAddr.String())
		e.add("mip.revid", fmt.Sprint(m.ID))
		expectExtensions(e, m.Extensions)
	case *AgentAdvertisement:
		e.add("icmp.type", "9")
		e.add("icmp.checksum.status", "1")
		e.add("icmp.lifetime", fmt.Sprint(m.Lifetime))
		for _, r := range m.Routers {
			e.add("icmp.router_address", r.Addr.String())
			e.add("icmp.pref_level", fmt.Sprint(r.Preference))
		}
		for _, x := range m.Extensions {
			switch x := x.(type) {
			case *MobilityAgentAdv:
				e.add("icmp.mip.seq", fmt.Sprint(x.Sequence))
				e.add("icmp.mip.life", fmt.Sprint(x.RegLifetime))
				e.add("icmp.mip.flags", fmt.Sprintf("0x%04x", uint16(x.Flags)))
				e.add("icmp.mip.f", b01(x.Flags&AdvF != 0))
				e.add("icmp.mip.u", b01(x.Flags&AdvU != 0))
				for _, a := range x.CareOf {
					e.add("icmp.mip.coa", a.String())
				}
			case *PrefixLengths:
				for _, p := range x.Lengths {
					e.add("icmp.mip.prefixlength", fmt.Sprint(p))
				}
			case *Challenge:
				e.add("icmp.mip.challenge", hex.EncodeToString(x.Challenge))
			}
		}
	case *AgentSolicitation:
		e.add("icmp.type", "10")
		e.add("icmp.code", "0")
		e.add("icmp.checksum.status", "1")
	}
	return e
}

// TestTshark encodes every message with our encoder, puts each in an IPv4
// packet (UDP port 434, or ICMP for discovery), and checks that tshark
// decodes every field to the value we encoded, with no malformed packet
// and no expert item of severity warning or above.
func TestTshark(t *testing.T) {
	tshark.Require(t)
	mn := netip.MustParseAddr("192.168.1.10")
	ha := netip.MustParseAddr("198.51.100.1")
	msgs := interopMessages(t)
	var pkts [][]byte
	var want []expected
	fields := map[string]bool{}
	for _, m := range msgs {
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		switch m.(type) {
		case *AgentAdvertisement, *AgentSolicitation:
			pkts = append(pkts, pcap.IPv4{Src: mn, Dst: netip.MustParseAddr("224.0.0.1"), TTL: 1}.Raw(ProtoICMP, b))
		default:
			pkts = append(pkts, pcap.UDP(netip.AddrPortFrom(mn, 49152), netip.AddrPortFrom(ha, Port), b))
		}
		e := expectMessage(m)
		for f := range e {
			fields[f] = true
		}
		want = append(want, e)
	}
	// Tunnel data: the Next Header and the inner packet.
	inner := pcap.UDP(netip.AddrPortFrom(netip.MustParseAddr("10.10.0.5"), 5000), netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 7), []byte("probe"))
	td := append(AppendTunnelDataHeader(nil, ProtoIPIP), inner...)
	pkts = append(pkts, pcap.UDP(netip.AddrPortFrom(mn, Port), netip.AddrPortFrom(ha, Port), td))
	want = append(want, expected{"mip.type": {"4"}, "mip.nattt.nexthdr": {"4"}, "ip.src": {mn.String(), "10.10.0.5"}, "udp.dstport": {"434", "7"}})
	for _, f := range []string{"mip.nattt.nexthdr", "ip.src", "udp.dstport"} {
		fields[f] = true
	}

	path := pcap.Write(t, "mip.pcap", pkts...)
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	rows := tshark.Fields(t, path, names, tshark.VerifyChecksums...)
	if len(rows) != len(pkts) {
		t.Fatalf("tshark decoded %d packets, wrote %d", len(rows), len(pkts))
	}
	checked := 0
	for i, row := range rows {
		for j, f := range names {
			w, ok := want[i][f]
			if !ok {
				continue
			}
			// Compare the joined form: values such as dates contain commas.
			if got := row[j]; got != strings.Join(w, ",") {
				t.Errorf("packet %d (%T) %s: tshark %q, we encoded %q", i+1, msgs[min(i, len(msgs)-1)], f, got, w)
			}
			checked += len(w)
		}
	}
	for _, p := range tshark.Problems(t, path, tshark.VerifyChecksums...) {
		if p.Malformed || p.Severity >= tshark.SeverityWarn {
			t.Errorf("tshark: %v", p)
		}
	}
	t.Logf("tshark agreed on %d field values in %d packets", checked, len(pkts))
}

// TestScapy has scapy's MobileIP layers parse the fixed parts of our
// Registration Requests and Replies and of the tunnel data header (scapy
// has no extension layers; it leaves them as Raw).
func TestScapy(t *testing.T) {
	scapy.Require(t)
	const script = `
import sys
from scapy.layers.mobileip import MobileIP, MobileIPRRQ, MobileIPRRP, MobileIPTunnelData
for hx in sys.argv[1:]:
    p = MobileIP(bytes.fromhex(hx))
    if MobileIPRRQ in p:
        q = p[MobileIPRRQ]
        print('rrq', p.type, q.flags, q.lifetime, q.homeaddr, q.haaddr, q.coaddr, '%x' % q.id)
    elif MobileIPRRP in p:
        q = p[MobileIPRRP]
        print('rrp', p.type, q.code, q.lifetime, q.homeaddr, q.haaddr, '%x' % q.id)
    else:
        print('tun', p.type, p[MobileIPTunnelData].nexthdr)
`
	var args, want []string
	for _, m := range interopMessages(t) {
		b, _ := m.AppendBinary(nil)
		switch m := m.(type) {
		case *RegistrationRequest:
			args = append(args, hex.EncodeToString(b))
			want = append(want, fmt.Sprintf("rrq 1 %d %d %v %v %v %x", uint8(m.Flags), m.Lifetime, m.HomeAddr, m.HomeAgent, m.CareOf, m.ID))
		case *RegistrationReply:
			args = append(args, hex.EncodeToString(b))
			want = append(want, fmt.Sprintf("rrp 3 %d %d %v %v %x", uint8(m.Code), m.Lifetime, m.HomeAddr, m.HomeAgent, m.ID))
		}
	}
	args = append(args, hex.EncodeToString(AppendTunnelDataHeader(nil, ProtoGRE)))
	want = append(want, "tun 4 47")
	got := strings.Split(strings.TrimSpace(scapy.Run(t, script, args...)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("scapy:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
