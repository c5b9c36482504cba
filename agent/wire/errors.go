package wire

import (
	"errors"
	"strconv"
)

// Sentinel errors. Decoders wrap them (in *ExtError for extension problems)
// so callers test with errors.Is.
var (
	// ErrTruncated: the input ends before the fixed part of the message or
	// before an extension's own header.
	ErrTruncated = errors.New("truncated")
	// ErrBadLength: a length field disagrees with what the type's layout
	// requires (too short for its fixed fields, or not the exact size).
	ErrBadLength = errors.New("bad length")
	// ErrLengthOverflow: a length field points past the end of the message.
	ErrLengthOverflow = errors.New("length overflows message")
	// ErrUnknownNonSkippable: an extension numbered 0–127 that this
	// implementation does not recognise; RFC 5944 §1.8 says the whole
	// message MUST be silently discarded.
	ErrUnknownNonSkippable = errors.New("unknown non-skippable extension")
	// ErrAuthMisplaced: an authentication extension is not where RFC 5944
	// §3.6.1.3 / §3.8.3.3 put it (MN-FA or FA-HA not last, or MN-FA/FA-HA
	// in a request without an authorization-enabling extension before it).
	ErrAuthMisplaced = errors.New("authentication extension misplaced")
	// ErrAuthDuplicate: the same authentication extension appears twice.
	ErrAuthDuplicate = errors.New("duplicate authentication extension")
	// ErrWrongType: the message type byte is not the one being decoded.
	ErrWrongType = errors.New("wrong message type")
	// ErrBadChecksum: an ICMP checksum does not verify.
	ErrBadChecksum = errors.New("bad checksum")
	// ErrBadValue: a field holds a value its RFC forbids (e.g. an ICMP
	// address entry size other than 2).
	ErrBadValue = errors.New("bad field value")
	// ErrTooLong: encoding would not fit its length field.
	ErrTooLong = errors.New("too long for its length field")
	// ErrNotIPv4: an address field was given something other than IPv4.
	ErrNotIPv4 = errors.New("address is not IPv4")
)

// ExtError locates an extension-level decoding error.
type ExtError struct {
	Offset int     // byte offset of the extension within the message
	Type   ExtType // the extension's type byte
	Err    error   // one of the sentinel errors above
}

func (e *ExtError) Error() string {
	return "wire: extension type " + strconv.Itoa(int(e.Type)) + " at offset " +
		strconv.Itoa(e.Offset) + ": " + e.Err.Error()
}

func (e *ExtError) Unwrap() error { return e.Err }

// MsgError is a message-level decoding error.
type MsgError struct {
	Msg string // what was being decoded, e.g. "Registration Request"
	Err error
}

func (e *MsgError) Error() string { return "wire: " + e.Msg + ": " + e.Err.Error() }
func (e *MsgError) Unwrap() error { return e.Err }

// Disposition says what a receiver should do with a message that failed to
// decode.
type Disposition int

const (
	// Discard silently: nothing trustworthy to reply to (RFC 5944 §1.8 for
	// unknown non-skippable extensions; a truncated fixed part has no
	// Identification to echo).
	Discard Disposition = iota
	// ReplyPoorlyFormed: the fixed part is intact, so the receiver should
	// answer with code 70 (FA) or 134 (HA), "poorly formed Request".
	ReplyPoorlyFormed
)

// DispositionOf classifies a decoding error of a Registration Request.
func DispositionOf(err error) Disposition {
	var ee *ExtError
	if !errors.As(err, &ee) {
		return Discard
	}
	if errors.Is(err, ErrUnknownNonSkippable) {
		return Discard
	}
	return ReplyPoorlyFormed
}
