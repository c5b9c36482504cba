package uci

import "testing"

// BenchmarkParse reads a realistic /etc/config/network (12 sections, lists,
// anonymous sections, comments, mixed quoting).
func BenchmarkParse(b *testing.B) {
	src := fixture(b, "network.conf")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("network", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshal writes the same file back in uci's canonical layout.
func BenchmarkMarshal(b *testing.B) {
	f, err := Parse("network", fixture(b, "network.conf"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(f); err != nil {
			b.Fatal(err)
		}
	}
}
