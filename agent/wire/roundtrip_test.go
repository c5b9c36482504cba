package wire

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

// randExt returns a random typed extension of the registration space.
func randExt(r *rand.Rand) Extension {
	bs := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	addr := func() netip.Addr { return netip.AddrFrom4([4]byte(bs(4))) }
	switch r.IntN(21) {
	case 0:
		return &Padding{}
	case 1:
		return &NAI{NAI: string(bs(r.IntN(60)))}
	case 2:
		return &Challenge{Kind: ExtMNFAChallenge, Challenge: bs(r.IntN(40))}
	case 3:
		return &NAICarrying{SubType: uint8(r.IntN(3)), NAI: string(bs(r.IntN(40)))}
	case 4:
		e := &RevocationSupport{Flags: uint16(r.Uint32()), Timestamp: r.Uint32()}
		if r.IntN(2) == 0 {
			e.Extra = bs(1 + r.IntN(4))
		}
		return e
	case 5:
		return &DynamicHA{SubType: uint8(1 + r.IntN(2)), HA: addr(), Short: r.IntN(2) == 0}
	case 6:
		return &CVSE{Reserved: uint8(r.IntN(256)), VendorID: r.Uint32(), VendorType: uint16(r.Uint32()), Value: bs(r.IntN(30))}
	case 7:
		return &NVSE{Reserved: uint16(r.Uint32()), VendorID: r.Uint32(), VendorType: uint16(r.Uint32()), Value: bs(r.IntN(30))}
	case 8:
		return &GREKey{SubType: uint8(r.IntN(256)), Key: r.Uint32()}
	case 9:
		return &DeliveryStyle{}
	case 10:
		return &MobileNetworkRequest{PrefixLen: uint8(r.IntN(33)), Prefix: addr()}
	case 11:
		return &MobileNetworkAck{SubType: uint8(1 + r.IntN(2)), Code: uint8(r.IntN(4)), PrefixLen: uint8(r.IntN(33)), Reserved: uint8(r.IntN(256)), Prefix: addr()}
	case 12:
		return &PMIPPerNodeAuthMethod{Method: uint8(r.IntN(3))}
	case 13:
		return &PMIPInterface{ID: bs(r.IntN(20))}
	case 14:
		return &PMIPIdentifier{SubType: uint8(2 + r.IntN(2)), IDType: uint8(r.IntN(5)), ID: bs(r.IntN(20))}
	case 15:
		return &PMIPAccessTechnology{Tech: uint8(r.IntN(9))}
	case 16:
		return &TrustedNetworks{SubType: uint8(r.IntN(256)), Reserved: uint8(r.IntN(256))}
	case 17:
		return &UDPTunnelRequest{SubType: uint8(r.IntN(2)), Reserved1: uint8(r.IntN(256)), Flags: uint8(r.IntN(256)), Encapsulation: uint8(r.IntN(256)), Reserved3: uint16(r.Uint32())}
	case 18:
		return &UDPTunnelReply{SubType: uint8(r.IntN(2)), Code: uint8(r.IntN(256)), Flags: uint16(r.Uint32()), Keepalive: uint16(r.Uint32())}
	case 19:
		// An unknown skippable type, kept raw.
		d := bs(r.IntN(20))
		return &RawExtension{Raw: append([]byte{byte(200 + r.IntN(50)), byte(len(d))}, d...)}
	default:
		return &GenAuth{SubType: uint8(2 + r.IntN(10)), SPI: r.Uint32(), Authenticator: bs(16 + r.IntN(8))}
	}
}

// TestRoundTripRandom checks decode(encode(x)) == x for random requests and
// replies built from every typed extension, in random order, each followed
// by the authentication extensions in their RFC positions.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a4 := func() netip.Addr {
		return netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	for i := 0; i < 2000; i++ {
		var exts []Extension
		for n := r.IntN(6); n > 0; n-- {
			exts = append(exts, randExt(r))
		}
		exts = append(exts, &Auth{Kind: ExtMNHAAuth, SPI: r.Uint32(), Authenticator: make([]byte, 16)})
		if r.IntN(2) == 0 {
			exts = append(exts, randExt(r))
		}
		switch r.IntN(3) {
		case 0:
			exts = append(exts, &Auth{Kind: ExtFAHAAuth, SPI: r.Uint32(), Authenticator: make([]byte, 16)})
		case 1:
			exts = append(exts, &Auth{Kind: ExtMNFAAuth, SPI: r.Uint32(), Authenticator: make([]byte, 16)})
		}
		var in, out Message
		if i%2 == 0 {
			in = &RegistrationRequest{Flags: RequestFlags(r.IntN(256)), Lifetime: uint16(r.Uint32()),
				HomeAddr: a4(), HomeAgent: a4(), CareOf: a4(), ID: r.Uint64(), Extensions: exts}
			out = &RegistrationRequest{}
		} else {
			in = &RegistrationReply{Code: Code(r.IntN(256)), Lifetime: uint16(r.Uint32()),
				HomeAddr: a4(), HomeAgent: a4(), ID: r.Uint64(), Extensions: exts}
			out = &RegistrationReply{}
		}
		b, err := in.AppendBinary(nil)
		if err != nil {
			t.Fatalf("case %d: encode: %v", i, err)
		}
		if err := out.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: decode %x: %v", i, b, err)
		}
		normalizeEmpty(in)
		normalizeEmpty(out)
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("case %d:\n in %#v\nout %#v", i, in, out)
		}
	}
}

// normalizeEmpty turns zero-length byte slices into nil so DeepEqual
// compares content, not allocation.
func normalizeEmpty(m Message) {
	var exts []Extension
	switch m := m.(type) {
	case *RegistrationRequest:
		exts = m.Extensions
	case *RegistrationReply:
		exts = m.Extensions
	}
	for _, e := range exts {
		v := reflect.ValueOf(e).Elem()
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if f.Kind() == reflect.Slice && f.Len() == 0 {
				f.Set(reflect.Zero(f.Type()))
			}
		}
	}
}

func TestAdvertisementRoundTripAndRules(t *testing.T) {
	adv := &AgentAdvertisement{Code: AdvCodeNoCommonTraffic, Lifetime: 30,
		Routers: []RouterAddress{{Addr: ip("10.0.0.1"), Preference: -1}, {Addr: ip("10.0.1.1"), Preference: 5}},
		Extensions: []Extension{
			&MobilityAgentAdv{Sequence: 0xffff, RegLifetime: 600, Flags: AdvF | AdvR | AdvB, CareOf: []netip.Addr{ip("203.0.113.1"), ip("203.0.113.2")}},
			&PrefixLengths{Lengths: []uint8{24, 16}},
			&NAICarrying{SubType: NAIHAIdentity, NAI: "fa@hotspot"},
			&RawExtension{Raw: []byte{200, 1, 9}},
		}}
	b, err := adv.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got AgentAdvertisement
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, adv) {
		t.Fatalf("got %#v", got)
	}
	if err := got.MobilityAgent().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []MobilityAgentAdv{
		{Flags: AdvT},        // neither F nor H
		{Flags: AdvH | AdvB}, // B without F
		{Flags: AdvH | AdvR}, // R without F
		{Flags: AdvF},        // F without a care-of address
	} {
		if bad.Validate() == nil {
			t.Errorf("flags %v accepted", bad.Flags)
		}
	}
	if (&MobilityAgentAdv{Flags: AdvH}).Validate() != nil {
		t.Error("home-agent-only advertisement rejected")
	}
}

func TestAdvSequence(t *testing.T) {
	if NextAdvSequence(0) != 1 || NextAdvSequence(0xfffe) != 0xffff || NextAdvSequence(0xffff) != 256 {
		t.Fatal("NextAdvSequence does not follow RFC 5944 §2.3.2")
	}
	for _, tc := range []struct {
		prev, cur uint16
		want      bool
	}{
		{5, 6, false}, {0xffff, 256, false}, {300, 0, true}, {300, 255, true}, {300, 256, false}, {10, 3, true}, {3, 3, false},
	} {
		if got := AgentRebooted(tc.prev, tc.cur); got != tc.want {
			t.Errorf("AgentRebooted(%d, %d) = %v", tc.prev, tc.cur, got)
		}
	}
}

func TestStrings(t *testing.T) {
	if s := (FlagS | FlagD | FlagT).String(); s != "S|D|T" {
		t.Errorf("flags %q", s)
	}
	if s := RequestFlags(0).String(); s != "0" {
		t.Errorf("flags %q", s)
	}
	if s := (AdvF | AdvU).String(); s != "F|U" {
		t.Errorf("adv flags %q", s)
	}
	if s := CodeHAIDMismatch.String(); s != "HA: registration Identification mismatch" {
		t.Errorf("code %q", s)
	}
	if s := Code(250).String(); s != "code 250" {
		t.Errorf("code %q", s)
	}
	if s := MsgRevocation.String(); s != "Registration Revocation" {
		t.Errorf("msg %q", s)
	}
	if !CodeAcceptedNoSimult.Accepted() || CodeFAUnspecified.Accepted() || !CodeFAInvalidHAAddr.ByForeignAgent() ||
		!CodeHAPMIPDisallowed.ByHomeAgent() || CodeFATimeout.ByHomeAgent() {
		t.Error("code ranges wrong")
	}
	// Every RFC the issue names has its codes here.
	for _, c := range []Code{0, 1, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 88, 90,
		96, 97, 98, 99, 100, 101, 104, 105, 106, 108, 109, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138,
		139, 140, 141, 142, 143, 144, 147, 148, 149, 150, 194} {
		if _, ok := codeNames[c]; !ok {
			t.Errorf("code %d has no name", c)
		}
	}
	if len(KnownCodes()) != len(codeNames) {
		t.Error("KnownCodes incomplete")
	}
	if !ExtType(128).Skippable() || ExtType(127).Skippable() {
		t.Error("Skippable")
	}
}
