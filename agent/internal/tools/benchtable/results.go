package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Top-level keys benchtable owns in the results file.
const (
	keyBenchmarks = "go_benchmarks"
	keyGenerated  = "generated"
)

// jsonResult is a Result as stored in the results file.
type jsonResult struct {
	Package     string             `json:"package"`
	Name        string             `json:"name"`
	GOOS        string             `json:"goos,omitempty"`
	GOARCH      string             `json:"goarch,omitempty"`
	CPU         string             `json:"cpu,omitempty"`
	Iterations  int64              `json:"iterations"`
	NsPerOp     *float64           `json:"ns_per_op,omitempty"`
	MBPerS      *float64           `json:"mb_per_s,omitempty"`
	BytesPerOp  *float64           `json:"bytes_per_op,omitempty"`
	AllocsPerOp *float64           `json:"allocs_per_op,omitempty"`
	Metrics     map[string]float64 `json:"metrics,omitempty"` // b.ReportMetric units
}

func toJSON(r Result) jsonResult {
	j := jsonResult{
		Package: r.Package, Name: r.Name, GOOS: r.GOOS, GOARCH: r.GOARCH, CPU: r.CPU,
		Iterations: r.Iterations,
	}
	for _, v := range r.Values {
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			continue // JSON has no NaN or Inf; the table still shows them
		}
		num := v.Num
		switch v.Unit {
		case unitNs:
			j.NsPerOp = &num
		case unitMBs:
			j.MBPerS = &num
		case unitBytes:
			j.BytesPerOp = &num
		case unitAllocs:
			j.AllocsPerOp = &num
		default:
			if j.Metrics == nil {
				j.Metrics = map[string]float64{}
			}
			j.Metrics[v.Unit] = num
		}
	}
	return j
}

// MergeJSON sets the "go_benchmarks" and "generated" keys of the JSON object
// in path, keeping its other keys, and replaces the file atomically (temp
// file, fsync, rename). A missing file is created; a file that is not a JSON
// object is an error and is left alone.
func MergeJSON(path string, results []Result, now time.Time) error {
	doc := map[string]json.RawMessage{}
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(old, &doc); err != nil || doc == nil {
			return fmt.Errorf("%s is not a JSON object, not overwriting it: %v", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}

	list := make([]jsonResult, 0, len(results))
	for _, r := range results {
		list = append(list, toJSON(r))
	}
	if doc[keyBenchmarks], err = json.Marshal(list); err != nil {
		return err
	}
	if doc[keyGenerated], err = json.Marshal(now.UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(out, '\n'))
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
