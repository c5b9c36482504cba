package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLog(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rl := newRateLog(slog.New(slog.NewTextHandler(&buf, nil)), 3, 10*time.Second, func() time.Time { return now })
	for i := 0; i < 100; i++ {
		rl.Log(slog.LevelWarn, "denied", "registration denied", "i", i)
	}
	rl.Log(slog.LevelWarn, "other", "another kind")
	if n := strings.Count(buf.String(), "registration denied"); n != 3 {
		t.Fatalf("%d lines in the burst, want 3", n)
	}
	now = now.Add(11 * time.Second)
	rl.Log(slog.LevelWarn, "denied", "registration denied", "i", 100)
	if !strings.Contains(buf.String(), "count=97") || strings.Count(buf.String(), "registration denied") != 4 {
		t.Fatalf("summary missing:\n%s", buf.String())
	}
	rl.Log(slog.LevelDebug, "denied", "not shown")
	if strings.Contains(buf.String(), "not shown") {
		t.Fatal("level ignored")
	}
}
