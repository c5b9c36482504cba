package uci

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: no panic; an error is always an *Error with a line inside the
// input; whatever parses writes out, reads back equal and writes out the
// same again; and Parse agrees with the libuci model (checkModel).
// Crashers found by `make fuzz` land in testdata/fuzz/FuzzParse/ and are
// pinned as cases in parse_test.go or errors_test.go.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"network.conf", "mip4d.conf", "multiline.conf", "tricky.conf", "tricky.golden"} {
		f.Add(fixture(f, name))
	}
	for _, tc := range parseCases {
		f.Add([]byte(tc.src))
	}
	for _, tc := range errorCases {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		checkModel(t, src)
		p, err := Parse("fuzz", src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T", err, err)
			}
			if e.Line < 1 || e.Line > bytes.Count(src, []byte{'\n'})+1 || e.Col < 1 {
				t.Fatalf("error position %d:%d outside the input: %v", e.Line, e.Col, err)
			}
			return
		}
		b, err := Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of a parsed File: %v\ninput %q\n%s", err, src, dump(p))
		}
		q, err := Parse("again", b)
		if err != nil {
			t.Fatalf("Parse(Write(Parse(x))): %v\ninput %q\nwritten %q", err, src, b)
		}
		if !q.Equal(p) {
			t.Fatalf("round trip differs\ninput %q\nfirst:\n%ssecond:\n%s", src, dump(p), dump(q))
		}
		if b2, _ := Marshal(q); !bytes.Equal(b, b2) {
			t.Fatalf("Write not stable:\n%q\n%q", b, b2)
		}
	})
}
