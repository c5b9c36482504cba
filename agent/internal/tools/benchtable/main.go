// Command benchtable reads `go test -bench` output on stdin, prints the
// results as an aligned table and merges them into a JSON file:
//
//	go test -run='^$' -bench=. -benchmem ./... >bench.txt
//	go run ./agent/internal/tools/benchtable -json bench-results.json <bench.txt
//
// The JSON file is an object of sections so that other benchmarks (the lab's
// shell and Go tests) can add their own: benchtable rewrites only
// "go_benchmarks" and "generated" and keeps every other top-level key.
//
// It exits non-zero, without touching the JSON file, when the input reports
// a failure.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	jsonPath := flag.String("json", "", "merge the results into this JSON `file` (created if absent)")
	trim := flag.String("trim", "", "cut this `prefix` from package paths in the table")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go test -bench=. ... | benchtable [-json file] [-trim prefix]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}

	rep, err := Parse(os.Stdin)
	if err != nil {
		fatalf("reading go test output: %v", err)
	}
	if len(rep.Results) == 0 {
		fmt.Println("no benchmark results")
	} else if err := WriteTable(os.Stdout, rep.Results, *trim); err != nil {
		fatalf("%v", err)
	}
	if len(rep.Failures) > 0 {
		for _, l := range rep.Failures {
			fmt.Fprintln(os.Stderr, l)
		}
		fatalf("the benchmark run failed; %s not written", orNone(*jsonPath))
	}
	if *jsonPath != "" {
		if err := MergeJSON(*jsonPath, rep.Results, time.Now()); err != nil {
			fatalf("%v", err)
		}
		fmt.Printf("%d result(s) written to %s under %q\n", len(rep.Results), *jsonPath, keyBenchmarks)
	}
}

func orNone(path string) string {
	if path == "" {
		return "no JSON"
	}
	return path
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtable: "+format+"\n", args...)
	os.Exit(1)
}
