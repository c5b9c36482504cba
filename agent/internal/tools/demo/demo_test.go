package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip4d/mip4d/agent/internal/demoplot"
	"golang.org/x/sys/unix"
)

// build compiles the demo and mip4d into a temporary directory; the tests
// run the labs, so they need root.
func build(t *testing.T) (demo, mip4d string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the demo builds network namespaces: run as root")
	}
	dir := t.TempDir()
	demo, mip4d = filepath.Join(dir, "demo"), filepath.Join(dir, "mip4d")
	for bin, pkg := range map[string]string{demo: ".", mip4d: "../../../cmd/mip4d"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return demo, mip4d
}

const moves = 3

func args(mip4d string, extra ...string) []string {
	return append([]string{"--bin", mip4d, "--scenario", "roaming", "--moves", fmt.Sprint(moves), "--dwell", "300ms"}, extra...)
}

// TestDemoToFile: off a terminal there is no live \r line, and the output
// is a bounded number of lines per move. The pictures are drawn: the
// scenario's timeline with one mark per move, the summary, and their
// paths printed.
func TestDemoToFile(t *testing.T) {
	demo, mip4d := build(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "demo.out"))
	if err != nil {
		t.Fatal(err)
	}
	pics := filepath.Join(t.TempDir(), "pictures")
	cmd := exec.Command(demo, args(mip4d, "--out", pics)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v", err)
	}
	f.Close()
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("\r")) {
		t.Fatalf("a \\r progress line in a file:\n%q", out)
	}
	lines := strings.Count(string(out), "\n")
	movesLines := strings.Count(string(out), "\nmove ")
	t.Logf("%d lines, %d move lines", lines, movesLines)
	if movesLines != moves {
		t.Fatalf("%d move lines, want %d:\n%s", movesLines, moves, out)
	}
	// Banner, phases, the table and its summary: a fixed part plus a few
	// lines per move, not one every 100 ms.
	if max := 30 + 3*moves; lines > max {
		t.Fatalf("%d lines for %d moves, more than %d:\n%s", lines, moves, max, out)
	}
	checkPictures(t, pics, out, map[string]int{"roaming": moves})
}

// checkPictures asserts each scenario's timeline is in dir as SVG and PNG
// with one handoff mark per move, the summary too, and (when out is not
// nil) that the demo printed where they are.
func checkPictures(t *testing.T, dir string, out []byte, marks map[string]int) {
	t.Helper()
	names := []string{"summary"}
	for s := range marks {
		names = append(names, s)
	}
	for _, name := range names {
		for _, ext := range []string{".svg", ".png"} {
			path := filepath.Join(dir, name+ext)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatalf("picture: %v", err)
			}
			if fi.Size() == 0 {
				t.Fatalf("picture %s is empty", path)
			}
			if out != nil && !bytes.Contains(out, []byte(path)) {
				t.Errorf("the demo did not print %s:\n%s", path, out)
			}
		}
		if name == "summary" {
			continue
		}
		n, err := demoplot.CountHandoffMarks(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if n != marks[name] {
			t.Fatalf("%s: %d handoff marks, want %d", name, n, marks[name])
		}
	}
}

// TestDemoJSON: --json writes one object per move on stdout.
func TestDemoJSON(t *testing.T) {
	demo, mip4d := build(t)
	pics := filepath.Join(t.TempDir(), "pictures")
	cmd := exec.Command(demo, args(mip4d, "--json", "--out", pics)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr.String())
	}
	// The pictures' paths go with the progress, to stderr: stdout is JSON.
	checkPictures(t, pics, stderr.Bytes(), map[string]int{"roaming": moves})
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		var m moveJSON
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		n++
		if m.Scenario != "roaming" || m.Move != n || m.From == m.To || m.RFC4093 == "" {
			t.Fatalf("move %d: %+v", n, m)
		}
	}
	if n != moves {
		t.Fatalf("%d JSON moves, want %d:\n%s", n, moves, out)
	}
}

// TestDemoTerminal: on a terminal the live \r line is drawn.
func TestDemoTerminal(t *testing.T) {
	demo, mip4d := build(t)
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The pictures in a temporary directory, not out/demo in the package's.
	cmd := exec.Command(demo, args(mip4d, "--out", t.TempDir())...)
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&buf, master); close(done) }()
	werr := cmd.Wait()
	master.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-done
	if werr != nil {
		t.Fatalf("demo: %v\n%s", werr, buf.String())
	}
	if !strings.Contains(buf.String(), "\r\033[K") || !strings.Contains(buf.String(), "probes ") {
		t.Fatalf("no live line on a terminal:\n%q", buf.String())
	}
}
