package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Output of go test -bench -benchmem on two packages: benchmark program
// output, a log, sub-benchmarks with SetBytes and ReportMetric, and a
// package without benchmarks.
const sample = `goos: linux
goarch: amd64
pkg: github.com/mip4d/mip4d/agent/wire
cpu: Oxide Virtual Turin-like Processor             
BenchmarkPlain-2    	183008376	         0.6273 ns/op	       0 B/op	       0 allocs/op
hello from the benchmark
BenchmarkPrints-2   	150243486	         0.7515 ns/op	       0 B/op	       0 allocs/op
--- BENCH: BenchmarkPrints-2
    p_test.go:15: a log line
BenchmarkSub/size_64-2         	25476998	         4.591 ns/op	13939.82 MB/s	        32.00 pkts/op	         3.000 x-ratio	       0 B/op	       0 allocs/op
PASS
ok  	github.com/mip4d/mip4d/agent/wire	0.490s
?   	github.com/mip4d/mip4d/agent/cmd/mip4d	[no test files]
goos: linux
goarch: amd64
pkg: github.com/mip4d/mip4d/agent/ha
cpu: Oxide Virtual Turin-like Processor             
BenchmarkRegister-2	   61234	     19321 ns/op	      51756 reg/s	     912 B/op	       7 allocs/op
PASS
ok  	github.com/mip4d/mip4d/agent/ha	1.431s
`

func TestParse(t *testing.T) {
	rep, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != 0 {
		t.Errorf("failures = %q, want none", rep.Failures)
	}
	const cpu = "Oxide Virtual Turin-like Processor"
	wire, ha := "github.com/mip4d/mip4d/agent/wire", "github.com/mip4d/mip4d/agent/ha"
	want := []Result{
		{Package: wire, GOOS: "linux", GOARCH: "amd64", CPU: cpu, Name: "BenchmarkPlain-2", Iterations: 183008376, Values: []Value{
			{unitNs, 0.6273, "0.6273"}, {unitBytes, 0, "0"}, {unitAllocs, 0, "0"}}},
		{Package: wire, GOOS: "linux", GOARCH: "amd64", CPU: cpu, Name: "BenchmarkPrints-2", Iterations: 150243486, Values: []Value{
			{unitNs, 0.7515, "0.7515"}, {unitBytes, 0, "0"}, {unitAllocs, 0, "0"}}},
		{Package: wire, GOOS: "linux", GOARCH: "amd64", CPU: cpu, Name: "BenchmarkSub/size_64-2", Iterations: 25476998, Values: []Value{
			{unitNs, 4.591, "4.591"}, {unitMBs, 13939.82, "13939.82"}, {"pkts/op", 32, "32.00"}, {"x-ratio", 3, "3.000"},
			{unitBytes, 0, "0"}, {unitAllocs, 0, "0"}}},
		{Package: ha, GOOS: "linux", GOARCH: "amd64", CPU: cpu, Name: "BenchmarkRegister-2", Iterations: 61234, Values: []Value{
			{unitNs, 19321, "19321"}, {"reg/s", 51756, "51756"}, {unitBytes, 912, "912"}, {unitAllocs, 7, "7"}}},
	}
	if !reflect.DeepEqual(rep.Results, want) {
		t.Errorf("results:\n got %+v\nwant %+v", rep.Results, want)
	}
}

func TestParseResultLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
	}{
		{"BenchmarkX-2 \t 100\t 12.5 ns/op", true},
		{"BenchmarkX-2 \t 100\t 12.5 ns/op\r", true}, // CRLF output
		{"BenchmarkX", false},                        // the bare name line of -v
		{"BenchmarkX-2 \t 100", false},               // no values
		{"BenchmarkX-2 \t 100\t 12.5", false},        // value without a unit
		{"BenchmarkX-2 \t many\t 12.5 ns/op", false}, // iterations not a number
		{"BenchmarkX-2 \t 0\t 12.5 ns/op", false},    // zero iterations
		{"BenchmarkX-2 \t 100\t fast ns/op", false},  // value not a number
		{"BenchmarkX-2 \t 100\t NaN x/op", true},     // ReportMetric can give NaN
	}
	for _, tt := range tests {
		rep, err := Parse(strings.NewReader(tt.line + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(rep.Results) == 1; got != tt.ok {
			t.Errorf("Parse(%q): result found = %v, want %v", tt.line, got, tt.ok)
		}
	}
}

func TestParseFailures(t *testing.T) {
	in := "pkg: a\n--- FAIL: BenchmarkX-2\n    x_test.go:9: boom\nFAIL\nexit status 1\nFAIL\ta\t0.01s\nok  \tb\t0.1s\n"
	rep, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--- FAIL: BenchmarkX-2", "FAIL", "FAIL\ta\t0.01s"}
	if !reflect.DeepEqual(rep.Failures, want) {
		t.Errorf("failures = %q, want %q", rep.Failures, want)
	}
}

func TestWriteTable(t *testing.T) {
	rep, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, rep.Results, "github.com/mip4d/mip4d/"); err != nil {
		t.Fatal(err)
	}
	want := `package     benchmark                ns/op      MB/s  B/op  allocs/op  pkts/op  x-ratio  reg/s
agent/wire  BenchmarkPlain-2        0.6273         -     0          0        -        -      -
agent/wire  BenchmarkPrints-2       0.7515         -     0          0        -        -      -
agent/wire  BenchmarkSub/size_64-2   4.591  13939.82     0          0    32.00    3.000      -
agent/ha    BenchmarkRegister-2      19321         -   912          7        -        -  51756
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDisplayPackage(t *testing.T) {
	tests := []struct{ pkg, trim, want string }{
		{"github.com/mip4d/mip4d/agent/wire", "github.com/mip4d/mip4d/", "agent/wire"},
		{"github.com/mip4d/mip4d", "github.com/mip4d/mip4d/", "."},
		{"example.org/other", "github.com/mip4d/mip4d/", "example.org/other"},
		{"github.com/mip4d/mip4d/agent/wire", "", "github.com/mip4d/mip4d/agent/wire"},
	}
	for _, tt := range tests {
		if got := displayPackage(tt.pkg, tt.trim); got != tt.want {
			t.Errorf("displayPackage(%q, %q) = %q, want %q", tt.pkg, tt.trim, got, tt.want)
		}
	}
}

func TestMergeJSONKeepsOtherSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench-results.json")
	old := `{"lab_handoff": {"gap_ms_median": 31}, "go_benchmarks": [{"name": "stale"}], "generated": "old"}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	results := []Result{{Package: "p", Name: "BenchmarkX-2", Iterations: 10, Values: []Value{
		{unitNs, 12.5, "12.5"}, {unitMBs, 80, "80.00"}, {"pkt/s", 9, "9.000"}, {"bad", 0, "NaN"}, {unitBytes, 0, "0"}, {unitAllocs, 0, "0"}}}}
	results[0].Values[3].Num = math.NaN()
	now := time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)
	if err := MergeJSON(path, results, now); err != nil {
		t.Fatal(err)
	}

	var got map[string]any
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%v in:\n%s", err, data)
	}
	want := map[string]any{
		"lab_handoff": map[string]any{"gap_ms_median": 31.0},
		"generated":   "2026-11-25T22:00:00Z",
		"go_benchmarks": []any{map[string]any{
			"package": "p", "name": "BenchmarkX-2", "iterations": 10.0,
			"ns_per_op": 12.5, "mb_per_s": 80.0, "bytes_per_op": 0.0, "allocs_per_op": 0.0,
			"metrics": map[string]any{"pkt/s": 9.0},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged file:\n got %v\nwant %v", got, want)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temp file left behind: %v", entries)
	}
}

func TestMergeJSONNewFileAndEmptyRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench-results.json")
	if err := MergeJSON(path, nil, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"generated\": \"1970-01-01T00:00:00Z\",\n  \"go_benchmarks\": []\n}\n"
	if string(data) != want {
		t.Errorf("file = %q, want %q", data, want)
	}
}

func TestMergeJSONRefusesNonObject(t *testing.T) {
	for _, old := range []string{"[1, 2]", "null", "{broken"} {
		path := filepath.Join(t.TempDir(), "bench-results.json")
		if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := MergeJSON(path, nil, time.Now()); err == nil {
			t.Errorf("MergeJSON over %q: no error", old)
		}
		if data, _ := os.ReadFile(path); string(data) != old {
			t.Errorf("MergeJSON over %q rewrote it to %q", old, data)
		}
	}
}
