package order

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type rec struct {
	k   int
	tag string
}

func TestBy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		s := make([]rec, n)
		for i := range s {
			s[i] = rec{k: r.IntN(50), tag: "x"}
		}
		want := slices.Clone(s)
		slices.SortFunc(want, func(a, b rec) int { return a.k - b.k })
		By(s, func(a, b rec) int { return a.k - b.k })
		if !slices.EqualFunc(s, want, func(a, b rec) bool { return a.k == b.k }) {
			t.Fatalf("n=%d: %v, want %v", n, s, want)
		}
	}
	By[rec](nil, func(a, b rec) int { return 0 })
}
