package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// The units go test prints for every benchmark (-benchmem adds the last two).
const (
	unitNs     = "ns/op"
	unitMBs    = "MB/s"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
)

// Result is one benchmark result line of go test output.
type Result struct {
	Package    string // import path, from the "pkg:" line before it
	GOOS       string
	GOARCH     string
	CPU        string
	Name       string // as printed, with the -GOMAXPROCS suffix: BenchmarkX/sub-2
	Iterations int64
	Values     []Value // in the order printed: ns/op, MB/s, custom metrics, B/op, allocs/op
}

// Value is one "number unit" pair of a result line.
type Value struct {
	Unit string
	Num  float64
	Text string // the number as go test printed it
}

// Lookup returns the value with the given unit.
func (r Result) Lookup(unit string) (Value, bool) {
	for _, v := range r.Values {
		if v.Unit == unit {
			return v, true
		}
	}
	return Value{}, false
}

// Report is everything read from one go test -bench run.
type Report struct {
	Results []Result
	// Failures holds the lines that report a failed test, benchmark or
	// package ("--- FAIL: ...", "FAIL\tpkg", "FAIL").
	Failures []string
}

// Parse reads go test -bench output. Lines that are neither headers, results
// nor failures (logs, PASS, ok, program output) are ignored.
func Parse(r io.Reader) (Report, error) {
	rep := Report{Results: []Result{}}
	var goos, goarch, cpu, pkg string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "goos: "):
			goos = strings.TrimSpace(line[len("goos: "):])
		case strings.HasPrefix(line, "goarch: "):
			goarch = strings.TrimSpace(line[len("goarch: "):])
		case strings.HasPrefix(line, "cpu: "):
			cpu = strings.TrimSpace(line[len("cpu: "):])
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimSpace(line[len("pkg: "):])
		case strings.HasPrefix(line, "--- FAIL"), line == "FAIL", strings.HasPrefix(line, "FAIL\t"):
			rep.Failures = append(rep.Failures, line)
		case strings.HasPrefix(line, "Benchmark"):
			if res, ok := parseResult(line); ok {
				res.Package, res.GOOS, res.GOARCH, res.CPU = pkg, goos, goarch, cpu
				rep.Results = append(rep.Results, res)
			}
		}
	}
	return rep, sc.Err()
}

// parseResult parses "BenchmarkName-N  iterations  value unit  value unit ...".
// It reports false for anything else, such as the bare name line of -v.
func parseResult(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n <= 0 {
		return Result{}, false
	}
	res := Result{Name: f[0], Iterations: n}
	for i := 2; i < len(f); i += 2 {
		num, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Values = append(res.Values, Value{Unit: f[i+1], Num: num, Text: f[i]})
	}
	return res, true
}
