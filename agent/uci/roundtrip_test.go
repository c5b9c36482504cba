package uci

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// Pieces random values are made of: everything the grammar treats
// specially, alone and in the combinations that matter (an escaped quote,
// a backslash before a line end, CRLF), plus bytes that are not ASCII.
var nastyPieces = []string{
	"'", `"`, `\`, "#", ";", " ", "\t", "\n", "\r", "\r\n", "\\\n", "\\\r\n",
	"\v", "\f", `'\''`, "''", `""`, `\'`, `\"`, "x", "0", "é", "\xff", "\x01",
	"cfg01", "option", "config", "list a b", "; option b c", "# c",
}

func randString(r *rand.Rand, max int) string {
	var b strings.Builder
	for n := r.IntN(max + 1); n > 0; n-- {
		b.WriteString(nastyPieces[r.IntN(len(nastyPieces))])
	}
	return b.String()
}

func randFrom(r *rand.Rand, alphabet string, min, max int) string {
	b := make([]byte, min+r.IntN(max-min+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	nameBytes = "abc_019Z"
	typeBytes = "ab-_.'\"\\#;:@[]{}!~" // printable, with every special one
)

// randFile builds a random valid File through the setters.
func randFile(r *rand.Rand) *File {
	f := &File{}
	if r.IntN(2) == 0 {
		f.Package = randFrom(r, nameBytes+"-", 1, 6)
	}
	for n := r.IntN(6); n > 0; n-- {
		typ := randFrom(r, typeBytes, 1, 4)
		name := ""
		switch r.IntN(4) {
		case 0:
			name = randFrom(r, nameBytes, 1, 3)
		case 1:
			if len(f.Sections) > 0 { // collides: AddSection must refuse it
				name = f.SectionID(f.Sections[r.IntN(len(f.Sections))])
			}
		}
		s, err := f.AddSection(typ, name)
		if err != nil {
			s, _ = f.AddSection(typ, "")
		}
		for m := r.IntN(6); m > 0; m-- {
			oname := randFrom(r, nameBytes, 1, 2)
			switch r.IntN(4) {
			case 0:
				s.Set(oname, randString(r, 6))
			case 1:
				var vs []string
				for k := r.IntN(4); k > 0; k-- {
					vs = append(vs, randString(r, 4))
				}
				s.SetList(oname, vs)
			default:
				s.AddList(oname, randString(r, 5))
			}
		}
	}
	return f
}

// TestRoundTrip: for random Files full of quotes, backslashes, comment and
// separator characters, newlines and CRs in values and types, Write gives
// text that Parse — and the libuci model, standing for uci(1) — reads back
// as the same File, and writing that again gives the same bytes.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		f := randFile(r)
		if err := f.Validate(); err != nil {
			t.Fatalf("setters built an invalid File: %v\n%s", err, dump(f))
		}
		b, err := Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		g, err := Parse("rt", b)
		if err != nil {
			t.Fatalf("Parse(Write(f)): %v\nf:\n%stext:\n%q", err, dump(f), b)
		}
		if !g.Equal(f) {
			t.Fatalf("Parse(Write(f)) != f\nf:\n%sgot:\n%stext:\n%q", dump(f), dump(g), b)
		}
		m, err := modelParse(b)
		if err != nil || !m.Equal(f) {
			t.Fatalf("libuci reads Write(f) differently (%v)\nf:\n%slibuci:\n%stext:\n%q", err, dump(f), dump(m), b)
		}
		b2, _ := Marshal(g)
		if !bytes.Equal(b, b2) {
			t.Fatalf("Write is not stable:\n%q\n%q", b, b2)
		}
	}
}
