// Package order sorts slices of structs without growing the router
// binary: slices.SortFunc instantiates its whole pattern-defeating
// quicksort for every struct shape it sorts (about 20 kB each on mips),
// while sort.Slice shares one implementation through reflection. The
// tables sorted here (bindings, visitors, leases for status and state
// files) are small and off the packet path.
package order

import "sort"

// By sorts s in place by cmp (negative: a before b). Like slices.SortFunc
// it is not stable.
func By[T any](s []T, cmp func(a, b T) int) {
	sort.Slice(s, func(i, j int) bool { return cmp(s[i], s[j]) < 0 })
}
