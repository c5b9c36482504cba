package golden

import (
	"bytes"
	"testing"
)

func TestParse(t *testing.T) {
	got, err := ParseAll("01 # type\n0a0B\t# x\n--- next\nff\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], []byte{1, 0x0a, 0x0b}) || !bytes.Equal(got[1], []byte{0xff}) {
		t.Fatalf("got %x", got)
	}
	for _, bad := range []string{"0", "0g", "01 02 x", "0\n---\n1"} {
		if _, err := ParseAll(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := Parse("01\n---\n02"); err == nil {
		t.Error("Parse accepted two packets")
	}
}
