// Package golden reads the annotated hex files under testdata/ that hold the
// project's golden packets.
//
// The format is meant to be read by a person beside the RFC diagram: hex
// digits, any whitespace, and a comment from '#' to the end of the line for
// each field. Example:
//
//	01            # Type: Registration Request (RFC 5944 §3.3)
//	02            # Flags: T
//	01 2c         # Lifetime: 300 s
//
// Files may hold several packets separated by a line that starts with "---".
package golden

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Parse decodes annotated hex into bytes. Every non-comment character must be
// a hex digit or whitespace, and digits must pair up into whole bytes.
func Parse(text string) ([]byte, error) {
	packets, err := ParseAll(text)
	if err != nil {
		return nil, err
	}
	if len(packets) != 1 {
		return nil, fmt.Errorf("golden: want one packet, found %d", len(packets))
	}
	return packets[0], nil
}

// ParseAll decodes a file that may hold several packets separated by "---".
func ParseAll(text string) ([][]byte, error) {
	var packets [][]byte
	var digits strings.Builder
	flush := func(line int) error {
		if digits.Len() == 0 {
			return nil
		}
		if digits.Len()%2 != 0 {
			return fmt.Errorf("golden: odd number of hex digits in packet ending at line %d", line)
		}
		b, err := hex.DecodeString(digits.String())
		if err != nil {
			return fmt.Errorf("golden: packet ending at line %d: %v", line, err)
		}
		packets = append(packets, b)
		digits.Reset()
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "---") {
			if err := flush(n); err != nil {
				return nil, err
			}
			continue
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, r := range line {
			switch {
			case r == ' ' || r == '\t' || r == '\r':
			case (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F'):
				digits.WriteRune(r)
			default:
				return nil, fmt.Errorf("golden: line %d: unexpected %q outside a comment", n, r)
			}
		}
	}
	if err := flush(n); err != nil {
		return nil, err
	}
	return packets, nil
}

// Dir is the repository's testdata directory, found from this source file so
// tests in any package can use it.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata")
}

// Load reads testdata/<name> and returns its single packet, failing the test
// on any error.
func Load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(string(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// Files lists testdata files matching a glob relative to testdata/.
func Files(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Dir(), pattern))
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(m))
	for _, p := range m {
		rel, _ := filepath.Rel(Dir(), p)
		names = append(names, rel)
	}
	return names
}
