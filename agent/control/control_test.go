package control

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mip4d.sock")
	s := NewServer()
	s.Handle("status", func(context.Context) (any, error) { return map[string]int{"bindings": 3}, nil })
	s.Handle("broken", func(context.Context) (any, error) { return nil, errors.New("engine stopped") })
	s.HandleArgs("echo", func(_ context.Context, args []string) (any, error) { return args, nil })
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want 0600", st.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()

	res, err := Call(path, "status")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if json.Unmarshal(res, &v) != nil || v["bindings"] != 3 {
		t.Fatalf("result %s", res)
	}
	if _, err := Call(path, "broken"); err == nil || err.Error() != "engine stopped" {
		t.Fatalf("handler error: %v", err)
	}
	if res, err := Call(path, "echo", "INSTANCE", "VI_1", "MASTER"); err != nil || string(res) != `["INSTANCE","VI_1","MASTER"]` {
		t.Fatalf("operands: %s %v", res, err)
	}
	if _, err := Call(path, "status", "extra"); err == nil || !strings.Contains(err.Error(), "takes no operands") {
		t.Fatalf("operands to a command without: %v", err)
	}
	if _, err := Call(path, "nope"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	// A second daemon must not steal the socket.
	if err := NewServer().Listen(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second listener: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
	}
	if _, err := Call(path, "status"); err == nil || !strings.Contains(err.Error(), "is it running") {
		t.Fatalf("no daemon: %v", err)
	}
}
