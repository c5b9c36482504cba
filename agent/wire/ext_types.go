package wire

import "net/netip"

// Typed registration extensions other than authentication (ext_auth.go)
// and UDP tunnelling (ext_udptunnel.go). Every type keeps its reserved
// fields as received, so a decoded extension re-encodes to the same bytes.

// NAI is the Mobile Node NAI extension (131, skippable), RFC 2794 §2:
// Type, Length, MN-NAI. It must precede MN-HA and MN-FA authentication.
type NAI struct {
	NAI string
}

func (e *NAI) Type() ExtType { return ExtMNNAI }
func (e *NAI) Len() int      { return 2 + len(e.NAI) }
func (e *NAI) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendTLV(b, ExtMNNAI, len(e.NAI))
	return append(b, e.NAI...), err
}
func (e *NAI) decode(v ExtView) error { e.NAI = string(v.Data()); return nil }

// Challenge is a challenge value, RFC 4721: the MN-FA Challenge extension
// (132, registration space, §4) or the Agent Advertisement Challenge
// extension (24, advertisement space, §2). Both are plain TLV.
type Challenge struct {
	Kind      ExtType // ExtMNFAChallenge or AdvExtChallenge
	Challenge []byte
}

func (e *Challenge) Type() ExtType { return e.Kind }
func (e *Challenge) Len() int      { return 2 + len(e.Challenge) }
func (e *Challenge) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendTLV(b, e.Kind, len(e.Challenge))
	return append(b, e.Challenge...), err
}
func (e *Challenge) decode(v ExtView) error {
	*e = Challenge{Kind: v.Type, Challenge: v.Data()}
	return nil
}

// NAI Carrying sub-types, RFC 3846 §4–5.
const (
	NAIHAIdentity   = 1
	NAIAAAHIdentity = 2
)

// NAICarrying is the NAI Carrying extension (136, skippable, short
// format), RFC 3846 §3. It appears in registration messages and in Agent
// Advertisements (same number in both spaces).
type NAICarrying struct {
	SubType uint8
	NAI     string
}

func (e *NAICarrying) Type() ExtType { return ExtNAICarrying }
func (e *NAICarrying) Len() int      { return 3 + len(e.NAI) }
func (e *NAICarrying) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendShort(b, ExtNAICarrying, e.SubType, len(e.NAI))
	return append(b, e.NAI...), err
}
func (e *NAICarrying) decode(v ExtView) error {
	*e = NAICarrying{SubType: v.SubType(), NAI: string(v.Data())}
	return nil
}

// RevocationSupportI is the I bit of the Revocation Support extension.
const RevocationSupportI = 0x8000

// RevocationSupport is the Revocation Support extension (137, skippable),
// RFC 3543 §3.2: Type, Length (currently 6), I + 15 reserved bits,
// Timestamp. Bytes past the sixth, which the RFC allows for growth, are
// kept in Extra.
type RevocationSupport struct {
	Flags     uint16 // I bit and the reserved bits as received
	Timestamp uint32
	Extra     []byte
}

// Inform reports the I bit: the sender can inform the MN of revocation.
func (e *RevocationSupport) Inform() bool { return e.Flags&RevocationSupportI != 0 }

func (e *RevocationSupport) Type() ExtType { return ExtRevocationSupport }
func (e *RevocationSupport) Len() int      { return 8 + len(e.Extra) }
func (e *RevocationSupport) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendTLV(b, ExtRevocationSupport, 6+len(e.Extra))
	b = appendU16(b, e.Flags)
	b = appendU32(b, e.Timestamp)
	return append(b, e.Extra...), err
}
func (e *RevocationSupport) decode(v ExtView) error {
	d := v.Data()
	*e = RevocationSupport{Flags: u16(d), Timestamp: u32(d[2:])}
	if len(d) > 6 {
		e.Extra = d[6:]
	}
	return nil
}

// Dynamic HA sub-types, RFC 4433 §3.4.
const (
	DynHARequested  = 1
	DynHARedirected = 2
)

// DynamicHA is the Dynamic HA extension (139, skippable), RFC 4433 §3.4:
// Type, Sub-Type, Length=4 (16 bits), HA-Address. Peers built from the
// drafts send Type, Length=5, Sub-Type, HA-Address instead; Short records
// which layout was received so it is re-encoded the same way.
type DynamicHA struct {
	SubType uint8
	HA      netip.Addr
	Short   bool
}

func (e *DynamicHA) Type() ExtType { return ExtDynamicHA }
func (e *DynamicHA) Len() int {
	if e.Short {
		return 7
	}
	return 8
}
func (e *DynamicHA) AppendBinary(b []byte) ([]byte, error) {
	if e.Short {
		b, _ = appendShort(b, ExtDynamicHA, e.SubType, 4)
	} else {
		b, _ = appendLong(b, ExtDynamicHA, e.SubType, 4)
	}
	return appendAddr(b, e.HA)
}
func (e *DynamicHA) decode(v ExtView) error {
	*e = DynamicHA{SubType: v.SubType(), HA: addrAt(v.Data()), Short: v.Format == FormatShort}
	return nil
}

// CVSE is the Critical Vendor/Organization Specific Extension (38,
// non-skippable, long format), RFC 3115 §2.1: Type, Reserved, Length (16
// bits), Vendor/Org-ID, Vendor-CVSE-Type (16 bits), Value.
type CVSE struct {
	Reserved   uint8
	VendorID   uint32
	VendorType uint16
	Value      []byte
}

func (e *CVSE) Type() ExtType { return ExtCVSE }
func (e *CVSE) Len() int      { return 4 + 6 + len(e.Value) }
func (e *CVSE) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendLong(b, ExtCVSE, e.Reserved, 6+len(e.Value))
	b = appendU32(b, e.VendorID)
	b = appendU16(b, e.VendorType)
	return append(b, e.Value...), err
}
func (e *CVSE) decode(v ExtView) error {
	d := v.Data()
	*e = CVSE{Reserved: v.SubType(), VendorID: u32(d), VendorType: u16(d[4:]), Value: d[6:]}
	return nil
}

// NVSE is the Normal Vendor/Organization Specific Extension (134,
// skippable, TLV), RFC 3115 §2.2: Type, Length, Reserved (16 bits),
// Vendor/Org-ID, Vendor-NVSE-Type (16 bits), Value.
type NVSE struct {
	Reserved   uint16
	VendorID   uint32
	VendorType uint16
	Value      []byte
}

func (e *NVSE) Type() ExtType { return ExtNVSE }
func (e *NVSE) Len() int      { return 2 + 8 + len(e.Value) }
func (e *NVSE) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendTLV(b, ExtNVSE, 8+len(e.Value))
	b = appendU16(b, e.Reserved)
	b = appendU32(b, e.VendorID)
	b = appendU16(b, e.VendorType)
	return append(b, e.Value...), err
}
func (e *NVSE) decode(v ExtView) error {
	d := v.Data()
	*e = NVSE{Reserved: u16(d), VendorID: u32(d[2:]), VendorType: u16(d[6:]), Value: d[8:]}
	return nil
}

// GREKey is the GRE Key extension (48, non-skippable, long format), RFC
// 6245 §5: Type, Sub-Type=0, Length=4, Key Identifier.
type GREKey struct {
	SubType uint8
	Key     uint32
}

func (e *GREKey) Type() ExtType { return ExtGREKey }
func (e *GREKey) Len() int      { return 8 }
func (e *GREKey) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendLong(b, ExtGREKey, e.SubType, 4)
	return appendU32(b, e.Key), nil
}
func (e *GREKey) decode(v ExtView) error {
	*e = GREKey{SubType: v.SubType(), Key: u32(v.Data())}
	return nil
}

// DeliveryStyle is the Encapsulating Delivery Style extension (130,
// skippable), RFC 3024 §3.3: Type, Length=0. An MN includes it (after
// MN-HA, before MN-FA) to ask for encapsulating delivery to its FA.
type DeliveryStyle struct{}

func (*DeliveryStyle) Type() ExtType        { return ExtDeliveryStyle }
func (*DeliveryStyle) Len() int             { return 2 }
func (*DeliveryStyle) decode(ExtView) error { return nil }
func (*DeliveryStyle) AppendBinary(b []byte) ([]byte, error) {
	return append(b, byte(ExtDeliveryStyle), 0), nil
}

// Mobile Network extension sub-types and acknowledgement codes, RFC 5177
// §4.
const (
	MobNetRequest     = 0
	MobNetExplicitAck = 1
	MobNetImplicitAck = 2

	MobNetSuccess           = 0
	MobNetInvalidPrefixLen  = 1
	MobNetUnauthorized      = 2
	MobNetForwardingFailure = 3
)

// MobileNetworkRequest is the Mobile Network Request extension (148,
// sub-type 0, short format), RFC 5177 §4.1: Prefix Length, Prefix.
type MobileNetworkRequest struct {
	PrefixLen uint8
	Prefix    netip.Addr
}

func (e *MobileNetworkRequest) Type() ExtType { return ExtMobileNetwork }
func (e *MobileNetworkRequest) Len() int      { return 8 }
func (e *MobileNetworkRequest) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendShort(b, ExtMobileNetwork, MobNetRequest, 5)
	b = append(b, e.PrefixLen)
	return appendAddr(b, e.Prefix)
}
func (e *MobileNetworkRequest) decode(v ExtView) error {
	d := v.Data()
	*e = MobileNetworkRequest{PrefixLen: d[0], Prefix: addrAt(d[1:])}
	return nil
}

// MobileNetworkAck is the Mobile Network Acknowledgement extension (148,
// sub-type 1 explicit or 2 implicit mode), RFC 5177 §4.2: Code, Prefix
// Length, Reserved, Prefix.
type MobileNetworkAck struct {
	SubType   uint8
	Code      uint8
	PrefixLen uint8
	Reserved  uint8
	Prefix    netip.Addr
}

func (e *MobileNetworkAck) Type() ExtType { return ExtMobileNetwork }
func (e *MobileNetworkAck) Len() int      { return 10 }
func (e *MobileNetworkAck) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendShort(b, ExtMobileNetwork, e.SubType, 7)
	b = append(b, e.Code, e.PrefixLen, e.Reserved)
	return appendAddr(b, e.Prefix)
}
func (e *MobileNetworkAck) decode(v ExtView) error {
	d := v.Data()
	*e = MobileNetworkAck{SubType: v.SubType(), Code: d[0], PrefixLen: d[1], Reserved: d[2], Prefix: addrAt(d[3:])}
	return nil
}

// PMIPv4 sub-types and values, RFC 5563 §5.
const (
	PMIPPerNodeAuth = 1 // sub-type of extension 47

	PMIPAuthFAHA  = 1 // Per-Node Authentication Method: FA-HA authentication
	PMIPAuthIPsec = 2 // Per-Node Authentication Method: IPsec

	PMIPInterfaceID  = 1 // sub-types of extension 147
	PMIPDeviceID     = 2
	PMIPSubscriberID = 3
	PMIPAccessTech   = 4

	PMIPDeviceMAC      = 1 // Device ID types
	PMIPDeviceMEID     = 2
	PMIPDeviceIMEI     = 3
	PMIPDeviceESN      = 4
	PMIPSubscriberIMSI = 1
	PMIPTech8023       = 1 // Access Technology types
	PMIPTech80211      = 2
)

// PMIPPerNodeAuthMethod is the Per-Node Authentication Method extension
// (47, sub-type 1, non-skippable, long format), RFC 5563 §5.1.
type PMIPPerNodeAuthMethod struct {
	Method uint8
}

func (e *PMIPPerNodeAuthMethod) Type() ExtType { return ExtPMIPv4NonSkip }
func (e *PMIPPerNodeAuthMethod) Len() int      { return 5 }
func (e *PMIPPerNodeAuthMethod) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendLong(b, ExtPMIPv4NonSkip, PMIPPerNodeAuth, 1)
	return append(b, e.Method), nil
}
func (e *PMIPPerNodeAuthMethod) decode(v ExtView) error {
	e.Method = v.Data()[0]
	return nil
}

// PMIPInterface is the PMIPv4 Interface ID extension (147, sub-type 1,
// short format), RFC 5563 §5.2.
type PMIPInterface struct {
	ID []byte
}

func (e *PMIPInterface) Type() ExtType { return ExtPMIPv4Skip }
func (e *PMIPInterface) Len() int      { return 3 + len(e.ID) }
func (e *PMIPInterface) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendShort(b, ExtPMIPv4Skip, PMIPInterfaceID, len(e.ID))
	return append(b, e.ID...), err
}
func (e *PMIPInterface) decode(v ExtView) error { e.ID = v.Data(); return nil }

// PMIPIdentifier is the PMIPv4 Device ID (sub-type 2) or Subscriber ID
// (sub-type 3) extension (147, short format), RFC 5563 §5.3–5.4: ID-Type,
// Identifier.
type PMIPIdentifier struct {
	SubType uint8 // PMIPDeviceID or PMIPSubscriberID
	IDType  uint8
	ID      []byte
}

func (e *PMIPIdentifier) Type() ExtType { return ExtPMIPv4Skip }
func (e *PMIPIdentifier) Len() int      { return 4 + len(e.ID) }
func (e *PMIPIdentifier) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendShort(b, ExtPMIPv4Skip, e.SubType, 1+len(e.ID))
	b = append(b, e.IDType)
	return append(b, e.ID...), err
}
func (e *PMIPIdentifier) decode(v ExtView) error {
	d := v.Data()
	*e = PMIPIdentifier{SubType: v.SubType(), IDType: d[0], ID: d[1:]}
	return nil
}

// PMIPAccessTechnology is the PMIPv4 Access Technology Type extension
// (147, sub-type 4, short format), RFC 5563 §5.5.
type PMIPAccessTechnology struct {
	Tech uint8
}

func (e *PMIPAccessTechnology) Type() ExtType { return ExtPMIPv4Skip }
func (e *PMIPAccessTechnology) Len() int      { return 4 }
func (e *PMIPAccessTechnology) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendShort(b, ExtPMIPv4Skip, PMIPAccessTech, 1)
	return append(b, e.Tech), nil
}
func (e *PMIPAccessTechnology) decode(v ExtView) error { e.Tech = v.Data()[0]; return nil }

// TrustedNetworks is the Trusted Networks Configured extension (149,
// skippable, short format), RFC 5265 §3.4: Type, Length=2, Sub-Type=0,
// Reserved. An i-HA puts it in replies to requests from its trusted
// networks, which tells the MN it is inside.
type TrustedNetworks struct {
	SubType  uint8
	Reserved uint8
}

func (e *TrustedNetworks) Type() ExtType { return ExtTrustedNetworks }
func (e *TrustedNetworks) Len() int      { return 4 }
func (e *TrustedNetworks) AppendBinary(b []byte) ([]byte, error) {
	b, _ = appendShort(b, ExtTrustedNetworks, e.SubType, 1)
	return append(b, e.Reserved), nil
}
func (e *TrustedNetworks) decode(v ExtView) error {
	*e = TrustedNetworks{SubType: v.SubType(), Reserved: v.Data()[0]}
	return nil
}

// decoder is implemented by every typed extension.
type decoder interface {
	Extension
	decode(v ExtView) error
}

// newRegExt returns an empty typed extension for v, or nil when the codec
// keeps v as raw bytes (an unknown skippable type, or a known type with a
// sub-type it has no struct for).
func newRegExt(v ExtView) decoder {
	switch v.Type {
	case ExtPadding:
		return &Padding{}
	case ExtMNHAAuth, ExtMNFAAuth, ExtFAHAAuth:
		return &Auth{}
	case ExtGenAuth:
		return &GenAuth{}
	case ExtCVSE:
		return &CVSE{}
	case ExtUDPTunnelReply:
		return &UDPTunnelReply{}
	case ExtUDPTunnelRequest:
		return &UDPTunnelRequest{}
	case ExtGREKey:
		return &GREKey{}
	case ExtDeliveryStyle:
		return &DeliveryStyle{}
	case ExtMNNAI:
		return &NAI{}
	case ExtMNFAChallenge:
		return &Challenge{}
	case ExtNVSE:
		return &NVSE{}
	case ExtNAICarrying:
		return &NAICarrying{}
	case ExtRevocationSupport:
		return &RevocationSupport{}
	case ExtDynamicHA:
		return &DynamicHA{}
	case ExtTrustedNetworks:
		return &TrustedNetworks{}
	case ExtMobileNetwork:
		switch v.SubType() {
		case MobNetRequest:
			return &MobileNetworkRequest{}
		case MobNetExplicitAck, MobNetImplicitAck:
			return &MobileNetworkAck{}
		}
	case ExtPMIPv4NonSkip:
		if v.SubType() == PMIPPerNodeAuth {
			return &PMIPPerNodeAuthMethod{}
		}
	case ExtPMIPv4Skip:
		switch v.SubType() {
		case PMIPInterfaceID:
			return &PMIPInterface{}
		case PMIPDeviceID, PMIPSubscriberID:
			return &PMIPIdentifier{}
		case PMIPAccessTech:
			return &PMIPAccessTechnology{}
		}
	}
	return nil
}

// decodeRegExt decodes one extension that checkExtLen has accepted.
func decodeRegExt(v ExtView) (Extension, error) {
	e := newRegExt(v)
	if e == nil {
		return &RawExtension{Raw: v.Raw}, nil
	}
	return e, e.decode(v)
}

// checkExtLen checks the data length of a known registration extension
// against its layout (bytes after the header; for short and long formats,
// after the Sub-Type). Unknown types and sub-types are not checked.
func checkExtLen(v ExtView) error {
	n := len(v.Data())
	min, exact := -1, -1
	switch v.Type {
	case ExtMNHAAuth, ExtMNFAAuth, ExtFAHAAuth:
		min = AuthSPILen
	case ExtGenAuth:
		min = 20 // RFC 4721 §6: Length MUST be at least 20
	case ExtCVSE:
		min = 6
	case ExtNVSE:
		min = 8
	case ExtRevocationSupport:
		min = 6
	case ExtUDPTunnelReply, ExtUDPTunnelRequest:
		exact = 5
	case ExtGREKey, ExtDynamicHA:
		exact = 4
	case ExtDeliveryStyle:
		exact = 0
	case ExtTrustedNetworks:
		exact = 1
	case ExtMobileNetwork:
		switch v.SubType() {
		case MobNetRequest:
			exact = 5
		case MobNetExplicitAck, MobNetImplicitAck:
			exact = 7
		}
	case ExtPMIPv4NonSkip:
		if v.SubType() == PMIPPerNodeAuth {
			exact = 1
		}
	case ExtPMIPv4Skip:
		switch v.SubType() {
		case PMIPDeviceID, PMIPSubscriberID:
			min = 1
		case PMIPAccessTech:
			exact = 1
		}
	}
	if (exact >= 0 && n != exact) || n < min {
		return ErrBadLength
	}
	return nil
}
