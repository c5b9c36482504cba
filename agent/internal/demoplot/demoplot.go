// Package demoplot draws the demo's pictures (issue 11) with
// gonum.org/v1/plot: for each scenario a timeline of its probe stream —
// probes sent and echoed over time, the lost ones, each handoff marked
// with its gap, the IKE SA and the VPN's state — and one summary chart of
// the handoff gap per scenario beside the baselines without mip4d.
//
// Every picture is written twice, as path.svg and path.png. It is pure
// (files only, no root, no lab): only the demo tool imports it, never the
// router binary, whose size budget has no room for a plotting library.
package demoplot

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Probe is one probe of a stream, on the stream's clock.
type Probe struct {
	Seq  int
	Sent time.Duration
	Echo time.Duration // 0: the echo never came back
}

// Mark is one handoff (a move, a failover) on a timeline.
type Mark struct {
	N    int           // the move's number, from 1
	At   time.Duration // when it began, on the stream's clock
	Gap  time.Duration
	Lost int
	SA   string // the IKE SA (or VPN session) after the move, "" if none
	VPN  string // the VPN's state after the move ("same SA", "NEW IKE SA"), "" if none
}

// Label is the mark's text on the picture; it begins with "move N: gap",
// once per mark, which is what CountHandoffMarks counts.
func (m Mark) Label() string {
	s := fmt.Sprintf("move %d: gap %d ms, %d lost", m.N, m.Gap.Milliseconds(), m.Lost)
	if m.SA != "" {
		s += ", SA " + m.SA
	}
	if m.VPN != "" {
		s += ", " + m.VPN
	}
	return s
}

// TimelineData is one scenario's timeline.
type TimelineData struct {
	Title  string // the scenario, with its RFC 4093 section
	Detail string // a second title line: the VPN, its IKE SA before the moves
	Probes []Probe
	Marks  []Mark
}

// Size of every picture.
const (
	width  = 28 * vg.Centimeter
	height = 18 * vg.Centimeter
)

var (
	sentColor = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	echoColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	lostColor = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	markColor = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	baseColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// Timeline writes path.svg and path.png: probe number over time (s), the
// probes sent (grey line), their echoes (blue, at the time they came
// back), the lost probes (red crosses, at the time they were sent), and a
// dashed vertical line per handoff labelled with Mark.Label.
func Timeline(path string, t TimelineData) error {
	p := plot.New()
	p.Title.Text = t.Title
	if t.Detail != "" {
		p.Title.Text += "\n" + t.Detail
	}
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "probe"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(4)
	p.Add(plotter.NewGrid())

	var sent, echoed, lost plotter.XYs
	for _, pr := range t.Probes {
		sent = append(sent, plotter.XY{X: pr.Sent.Seconds(), Y: float64(pr.Seq)})
		if pr.Echo != 0 {
			echoed = append(echoed, plotter.XY{X: pr.Echo.Seconds(), Y: float64(pr.Seq)})
		} else {
			lost = append(lost, plotter.XY{X: pr.Sent.Seconds(), Y: float64(pr.Seq)})
		}
	}
	ymax := 1.0
	xmax := 0.0
	if n := len(t.Probes); n > 0 {
		ymax = math.Max(ymax, float64(t.Probes[n-1].Seq))
		xmax = t.Probes[n-1].Sent.Seconds()
	}
	for _, m := range t.Marks {
		xmax = math.Max(xmax, m.At.Seconds())
	}
	if len(sent) > 0 {
		l, err := plotter.NewLine(sent)
		if err != nil {
			return err
		}
		l.Color, l.Width = sentColor, vg.Points(1)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("sent (%d)", len(sent)), l)
	}
	if len(echoed) > 0 {
		s, err := plotter.NewScatter(echoed)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: echoColor, Radius: vg.Points(1), Shape: draw.CircleGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("echoed (%d)", len(echoed)), s)
	}
	if len(lost) > 0 {
		s, err := plotter.NewScatter(lost)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: lostColor, Radius: vg.Points(4), Shape: draw.CrossGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("lost (%d)", len(lost)), s)
	}

	// The marks: a dashed line each, its label written upward along it
	// from the probes' diagonal (which crosses the line at about x/xmax of
	// the height), on the side with more room: above it early in the run,
	// below it late.
	var labels plotter.XYLabels
	var above []bool
	for _, m := range t.Marks {
		x := m.At.Seconds()
		line, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: ymax}})
		if err != nil {
			return err
		}
		line.Color, line.Width = markColor, vg.Points(1.2)
		line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(line)
		if len(labels.Labels) == 0 {
			p.Legend.Add("handoff", line)
		}
		diag := 0.0
		if xmax > 0 && len(t.Probes) > 0 {
			diag = math.Min(1, x/xmax) * ymax
		}
		up := diag < ymax/2
		y := diag + 0.06*ymax
		if !up {
			y = diag - 0.06*ymax
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: x, Y: y})
		labels.Labels = append(labels.Labels, m.Label())
		above = append(above, up)
	}
	if len(labels.Labels) > 0 {
		ls, err := plotter.NewLabels(labels)
		if err != nil {
			return err
		}
		for i := range ls.TextStyle {
			st := &ls.TextStyle[i]
			st.Rotation = math.Pi / 2
			st.Color = markColor
			st.Font.Size = vg.Points(8)
			// Rotated a quarter turn: XAlign runs along the line, YAlign
			// across it; the text sits just right of its line.
			st.YAlign = draw.YTop
			if above[i] {
				st.XAlign = draw.XLeft // starts above the diagonal
			} else {
				st.XAlign = draw.XRight // ends below it
			}
		}
		ls.Offset = vg.Point{X: vg.Points(-2)}
		p.Add(ls)
	}
	p.Y.Tick.Marker = intTicks{}
	if len(t.Probes) == 0 {
		p.Y.Label.Text = "(no probe stream)"
		p.Y.Tick.Marker = plot.ConstantTicks{}
	}
	p.Y.Min, p.Y.Max = 0, ymax
	p.X.Min = 0
	if xmax > 0 {
		p.X.Max = xmax * 1.05 // room for the last mark's label
	}
	return save(p, path)
}

// Bar is one scenario of the summary.
type Bar struct {
	Scenario string
	Median   time.Duration
	Worst    time.Duration
	Baseline bool // the same moves without mip4d
}

// Goal is DESIGN.md §4's handoff gap goal (median), drawn on the summary.
const Goal = 50 * time.Millisecond

// Summary writes path.svg and path.png: a bar of the median handoff gap
// (ms) per scenario, mip4d's in blue, the baselines' without mip4d in
// orange, the worst move as a triangle, both values under the scenario's
// name, and the 50 ms goal as a dashed line.
func Summary(path string, bars []Bar) error {
	p := plot.New()
	p.Title.Text = "handoff gap per scenario: median (bar) and worst move (triangle)"
	p.Y.Label.Text = "gap (ms)"
	p.X.Label.Text = "scenario"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(4)
	p.Add(plotter.NewGrid())
	mip, base := make(plotter.Values, len(bars)), make(plotter.Values, len(bars))
	var names []string
	var worst plotter.XYs
	ymax := float64(Goal.Milliseconds())
	anyBase := false
	for i, b := range bars {
		ms := float64(b.Median) / float64(time.Millisecond)
		if b.Baseline {
			base[i], anyBase = ms, true
		} else {
			mip[i] = ms
		}
		w := float64(b.Worst) / float64(time.Millisecond)
		worst = append(worst, plotter.XY{X: float64(i), Y: w})
		names = append(names, fmt.Sprintf("%s\n%d ms (worst %d)", b.Scenario, b.Median.Milliseconds(), b.Worst.Milliseconds()))
		ymax = math.Max(ymax, math.Max(ms, w))
	}
	bw := vg.Points(24)
	if len(bars) > 0 {
		bc, err := plotter.NewBarChart(mip, bw)
		if err != nil {
			return err
		}
		bc.Color, bc.LineStyle.Width = echoColor, 0
		p.Add(bc)
		p.Legend.Add("mip4d", bc)
		if anyBase {
			bb, err := plotter.NewBarChart(base, bw)
			if err != nil {
				return err
			}
			bb.Color, bb.LineStyle.Width = baseColor, 0
			p.Add(bb)
			p.Legend.Add("baseline, no mip4d", bb)
		}
		ws, err := plotter.NewScatter(worst)
		if err != nil {
			return err
		}
		ws.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3), Shape: draw.TriangleGlyph{}}
		p.Add(ws)
		p.Legend.Add("worst move", ws)
	}
	g := float64(Goal.Milliseconds())
	goal, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: g}, {X: math.Max(0.5, float64(len(bars))-0.5), Y: g}})
	if err != nil {
		return err
	}
	goal.Color, goal.Dashes = lostColor, []vg.Length{vg.Points(5), vg.Points(3)}
	p.Add(goal)
	p.Legend.Add(fmt.Sprintf("goal: median ≤ %d ms", Goal.Milliseconds()), goal)
	if len(names) > 0 {
		p.NominalX(names...)
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YTop
	}
	p.Y.Tick.Marker = intTicks{}
	p.Y.Min, p.Y.Max = 0, ymax*1.12
	return save(p, path)
}

// intTicks are plot.DefaultTicks without trailing zeros (probe numbers,
// milliseconds).
type intTicks struct{}

func (intTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// save writes p as path.svg and path.png.
func save(p *plot.Plot, path string) error {
	for _, ext := range []string{".svg", ".png"} {
		if err := p.Save(width, height, path+ext); err != nil {
			return fmt.Errorf("demoplot: %s: %w", path+ext, err)
		}
	}
	return nil
}

// markText is a mark's label in an SVG: the text element's content.
var markText = regexp.MustCompile(`>move [0-9]+: gap `)

// CountHandoffMarks counts the handoff marks in a timeline SVG (the text
// of each mark's label, which begins "move N: gap", appears once per mark).
func CountHandoffMarks(svgPath string) (int, error) {
	b, err := os.ReadFile(svgPath)
	if err != nil {
		return 0, err
	}
	return len(markText.FindAll(b, -1)), nil
}
