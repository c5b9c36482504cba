package demoplot

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// synthetic is a 6 s stream, one probe every 10 ms, with a handoff every
// 1.5 s that loses the next 5 probes (the last move 30: its SA changed).
func synthetic() TimelineData {
	ms := time.Millisecond
	t := TimelineData{Title: "S1: x-MIP (RFC 4093 §2.4)", Detail: "VPN: IKE SA #1 before the moves"}
	moves := []time.Duration{1500 * ms, 3000 * ms, 4500 * ms}
	for i := range 600 {
		sent := time.Duration(i) * 10 * ms
		echo := sent + 2*ms
		for _, at := range moves {
			if sent >= at && sent < at+50*ms {
				echo = 0
			}
		}
		t.Probes = append(t.Probes, Probe{Seq: i, Sent: sent, Echo: echo})
	}
	for i, at := range moves {
		m := Mark{N: i + 1, At: at, Gap: 60 * ms, Lost: 5, SA: "#1", VPN: "same SA"}
		if i == 2 {
			m.Lost, m.SA, m.VPN = 30, "#2", "NEW IKE SA"
		}
		t.Marks = append(t.Marks, m)
	}
	return t
}

// check asserts path.svg and path.png exist, are not empty, and that the
// PNG decodes.
func check(t *testing.T, path string) []byte {
	t.Helper()
	svg, err := os.ReadFile(path + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("%s.svg is not an SVG: %.200q", path, svg)
	}
	f, err := os.Open(path + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s.png: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("%s.png is %v", path, b)
	}
	return svg
}

func TestTimeline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s1")
	if err := Timeline(path, synthetic()); err != nil {
		t.Fatal(err)
	}
	svg := check(t, path)
	n, err := CountHandoffMarks(path + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d handoff marks, want 3", n)
	}
	for _, s := range []string{"move 1: gap 60 ms, 5 lost, SA #1, same SA", "move 3: gap 60 ms, 30 lost, SA #2, NEW IKE SA",
		"time (s)", "probe", "IKE SA #1 before the moves", "lost (15)"} {
		if !strings.Contains(string(svg), s) {
			t.Errorf("no %q in the SVG", s)
		}
	}
}

// TestTimelineNoProbes: a scenario without a probe stream (the failover)
// still gets its marks.
func TestTimelineNoProbes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failover")
	d := TimelineData{Title: "failover", Marks: []Mark{{N: 1, At: time.Second, Gap: time.Second}, {N: 2, At: 3 * time.Second}}}
	if err := Timeline(path, d); err != nil {
		t.Fatal(err)
	}
	check(t, path)
	if n, err := CountHandoffMarks(path + ".svg"); err != nil || n != 2 {
		t.Fatalf("%d handoff marks (%v), want 2", n, err)
	}
}

func TestSummary(t *testing.T) {
	ms := time.Millisecond
	path := filepath.Join(t.TempDir(), "summary")
	bars := []Bar{
		{Scenario: "roaming", Median: 30 * ms, Worst: 45 * ms},
		{Scenario: "s1", Median: 42 * ms, Worst: 70 * ms},
		{Scenario: "baseline-mobike", Median: 900 * ms, Worst: 1200 * ms, Baseline: true},
		{Scenario: "baseline-reestablish", Median: 2500 * ms, Worst: 3100 * ms, Baseline: true},
	}
	if err := Summary(path, bars); err != nil {
		t.Fatal(err)
	}
	svg := check(t, path)
	for _, s := range []string{"roaming", "baseline-reestablish", "2500 ms (worst 3100)", "gap (ms)", "baseline, no mip4d"} {
		if !strings.Contains(string(svg), s) {
			t.Errorf("no %q in the SVG", s)
		}
	}
	if n, _ := CountHandoffMarks(path + ".svg"); n != 0 {
		t.Fatalf("%d handoff marks in the summary", n)
	}
}

func TestCountHandoffMarksMissing(t *testing.T) {
	if _, err := CountHandoffMarks(filepath.Join(t.TempDir(), "none.svg")); err == nil {
		t.Fatal("no error for a missing file")
	}
}
