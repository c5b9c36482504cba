package auth

import (
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is key material. Whatever way it is printed — any fmt verb, slog,
// JSON or text marshalling — it shows only "[redacted]".
type Secret []byte

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
