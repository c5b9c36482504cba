package wire

// AuthSPILen is the size of the SPI in every authentication extension.
const AuthSPILen = 4

// Auth is one of the three authentication extensions of RFC 5944 §3.5.2–
// 3.5.4: Mobile-Home (32), Mobile-Foreign (33) or Foreign-Home (34). They
// share one layout: Type, Length = 4 + len(Authenticator), SPI,
// Authenticator.
//
// The authenticator covers the message up to and including this
// extension's SPI (RFC 5944 §3.5.1); AuthCovered says how many bytes that is.
type Auth struct {
	Kind          ExtType // ExtMNHAAuth, ExtMNFAAuth or ExtFAHAAuth
	SPI           uint32
	Authenticator []byte
}

func (e *Auth) Type() ExtType { return e.Kind }
func (e *Auth) Len() int      { return 2 + AuthSPILen + len(e.Authenticator) }

func (e *Auth) AppendBinary(b []byte) ([]byte, error) {
	if e.Kind != ExtMNHAAuth && e.Kind != ExtMNFAAuth && e.Kind != ExtFAHAAuth {
		return b, &ExtError{Type: e.Kind, Err: ErrBadValue}
	}
	b, err := appendTLV(b, e.Kind, AuthSPILen+len(e.Authenticator))
	if err != nil {
		return b, err
	}
	b = appendU32(b, e.SPI)
	return append(b, e.Authenticator...), nil
}

func (e *Auth) decode(v ExtView) error {
	d := v.Data()
	*e = Auth{Kind: v.Type, SPI: u32(d), Authenticator: d[AuthSPILen:]}
	return nil
}

// GenAuthMNAAA is the sub-type of the MN-AAA Authentication extension
// (RFC 4721 §6).
const GenAuthMNAAA = 1

// GenAuth is the Generalized Mobile IP Authentication extension (type 36,
// long format, RFC 4721 §6): Type, Sub-Type, 16-bit Length = 4 +
// len(Authenticator), SPI, Authenticator. Sub-type 1 is MN-AAA.
type GenAuth struct {
	SubType       uint8
	SPI           uint32
	Authenticator []byte
}

func (e *GenAuth) Type() ExtType { return ExtGenAuth }
func (e *GenAuth) Len() int      { return 4 + AuthSPILen + len(e.Authenticator) }

func (e *GenAuth) AppendBinary(b []byte) ([]byte, error) {
	b, err := appendLong(b, ExtGenAuth, e.SubType, AuthSPILen+len(e.Authenticator))
	if err != nil {
		return b, err
	}
	b = appendU32(b, e.SPI)
	return append(b, e.Authenticator...), nil
}

func (e *GenAuth) decode(v ExtView) error {
	d := v.Data()
	*e = GenAuth{SubType: v.SubType(), SPI: u32(d), Authenticator: d[AuthSPILen:]}
	return nil
}

// AuthCovered returns how many bytes of the message an authenticator at
// offset off covers: everything before the extension plus its Type,
// Length (and Sub-Type) and SPI fields (RFC 5944 §3.5.1, RFC 4721 §6).
// t is the type of the authentication extension at off.
func AuthCovered(off int, t ExtType) int {
	if t == ExtGenAuth {
		return off + 4 + AuthSPILen
	}
	return off + 2 + AuthSPILen
}
