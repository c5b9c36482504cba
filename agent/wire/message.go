package wire

// Message is any message of the UDP port 434 space.
type Message interface {
	Len() int
	AppendBinary(b []byte) ([]byte, error)
	UnmarshalBinary(b []byte) error
}

// ParseMessage decodes any control message received on UDP port 434,
// chosen by its type byte. Tunnel Data (type 4) is not a control message:
// callers check for it first with TunnelData.IsValid.
func ParseMessage(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, &MsgError{Msg: "message", Err: ErrTruncated}
	}
	var m Message
	switch MsgType(b[0]) {
	case MsgRegistrationRequest:
		m = &RegistrationRequest{}
	case MsgRegistrationReply:
		m = &RegistrationReply{}
	case MsgRevocation:
		m = &Revocation{}
	case MsgRevocationAck:
		m = &RevocationAck{}
	default:
		return nil, &MsgError{Msg: "message", Err: ErrWrongType}
	}
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return m, nil
}
