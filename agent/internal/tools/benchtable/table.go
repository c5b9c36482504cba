package main

import (
	"io"
	"slices"
	"strings"
)

// WriteTable prints the results as an aligned table: package, benchmark,
// ns/op, MB/s, B/op, allocs/op, then one column per custom metric (from
// b.ReportMetric) in the order first seen. trim is cut from the front of
// package paths. A dash marks a value a benchmark did not report.
func WriteTable(w io.Writer, results []Result, trim string) error {
	units := []string{unitNs, unitMBs, unitBytes, unitAllocs}
	for _, r := range results {
		for _, v := range r.Values {
			if !slices.Contains(units, v.Unit) {
				units = append(units, v.Unit)
			}
		}
	}

	rows := [][]string{append([]string{"package", "benchmark"}, units...)}
	for _, r := range results {
		row := []string{displayPackage(r.Package, trim), r.Name}
		for _, u := range units {
			cell := "-"
			if v, ok := r.Lookup(u); ok {
				cell = v.Text
			}
			row = append(row, cell)
		}
		rows = append(rows, row)
	}

	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(cell))
			if i < 2 { // text: left-aligned
				b.WriteString(cell + pad)
			} else { // numbers: right-aligned
				b.WriteString(pad + cell)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func displayPackage(pkg, trim string) string {
	if trim == "" {
		return pkg
	}
	if pkg+"/" == trim || pkg == trim {
		return "."
	}
	if rest, ok := strings.CutPrefix(pkg, trim); ok && rest != "" {
		return rest
	}
	return pkg
}
