package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/mip4d/mip4d/agent/internal/golden"
)

// edit returns a copy of the golden packet with b[i] set to v for each
// (i, v) pair.
func edit(t *testing.T, file string, pairs ...int) []byte {
	t.Helper()
	b := bytes.Clone(golden.Load(t, "wire/"+file))
	for i := 0; i < len(pairs); i += 2 {
		b[pairs[i]] = byte(pairs[i+1])
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Offsets inside the golden files, counted from their annotations.
const (
	// rrq-colocated-nat.hex: fixed 24 | NAI 24..41 | 144 at 41..49 | MN-HA at 49..71
	cnUDPReqLen = 42
	cnMNHA      = 49
	cnMNHALen   = 50
)

func TestBadInput(t *testing.T) {
	rrq := golden.Load(t, "wire/rrq-colocated-nat.hex")
	fixed := rrq[:RequestHeaderLen]
	mnhaExt := rrq[cnMNHA:]
	naiExt := rrq[RequestHeaderLen:41]
	faha := golden.Load(t, "wire/rrq-fa-relayed.hex")
	fahaExt := faha[len(faha)-22:]
	mnfa := golden.Load(t, "wire/rrq-mn-to-fa.hex")
	mnfaExt := mnfa[len(mnfa)-22:]

	cases := []struct {
		name  string
		b     []byte
		err   error
		disp  Disposition
		reply bool // decode as reply
	}{
		{"fixed part 23 bytes", rrq[:23], ErrTruncated, Discard, false},
		{"empty", nil, ErrTruncated, Discard, false},
		{"reply type decoded as request", edit(t, "rrq-colocated-nat.hex", 0, 3), ErrWrongType, Discard, false},
		{"ext header cut after type byte", cat(fixed, []byte{byte(ExtMNNAI)}), ErrTruncated, ReplyPoorlyFormed, false},
		{"long ext header cut", cat(fixed, []byte{byte(ExtGenAuth), 1, 0}), ErrTruncated, ReplyPoorlyFormed, false},
		{"UDP tunnel request Length 6-1", edit(t, "rrq-colocated-nat.hex", cnUDPReqLen, 5), ErrBadLength, ReplyPoorlyFormed, false},
		{"UDP tunnel request Length 6+1", edit(t, "rrq-colocated-nat.hex", cnUDPReqLen, 7), ErrBadLength, ReplyPoorlyFormed, false},
		{"MN-HA Length 20+1 past the end", edit(t, "rrq-colocated-nat.hex", cnMNHALen, 21), ErrLengthOverflow, ReplyPoorlyFormed, false},
		{"MN-HA Length 20-1 leaves a stray non-skippable byte", edit(t, "rrq-colocated-nat.hex", cnMNHALen, 19), ErrUnknownNonSkippable, Discard, false},
		{"MN-HA Length 3, shorter than its SPI", cat(fixed, []byte{32, 3, 0, 0, 1}), ErrBadLength, ReplyPoorlyFormed, false},
		{"NAI Length 255 overflows", cat(fixed, []byte{byte(ExtMNNAI), 255, 'a'}), ErrLengthOverflow, ReplyPoorlyFormed, false},
		{"long format Length 0xffff overflows", cat(fixed, []byte{byte(ExtGenAuth), 1, 0xff, 0xff, 0, 0, 1, 0}), ErrLengthOverflow, ReplyPoorlyFormed, false},
		{"MN-AAA Length 19 < 20", cat(fixed, []byte{byte(ExtGenAuth), 1, 0, 19}, make([]byte, 19)), ErrBadLength, ReplyPoorlyFormed, false},
		{"short format Length 0 has no sub-type", cat(fixed, []byte{byte(ExtTrustedNetworks), 0}), ErrBadLength, ReplyPoorlyFormed, false},
		{"trusted networks Length 2+1", cat(fixed, []byte{byte(ExtTrustedNetworks), 3, 0, 0, 0}), ErrBadLength, ReplyPoorlyFormed, false},
		{"GRE key Length 4+1", cat(fixed, []byte{byte(ExtGREKey), 0, 0, 5, 0, 0, 0, 1, 2}), ErrBadLength, ReplyPoorlyFormed, false},
		{"GRE key Length 4-1", cat(fixed, []byte{byte(ExtGREKey), 0, 0, 3, 0, 0, 1}), ErrBadLength, ReplyPoorlyFormed, false},
		{"delivery style Length 1", cat(fixed, []byte{byte(ExtDeliveryStyle), 1, 0}), ErrBadLength, ReplyPoorlyFormed, false},
		{"mobile network request Length 6+1", cat(fixed, []byte{byte(ExtMobileNetwork), 7, 0, 24, 1, 2, 3, 4, 5}), ErrBadLength, ReplyPoorlyFormed, false},
		{"mobile network ack Length 8-1", cat(fixed, []byte{byte(ExtMobileNetwork), 7, 1, 0, 24, 0, 1, 2, 3}), ErrBadLength, ReplyPoorlyFormed, false},
		{"revocation support Length 6-1", cat(fixed, []byte{byte(ExtRevocationSupport), 5, 0, 0, 0, 0, 0}), ErrBadLength, ReplyPoorlyFormed, false},
		{"CVSE shorter than vendor fields", cat(fixed, []byte{byte(ExtCVSE), 0, 0, 5, 0, 0, 0, 9, 0}), ErrBadLength, ReplyPoorlyFormed, false},
		{"NVSE shorter than vendor fields", cat(fixed, []byte{byte(ExtNVSE), 7, 0, 0, 0, 0, 0, 9, 0}), ErrBadLength, ReplyPoorlyFormed, false},
		{"PMIPv4 per-node method Length 2", cat(fixed, []byte{byte(ExtPMIPv4NonSkip), 1, 0, 2, 1, 1}), ErrBadLength, ReplyPoorlyFormed, false},
		{"PMIPv4 device ID without ID-Type", cat(fixed, []byte{byte(ExtPMIPv4Skip), 1, PMIPDeviceID}), ErrBadLength, ReplyPoorlyFormed, false},
		{"unknown non-skippable type 99", cat(fixed, []byte{99, 0}, mnhaExt), ErrUnknownNonSkippable, Discard, false},
		{"MN-HA twice", cat(fixed, mnhaExt, mnhaExt), ErrAuthDuplicate, ReplyPoorlyFormed, false},
		{"MN-FA not last", cat(fixed, mnhaExt, mnfaExt, naiExt), ErrAuthMisplaced, ReplyPoorlyFormed, false},
		{"FA-HA not last", cat(fixed, mnhaExt, fahaExt, []byte{0}), ErrAuthMisplaced, ReplyPoorlyFormed, false},
		{"FA-HA before any MN-HA in a request", cat(fixed, fahaExt), ErrAuthMisplaced, ReplyPoorlyFormed, false},
		{"MN-FA and FA-HA together", cat(fixed, mnhaExt, mnfaExt, fahaExt), ErrAuthMisplaced, ReplyPoorlyFormed, false},
		{"reply FA-HA twice", cat(golden.Load(t, "wire/rrp-denied-133.hex"), fahaExt, fahaExt), ErrAuthMisplaced, ReplyPoorlyFormed, true},
		{"reply truncated", golden.Load(t, "wire/rrp-denied-133.hex")[:19], ErrTruncated, Discard, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.reply {
				_, err = ScanReply(tc.b)
				if e2 := new(RegistrationReply).UnmarshalBinary(tc.b); !errors.Is(e2, tc.err) {
					t.Errorf("UnmarshalBinary: %v, want %v", e2, tc.err)
				}
			} else {
				_, err = ScanRequest(tc.b)
				if e2 := new(RegistrationRequest).UnmarshalBinary(tc.b); !errors.Is(e2, tc.err) {
					t.Errorf("UnmarshalBinary: %v, want %v", e2, tc.err)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			if d := DispositionOf(err); d != tc.disp {
				t.Errorf("disposition %d, want %d", d, tc.disp)
			}
		})
	}
}

func TestBadAdvertisement(t *testing.T) {
	// adv-fa.hex: ICMP 0..8 | router 8..16 | MAA 16..28 | prefix 28..31 | challenge 31..37 | pad 37
	cases := []struct {
		name string
		b    []byte
		err  error
	}{
		{"bad checksum", edit(t, "adv-fa.hex", 2, 0), ErrBadChecksum},
		{"entry size 3", edit(t, "adv-fa.hex", 5, 3), ErrBadValue},
		{"num addrs 5 overflows", edit(t, "adv-fa.hex", 4, 5), ErrLengthOverflow},
		{"truncated ICMP header", golden.Load(t, "wire/adv-fa.hex")[:7], ErrTruncated},
		{"solicitation type", edit(t, "adv-fa.hex", 0, 10), ErrWrongType},
	}
	for _, tc := range cases {
		if _, err := ScanAdvertisement(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
		if err := new(AgentAdvertisement).UnmarshalBinary(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("%s: UnmarshalBinary got %v, want %v", tc.name, err, tc.err)
		}
	}
	// Extension-level errors, with the checksum recomputed so only the
	// extension is wrong.
	ext := []struct {
		name string
		exts []byte
		err  error
	}{
		{"MAA Length 10-1", []byte{16, 9, 1, 0, 7, 8, 0x10, 0, 1, 2, 3}, ErrBadLength},
		{"MAA Length 5", []byte{16, 5, 1, 0, 7, 8, 0x10}, ErrBadLength},
		{"prefix lengths count 2 for 1 router", []byte{19, 2, 24, 24}, ErrBadLength},
		{"prefix lengths count 0 for 1 router", []byte{19, 0}, ErrBadLength},
		{"two MAA extensions", []byte{16, 6, 0, 0, 0, 0, 0x20, 0, 16, 6, 0, 0, 0, 0, 0x20, 0}, ErrBadValue},
		{"unknown non-skippable 99", []byte{99, 0}, ErrUnknownNonSkippable},
		{"overflow", []byte{24, 9, 1}, ErrLengthOverflow},
	}
	base := golden.Load(t, "wire/adv-fa.hex")[:16]
	for _, tc := range ext {
		b := cat(base, tc.exts)
		b[2], b[3] = 0, 0
		c := Checksum(b)
		b[2], b[3] = byte(c>>8), byte(c)
		if _, err := ScanAdvertisement(b); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

func TestBadSolicitation(t *testing.T) {
	sol := golden.Load(t, "wire/sol.hex")
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"7 bytes", sol[:7], ErrTruncated},
		{"9 bytes", cat(sol, []byte{0}), ErrBadLength},
		{"code 1", edit(t, "sol.hex", 1, 1), ErrBadValue},
		{"bad checksum", edit(t, "sol.hex", 3, 0), ErrBadChecksum},
		{"advertisement type", edit(t, "sol.hex", 0, 9), ErrWrongType},
	} {
		if err := new(AgentSolicitation).UnmarshalBinary(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

func TestBadRevocation(t *testing.T) {
	rev := golden.Load(t, "wire/rev.hex")
	ack := golden.Load(t, "wire/revack.hex")
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
		dec  Message
	}{
		{"revocation 19 bytes", rev[:19], ErrTruncated, &Revocation{}},
		{"revocation auth overflow", rev[:len(rev)-1], ErrLengthOverflow, &Revocation{}},
		{"revocation wrong type", edit(t, "rev.hex", 0, 15), ErrWrongType, &Revocation{}},
		{"ack 11 bytes", ack[:11], ErrTruncated, &RevocationAck{}},
		{"ack FA-HA not last", cat(ack, []byte{0}), ErrAuthMisplaced, &RevocationAck{}},
		{"ack wrong type", edit(t, "revack.hex", 0, 7), ErrWrongType, &RevocationAck{}},
	} {
		if err := tc.dec.UnmarshalBinary(tc.b); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

// TestTruncatedEverywhere cuts every golden packet at every length: a cut
// on an extension boundary is a valid shorter message; any other cut is a
// typed error, never a panic.
func TestTruncatedEverywhere(t *testing.T) {
	for _, tc := range goldenCases {
		full := golden.Load(t, "wire/"+tc.file)
		boundaries := map[int]bool{len(full): true}
		hdr := len(full)
		switch m := tc.want.(type) {
		case *RegistrationRequest:
			hdr = RequestHeaderLen
			for i := range m.Extensions {
				boundaries[Offset(hdr, m.Extensions, i)] = true
			}
		case *RegistrationReply:
			hdr = ReplyHeaderLen
			for i := range m.Extensions {
				boundaries[Offset(hdr, m.Extensions, i)] = true
			}
		case *Revocation:
			hdr = RevocationHeaderLen
			boundaries[hdr] = true
		case *RevocationAck:
			hdr = RevocationAckHeaderLen
			boundaries[hdr] = true
		}
		for n := 0; n < len(full); n++ {
			m := newLike(tc.want)
			err := m.UnmarshalBinary(full[:n])
			switch {
			case hdr == len(full) || n < hdr:
				// Fixed parts are incomplete; ICMP messages carry a checksum
				// over the whole message, which only a cut of trailing zero
				// bytes (the padding) leaves valid.
				if err == nil && !bytes.Equal(bytes.TrimRight(full[n:], "\x00"), nil) {
					t.Errorf("%s[:%d]: no error", tc.file, n)
				}
			case boundaries[n]:
				if err != nil {
					t.Errorf("%s[:%d] (extension boundary): %v", tc.file, n, err)
				}
			default:
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrLengthOverflow) && !errors.Is(err, ErrBadLength) {
					t.Errorf("%s[:%d]: %v, want truncated/overflow", tc.file, n, err)
				}
			}
		}
	}
}

var knownErrs = []error{ErrTruncated, ErrBadLength, ErrLengthOverflow, ErrUnknownNonSkippable,
	ErrAuthMisplaced, ErrAuthDuplicate, ErrWrongType, ErrBadChecksum, ErrBadValue}

func isKnownErr(err error) bool {
	for _, k := range knownErrs {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// TestLengthFieldsOffByOne changes every extension length field of every
// golden registration message by ±1. Each result is either one of the typed
// errors or, where the shifted bytes happen to form valid extensions, a
// message that re-encodes to exactly the modified bytes.
func TestLengthFieldsOffByOne(t *testing.T) {
	for _, tc := range goldenCases {
		full := golden.Load(t, "wire/"+tc.file)
		var hdr int
		switch tc.want.(type) {
		case *RegistrationRequest:
			hdr = RequestHeaderLen
		case *RegistrationReply:
			hdr = ReplyHeaderLen
		default:
			continue
		}
		s := NewExtScanner(full, hdr, SpaceRegistration)
		for s.Next() {
			v := s.Ext()
			var lenIdx []int
			switch v.Format {
			case FormatTLV, FormatShort:
				lenIdx = []int{v.Offset + 1}
			case FormatLong:
				lenIdx = []int{v.Offset + 3}
			}
			for _, i := range lenIdx {
				for _, d := range []int{-1, 1} {
					b := bytes.Clone(full)
					b[i] = byte(int(b[i]) + d)
					m := newLike(tc.want)
					err := m.UnmarshalBinary(b)
					if err != nil {
						if !isKnownErr(err) {
							t.Errorf("%s: length at %d %+d: untyped error %v", tc.file, i, d, err)
						}
						continue
					}
					out, err := m.AppendBinary(nil)
					if err != nil || !bytes.Equal(out, b) {
						t.Errorf("%s: length at %d %+d decoded but re-encodes differently", tc.file, i, d)
					}
				}
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	long := make([]byte, 300)
	for _, tc := range []struct {
		name string
		m    Message
		err  error
	}{
		{"IPv6 home address", &RegistrationRequest{HomeAddr: ip("::1"), HomeAgent: ha, CareOf: coa}, ErrNotIPv4},
		{"zero Addr", &RegistrationReply{HomeAgent: ha}, ErrNotIPv4},
		{"NAI too long", &RegistrationRequest{HomeAddr: hoa, HomeAgent: ha, CareOf: coa, Extensions: []Extension{&NAI{NAI: string(long)}}}, ErrTooLong},
		{"bad auth kind", &RegistrationRequest{HomeAddr: hoa, HomeAgent: ha, CareOf: coa, Extensions: []Extension{&Auth{Kind: 5}}}, ErrBadValue},
		{"empty raw", &RegistrationRequest{HomeAddr: hoa, HomeAgent: ha, CareOf: coa, Extensions: []Extension{&RawExtension{}}}, ErrBadLength},
		{"IPv6 care-of in advertisement", &AgentAdvertisement{Extensions: []Extension{&MobilityAgentAdv{Flags: AdvF, CareOf: []netip.Addr{ip("::1")}}}}, ErrNotIPv4},
	} {
		if _, err := tc.m.AppendBinary(nil); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

// TestChecksumNegativeZero pins the fuzz finding: a checksum field of 0xffff
// where a sender computes 0x0000 sums correctly but is not what any sender
// writes; it is refused so decode/encode stays exact.
func TestChecksumNegativeZero(t *testing.T) {
	b := []byte("\n\x00\xff\xff\x00\x00\xf5\xff")
	if Checksum(b) != 0 {
		t.Fatal("the input does sum to zero")
	}
	if err := new(AgentSolicitation).UnmarshalBinary(b); !errors.Is(err, ErrBadChecksum) {
		t.Fatalf("got %v", err)
	}
	b[2], b[3] = 0, 0
	if err := new(AgentSolicitation).UnmarshalBinary(b); err != nil {
		t.Fatalf("canonical checksum refused: %v", err)
	}
}
