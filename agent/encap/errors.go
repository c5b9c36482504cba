package encap

// Layer says which header an [Error] is about.
type Layer uint8

// Layers.
const (
	LayerAny     Layer = iota // only in sentinels: matches every layer
	LayerOuter                // the delivery (outer) IPv4 header, or the tunnel configuration
	LayerInner                // the encapsulated (inner) IPv4 datagram
	LayerGRE                  // the GRE header (RFC 2784, RFC 2890)
	LayerMinimal              // the minimal forwarding header (RFC 2004)
	numLayers
)

var layerNames = [numLayers]string{"", "outer IPv4", "inner IPv4", "GRE", "minimal forwarding header"}

func (l Layer) String() string {
	if l < numLayers && l != LayerAny {
		return layerNames[l]
	}
	return "any layer"
}

// Code says what is wrong.
type Code uint8

// Codes.
const (
	CodeTruncated       Code = iota + 1 // fewer bytes than a header or length field needs
	CodeBadVersion                      // IPv4 Version is not 4, or GRE Version is not 0
	CodeBadHeaderLength                 // IPv4 IHL below 5 or past Total Length
	CodeBadLength                       // a length field disagrees with the bytes around it
	CodeBadChecksum                     // header (or GRE) checksum does not verify
	CodeBadProtocol                     // unexpected IPv4 Protocol or GRE Protocol Type
	CodeFragment                        // a fragment where a whole datagram is required
	CodeTTLExpired                      // TTL is or would become zero (RFC 2003 §3.1)
	CodeRoutingLoop                     // tunnelling would loop (RFC 2003 §3.2, RFC 2784 §3.1)
	CodeReservedBits                    // GRE bits 1, 4 or 5 set (RFC 2784 §2.3)
	CodeBadAddress                      // a tunnel endpoint is not an IPv4 address
	CodeNoRoom                          // the caller's buffer lacks headroom for the header
	CodeTooBig                          // the result would exceed 65535 octets
	numCodes
)

var codeNames = [numCodes]string{
	"",
	"truncated",
	"bad version",
	"bad header length",
	"bad length",
	"bad checksum",
	"unexpected protocol",
	"fragmented datagram",
	"TTL expired",
	"routing loop",
	"reserved bits set",
	"not an IPv4 address",
	"no room in buffer",
	"datagram too big",
}

func (c Code) String() string {
	if c < numCodes && c != 0 {
		return codeNames[c]
	}
	return "unknown"
}

// Error is the only error type this package returns. Every value is
// preallocated, so returning one allocates nothing; compare with errors.Is
// against the sentinels below, which match any [Layer], or use errors.As to
// read Layer and Code (e.g. to index drop counters).
type Error struct {
	Layer Layer
	Code  Code
}

func (e *Error) Error() string {
	if e.Layer == LayerAny {
		return "encap: " + e.Code.String()
	}
	return "encap: " + e.Layer.String() + ": " + e.Code.String()
}

// Is reports whether target is a sentinel with the same Code (and the same
// Layer unless the sentinel's Layer is LayerAny).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Layer == LayerAny || t.Layer == e.Layer)
}

// Sentinels for errors.Is; each matches its Code in any Layer.
var (
	ErrTruncated       = &Error{Code: CodeTruncated}
	ErrBadVersion      = &Error{Code: CodeBadVersion}
	ErrBadHeaderLength = &Error{Code: CodeBadHeaderLength}
	ErrBadLength       = &Error{Code: CodeBadLength}
	ErrBadChecksum     = &Error{Code: CodeBadChecksum}
	ErrBadProtocol     = &Error{Code: CodeBadProtocol}
	ErrFragment        = &Error{Code: CodeFragment}
	ErrTTLExpired      = &Error{Code: CodeTTLExpired}
	ErrRoutingLoop     = &Error{Code: CodeRoutingLoop}
	ErrReservedBits    = &Error{Code: CodeReservedBits}
	ErrBadAddress      = &Error{Code: CodeBadAddress}
	ErrNoRoom          = &Error{Code: CodeNoRoom}
	ErrTooBig          = &Error{Code: CodeTooBig}
)

// errTable holds one Error per (Layer, Code) so that fail never allocates.
var errTable = func() (t [numLayers][numCodes]Error) {
	for l := range t {
		for c := range t[l] {
			t[l][c] = Error{Layer: Layer(l), Code: Code(c)}
		}
	}
	return t
}()

func fail(l Layer, c Code) *Error { return &errTable[l][c] }
